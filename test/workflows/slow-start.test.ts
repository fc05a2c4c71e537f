// A loan asks the worker its settings at its start, by a local activity. One whose answer came as
// the first workflow task was being completed (a busy worker: 300 loans starting at once) left a
// history whose replay ran the code after it inside that first task, before the next task's patch
// markers were known: a patch asked there read as absent, and the loan stopped the first time a
// worker had to rebuild it (a restart, a full cache, a query after it ended). Loans now ask every
// patch of their first plan and send before that answer; and a slow answer, past the first task's
// deadline, still replays. On the real dev server.
import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { createWorkers } from '../../src/worker';
import { loanStatusQuery, paymentReceivedSignal } from '../../src/workflows/messages';
import { loanReminder } from '../../src/workflows/loan-reminder';
import {
  DEFAULT_POLICY,
  devServerEnv,
  localDate,
  RecordingProvider,
  runWorkersUntil,
  TEST_LENDER,
  tempOperations,
  workflowBundle,
} from '../helpers/temporal';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
});
afterAll(async () => {
  await env?.teardown();
});

describe('a loan started on a busy worker', () => {
  it('asks no patch after the worker answers, and replays after its first task outlived its deadline meanwhile', async () => {
    const activities = createActivities({
      searchAttributes: false,
      sms: new RecordingProvider(),
      operations: tempOperations(),
    });
    const slow = {
      ...activities,
      // Longer than the first task's deadline (its heartbeat, at 80% of the task timeout).
      async searchAttributesPublished() {
        await new Promise((r) => setTimeout(r, 2500));
        return activities.searchAttributesPublished();
      },
    };
    const taskQueue = `slow-start-${randomUUID()}`;
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: slow,
    });
    const loanId = `SLOW-${randomUUID().slice(0, 8)}`;
    const timezone = 'Asia/Shanghai';
    const history = await runWorkersUntil(workers, async () => {
      const handle = await env.client.workflow.start(loanReminder, {
        taskQueue,
        workflowId: `loan-${loanId}`,
        workflowTaskTimeout: '2 seconds',
        args: [
          {
            loan: {
              loanId,
              borrower: { name: '张先生', phone: '+8613800138000', locale: 'zh-CN', timezone },
              amountDue: 1000,
              currency: 'CNY',
              dueDate: localDate(Date.now(), timezone, 14),
            },
            lender: TEST_LENDER,
            policy: { ...DEFAULT_POLICY, thankYou: false },
          },
        ],
      });
      await handle.query(loanStatusQuery);
      await handle.signal(paymentReceivedSignal, { paymentId: 'P-1', amount: 1000, paidAt: new Date().toISOString() });
      expect((await handle.result()).status).toBe('paid');
      return handle.fetchHistory();
    });
    // No patch is asked after the worker's answer: whatever task boundary that answer fell on,
    // a replay finds every patch where the loan asked it.
    const events = history.events ?? [];
    const answered = events.findIndex((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
    expect(answered).toBeGreaterThan(0);
    const patchesAfter = events
      .slice(answered)
      .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
      .map((e) => {
        const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
        return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { id: string }).id : '?';
      });
    expect(patchesAfter).toEqual([]);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  }, 60_000);
});
