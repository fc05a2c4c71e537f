// Scenario 5, history size: the events one loan writes over the default policy's longest life
// (every overdue stage, a partial payment, a dispute's pause and its resumption, the final notice,
// the hand-over and the month of listening after it), on the time-skipping server; against the bare
// workflow that only sleeps and calls an activity as often.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { DateTime } from 'luxon';
import { createActivities } from '../../src/activities';
import { createWorkers } from '../../src/worker';
import { borrowerAnswerSignal, paymentReceivedSignal, resumeUpdate } from '../../src/workflows/messages';
import { loanReminder } from '../../src/workflows/loan-reminder';
import {
  activitiesSettled,
  DEFAULT_POLICY,
  localDate,
  RecordingProvider,
  runWorkersUntil,
  tempOperations,
  TEST_LENDER,
  timeSkippingEnv,
  workflowBundle,
} from '../../test/helpers/temporal';
import { bareActivities } from '../bare/activities';
import { bareLife } from '../bare/workflows';
import { row, type ScenarioResult } from '../lib/stats';

const TZ = 'Asia/Shanghai';
const DAY = 86_400_000;
const eventName = (t: temporal.api.enums.v1.EventType | null | undefined) =>
  (temporal.api.enums.v1.EventType[t ?? 0] ?? String(t)).replace('EVENT_TYPE_', '');

export async function historySize(): Promise<ScenarioResult> {
  const env = await timeSkippingEnv();
  try {
    const taskQueue = `history-${randomUUID()}`;
    const sms = new RecordingProvider();
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({ searchAttributes: false, sms, operations: tempOperations() }),
    });
    const bare = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: `${taskQueue}-bare`,
      workflowBundle: await bundleWorkflowCode({
        workflowsPath: join(__dirname, '..', 'bare', 'workflows.ts'),
        logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
      }),
      activities: bareActivities(join(mkdtempSync(join(tmpdir(), 'bench-history-')), 'handoff.jsonl')),
    });
    const workflowId = `loan-HISTORY-${taskQueue}`;
    const ours = await runWorkersUntil([...workers, bare], async () => {
      const dueDate = localDate(await env.currentTimeMs(), TZ, 10);
      const at = (days: number, hour: number) =>
        DateTime.fromISO(dueDate, { zone: TZ }).plus({ days }).set({ hour }).toMillis();
      const skipTo = async (ms: number) => {
        // A day at a time, the loan idle before each skip (see activitiesSettled).
        for (let now = await env.currentTimeMs(); now < ms; now = await env.currentTimeMs()) {
          await activitiesSettled(env, [workflowId]);
          await env.sleep(Math.min(DAY, ms - now));
        }
        await activitiesSettled(env, [workflowId]);
      };
      const handle = await env.client.workflow.start(loanReminder, {
        workflowId,
        taskQueue,
        args: [
          {
            loan: {
              loanId: `HISTORY-${taskQueue}`,
              borrower: { name: '张', honorific: '先生', phone: '+8613800138000', locale: 'zh-CN', timezone: TZ },
              amountDue: 500000,
              currency: 'CNY',
              dueDate,
            },
            lender: TEST_LENDER,
            policy: DEFAULT_POLICY,
          },
        ],
      });
      await handle.describe();
      await skipTo(at(-7, 12)); // the pre-due reminder has gone out
      await handle.signal(paymentReceivedSignal, {
        paymentId: 'P-1',
        amount: 100000,
        paidAt: new Date().toISOString(),
      });
      await skipTo(at(0, 12)); // the due-date reminder has gone out
      await handle.signal(borrowerAnswerSignal, { kind: 'dispute', reason: 'amount' });
      await skipTo(at(0, 16));
      await handle.executeUpdate(resumeUpdate, { args: [{}] });
      await skipTo(at(70, 0)); // overdue, three weekly, final notice, hand-over, a month's listening
      const status = await handle.result();
      const history = await handle.fetchHistory();

      const bareHandle = await env.client.workflow.start(bareLife, {
        workflowId: `bare-${workflowId}`,
        taskQueue: `${taskQueue}-bare`,
        // As many timers and activity calls as the loan's life had: one per message, the hand-over,
        // then the month of listening.
        args: [[...status.messagesSent.map(() => DAY), DAY, 30 * DAY], status.messagesSent.length + 1],
      });
      await bareHandle.describe();
      for (let i = 0; i < 40; i++) {
        await activitiesSettled(env, [bareHandle.workflowId]);
        await env.sleep(DAY);
      }
      await bareHandle.result();
      const bareHistory = await bareHandle.fetchHistory();
      return { status, events: history.events ?? [], bareEvents: bareHistory.events ?? [] };
    });
    const byType: Record<string, number> = {};
    for (const e of ours.events) byType[eventName(e.eventType)] = (byType[eventName(e.eventType)] ?? 0) + 1;
    const stages = ours.status.messagesSent.map((m) => m.stage);
    return {
      scenario: 'history-size',
      rows: [
        row({
          scenario: 'history size',
          metric: 'events per loan, longest default life',
          unit: 'events',
          ours: ours.events.length,
          baseline: ours.bareEvents.length,
          better: 'lower',
          target: '≤ 100 (continue-as-new at 4,096)',
          met: ours.events.length <= 100,
        }),
      ],
      details: {
        status: ours.status.status,
        messages: stages,
        payments: ours.status.payments.length,
        handedOver: ours.status.handedOver.map((h) => h.kind),
        eventsByType: byType,
        bareEvents: ours.bareEvents.length,
      },
    };
  } finally {
    await env.teardown();
  }
}
