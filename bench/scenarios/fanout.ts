// Scenario 2, due-at-once fan-out: N loans whose reminder falls due at the same instant, the local
// provider, no SMS rate limit. Lateness from the instant to the provider's hand-off, and the drain
// rate, against the bare workflow that sleeps to the same instant and calls a no-op activity.
import { randomUUID } from 'node:crypto';
import { workflowIdForLoan } from '../../src/domain/loan';
import { readOutbox } from '../../src/sms/outbox';
import { bareReminder } from '../bare/workflows';
import { nextMinuteAfter, oneInstantPolicy, runConcurrently, startRaw } from '../lib/loans';
import { startService, untilIdle, type BenchServer, type OurService } from '../lib/stack';
import { round, row, spread, type ScenarioResult, type Spread } from '../lib/stats';

interface Drain {
  sent: number;
  duplicates: number;
  lateness: Spread;
  drainSeconds: number;
  perSecond: number;
  startSeconds: number;
  /** Worker CPU (user + system) from the due instant until the last hand-off, per reminder. */
  workerCpuMsPerReminder: number;
}

async function drainOf(
  service: OurService,
  n: number,
  start: (i: number, dueAtMs: number) => Promise<unknown>,
  concurrency: number,
): Promise<Drain> {
  // Far enough ahead that every loan has started and gone to sleep first (about 100 starts a second).
  const due = nextMinuteAfter(20_000 + n * 10);
  const dueAtMs = due.toMillis();
  const startSeconds = await runConcurrently(n, concurrency, (i) => start(i, dueAtMs));
  if (Date.now() > dueAtMs) throw new Error(`starting ${n} loans overran the due instant; lengthen the lead`);
  await untilIdle(service.worker);
  while (Date.now() < dueAtMs) await new Promise((r) => setTimeout(r, 100));
  const cpuBefore = service.worker.cpuSeconds();
  const deadline = dueAtMs + 600_000;
  let lines = readOutbox(service.outboxPath);
  while (lines.length < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    lines = readOutbox(service.outboxPath);
  }
  await untilIdle(service.worker, 0.05, 30_000);
  const cpu = service.worker.cpuSeconds() - cpuBefore;
  const lateness = lines.map((l) => (Date.parse(l.sentAt) - dueAtMs) / 1000);
  const last = Math.max(...lateness);
  return {
    sent: lines.length,
    // The bare workflow's hand-offs carry their message id as `key`.
    duplicates: lines.length - new Set(lines.map((l) => l.idempotencyKey ?? (l as { key?: string }).key)).size,
    lateness: spread(lateness),
    drainSeconds: round(last),
    perSecond: round(lines.length / last, 1),
    startSeconds: round(startSeconds, 1),
    workerCpuMsPerReminder: round((cpu * 1000) / Math.max(1, lines.length), 2),
  };
}

export async function fanOut(s: BenchServer, opts: { loans: number; concurrency: number }): Promise<ScenarioResult> {
  const n = opts.loans;
  const run = randomUUID().slice(0, 8);
  // The baseline first: if anything, the database it leaves behind slows ours.
  const bareService = await startService(s, { name: `fanout-bare-${n}`, bare: true });
  let bare: Drain;
  try {
    bare = await drainOf(
      bareService,
      n,
      (i, dueAtMs) =>
        s.client.workflow.start(bareReminder, {
          workflowId: `bare-${run}-${i}`,
          taskQueue: bareService.taskQueue,
          args: [dueAtMs, `bare-${run}-${i}`],
        }),
      opts.concurrency,
    );
  } finally {
    await bareService.stop();
  }
  const service = await startService(s, { name: `fanout-${n}` });
  let ours: Drain;
  const ids: string[] = [];
  try {
    ours = await drainOf(
      service,
      n,
      (i, dueAtMs) => {
        const due = new Date(dueAtMs);
        const policy = oneInstantPolicy(due.toISOString().slice(11, 16));
        const loanId = `F-${run}-${i}`;
        ids.push(workflowIdForLoan(loanId));
        return startRaw(s.client, service.taskQueue, loanId, due.toISOString().slice(0, 10), policy);
      },
      opts.concurrency,
    );
  } finally {
    await service.stop();
  }
  // The loans stay open after their reminder (as between two reminders); end them for the next scenario.
  await runConcurrently(ids.length, 32, (i) =>
    s.client.workflow
      .getHandle(ids[i])
      .terminate('benchmark over')
      .catch(() => undefined),
  );
  const scenario = `fan-out, ${n.toLocaleString('en-US')} due at once`;
  return {
    scenario: `fan-out-${n}`,
    rows: [
      row({
        scenario,
        metric: 'drain rate (sent / seconds from the instant to the last)',
        unit: 'SMS/s',
        ours: ours.perSecond,
        baseline: bare.perSecond,
        better: 'higher',
        target: '≥ 0.8 × bare workflow',
        met: ours.perSecond >= 0.8 * bare.perSecond,
      }),
      ...(['p50', 'p95', 'p99', 'max'] as const).map((p) =>
        row({
          scenario,
          metric: `lateness ${p}`,
          unit: 's',
          ours: ours.lateness[p],
          baseline: bare.lateness[p],
          better: 'lower',
          ...(p === 'p99' ? { target: 'stated' } : {}),
        }),
      ),
      row({
        scenario,
        metric: 'sent / duplicates',
        unit: 'SMS',
        ours: ours.sent,
        baseline: bare.sent,
        better: 'higher',
        target: `${n} sent, 0 twice`,
        met: ours.sent === n && ours.duplicates === 0,
      }),
    ],
    details: { loans: n, ours, bare },
  };
}
