// Scenario 4, sleeping loans: the worker's resident memory and the Temporal database's bytes per
// loan with 1,000, 10,000 and 50,000 open loans asleep until their first reminder, against the
// bare workflow asleep the same way. Each on a server of its own, so the bytes are theirs alone.
import { randomUUID } from 'node:crypto';
import { bareReminder } from '../bare/workflows';
import { dateIn, runConcurrently, startRaw } from '../lib/loans';
import { startBenchServer, startService, untilIdle, type OurService } from '../lib/stack';
import { round, row, type ScenarioResult } from '../lib/stats';

interface Level {
  loans: number;
  workerRssMiB: number;
  dbMiB: number;
  dbBytesPerLoan: number;
  startSeconds: number;
}

const MiB = 2 ** 20;

async function measure(
  levels: readonly number[],
  concurrency: number,
  bare: boolean,
  pragmas: readonly string[],
): Promise<{ idle: { workerRssMiB: number; dbMiB: number }; levels: Level[] }> {
  const s = await startBenchServer({ pragmas });
  let service: OurService | undefined;
  try {
    service = await startService(s, { name: bare ? 'sleeping-bare' : 'sleeping', bare });
    await untilIdle(service.worker);
    const idle = { rss: service.worker.rssBytes(), db: s.dbBytes() };
    const run = randomUUID().slice(0, 8);
    const dueDate = dateIn(30);
    const farAhead = Date.now() + 30 * 86_400_000;
    const out: Level[] = [];
    let open = 0;
    for (const target of levels) {
      const from = open;
      const startSeconds = await runConcurrently(target - from, concurrency, (i) =>
        bare
          ? s.client.workflow.start(bareReminder, {
              workflowId: `bare-${run}-${from + i}`,
              taskQueue: service!.taskQueue,
              args: [farAhead, String(from + i)],
            })
          : startRaw(s.client, service!.taskQueue, `Z-${run}-${from + i}`, dueDate),
      );
      open = target;
      // Every loan's first workflow task done: the worker is idle and the loans asleep.
      await untilIdle(service.worker);
      const db = s.dbBytes();
      out.push({
        loans: target,
        workerRssMiB: round(service.worker.rssBytes() / MiB, 1),
        dbMiB: round(db / MiB, 1),
        dbBytesPerLoan: Math.round((db - idle.db) / target),
        startSeconds: round(startSeconds, 1),
      });
      console.log(`  ${bare ? 'bare' : 'ours'}: ${JSON.stringify(out[out.length - 1])}`);
    }
    return { idle: { workerRssMiB: round(idle.rss / MiB, 1), dbMiB: round(idle.db / MiB, 1) }, levels: out };
  } finally {
    await service?.stop();
    await s.stop();
  }
}

export async function sleepingLoans(opts: {
  levels: number[];
  concurrency: number;
  pragmas: readonly string[];
}): Promise<ScenarioResult> {
  const bare = await measure(opts.levels, opts.concurrency, true, opts.pragmas);
  const ours = await measure(opts.levels, opts.concurrency, false, opts.pragmas);
  const rows = ours.levels.flatMap((l, i) => {
    const b = bare.levels[i];
    const scenario = `sleeping loans, ${l.loans.toLocaleString('en-US')} open`;
    return [
      row({
        scenario,
        metric: 'worker resident memory',
        unit: 'MiB',
        ours: l.workerRssMiB,
        baseline: b.workerRssMiB,
        better: 'lower',
        target: 'flat (not held in memory)',
      }),
      row({
        scenario,
        metric: 'Temporal database per loan',
        unit: 'bytes',
        ours: l.dbBytesPerLoan,
        baseline: b.dbBytesPerLoan,
        better: 'lower',
      }),
    ];
  });
  const first = ours.levels[0];
  const last = ours.levels[ours.levels.length - 1];
  const perLoan = ((last.workerRssMiB - first.workerRssMiB) * MiB) / (last.loans - first.loans);
  rows.push(
    row({
      scenario: 'sleeping loans',
      metric: `worker memory per extra loan (${first.loans.toLocaleString('en-US')} → ${last.loans.toLocaleString('en-US')})`,
      unit: 'bytes',
      ours: perLoan,
      baseline:
        ((bare.levels[bare.levels.length - 1].workerRssMiB - bare.levels[0].workerRssMiB) * MiB) /
        (last.loans - first.loans),
      better: 'lower',
      target: 'flat',
    }),
  );
  return { scenario: 'sleeping-loans', rows, details: { ours, bare, concurrency: opts.concurrency } };
}
