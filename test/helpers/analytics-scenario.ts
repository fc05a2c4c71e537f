// Six loans with a known life, run through real workflows on the time-skipping server, so the
// analytics tests can check every figure against numbers worked out by hand (see the table below).
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { Loan } from '../../src/domain/loan';
import { abVariant } from '../../src/domain/variants';
import type { SmsProvider } from '../../src/sms/provider';
import type { EventStore } from '../../src/store/events';
import { createWorkers } from '../../src/worker';
import {
  borrowerAnswerSignal,
  loanStatusQuery,
  paymentReceivedSignal,
  type LoanReminderInput,
} from '../../src/workflows/messages';
import { loanReminder } from '../../src/workflows/loan-reminder';
import {
  activitiesSettled,
  policyWith,
  RecordingProvider,
  runWorkersUntil,
  TEST_LENDER,
  tempOperations,
  workflowBundle,
} from './temporal';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/**
 * Reminders an hour, two days and four days after each loan starts, at any hour; no caps; a
 * thank-you after payment (which the analytics leave out); the loan gives up 10 days after the last.
 */
export const SCENARIO_POLICY = policyWith({
  id: 'analytics',
  anchor: 'loan-start',
  sendTime: '00:00',
  window: { start: '00:00', end: '24:00' },
  points: [
    { stage: 'pre-due', offset: 'PT1H', template: 'pre-due' },
    { stage: 'due', offset: 'P2D', template: 'due' },
    { stage: 'overdue', offset: 'P4D', template: 'overdue' },
  ],
  overdueRepeat: undefined,
  finalNotice: undefined,
  caps: [],
  thankYou: true,
  afterLastPoint: { handOver: false, listenFor: 'P10D' },
});

/**
 * The six loans (variants by their ids; L1 and L4 in USD and English, the rest in CNY and Chinese):
 *
 * | loan | variant | what happens (hours after start)                                         |
 * |------|---------|---------------------------------------------------------------------------|
 * | L1   | A       | pays in full at 7 h (6 h after pre-due)                                   |
 * | L2   | A       | pays half at 37 h (36 h after pre-due), the rest at 60 h (12 h after due) |
 * | L3   | A       | opts out at 50 h (after due)                                              |
 * | L4   | B       | never confirmed delivered; rates due 3/3 at 50 h; pays at 9 d (5 d after overdue) |
 * | L5   | B       | disputes at 50 h (paused); pays at 12 d, 10 d after due: not attributed   |
 * | L6   | B       | rates pre-due 5/4 at 7 h; never pays                                      |
 */
export interface Scenario {
  /** Server time when the loans started. */
  t0: number;
  loans: Loan[];
  /** L1..L6 as in the table. */
  ids: string[];
  /** Every name and phone number the loans carry, for the privacy check. */
  personalData: string[];
}

/** Loan ids whose A/B variants are A, A, A, B, B, B. */
function scenarioIds(run: string): string[] {
  const a: string[] = [];
  const b: string[] = [];
  for (let i = 0; a.length < 3 || b.length < 3; i++) {
    const id = `AN-${run}-${i}`;
    if (abVariant(id) === 'A' && a.length < 3) a.push(id);
    else if (abVariant(id) === 'B' && b.length < 3) b.push(id);
  }
  return [...a, ...b];
}

/** Hides delivery confirmation for some loans, as a carrier that never sends a receipt would. */
class PartlyConfirmedProvider implements SmsProvider {
  readonly name = 'partly-confirmed';
  constructor(
    private readonly inner: SmsProvider,
    private readonly unconfirmed: ReadonlySet<string>,
  ) {}
  async send(m: Parameters<SmsProvider['send']>[0]) {
    const r = await this.inner.send(m);
    return this.unconfirmed.has(m.loanId) ? { ...r, delivered: false } : r;
  }
}

export async function runScenario(env: TestWorkflowEnvironment, events: EventStore): Promise<Scenario> {
  const ids = scenarioIds(randomUUID().slice(0, 8));
  const [L1, L2, L3, L4, L5, L6] = ids;
  const t0 = await env.currentTimeMs();
  const usd = new Set([L1, L4]);
  const loans: Loan[] = ids.map((loanId, i) => ({
    loanId,
    borrower: usd.has(loanId)
      ? { name: 'Rivera', honorific: 'Ms', phone: `+1202555010${i}`, locale: 'en-US', timezone: 'America/New_York' }
      : { name: '张', honorific: '先生', phone: `+861380013800${i}`, locale: 'zh-CN', timezone: 'Asia/Shanghai' },
    amountDue: usd.has(loanId) ? 20_000 : 100_000,
    currency: usd.has(loanId) ? 'USD' : 'CNY',
    dueDate: new Date(t0 + 2 * DAY).toISOString().slice(0, 10),
  }));
  const taskQueue = `analytics-${randomUUID()}`;
  const sms = new PartlyConfirmedProvider(new RecordingProvider(), new Set([L4]));
  const workers = await createWorkers({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({ searchAttributes: false, sms, operations: tempOperations(), events }),
  });
  const handle = (id: string) => env.client.workflow.getHandle(`loan-${id}`);
  const workflowIds = ids.map((id) => `loan-${id}`);
  /** Skips server time to `ms` after the loans started. */
  const at = async (ms: number) => {
    await activitiesSettled(env, workflowIds);
    const now = await env.currentTimeMs();
    if (t0 + ms > now) await env.sleep(t0 + ms - now);
    await settled();
  };
  /** Waits (server time stands still meanwhile) until no open loan has a reminder overdue. */
  const settled = async () => {
    for (let i = 0; i < 200; i++) {
      const now = await env.currentTimeMs();
      const statuses = await Promise.all(ids.map((id) => handle(id).query(loanStatusQuery)));
      if (statuses.every((st) => !st.nextReminder || Date.parse(st.nextReminder.at) > now)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the loans did not settle');
  };
  const pay = (id: string, amount: number, n: number) =>
    handle(id).signal(paymentReceivedSignal, {
      paymentId: `${id}-p${n}`,
      amount,
      paidAt: new Date().toISOString(),
    });
  const messageKey = async (id: string, stage: string) => {
    const sent = (await handle(id).query(loanStatusQuery)).messagesSent.find((m) => m.stage === stage);
    if (!sent)
      throw new Error(
        `${id} has no ${stage} message yet: ${JSON.stringify(await handle(id).query(loanStatusQuery))} now ${new Date(await env.currentTimeMs()).toISOString()}`,
      );
    return sent.key;
  };
  const answer = (id: string, a: object) => handle(id).signal(borrowerAnswerSignal, a as never);

  await runWorkersUntil(workers, async () => {
    for (const loan of loans) {
      await env.client.workflow.start(loanReminder, {
        taskQueue,
        workflowId: `loan-${loan.loanId}`,
        args: [
          {
            loan,
            lender: TEST_LENDER,
            policy: SCENARIO_POLICY,
          } satisfies LoanReminderInput,
        ],
      });
    }
    // Each loan plans from its first workflow task: let every one run it before time moves.
    await Promise.all(ids.map((id) => handle(id).query(loanStatusQuery)));
    await at(7 * HOUR);
    await pay(L1, 20_000, 1);
    // Ratings name their message: by the point's key, or by the full message key.
    await answer(L6, { kind: 'rating', messageKey: await messageKey(L6, 'pre-due'), clarity: 5, tone: 4 });
    await at(37 * HOUR);
    await pay(L2, 50_000, 1);
    await at(50 * HOUR);
    await answer(L3, { kind: 'opt-out', answerId: `${L3}-stop` });
    await answer(L4, { kind: 'rating', messageKey: `${L4}:${await messageKey(L4, 'due')}`, clarity: 3, tone: 3 });
    await answer(L5, { kind: 'dispute', answerId: `${L5}-dispute`, reason: 'I repaid at the branch' });
    await at(60 * HOUR);
    await pay(L2, 50_000, 2);
    await at(9 * DAY);
    await pay(L4, 20_000, 1);
    await at(12 * DAY);
    await pay(L5, 100_000, 1);
    // Past every loan's horizon (14 days); one result at a time, as the test server prefers.
    await at(15 * DAY);
    for (const id of ids) await handle(id).result();
  });
  const personalData = [...new Set(loans.flatMap((l) => [l.borrower.name, l.borrower.phone]))];
  return { t0, loans, ids, personalData };
}
