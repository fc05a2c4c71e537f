// Each reminder planned, moved, skipped or sent records the rules that decided it, for the audit
// trail: on the time-skipping server, over the days of a loan's reminders.
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { SqliteEventStore } from '../../src/store/event-store-sql';
import { createWorkers } from '../../src/worker';
import { borrowerAnswerSignal, loanStatusQuery } from '../../src/workflows/messages';
import { loanReminder } from '../../src/workflows/loan-reminder';
import {
  localDate,
  policyWith,
  RecordingProvider,
  runWorkersUntil,
  TEST_LENDER,
  tempOperations,
  timeSkippingEnv,
  workflowBundle,
} from '../helpers/temporal';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

describe('the rules behind each reminder', () => {
  it('records why each reminder was planned where it was, skipped or sent', async () => {
    const store = new SqliteEventStore(':memory:');
    const sms = new RecordingProvider();
    const taskQueue = `rules-${randomUUID()}`;
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({ searchAttributes: false, sms, operations: tempOperations(), events: store }),
    });
    // One text in any two days: the overdue reminder, a day after the due one, moves a day on.
    const policy = policyWith({ caps: [{ max: 1, per: 'P2D', scope: 'any' }] });
    const timezone = 'Asia/Shanghai';
    const loanId = `RULES-${randomUUID().slice(0, 8)}`;
    await runWorkersUntil(workers, async () => {
      const start = await env.currentTimeMs();
      // Due in three days: the pre-due point (a week before) has passed at the start.
      const handle = await env.client.workflow.start(loanReminder, {
        taskQueue,
        workflowId: `loan-${loanId}`,
        args: [
          {
            loan: {
              loanId,
              borrower: { name: '张先生', phone: '+8613800138000', locale: 'zh-CN', timezone },
              amountDue: 1000,
              currency: 'CNY',
              dueDate: localDate(start, timezone, 3),
            },
            lender: TEST_LENDER,
            policy,
          },
        ],
      });
      // A second loan whose borrower opts out before the due reminder.
      const stopped = await env.client.workflow.start(loanReminder, {
        taskQueue,
        workflowId: `loan-${loanId}-stop`,
        args: [
          {
            loan: {
              loanId: `${loanId}-stop`,
              borrower: { name: '李女士', phone: '+8613800138009', locale: 'zh-CN', timezone },
              amountDue: 1000,
              currency: 'CNY',
              dueDate: localDate(start, timezone, 3),
            },
            lender: TEST_LENDER,
            policy,
          },
        ],
      });
      await handle.query(loanStatusQuery);
      await stopped.query(loanStatusQuery);
      await stopped.signal(borrowerAnswerSignal, { kind: 'opt-out', answerId: 'stop-1' });
      await stopped.query(loanStatusQuery);
      await env.sleep(6 * 86_400_000);
      await handle.query(loanStatusQuery);
      await handle.terminate('test over');
      // The opted-out loan listens for payment until its horizon, then ends and records its events.
      expect((await stopped.result()).status).toBe('unresolved');
    });
    const events = await store.forLoan(loanId);
    const of = (kind: string) => events.filter((e) => e.kind === kind);
    // The passed pre-due point: skipped, and why.
    expect(of('reminder-skipped')).toEqual([
      expect.objectContaining({ stage: 'pre-due', detail: expect.objectContaining({ rule: 'skip:passed' }) }),
    ]);
    // The due reminder at the policy's point; the overdue one moved by the cap; each sent so.
    const rules = (kind: string) =>
      of(kind)
        .filter((e) => e.stage === 'due' || e.stage === 'overdue')
        .map((e) => `${e.stage}: ${String(e.detail?.rule)}`);
    expect(rules('reminder-planned')).toEqual(['due: point', 'overdue: point cap:1/P2D']);
    expect(rules('message-sent')).toEqual(['due: point', 'overdue: point cap:1/P2D']);
    expect(sms.sent.filter((m) => m.loanId === loanId)).toHaveLength(2);
    // The opted-out loan's planned due reminder: skipped, because of the opt-out.
    const stoppedEvents = await store.forLoan(`${loanId}-stop`);
    expect(
      stoppedEvents.filter((e) => e.kind === 'reminder-skipped').map((e) => `${e.stage}: ${String(e.detail?.rule)}`),
    ).toEqual(['pre-due: skip:passed', 'due: opt-out']);
    expect(sms.sent.filter((m) => m.loanId !== loanId)).toEqual([]);
  }, 120_000);
});
