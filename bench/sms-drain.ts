// Benchmark: N reminders due at the same instant drain at the configured SMS rate, each once.
// `npm run bench:sms-drain -- [N] [perSecond]` (defaults 5000 and 100). Runs its own dev server.
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Duration } from 'luxon';
import { createActivities } from '../src/activities';
import { readOutbox } from '../src/sms/outbox';
import { SqliteSendLedger } from '../src/store/send-ledger';
import { createWorkers } from '../src/worker';
import { loanReminder } from '../src/workflows/loan-reminder';
import {
  burstLoan,
  burstPolicy,
  devServerEnv,
  RecordingProvider,
  runWorkersUntil,
  tempOperations,
  TEST_LENDER,
  workflowBundle,
} from '../test/helpers/temporal';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 5000);
  const perSecond = Number(process.argv[3] ?? 100);
  const env = await devServerEnv();
  const dir = mkdtempSync(join(tmpdir(), 'bench-drain-'));
  const sms = new RecordingProvider(join(dir, 'outbox.jsonl'));
  const ledger = new SqliteSendLedger(join(dir, 'sends.sqlite'));
  const taskQueue = `bench-${randomUUID()}`;
  const workers = await createWorkers({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({ sms, operations: tempOperations(), ledger }),
    smsPerSecond: perSecond,
  });
  // Every loan's reminder falls due at the same instant, far enough ahead for all to start first.
  const dueAt = Date.now() + Math.max(20_000, n * 6);
  console.log(`starting ${n} loans due at ${new Date(dueAt).toISOString()}, SMS rate ${perSecond}/s`);
  await runWorkersUntil(workers, async () => {
    let next = 0;
    const starter = async () => {
      for (let i = next++; i < n; i = next++) {
        const offset = Duration.fromMillis(Math.max(1000, dueAt - Date.now())).toISO();
        await env.client.workflow.start(loanReminder, {
          workflowId: `loan-DRAIN-${taskQueue}-${i}`,
          taskQueue,
          args: [{ loan: burstLoan(`DRAIN-${i}`), lender: TEST_LENDER, policy: burstPolicy(offset!) }],
        });
      }
    };
    await Promise.all(Array.from({ length: 32 }, starter));
    console.log(`all started ${((dueAt - Date.now()) / 1000).toFixed(1)} s before the due instant`);
    const deadline = dueAt + (n / perSecond) * 3000 + 60_000;
    while (readOutbox(sms.outbox.path).length < n && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));
  });
  const lines = readOutbox(sms.outbox.path);
  const times = lines.map((l) => Date.parse(l.sentAt)).sort((a, b) => a - b);
  const unique = new Set(lines.map((l) => l.idempotencyKey)).size;
  const drainSeconds = (times[times.length - 1] - times[0]) / 1000;
  const achieved = (lines.length - 1) / drainSeconds;
  const lateness = times.map((t) => t - dueAt);
  const pct = (p: number) => lateness[Math.min(lateness.length - 1, Math.floor((p / 100) * lateness.length))] / 1000;
  const result = {
    scenario: 'sms-drain',
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    loans: n,
    configuredPerSecond: perSecond,
    sent: lines.length,
    duplicates: lines.length - unique,
    drainSeconds: Number(drainSeconds.toFixed(2)),
    achievedPerSecond: Number(achieved.toFixed(1)),
    ratioToConfigured: Number((achieved / perSecond).toFixed(3)),
    latenessSeconds: { p50: pct(50), p95: pct(95), p99: pct(99), max: lateness[lateness.length - 1] / 1000 },
    at: new Date().toISOString(),
  };
  console.table({
    loans: n,
    sent: result.sent,
    duplicates: result.duplicates,
    'configured /s': perSecond,
    'achieved /s': result.achievedPerSecond,
    'achieved / configured': result.ratioToConfigured,
    'drain s': result.drainSeconds,
    'lateness p50 s': result.latenessSeconds.p50,
    'lateness p99 s': result.latenessSeconds.p99,
  });
  const out = join(__dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `sms-drain-${n}-${perSecond}.json`), JSON.stringify(result, null, 2) + '\n');
  await ledger.close();
  await env.teardown();
  if (result.sent !== n || result.duplicates !== 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
