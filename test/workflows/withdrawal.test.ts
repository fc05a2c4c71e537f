// A send the loan withdraws (here: paid in full) after a worker has taken it. Not yet at the
// provider: nothing goes out. Already at the provider: the SMS went out, and the loan must say so.
// Before loans waited for the activity's own answer, they took the withdrawal for done, and a
// worker slow to run the send could still text a borrower who had paid, unknown to the loan.
// On the dev server, in real time: the test holds the send where it wants it.
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import type { OutgoingSms, SmsReceipt } from '../../src/sms/provider';
import { createWorkers } from '../../src/worker';
import type { Worker } from '@temporalio/worker';
import {
  closeLoanUpdate,
  loanStatusQuery,
  paymentReceivedSignal,
  promiseToPayUpdate,
} from '../../src/workflows/messages';
import { loanReminder } from '../../src/workflows/loan-reminder';
import {
  burstLoan,
  burstPolicy,
  devServerEnv,
  RecordingProvider,
  runWorkersUntil,
  tempOperations,
  TEST_LENDER,
  workflowBundle,
} from '../helpers/temporal';
import { until } from '../helpers/stack';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await devServerEnv();
});

afterAll(async () => {
  await env?.teardown();
});

/** The local outbox, but each message waits at the provider until `release()`. */
class HeldProvider extends RecordingProvider {
  entered = false;
  private open!: () => void;
  private readonly gate = new Promise<void>((r) => (this.open = r));
  release(): void {
    this.open();
  }
  override async send(message: OutgoingSms): Promise<SmsReceipt> {
    this.entered = true;
    await this.gate;
    return super.send(message);
  }
}

const cancelRequested = async (handle: { describe(): Promise<{ raw: { pendingActivities?: unknown } }> }) => {
  const pending = ((await handle.describe()).raw.pendingActivities ?? []) as { state?: number | null }[];
  return pending.some(
    (a) => a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED,
  );
};

/** A worker slow to get to a send (a busy process): it waits before the activity's code runs. */
async function slowWorker() {
  const sms = new RecordingProvider();
  const activities = createActivities({ sms, operations: tempOperations() });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const taskQueue = `withdrawal-${randomUUID()}`;
  const slow = { sms, taskQueue, entered: false, release: () => release(), workers: [] as Worker[] };
  slow.workers = await createWorkers({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: {
      ...activities,
      sendSms: async (m) => {
        slow.entered = true;
        await held;
        return activities.sendSms(m);
      },
    },
  });
  return slow;
}

async function startBurstLoan(taskQueue: string) {
  const loan = { ...burstLoan(`W-${randomUUID()}`), amountDue: 1000 };
  const handle = await env.client.workflow.start(loanReminder, {
    workflowId: `loan-${loan.loanId}`,
    taskQueue,
    args: [{ loan, lender: TEST_LENDER, policy: { ...burstPolicy('PT2S'), thankYou: false } }],
  });
  return { loan, handle };
}

describe('a send withdrawn after a worker took it', () => {
  it('does not reach the provider when the loan was paid before it got there', async () => {
    const slow = await slowWorker();
    await runWorkersUntil(slow.workers, async () => {
      const { handle, loan } = await startBurstLoan(slow.taskQueue);
      await until('a worker to take the send', () => slow.entered, 30_000);
      await handle.signal(paymentReceivedSignal, {
        paymentId: 'P-1',
        amount: loan.amountDue,
        paidAt: new Date().toISOString(),
      });
      await until('the loan to withdraw the send', () => cancelRequested(handle), 30_000);
      slow.release();
      const result = await handle.result();
      expect(result.status).toBe('paid');
      expect(result.messagesSent).toEqual([]);
      expect(slow.sms.sent).toEqual([]);
    });
  }, 60_000);

  it('does not reach the provider when the borrower promised to pay before it got there', async () => {
    const slow = await slowWorker();
    await runWorkersUntil(slow.workers, async () => {
      const { handle } = await startBurstLoan(slow.taskQueue);
      await until('a worker to take the send', () => slow.entered, 30_000);
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      await handle.executeUpdate(promiseToPayUpdate, { args: [{ date: tomorrow }] });
      await until('the loan to withdraw the send', () => cancelRequested(handle), 30_000);
      slow.release();
      await until(
        'the send to be withdrawn',
        async () => !(await handle.describe()).raw.pendingActivities?.length,
        30_000,
      );
      const status = await handle.query(loanStatusQuery);
      expect(status).toMatchObject({ status: 'paused', pause: { kind: 'promise-to-pay' }, messagesSent: [] });
      expect(slow.sms.sent).toEqual([]);
      await handle.executeUpdate(closeLoanUpdate, { args: [{ reason: 'cancelled' }] });
    });
  }, 60_000);

  it('is recorded as sent by the loan, which then ends paid', async () => {
    const sms = new HeldProvider();
    const taskQueue = `withdrawal-${randomUUID()}`;
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({ sms, operations: tempOperations() }),
    });
    await runWorkersUntil(workers, async () => {
      const loan = { ...burstLoan(`W-${randomUUID()}`), amountDue: 1000 };
      const handle = await env.client.workflow.start(loanReminder, {
        workflowId: `loan-${loan.loanId}`,
        taskQueue,
        args: [{ loan, lender: TEST_LENDER, policy: { ...burstPolicy('PT2S'), thankYou: false } }],
      });
      await until('the provider to be called', () => sms.entered, 30_000);
      await handle.signal(paymentReceivedSignal, { paymentId: 'P-1', amount: 1000, paidAt: new Date().toISOString() });
      await until('the loan to withdraw the send', () => cancelRequested(handle), 30_000);
      sms.release(); // the provider takes it after all
      const result = await handle.result();
      expect(result.status).toBe('paid');
      expect(sms.sent.map((m) => m.stage)).toEqual(['due']);
      expect(result.messagesSent.map((m) => m.stage)).toEqual(['due']);
    });
  }, 60_000);
});
