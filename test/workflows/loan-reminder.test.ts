// The loan workflow over weeks of workflow time, on the time-skipping test server: which SMS went
// out, at which local time, with which words, and which did not.
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Context } from '@temporalio/activity';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { createWorkers } from '../../src/worker';
import type { Lender, Loan } from '../../src/domain/loan';
import type { Policy } from '../../src/domain/policy';
import type { OperationsQueue } from '../../src/operations/queue';
import { smsSegments } from '../../src/domain/segments';
import { readOutbox } from '../../src/sms/outbox';
import {
  borrowerAnswerSignal,
  changeContactUpdate,
  changeTermsUpdate,
  closeLoanUpdate,
  loanStatusQuery,
  paymentReceivedSignal,
  promiseToPayUpdate,
  resumeUpdate,
  type LoanReminderInput,
} from '../../src/workflows/messages';
import { loanReminder } from '../../src/workflows/loan-reminder';
import {
  activitiesSettled,
  DEFAULT_POLICY,
  DEFAULT_STAGES,
  localDate,
  policyWith,
  RecordingProvider,
  runWorkersUntil,
  tempOperations,
  timeSkippingEnv,
  workflowBundle,
} from '../helpers/temporal';

const lender: Lender = { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' };
const DAY = 86_400_000;
const TZ = 'Asia/Shanghai';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await timeSkippingEnv();
});

afterAll(async () => {
  await env?.teardown();
});

/** A loan due `days` from now in server time, which moves ahead as earlier tests skip time. */
async function loanDueIn(days: number, overrides: Partial<Loan> = {}): Promise<Loan> {
  const now = await env.currentTimeMs();
  return {
    loanId: `L-${randomUUID()}`,
    borrower: { name: '张先生', phone: '+8613800138000', locale: 'zh-CN', timezone: TZ },
    amountDue: 500000,
    currency: 'CNY',
    dueDate: localDate(now, overrides.borrower?.timezone ?? TZ, days),
    ...overrides,
  };
}

interface Ctx {
  sms: RecordingProvider;
  ops: OperationsQueue;
  taskQueue: string;
}

const started: string[] = [];

/** The reason a refused update gives, as its caller sees it. */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause;
    return cause?.message ?? String(err);
  }
  throw new Error('the update was accepted');
}

/** The outbox provider behind a gateway that answers 503 until a moment of server time. */
class OutageProvider extends RecordingProvider {
  attempts = 0;
  /** Server time of every attempt that reached the provider. */
  readonly attemptTimes: number[] = [];
  healthyFrom = Infinity;
  override async send(message: Parameters<RecordingProvider['send']>[0]) {
    this.attempts++;
    this.attemptTimes.push(Context.current().info.currentAttemptScheduledTimestampMs);
    if (Context.current().info.currentAttemptScheduledTimestampMs < this.healthyFrom) {
      throw new Error('provider answered 503 Service Unavailable');
    }
    return super.send(message);
  }
}

/** Runs `body` with a worker whose SMS and hand-overs go to fresh files. Tests share the server, so run serially. */
async function withWorker<T>(
  body: (ctx: Ctx) => Promise<T>,
  sms: RecordingProvider = new RecordingProvider(),
): Promise<T> {
  const ctx: Ctx = { sms, ops: tempOperations(), taskQueue: `test-${randomUUID()}` };
  const workers = await createWorkers({
    connection: env.nativeConnection,
    taskQueue: ctx.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({ searchAttributes: false, sms: ctx.sms, operations: ctx.ops }),
  });
  return runWorkersUntil(workers, async () => {
    try {
      return await body(ctx);
    } finally {
      // A workflow left running without its worker would hold the shared server's clock still, and
      // so would one terminated under an activity in flight (its last events being recorded, say):
      // let those finish first.
      await activitiesSettled(env, started);
      for (const id of started.splice(0)) {
        await env.client.workflow
          .getHandle(id)
          .terminate('test finished')
          .catch(() => undefined);
      }
    }
  });
}

function start(loan: Loan, taskQueue: string, policy: Policy = DEFAULT_POLICY, extra: Partial<LoanReminderInput> = {}) {
  started.push(`loan-${loan.loanId}`);
  return env.client.workflow.start(loanReminder, {
    workflowId: `loan-${loan.loanId}`,
    taskQueue,
    // The time-skipping server cannot register custom search attributes (its OperatorService is
    // unimplemented); the API tests check them on the dev server.
    args: [{ loan, lender, policy, ...extra }],
  });
}

async function skipTo(ms: number): Promise<void> {
  await activitiesSettled(env, started);
  const now = await env.currentTimeMs();
  if (ms > now) await env.sleep(ms - now);
}

const local = (ms: number, tz = TZ) => DateTime.fromMillis(ms, { zone: tz }).toFormat('yyyy-MM-dd HH:mm');
const sentAt = (sms: RecordingProvider, tz = TZ) => sms.sent.map((m) => `${m.stage} ${local(m.serverTimeMs, tz)}`);
const plusDays = (date: string, days: number) => DateTime.fromISO(date).plus({ days }).toISODate() as string;
const opsKinds = async (ops: OperationsQueue) => (await ops.list()).map((i) => i.kind);

describe('the default policy', () => {
  it('reminds a week before, on and after the due date at 10:00 local, then weekly, then a final notice; hands over; ends unresolved', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, ops, taskQueue }) => {
      const result = await (await start(loan, taskQueue)).result();
      const d = loan.dueDate;
      expect(sentAt(sms)).toEqual([
        `pre-due ${plusDays(d, -7)} 10:00`,
        `due ${d} 10:00`,
        `overdue ${plusDays(d, 1)} 10:00`,
        `overdue-weekly ${plusDays(d, 8)} 10:00`,
        `overdue-weekly ${plusDays(d, 15)} 10:00`,
        `overdue-weekly ${plusDays(d, 22)} 10:00`,
        `final-notice ${plusDays(d, 29)} 10:00`,
      ]);
      // Each went out at the planned minute of server time, not before.
      for (const m of sms.sent) expect(m.serverTimeMs).toBeGreaterThanOrEqual(Date.parse(m.scheduledFor));
      const due = sms.sent[1].body;
      expect(due).toBe(
        `尊敬的张先生，您好！您在锦程金融的还款金额为5000元，截止日期为${DateTime.fromISO(d).toFormat("yyyy'年'M'月'd'日'")}。请您尽快处理，以免产生额外费用。如有疑问，请拨打我们的客服热线：4001234567。${result.variant === 'B' ? '如您已还款，请忽略本短信。' : ''}感谢您的配合！回复TD退订`,
      );
      for (const m of sms.sent) {
        expect(m.body).toContain('张先生');
        expect(m.body).toContain('5000元');
        expect(m.body).toContain('4001234567');
        expect(m.body).toContain('回复TD退订');
      }
      expect(result.status).toBe('unresolved');
      expect(await opsKinds(ops)).toEqual(['schedule-exhausted']);
      // Each message's segment count is recorded as the body's own (UCS-2: 70 characters, 67 when split).
      expect(result.messagesSent.map((m) => m.segments)).toEqual(sms.sent.map((m) => smsSegments(m.body).segments));
      expect(Math.max(...result.messagesSent.map((m) => m.segments))).toBeLessThanOrEqual(3);
      expect(readOutbox(sms.outbox.path).map((l) => l.idempotencyKey)).toEqual(
        result.messagesSent.map((m) => `${loan.loanId}:${m.key}`),
      );
      // The loan listened for payment for 30 days after its last point.
      expect(Date.parse(result.completedAt!)).toBeGreaterThanOrEqual(Date.parse(result.horizon));
    });
  });

  it('keeps 10:00 local across a daylight-saving change', async () => {
    // Find the next spring-forward in New York and put the due date right after it.
    const now = await env.currentTimeMs();
    let day = DateTime.fromMillis(now, { zone: 'America/New_York' }).plus({ days: 10 }).startOf('day');
    while (day.offset === day.plus({ days: 1 }).offset) day = day.plus({ days: 1 });
    const dueDate = day.plus({ days: 2 }).toISODate() as string;
    const loan = await loanDueIn(0, {
      dueDate,
      borrower: {
        name: 'Rivera',
        honorific: 'Ms',
        phone: '+12025550100',
        locale: 'en-US',
        timezone: 'America/New_York',
      },
      currency: 'USD',
      amountDue: 123450,
    });
    await withWorker(async ({ sms, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(DateTime.fromISO(plusDays(dueDate, 2), { zone: 'America/New_York' }).toMillis());
      expect(sentAt(sms, 'America/New_York')).toEqual([
        `pre-due ${plusDays(dueDate, -7)} 10:00`,
        `due ${dueDate} 10:00`,
        `overdue ${plusDays(dueDate, 1)} 10:00`,
      ]);
      // The offsets differ, so the UTC hours differ: the rule is local time.
      expect(new Date(sms.sent[0].serverTimeMs).getUTCHours()).not.toBe(
        new Date(sms.sent[1].serverTimeMs).getUTCHours(),
      );
      expect(sms.sent[1].body).toMatch(
        /^Dear Ms Rivera, your repayment of \$1,234\.50 to Jincheng Finance is due today/,
      );
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'cancelled' }] });
    });
  });
});

describe('payments', () => {
  it('counts a repeated payment once, states what is left, and stops everything when paid in full, then thanks', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, -6), { zone: TZ }).toMillis());
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due']);

      const partial = { paymentId: 'P-1', amount: 200000, paidAt: new Date().toISOString() };
      await handle.signal(paymentReceivedSignal, partial);
      await handle.signal(paymentReceivedSignal, partial); // the webhook retried
      const mid = await handle.query(loanStatusQuery);
      expect(mid).toMatchObject({ outstanding: 300000, status: 'active' });
      expect(mid.payments).toHaveLength(1);
      expect(mid.nextReminder).toMatchObject({ stage: 'due' });

      await skipTo(DateTime.fromISO(loan.dueDate, { zone: TZ }).set({ hour: 12 }).toMillis());
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due', 'due']);
      expect(sms.sent[1].body).toContain('剩余应还金额为3000元');

      // Paid in full in the evening: the thank-you waits for no night, it is inside the window.
      await skipTo(DateTime.fromISO(loan.dueDate, { zone: TZ }).set({ hour: 22 }).toMillis());
      await handle.signal(paymentReceivedSignal, {
        paymentId: 'P-2',
        amount: 300000,
        paidAt: new Date().toISOString(),
      });
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'paid', outstanding: 0, nextReminder: null });
      expect(sentAt(sms)).toEqual([
        `pre-due ${plusDays(loan.dueDate, -7)} 10:00`,
        `due ${loan.dueDate} 10:00`,
        `thank-you ${plusDays(loan.dueDate, 1)} 08:00`,
      ]);
      expect(sms.sent[2].body).toContain('已全部还清');
      expect(sms.sent[2].body).toContain('5000元');
    });
  });

  it('sends nothing when paid before the first reminder, and records an overpayment', async () => {
    const loan = await loanDueIn(20);
    await withWorker(async ({ sms, taskQueue }) => {
      const handle = await start(loan, taskQueue, policyWith({ thankYou: false }));
      await handle.signal(paymentReceivedSignal, {
        paymentId: 'P-9',
        amount: 510000,
        paidAt: new Date().toISOString(),
      });
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'paid', outstanding: 0, overpaid: 10000 });
      expect(sms.sent).toEqual([]);
    });
  });

  it('skips reminders whose time passed before the loan started, beyond the lateness allowed', async () => {
    const loan = await loanDueIn(3); // the pre-due point was 4 days ago; maxLateness is 3 days
    await withWorker(async ({ sms, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, 2), { zone: TZ }).toMillis());
      const status = await handle.query(loanStatusQuery);
      expect(status.skipped.map((x) => x.stage)).toEqual(['pre-due']);
      expect(sms.sent.map((m) => m.stage)).toEqual(['due', 'overdue']);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
      expect((await handle.result()).status).toBe('closed');
    });
  });
});

describe("the borrower's answers", () => {
  it('opt-out: no reminder SMS ever again, payments still tracked, operations told', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, ops, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, -6), { zone: TZ }).toMillis());
      await handle.signal(borrowerAnswerSignal, { kind: 'opt-out' });
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, 20), { zone: TZ }).toMillis());
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due']);
      await handle.signal(paymentReceivedSignal, {
        paymentId: 'P-1',
        amount: 500000,
        paidAt: new Date().toISOString(),
      });
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'paid', optedOut: true });
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due']); // not even a thank-you
      expect(await opsKinds(ops)).toEqual(['opt-out']);
    });
  });

  it('dispute: pauses until operations resume it, then goes on from a re-planned schedule', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, ops, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, -6), { zone: TZ }).toMillis());
      await handle.signal(borrowerAnswerSignal, { kind: 'dispute', reason: 'amount is wrong' });
      const paused = await handle.query(loanStatusQuery);
      expect(paused).toMatchObject({ status: 'paused', pause: { kind: 'dispute' }, nextReminder: null });

      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, 9), { zone: TZ }).set({ hour: 15 }).toMillis());
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due']);
      await handle.executeUpdate(resumeUpdate, { args: [{}] });
      // due, overdue and the first weekly point passed during the dispute: the latest one still
      // within 3 days (overdue-weekly on day 8) goes out at once; the older ones are skipped.
      // The next weekly point (day 15) waits for the cap of one per 7 days while overdue: day 16, 15:00.
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, 17), { zone: TZ }).toMillis());
      expect(sentAt(sms)).toEqual([
        `pre-due ${plusDays(loan.dueDate, -7)} 10:00`,
        `overdue-weekly ${plusDays(loan.dueDate, 9)} 15:00`,
        `overdue-weekly ${plusDays(loan.dueDate, 16)} 15:00`,
      ]);
      const status = await handle.query(loanStatusQuery);
      expect(status.skipped.map((x) => x.stage)).toEqual(['due', 'overdue']);
      expect(await opsKinds(ops)).toEqual(['dispute']);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'settled-elsewhere' }] });
    });
  });

  it('promise to pay: accepted within the policy, pauses until the date plus grace, resumes when unpaid', async () => {
    const loan = await loanDueIn(3);
    await withWorker(async ({ sms, ops, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(DateTime.fromISO(loan.dueDate, { zone: TZ }).set({ hour: 12 }).toMillis());
      expect(sms.sent.map((m) => m.stage)).toEqual(['due']);

      expect(
        await refusal(handle.executeUpdate(promiseToPayUpdate, { args: [{ date: plusDays(loan.dueDate, 60) }] })),
      ).toMatch(/further ahead than the policy allows/);
      const promised = plusDays(loan.dueDate, 5);
      const answer = await handle.executeUpdate(promiseToPayUpdate, { args: [{ date: promised }] });
      // 10:00 on the promised day plus one day's grace.
      expect(local(Date.parse(answer.pausedUntil))).toBe(`${plusDays(promised, 1)} 10:00`);

      await skipTo(DateTime.fromISO(plusDays(promised, 1), { zone: TZ }).set({ hour: 9 }).toMillis());
      expect(sms.sent.map((m) => m.stage)).toEqual(['due']); // quiet while the promise stands
      await skipTo(DateTime.fromISO(plusDays(promised, 1), { zone: TZ }).set({ hour: 11 }).toMillis());
      const status = await handle.query(loanStatusQuery);
      expect(status.promises).toEqual([expect.objectContaining({ date: promised, kept: false })]);
      expect(status.status).toBe('active');
      expect(await opsKinds(ops)).toEqual(['promise-broken']);
      // The overdue point (day 1) fell inside the pause: the overdue cadence restarts from the
      // promise's end (one text at once, then weekly), not from its old date.
      expect(status.skipped.map((x) => x.stage)).toEqual(['pre-due']);
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, 13), { zone: TZ }).set({ hour: 12 }).toMillis());
      expect(sentAt(sms)).toEqual([
        `due ${loan.dueDate} 10:00`,
        `overdue ${plusDays(promised, 1)} 10:00`,
        `overdue-weekly ${plusDays(promised, 8)} 10:00`,
      ]);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
    });
  });

  it('hardship pauses and hands to operations; a call-back request is filed while reminders go on', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, ops, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await handle.signal(borrowerAnswerSignal, { kind: 'callback', note: 'after 18:00', answerId: 'A-1' });
      await handle.signal(borrowerAnswerSignal, { kind: 'callback', note: 'after 18:00', answerId: 'A-1' });
      await skipTo(DateTime.fromISO(loan.dueDate, { zone: TZ }).set({ hour: 12 }).toMillis());
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due', 'due']);
      await handle.signal(borrowerAnswerSignal, { kind: 'hardship', note: 'lost job' });
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, 20), { zone: TZ }).toMillis());
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due', 'due']);
      expect(await handle.query(loanStatusQuery)).toMatchObject({ status: 'paused', pause: { kind: 'hardship' } });
      expect(await opsKinds(ops)).toEqual(['callback', 'hardship']);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
    });
  });

  it('wrong number: stops texting that number until the loan system gives a new one, then texts the new one', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, ops, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, -6), { zone: TZ }).toMillis());
      await handle.signal(borrowerAnswerSignal, { kind: 'wrong-number' });
      expect(await refusal(handle.executeUpdate(resumeUpdate, { args: [{}] }))).toMatch(/new phone number/);
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, 1), { zone: TZ }).set({ hour: 12 }).toMillis());
      expect(sms.sent.map((m) => m.to)).toEqual(['+8613800138000']);
      expect(await refusal(handle.executeUpdate(changeContactUpdate, { args: [{ phone: '12345' }] }))).toMatch(
        /E\.164/,
      );
      await handle.executeUpdate(changeContactUpdate, { args: [{ phone: '+8613900139000' }] });
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, 2), { zone: TZ }).toMillis());
      // The overdue point (day 1, 10:00) is within lateness: it goes to the new number at once.
      expect(sms.sent.map((m) => `${m.stage} ${m.to}`)).toEqual(['pre-due +8613800138000', 'overdue +8613900139000']);
      expect(await opsKinds(ops)).toEqual(['wrong-number']);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
    });
  });

  it('a harsh tone rating switches the borrower to the gentle wording', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, -6), { zone: TZ }).toMillis());
      const first = (await handle.query(loanStatusQuery)).messagesSent[0];
      expect(first.variant).not.toBe('gentle');
      await handle.signal(borrowerAnswerSignal, { kind: 'rating', messageKey: first.key, clarity: 5, tone: 1 });
      await skipTo(DateTime.fromISO(loan.dueDate, { zone: TZ }).set({ hour: 12 }).toMillis());
      const status = await handle.query(loanStatusQuery);
      expect(status.messagesSent.map((m) => m.variant)).toEqual([first.variant, 'gentle']);
      expect(sms.sent[1].body).toContain('方便时请安排还款');
      expect(status.answers).toEqual([expect.objectContaining({ kind: 'rating', tone: 1, clarity: 5 })]);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
    });
  });
});

describe('changes from the loan system', () => {
  it('a new due date and amount re-plan the schedule; an invalid change is refused; closing ends it quietly', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, -6), { zone: TZ }).toMillis());
      expect(await refusal(handle.executeUpdate(changeTermsUpdate, { args: [{ dueDate: '2025-02-30' }] }))).toMatch(
        /real date/,
      );
      const newDue = plusDays(loan.dueDate, 14);
      const changed = await handle.executeUpdate(changeTermsUpdate, { args: [{ dueDate: newDue, amountDue: 600000 }] });
      expect(changed).toEqual({ outstanding: 600000, dueDate: newDue });
      await skipTo(DateTime.fromISO(newDue, { zone: TZ }).set({ hour: 12 }).toMillis());
      expect(sentAt(sms)).toEqual([
        `pre-due ${plusDays(loan.dueDate, -7)} 10:00`,
        `pre-due ${plusDays(newDue, -7)} 10:00`,
        `due ${newDue} 10:00`,
      ]);
      expect(sms.sent[2].body).toContain('6000元');
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'sold' }] });
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'closed', closedReason: 'sold' });
      await skipTo((await env.currentTimeMs()) + 3 * DAY);
      expect(sms.sent).toHaveLength(3);
    });
  });
});

describe('sending window and caps', () => {
  it('moves a point that falls at night to the next morning, and one that breaks a cap to the first moment allowed', async () => {
    const policy = policyWith({
      sendTime: '20:00',
      points: [
        { stage: 'due', offset: 'P0D', template: 'due' },
        // 22:00: outside the window (an overdue text: by the next morning the due date has passed)
        { stage: 'due-late', offset: 'PT2H', template: 'overdue' },
        { stage: 'overdue', offset: 'P1DT-10H', template: 'overdue' }, // day 1 10:00: inside the window, but
      ],
      caps: [{ max: 2, per: 'PT20H', scope: 'any' }], // a third message within 20 h waits
      overdueRepeat: undefined,
      finalNotice: undefined,
      afterLastPoint: { handOver: false, listenFor: 'P1D' },
    });
    const loan = await loanDueIn(2);
    await withWorker(async ({ sms, taskQueue }) => {
      await (await start(loan, taskQueue, policy)).result();
      expect(sentAt(sms)).toEqual([
        `due ${loan.dueDate} 20:00`,
        `due-late ${plusDays(loan.dueDate, 1)} 08:00`,
        `overdue ${plusDays(loan.dueDate, 1)} 16:00`, // 20 h after the 20:00 message
      ]);
    });
  });
});

describe('a provider outage', () => {
  it('retries while the window is open, never sends after it closes, and sends once at the next opening', async () => {
    const loan = await loanDueIn(10);
    const outage = new OutageProvider();
    // Down from before the overdue reminder until 09:00 the next morning.
    outage.healthyFrom = DateTime.fromISO(plusDays(loan.dueDate, 2), { zone: TZ }).set({ hour: 9 }).toMillis();
    await withWorker(async ({ taskQueue }) => {
      const handle = await start(
        loan,
        taskQueue,
        policyWith({
          points: [{ stage: 'overdue', offset: 'P1D', template: 'overdue' }],
          overdueRepeat: undefined,
          finalNotice: undefined,
        }),
      );
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, 3), { zone: TZ }).toMillis());
      expect(outage.attempts).toBeGreaterThan(10); // it kept trying through the outage
      // ... but no attempt reached the provider outside 08:00-21:00 Shanghai time.
      const hours = outage.attemptTimes.map((t) => DateTime.fromMillis(t, { zone: TZ }).hour);
      expect(hours.every((h) => h >= 8 && h < 21)).toBe(true);
      expect(new Set(outage.attemptTimes.map((t) => localDate(t, TZ, 0)))).toEqual(
        new Set([plusDays(loan.dueDate, 1), plusDays(loan.dueDate, 2)]),
      );
      expect(sentAt(outage)).toEqual([`overdue ${plusDays(loan.dueDate, 2)} 09:00`]);
      const status = await handle.query(loanStatusQuery);
      expect(status.messagesSent).toHaveLength(1);
      expect(status.failed).toEqual([]);
    }, outage);
  });

  it('a payment that arrives while the provider is being retried stops the message', async () => {
    const loan = await loanDueIn(10);
    const outage = new OutageProvider();
    await withWorker(async ({ taskQueue }) => {
      const handle = await start(loan, taskQueue, policyWith({ thankYou: false }));
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, -7), { zone: TZ }).set({ hour: 12 }).toMillis());
      const tried = outage.attempts;
      expect(tried).toBeGreaterThan(0);
      outage.healthyFrom = 0; // the provider recovers, but the loan is paid first
      await handle.signal(paymentReceivedSignal, {
        paymentId: 'P-1',
        amount: 500000,
        paidAt: new Date().toISOString(),
      });
      expect((await handle.result()).status).toBe('paid');
      await skipTo((await env.currentTimeMs()) + DAY);
      expect(outage.sent).toEqual([]);
    }, outage);
  });
});

describe('long lives', () => {
  it('continues as new when the history grows, carrying the state, and sends every reminder once', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, taskQueue }) => {
      const handle = await start(loan, taskQueue, DEFAULT_POLICY, { continueAsNewAfterEvents: 20 });
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, 2), { zone: TZ }).toMillis());
      await handle.signal(paymentReceivedSignal, {
        paymentId: 'P-1',
        amount: 100000,
        paidAt: new Date().toISOString(),
      });
      const result = await env.client.workflow.getHandle(handle.workflowId).result();
      const lastRun = await env.client.workflow.getHandle(handle.workflowId).describe();
      expect(new Set(sms.sent.map((m) => m.idempotencyKey)).size).toBe(sms.sent.length);
      expect(sms.sent.map((m) => m.stage)).toEqual(DEFAULT_STAGES);
      expect(result.payments).toHaveLength(1);
      expect(result.outstanding).toBe(400000);
      expect(result.messagesSent).toHaveLength(7);
      expect(lastRun.runId).not.toBe(handle.firstExecutionRunId);
    });
  });

  it('stops texting a number the provider rejects, hands it over, and resumes on a new number', async () => {
    const loan = await loanDueIn(10, {
      borrower: { name: '李女士', phone: '+86', locale: 'zh-CN', timezone: TZ },
    });
    await withWorker(async ({ sms, ops, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(DateTime.fromISO(plusDays(loan.dueDate, -6), { zone: TZ }).toMillis());
      const status = await handle.query(loanStatusQuery);
      expect(status).toMatchObject({ status: 'paused', pause: { kind: 'undeliverable' }, numberBlocked: true });
      expect(status.failed.map((f) => f.stage)).toEqual(['pre-due']);
      expect(await opsKinds(ops)).toEqual(['undeliverable']);
      await handle.executeUpdate(changeContactUpdate, { args: [{ phone: '+8613700137000' }] });
      await skipTo(DateTime.fromISO(loan.dueDate, { zone: TZ }).set({ hour: 12 }).toMillis());
      expect(sms.sent.map((m) => `${m.stage} ${m.to}`)).toEqual([
        'pre-due +8613700137000', // within lateness, sent once the number was fixed
        'due +8613700137000',
      ]);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
    });
  });
});

describe('the rules at the moment a text goes out', () => {
  const at = (date: string, hour: number, minute = 0) =>
    DateTime.fromISO(date, { zone: TZ }).set({ hour, minute }).toMillis();

  it.each([
    ['the evening of its due date', 0, 22],
    ['the morning after', 1, 8],
  ])(
    'a loan handed over %s gets the overdue text, never the due one, and one text a week while overdue',
    async (_when, days, hour) => {
      const loan = await loanDueIn(3);
      await skipTo(at(plusDays(loan.dueDate, days), hour, 30));
      await withWorker(async ({ sms, taskQueue }) => {
        const handle = await start(loan, taskQueue);
        await skipTo(at(plusDays(loan.dueDate, 16), 12));
        const d = loan.dueDate;
        expect(sentAt(sms)).toEqual([
          `overdue ${plusDays(d, 1)} 10:00`,
          `overdue-weekly ${plusDays(d, 8)} 10:00`,
          `overdue-weekly ${plusDays(d, 15)} 10:00`,
        ]);
        const status = await handle.query(loanStatusQuery);
        expect(status.skipped.find((x) => x.stage === 'due')?.reason).toMatch(/due date had passed/);
        await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
      });
    },
  );

  it('counts a cap from when a text went out: a due text held up by an outage until the evening keeps the next 20 hours free', async () => {
    const loan = await loanDueIn(10);
    const outage = new OutageProvider();
    outage.healthyFrom = 0;
    await withWorker(async ({ taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(at(loan.dueDate, 9));
      outage.healthyFrom = at(loan.dueDate, 20, 30); // down on the due date until 20:30
      await skipTo(at(plusDays(loan.dueDate, 2), 12));
      expect(outage.sent.map((m) => m.stage)).toEqual(['pre-due', 'due', 'overdue']);
      const [, due, overdue] = outage.sent.map((m) => m.serverTimeMs);
      expect(due).toBeGreaterThanOrEqual(outage.healthyFrom);
      // 1 per PT20H from the due text's real send, not from its planned 10:00.
      expect(overdue - due).toBeGreaterThanOrEqual(20 * 3_600_000);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
    }, outage);
  });

  it('a dispute resolved on an overdue loan restarts the cadence: one text at once, then weekly', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      const d = loan.dueDate;
      await skipTo(at(plusDays(d, 6), 12));
      await handle.signal(borrowerAnswerSignal, { kind: 'dispute' });
      await skipTo(at(plusDays(d, 11), 15));
      await handle.executeUpdate(resumeUpdate, { args: [{}] });
      await skipTo(at(plusDays(d, 19), 12));
      expect(sentAt(sms)).toEqual([
        `pre-due ${plusDays(d, -7)} 10:00`,
        `due ${d} 10:00`,
        `overdue ${plusDays(d, 1)} 10:00`,
        `overdue-weekly ${plusDays(d, 11)} 15:00`,
        `overdue-weekly ${plusDays(d, 18)} 15:00`,
      ]);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
    });
  });

  it('a broken promise on an overdue loan restarts the cadence from the promise’s end', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      const d = loan.dueDate;
      await skipTo(at(plusDays(d, 3), 12));
      // Paused until the promised day's 10:00 plus a day's grace: the 10:00 of day 12, so
      // the weekly point of day 8 is missed by more than maxLateness (3 days).
      await handle.executeUpdate(promiseToPayUpdate, { args: [{ date: plusDays(d, 11) }] });
      await skipTo(at(plusDays(d, 20), 12));
      expect(sentAt(sms).slice(3)).toEqual([
        `overdue-weekly ${plusDays(d, 12)} 10:00`,
        `overdue-weekly ${plusDays(d, 19)} 10:00`,
      ]);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
    });
  });

  it('a payment id reported again with another amount is not counted and goes to operations', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ ops, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      const paidAt = new Date(await env.currentTimeMs()).toISOString();
      await handle.signal(paymentReceivedSignal, { paymentId: 'P-1', amount: 100000, paidAt });
      await handle.signal(paymentReceivedSignal, { paymentId: 'P-1', amount: 100000, paidAt }); // a retry
      await handle.signal(paymentReceivedSignal, { paymentId: 'P-1', amount: 400000, paidAt });
      await handle.signal(paymentReceivedSignal, { paymentId: 'P-1', amount: 400000, paidAt }); // its retry
      const status = await handle.query(loanStatusQuery);
      expect(status).toMatchObject({ outstanding: 400000, status: 'active' });
      expect(status.conflictingPayments).toEqual([{ paymentId: 'P-1', amount: 400000, paidAt }]);
      await skipTo((await env.currentTimeMs()) + 60_000);
      expect(await opsKinds(ops)).toEqual(['payment-conflict']);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
    });
  });

  it('a reply that may mean stop holds every text until operations have read it', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ sms, ops, taskQueue }) => {
      const handle = await start(loan, taskQueue);
      await skipTo(at(plusDays(loan.dueDate, -6), 12));
      await handle.signal(borrowerAnswerSignal, { kind: 'unclear-reply', note: 'enough already' });
      await skipTo(at(plusDays(loan.dueDate, 3), 12));
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due']);
      expect(await handle.query(loanStatusQuery)).toMatchObject({ status: 'paused', pause: { kind: 'review' } });
      expect(await opsKinds(ops)).toEqual(['unclear-reply']);
      await handle.executeUpdate(resumeUpdate, { args: [{}] });
      await skipTo(at(plusDays(loan.dueDate, 4), 12));
      expect(sms.sent.map((m) => m.stage)).toEqual(['pre-due', 'overdue']);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
    });
  });

  it('refuses a due date the loan cannot honour (its reminders and listening would be over) and goes on', async () => {
    const loan = await loanDueIn(10);
    await withWorker(async ({ taskQueue }) => {
      const handle = await start(loan, taskQueue);
      const now = await env.currentTimeMs();
      const why = await refusal(
        handle.executeUpdate(changeTermsUpdate, { args: [{ dueDate: localDate(now, TZ, -90) }] }),
      );
      expect(why).toMatch(/too far in the past/);
      expect(await handle.query(loanStatusQuery)).toMatchObject({ status: 'active', dueDate: loan.dueDate });
      // Within the loan's listening period a past due date is a change it can honour.
      await handle.executeUpdate(changeTermsUpdate, { args: [{ dueDate: localDate(now, TZ, -20) }] });
      expect((await handle.query(loanStatusQuery)).status).toBe('active');
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'written-off' }] });
    });
  });
});
