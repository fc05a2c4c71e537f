// `npm run bench [-- --quick] [-- --only=start,fanout,payment,sleeping,history] [-- --label=name]
// [-- --pragmas=none] [-- --temporal=cluster]`: the performance suite (`cluster`: start, fan-out and
// payment on the Temporal server built from Go modules on PostgreSQL). Each scenario measures the service and a baseline in
// the same run and prints their ratio; the results go to bench/results/bench-<label>.json with a
// description of the machine. Worker tuning comes from the usual WORKER_* variables.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config';
import { temporalCliPath } from '../src/temporal/binaries';
import { DEV_SERVER_SQLITE_PRAGMAS } from '../src/temporal/dev-server';
import { fanOut } from './scenarios/fanout';
import { historySize } from './scenarios/history';
import { paymentToSilence } from './scenarios/payment';
import { sleepingLoans } from './scenarios/sleeping';
import { startThroughput } from './scenarios/start';
import { startBenchServer } from './lib/stack';
import type { ScenarioResult } from './lib/stats';

const SCENARIOS = ['history', 'start', 'fanout', 'payment', 'sleeping'] as const;

const SIZES = {
  quick: {
    start: { loans: 500, rounds: 1, concurrency: 32, batchSize: 100 },
    fanout: [1_000],
    payment: { loans: 100, controls: 10, concurrency: 8 },
    sleeping: [1_000, 5_000],
  },
  full: {
    start: { loans: 2_000, rounds: 3, concurrency: 32, batchSize: 100 },
    fanout: [1_000, 10_000],
    payment: { loans: 500, controls: 20, concurrency: 8 },
    sleeping: [1_000, 10_000, 50_000],
  },
};

function machine(pragmas: readonly string[]) {
  const cli = (() => {
    try {
      return execFileSync(temporalCliPath(), ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })();
  return {
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${process.platform} ${release()}`,
    node: process.version,
    temporal: cli,
    devServerSqlitePragmas: pragmas,
    workerTuning: loadConfig({ ...process.env, TEMPORAL_ADDRESS: 'x' }).workerTuning,
    commit: (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
      } catch {
        return 'unknown';
      }
    })(),
  };
}

function print(results: ScenarioResult[]): void {
  console.log('\nratio = ours ÷ baseline; "better" says which way is good for the metric\n');
  console.table(
    results.flatMap((r) =>
      r.rows.map((x) => ({
        scenario: x.scenario,
        metric: x.metric,
        unit: x.unit,
        ours: x.ours,
        baseline: x.baseline ?? '',
        ratio: x.ratio ?? '',
        better: x.better,
        target: x.target ?? '',
        met: x.met === undefined ? '' : x.met ? 'yes' : 'NO',
      })),
    ),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      label: { type: 'string' },
      pragmas: { type: 'string' },
      temporal: { type: 'string', default: 'dev-server' },
    },
  });
  const form = values.quick ? 'quick' : 'full';
  const sizes = SIZES[form];
  const only = new Set(values.only ? values.only.split(',') : SCENARIOS);
  for (const o of only)
    if (!(SCENARIOS as readonly string[]).includes(o))
      throw new Error(`--only: unknown scenario ${o}; known: ${SCENARIOS.join(', ')}`);
  const pragmas =
    values.pragmas === 'none' ? [] : values.pragmas ? values.pragmas.split(',') : [...DEV_SERVER_SQLITE_PRAGMAS];
  const temporal = values.temporal;
  if (temporal !== 'dev-server' && temporal !== 'cluster')
    throw new Error(`--temporal: dev-server or cluster (the Temporal server on PostgreSQL), not ${temporal}`);
  const began = Date.now();
  const results: ScenarioResult[] = [];
  const step = async (name: string, fn: () => Promise<ScenarioResult>) => {
    const t = Date.now();
    console.log(`${name}...`);
    const r = await fn();
    console.log(`${name} done in ${Math.round((Date.now() - t) / 1000)} s`);
    results.push(r);
  };

  if (only.has('history')) await step('history size', historySize);
  if (only.has('start') || only.has('fanout') || only.has('payment')) {
    const s = await startBenchServer({ pragmas, temporal });
    try {
      if (only.has('start')) await step('start throughput', () => startThroughput(s, sizes.start));
      if (only.has('fanout'))
        for (const loans of sizes.fanout) await step(`fan-out ${loans}`, () => fanOut(s, { loans, concurrency: 32 }));
      if (only.has('payment')) await step('payment to silence', () => paymentToSilence(s, sizes.payment));
    } finally {
      await s.stop();
    }
  }
  if (only.has('sleeping'))
    await step('sleeping loans', () => sleepingLoans({ levels: sizes.sleeping, concurrency: 32, pragmas }));

  print(results);
  const out = join(__dirname, 'results');
  mkdirSync(out, { recursive: true });
  // A run on the PostgreSQL-backed server keeps its own file beside the dev server's.
  const file = join(out, `bench-${values.label ?? (temporal === 'cluster' ? `${form}-cluster` : form)}.json`);
  const report = {
    form,
    at: new Date().toISOString(),
    seconds: Math.round((Date.now() - began) / 1000),
    machine: { ...machine(pragmas), temporalServer: temporal },
    results,
  };
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`\n${form} run in ${report.seconds} s; results in ${file}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
