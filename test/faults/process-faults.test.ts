// Process faults on the real stack, each part a process of its own (see harness.ts): the worker
// killed with SIGKILL in the middle of a burst of reminders; the Temporal dev server stopped (SIGTERM,
// then SIGKILL) while reminders fall due; the API killed with SIGKILL while a payment processor
// delivers signed webhooks and retries them. Each test measures what was lost, duplicated or broken
// in the SMS outbox, the event store and the loans' workflows, records its row for the fault table,
// and only then asserts, so a failure shows in the table too.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporal } from '@temporalio/proto';
import { tsToMs } from '@temporalio/common/lib/time';
import { workflowIdForLoan } from '../../src/domain/loan';
import type { OutboxLine } from '../../src/sms/outbox';
import type { LoanEvent } from '../../src/store/events';
import type { LoanStatus } from '../../src/workflows/messages';
import { burstPolicy, policyWith } from '../helpers/temporal';
import { FaultStack, inPool, sleep, until } from './harness';
import { QUICK, recordFault } from './report';

/** Tells this run's loans apart from any other's in the stack's files. */
const RUN = randomUUID().slice(0, 6);

/**
 * The burst: one reminder a fixed time after each loan starts, at any hour, then the loan ends
 * ("unresolved": nobody paid). All loans of a test start through one batch request, so their
 * reminders fall due within the few seconds that takes.
 */
const BURST = { ...burstPolicy(QUICK ? 'PT15S' : 'PT25S'), id: 'burst' };
/** The same shape, due sooner: loans that are asleep when the dev server goes down. */
const OUTAGE = { ...burstPolicy(QUICK ? 'PT12S' : 'PT25S'), id: 'outage' };
/**
 * Loans that get paid in two parts by webhook: a reminder comes due while the payments stream in
 * (some loans are partly paid then, some fully), another long after all should be paid; a thank-you
 * when paid in full; the loan listens for payments for a day, so no payment meets an ended loan.
 */
const PAYING = policyWith({
  id: 'paying',
  anchor: 'loan-start',
  sendTime: '00:00',
  window: { start: '00:00', end: '24:00' },
  points: [
    { stage: 'due', offset: 'PT6S', template: 'due' },
    { stage: 'overdue', offset: 'PT5M', template: 'overdue' },
  ],
  overdueRepeat: undefined,
  finalNotice: undefined,
  caps: [],
  thankYou: true,
  afterLastPoint: { handOver: false, listenFor: 'P1D' },
});

/** The SMS provider's pace: slow enough that a burst takes seconds to drain and can be cut in the middle. */
const SMS_PER_SECOND = QUICK ? 10 : 20;

let stack: FaultStack;

beforeAll(async () => {
  stack = await FaultStack.start({
    name: 'process-faults',
    policies: [BURST, OUTAGE, PAYING],
    smsPerSecond: SMS_PER_SECOND,
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const today = () => new Date().toISOString().slice(0, 10);

/** A loan for the API, in UTC and on a test number; its name and number never appear in any output. */
function newLoan(loanId: string, policyId: string, amountDue = 1000) {
  return {
    loanId,
    borrower: { name: 'Rivera', phone: '+12025550100', locale: 'en-US', timezone: 'UTC' },
    amountDue,
    currency: 'USD',
    dueDate: today(),
    policyId,
  };
}

const loanIds = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) m.set(key(it), [...(m.get(key(it)) ?? []), it]);
  return m;
}

/**
 * Each loan was promised exactly one reminder: in the outbox (one line, a key of its own, never
 * before its time) and in the event store (one message-sent event).
 */
function tallyOneReminderEach(ids: readonly string[], lines: readonly OutboxLine[], sentEvents: readonly LoanEvent[]) {
  const reminders = lines.filter((l) => l.template !== 'thank-you');
  const linesByLoan = groupBy(reminders, (l) => l.loanId);
  const eventsByLoan = groupBy(sentEvents, (e) => e.loanId);
  let lostSms = 0;
  let dupSms = 0;
  let lostEvents = 0;
  let dupEvents = 0;
  for (const id of ids) {
    const n = linesByLoan.get(id)?.length ?? 0;
    const e = eventsByLoan.get(id)?.length ?? 0;
    if (n === 0) lostSms++;
    if (n > 1) dupSms += n - 1;
    if (e === 0) lostEvents++;
    if (e > 1) dupEvents += e - 1;
  }
  const keys = new Set(reminders.map((l) => l.idempotencyKey));
  const early = reminders.filter((l) => Date.parse(l.sentAt) < Date.parse(l.scheduledFor)).length;
  return {
    lostSms,
    dupSms,
    lostEvents,
    dupEvents,
    early,
    lines: reminders.length,
    keys: keys.size,
    events: sentEvents.length,
    lost: lostSms + lostEvents,
    duplicated: dupSms + dupEvents,
  };
}

/** The loans' final states (workflow results); undefined for a loan whose workflow is missing or never ended. */
async function finalStates(ids: readonly string[], timeoutMs: number): Promise<Array<LoanStatus | undefined>> {
  const deadline = Date.now() + timeoutMs;
  return inPool(ids, 16, (id) => stack.loanResult(id, Math.max(1_000, deadline - Date.now())).catch(() => undefined));
}

/** A burst loan ends "unresolved" with its one reminder in its state. */
const burstLoanDone = (s: LoanStatus | undefined) =>
  s?.status === 'unresolved' && s.messagesSent.length === 1 && s.messagesSent[0].stage === 'due';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe('process faults', () => {
  it('worker kill -9 mid-burst: every due reminder goes out exactly once after the restart', async () => {
    await stack.ensureRunning();
    const n = QUICK ? 150 : 500;
    const prefix = `K9-${RUN}-`;
    const ids = loanIds(prefix, n);
    const t0 = Date.now();
    await stack.startLoans(ids.map((id) => newLoan(id, BURST.id)));
    const startMs = Date.now() - t0;

    // Kill it hard once a good part, but not all, has gone out.
    const killAt = Math.ceil(n * 0.35);
    await until('a good part of the burst in the outbox', () => stack.outbox(prefix).length >= killAt, 180_000, 25);
    await stack.killWorker();
    const killedAt = Date.now();
    const atKill = stack.outbox(prefix).length;
    await stack.startWorker();
    const restartMs = Date.now() - killedAt;
    await until('every reminder in the outbox', () => stack.outbox(prefix).length >= n, 180_000).catch(() => {
      /* measured below */
    });
    const drainedMs = Date.now() - killedAt;
    // Every loan ends once its one send has completed; none sends anything after it has ended.
    const states = await finalStates(ids, 120_000);

    const t = tallyOneReminderEach(ids, stack.outbox(prefix), await stack.events(prefix, ['message-sent']));
    const missing = states.filter((s) => s === undefined).length;
    const wrongState = states.filter((s) => s !== undefined && !burstLoanDone(s)).length;
    recordFault({
      fault: 'worker kill -9',
      injected: `SIGKILL of the worker with ${atKill}/${n} reminders of a burst sent, then a restart`,
      scale: n,
      lost: t.lost + missing,
      duplicated: t.duplicated,
      violations: wrongState + t.early,
      detail:
        `outbox ${t.lines} lines, ${t.keys} keys; ${t.events} message-sent events; ` +
        `${n - missing} workflows ended, ${wrongState} in a wrong state; ${t.early} sent early; ` +
        `loans started in ${seconds(startMs)}, worker back in ${seconds(restartMs)}, burst done ${seconds(drainedMs)} after the kill`,
    });

    expect(atKill).toBeLessThan(n);
    expect(t).toMatchObject({ lines: n, keys: n, events: n, lost: 0, duplicated: 0, early: 0 });
    expect(missing).toBe(0);
    expect(wrongState).toBe(0);
  });

  it('dev server restart: reminders that fall due while Temporal is down fire once after it is back', async () => {
    const m = QUICK ? 40 : 150;
    const rounds: Array<{ signal: string; failures: Record<string, unknown> }> = [];
    // An orderly stop, then a crash of the server process, each on the same DB file and port.
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      await stack.ensureRunning();
      const prefix = `DS-${signal}-${RUN}-`;
      const ids = loanIds(prefix, m);
      await stack.startLoans(ids.map((id) => newLoan(id, OUTAGE.id)));
      // Every loan asleep on its reminder's timer before the server goes (a loan answers once the
      // worker has run its first workflow task).
      const due = await inPool(ids, 8, async (id) => {
        let at = NaN;
        await until(
          `loan ${id} to plan its reminder`,
          async () => {
            const r = await stack.getLoan(id).catch(() => undefined);
            at = Date.parse(r?.body?.nextReminderAt ?? '');
            return r?.status === 200 && !Number.isNaN(at);
          },
          30_000,
          100,
        );
        return at;
      });
      const firstDue = Math.min(...due);
      const lastDue = Math.max(...due);
      const marginMs = firstDue - Date.now();

      await stack.stopServer(signal);
      const downAt = Date.now();
      // What callers meet meanwhile: the readiness probe and a read, each timed.
      const timed = async (f: () => Promise<number>) => {
        const t = Date.now();
        const status = await f();
        return `${status} in ${seconds(Date.now() - t)}`;
      };
      const [readyzWhileDown, getWhileDown] = await Promise.all([
        timed(() => stack.apiReady(45_000)),
        timed(() =>
          stack.getLoan(ids[0]).then(
            (r) => r.status,
            () => 0,
          ),
        ),
        until('every reminder to fall due', () => Date.now() > lastDue + 2_000, 120_000, 100),
      ]);
      const sentWhileDown = stack.outbox(prefix).length;
      const restartAt = Date.now();
      await stack.startServer();
      const upMs = Date.now() - restartAt;

      // Nothing restarted but the server: the API and the worker must find it again by themselves.
      const findings: string[] = [];
      const [apiBack, workerBack] = await Promise.all([
        until('the API to reach Temporal again', async () => (await stack.apiReady()) === 200, 60_000).then(
          () => Date.now() - restartAt,
          () => undefined,
        ),
        until('the first send after the restart', () => stack.outbox(prefix).length > 0, 90_000, 100).then(
          () => Date.now() - restartAt,
          () => undefined,
        ),
      ]);
      if (apiBack === undefined) {
        findings.push('API did not reconnect in 60 s (restarted)');
        await stack.killApi();
        await stack.startApi();
      }
      if (workerBack === undefined) {
        findings.push('worker sent nothing 90 s after the restart (restarted)');
        await stack.killWorker();
        await stack.startWorker();
      }
      await until('every reminder in the outbox', () => stack.outbox(prefix).length >= m, 120_000).catch(() => {
        /* measured below */
      });
      const drainedMs = Date.now() - restartAt;

      const states = await finalStates(ids, 120_000);
      const exists = await inPool(ids, 16, async (id) => (await stack.describeLoan(id)) !== undefined);
      const lines = stack.outbox(prefix);
      const t = tallyOneReminderEach(ids, lines, await stack.events(prefix, ['message-sent']));
      const missing = exists.filter((e) => !e).length;
      const unfinished = states.filter((s) => s === undefined).length;
      const wrongState = states.filter((s) => s !== undefined && !burstLoanDone(s)).length;
      // They fell due while nothing could run them: each must have fired after the restart.
      const beforeRestart = lines.filter((l) => Date.parse(l.sentAt) < restartAt).length;
      recordFault({
        fault: `dev server ${signal === 'SIGTERM' ? 'stop' : 'kill -9'} and restart`,
        injected:
          `${signal} of the Temporal dev server ${seconds(marginMs)} before ${m} reminders fell due, ` +
          `down ${seconds(restartAt - downAt)}, restarted on the same DB file and port`,
        scale: m,
        lost: t.lost + missing + unfinished,
        duplicated: t.duplicated,
        violations: wrongState + t.early + beforeRestart + sentWhileDown + findings.length,
        detail:
          `while down: /readyz ${readyzWhileDown}, GET loan ${getWhileDown}; server serving ${seconds(upMs)} after ` +
          `restart, API ready ${apiBack === undefined ? 'never' : seconds(apiBack)}, worker's first send ` +
          `${workerBack === undefined ? 'never' : seconds(workerBack)}, all sent ${seconds(drainedMs)}; ` +
          `outbox ${t.lines} lines, ${t.keys} keys; ${t.events} message-sent events; ${m - missing} workflows exist, ` +
          `${m - unfinished} ended, ${wrongState} in a wrong state` +
          (findings.length ? `; FINDINGS: ${findings.join('; ')}` : ''),
      });
      rounds.push({
        signal,
        failures: Object.fromEntries(
          Object.entries({
            lateMargin: marginMs <= 0,
            findings: findings.length > 0 && findings,
            lost: t.lost + missing + unfinished,
            duplicated: t.duplicated,
            wrongState,
            early: t.early,
            beforeRestart,
            sentWhileDown,
            readyzNot503: !readyzWhileDown.startsWith('503') && readyzWhileDown,
            getNot503: !getWhileDown.startsWith('503') && getWhileDown,
          }).filter(([, v]) => v !== 0 && v !== false),
        ),
      });
    }
    // Both rounds recorded before any assertion.
    expect(rounds).toEqual([
      { signal: 'SIGTERM', failures: {} },
      { signal: 'SIGKILL', failures: {} },
    ]);
  });

  it('API kill -9 while a processor delivers payment webhooks with retries: each payment counts once', async () => {
    await stack.ensureRunning();
    const n = QUICK ? 100 : 300;
    const prefix = `WH-${RUN}-`;
    const ids = loanIds(prefix, n);
    await stack.startLoans(ids.map((id) => newLoan(id, PAYING.id, 1000)));
    const started = Date.now();

    // Two payments a loan, 400 then 600: first every loan's first part, then every loan's second,
    // so the reminder due at 6 s finds most loans partly paid; then one in ten delivered again
    // later (the processor's own repeat, same body), as processors do.
    const paidAt = new Date().toISOString();
    const payment = (loanId: string, part: 1 | 2) =>
      JSON.stringify({ loanId, paymentId: `${loanId}-P${part}`, amount: part === 1 ? 400 : 600, paidAt });
    const shuffled = <T>(xs: T[]) =>
      xs
        .map((x) => [Math.random(), x] as const)
        .sort((a, b) => a[0] - b[0])
        .map(([, x]) => x);
    const firsts = shuffled(ids.map((id) => payment(id, 1)));
    const lasts = shuffled(ids.map((id) => payment(id, 2)));
    const repeats = shuffled([...firsts, ...lasts]).slice(0, Math.ceil(n / 5));
    const deliveries = [...firsts, ...lasts, ...repeats];

    const perSecond = QUICK ? 20 : 40;
    const statuses: number[] = [];
    let noAnswer = 0;
    let acknowledged = 0;
    let inFlight = 0;
    /** A processor's delivery: retried, signed afresh each time, until a 2xx (or it gives up on a refusal). */
    const deliver = async (body: string): Promise<{ ok: boolean; refusedWith?: number }> => {
      const deadline = Date.now() + 120_000;
      let refusals = 0;
      for (let backoff = 200; ; backoff = Math.min(backoff * 2, 2_000)) {
        inFlight++;
        const status = await stack.postWebhook(body).catch(() => 0);
        inFlight--;
        if (status === 0) noAnswer++;
        else statuses.push(status);
        if (status >= 200 && status < 300) {
          acknowledged++;
          return { ok: true };
        }
        // A processor retries refusals too, for days; here a few times, then the refusal is the finding.
        if (status >= 400 && status < 500 && status !== 429 && ++refusals >= 3)
          return { ok: false, refusedWith: status };
        if (Date.now() > deadline) return { ok: false, refusedWith: status };
        await sleep(backoff);
      }
    };
    const sending = (async () => {
      const pending: Array<Promise<{ ok: boolean; refusedWith?: number }>> = [];
      // In small bursts, as processors flush their queues: a kill then finds several requests in flight.
      const burst = 5;
      for (let i = 0; i < deliveries.length; i += burst) {
        for (const body of deliveries.slice(i, i + burst)) pending.push(deliver(body));
        await sleep((1_000 * burst) / perSecond);
      }
      return Promise.all(pending);
    })();

    // Kill the API twice mid-stream, with deliveries in flight, and start it again at once.
    const kills: string[] = [];
    for (const share of [0.3, 0.65]) {
      await until(
        `${share * 100}% of deliveries acknowledged, and some in flight`,
        // Some in flight: a kill between Temporal's answer and ours is the case that matters. Should
        // that not happen, a little later anyway.
        () =>
          acknowledged >= deliveries.length * share &&
          (inFlight >= 3 || acknowledged >= deliveries.length * (share + 0.1)),
        180_000,
        2,
      );
      const flying = inFlight;
      await stack.killApi();
      const killedAt = Date.now();
      await stack.startApi();
      kills.push(`${flying} in flight, down ${seconds(Date.now() - killedAt)}`);
    }
    const outcomes = await sending;
    const streamMs = Date.now() - started;

    const states = await finalStates(ids, 180_000);
    const endedMs = Date.now() - started - streamMs;
    const lines = stack.outbox(prefix);
    const paymentEvents = await stack.events(prefix, ['payment']);
    const sentKeys = new Set((await stack.events(prefix, ['message-sent'])).map((e) => e.messageKey));

    let lost = 0;
    let duplicated = 0;
    let violations = 0;
    const notes: string[] = [];
    const eventsByPayment = groupBy(paymentEvents, (e) => String(e.detail?.paymentId));
    const linesByLoan = groupBy(lines, (l) => l.loanId);
    let unfinished = 0;
    const afterPaid: Array<{ line: OutboxLine; settledAt: number; state: LoanStatus | undefined }> = [];
    let thanksMissing = 0;
    let thanksTwice = 0;
    for (const [i, id] of ids.entries()) {
      const s = states[i];
      const expected = [`${id}-P1`, `${id}-P2`];
      // The workflow's state: each payment once, and what is owed follows from the distinct payments.
      if (!s) unfinished++;
      else {
        const paidIds = s.payments.map((p) => p.paymentId);
        lost += expected.filter((p) => !paidIds.includes(p)).length;
        duplicated += paidIds.length - new Set(paidIds).size;
        const distinctSum = [...new Map(s.payments.map((p) => [p.paymentId, p.amount])).values()].reduce(
          (a, b) => a + b,
          0,
        );
        if (s.status !== 'paid' || s.outstanding !== 0 || s.amountDue - s.outstanding + s.overpaid !== distinctSum)
          violations++;
      }
      // The event store: one payment event per payment id.
      for (const p of expected) {
        const k = eventsByPayment.get(p)?.length ?? 0;
        if (k === 0) lost++;
        if (k > 1) duplicated += k - 1;
      }
      // The outbox: no reminder after the payment in full; one thank-you.
      const settled = paymentEvents.find((e) => e.loanId === id && e.detail?.settled === true);
      const mine = linesByLoan.get(id) ?? [];
      if (settled) {
        for (const l of mine) {
          if (l.template === 'thank-you' || Date.parse(l.sentAt) <= Date.parse(settled.at)) continue;
          afterPaid.push({ line: l, settledAt: Date.parse(settled.at), state: s });
        }
      }
      const thanks = mine.filter((l) => l.template === 'thank-you').length;
      if (thanks === 0) thanksMissing++;
      if (thanks > 1) thanksTwice += thanks - 1;
    }
    // A reminder in the outbox after the loan was paid in full. The loan withdraws a send in flight
    // the moment it takes the payment (the server records the cancellation request), and the send
    // asks the server just before the provider (after the ledger's first attempt). Begun before
    // that request, it crossed the payment: the provider may already have it, and the loan must
    // list it. Begun after it, it should never have gone.
    const ledger = await stack.sends(afterPaid.map((a) => a.line.idempotencyKey));
    const client = await stack.temporal();
    const crossed = await Promise.all(
      afterPaid.map(async ({ line, settledAt, state }) => {
        const begun = Date.parse(ledger.get(line.idempotencyKey)?.firstAttemptAt ?? line.sentAt);
        const history = await client.workflow.getHandle(workflowIdForLoan(line.loanId)).fetchHistory();
        const withdrawal = history.events?.find(
          (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
        );
        const withdrawnAt = withdrawal?.eventTime ? tsToMs(withdrawal.eventTime) : Infinity;
        const known = !!state?.messagesSent.some((m) => `${line.loanId}:${m.key}` === line.idempotencyKey);
        return {
          begunAfterPaid: begun > withdrawnAt,
          msAfter: Date.parse(line.sentAt) - settledAt,
          known,
          inEvents: sentKeys.has(line.idempotencyKey),
        };
      }),
    );
    const remindersAfterPaid = crossed.filter((c) => c.begunAfterPaid).length;
    if (crossed.length) {
      notes.push(
        `reminders sent after payment in full: ${crossed
          .map(
            (c) =>
              `+${c.msAfter} ms, begun ${c.begunAfterPaid ? 'after' : 'before'} the loan withdrew it, ${c.known ? 'in' : 'NOT in'} the loan's messagesSent, ${c.inEvents ? 'in' : 'not in'} the event store`,
          )
          .join('; ')}`,
      );
    }
    // The loan's record of what it sent must match the outbox: a send it believes withdrawn that
    // went out anyway is a text the loan's status, and operations, know nothing of.
    const unknownToLoan = crossed.filter((c) => !c.known).length;
    const refused = outcomes.filter((o) => !o.ok);
    const serverErrors = statuses.filter((s) => s >= 500).length;
    const remindersSent = lines.filter((l) => l.template !== 'thank-you').length;
    lost += unfinished + thanksMissing;
    duplicated += thanksTwice;
    violations += remindersAfterPaid + unknownToLoan + refused.length + serverErrors;
    if (refused.length) {
      const codes = [...groupBy(refused, (o) => String(o.refusedWith)).entries()].map(([c, os]) => `${os.length}x${c}`);
      notes.push(`deliveries never acknowledged: ${codes.join(', ')}`);
    }
    const answers = [...groupBy(statuses, String).entries()].map(([c, xs]) => `${c}: ${xs.length}`).join(', ');
    recordFault({
      fault: 'API kill -9 under webhook retries',
      injected: `2 SIGKILLs of the API (${kills.join('; ')}) during ${deliveries.length} signed payment deliveries`,
      scale: deliveries.length,
      lost,
      duplicated,
      violations,
      detail:
        `${n} loans, ${2 * n} payments, ${repeats.length} repeated deliveries; answers ${answers}, ${noAnswer} unanswered (retried); ` +
        `${paymentEvents.length} payment events; ${n - unfinished} loans paid and ended; ${remindersSent} reminders, ` +
        `${crossed.length} after payment in full (${remindersAfterPaid} begun after it); thank-yous missing ${thanksMissing}, extra ${thanksTwice}; ` +
        `${serverErrors} 5xx; stream ${seconds(streamMs)}, all loans ended ${seconds(endedMs)} later` +
        (notes.length ? `; ${notes.join('; ')}` : ''),
    });

    expect({ lost, duplicated, unfinished, remindersAfterPaid, unknownToLoan, serverErrors }).toEqual({
      lost: 0,
      duplicated: 0,
      unfinished: 0,
      remindersAfterPaid: 0,
      unknownToLoan: 0,
      serverErrors: 0,
    });
    expect(refused).toEqual([]);
    expect(violations).toBe(0);
    expect(paymentEvents).toHaveLength(2 * n);
  });
});
