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
import { loanReminder, paymentReceivedSignal } from '../../src/workflows/loan-reminder';
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

describe('a send withdrawn after a worker took it', () => {
  it('does not reach the provider when the loan was paid before it got there', async () => {
    const sms = new RecordingProvider();
    const activities = createActivities({ sms, operations: tempOperations() });
    let entered = false;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const taskQueue = `withdrawal-${randomUUID()}`;
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      // A worker slow to get to the send (a busy process): it waits before the activity's code runs.
      activities: {
        ...activities,
        sendSms: async (m) => {
          entered = true;
          await held;
          return activities.sendSms(m);
        },
      },
    });
    await runWorkersUntil(workers, async () => {
      const loan = { ...burstLoan(`W-${randomUUID()}`), amountDue: 1000 };
      const handle = await env.client.workflow.start(loanReminder, {
        workflowId: `loan-${loan.loanId}`,
        taskQueue,
        args: [{ loan, lender: TEST_LENDER, policy: { ...burstPolicy('PT2S'), thankYou: false } }],
      });
      await until('a worker to take the send', () => entered, 30_000);
      await handle.signal(paymentReceivedSignal, { paymentId: 'P-1', amount: 1000, paidAt: new Date().toISOString() });
      await until('the loan to withdraw the send', () => cancelRequested(handle), 30_000);
      release();
      const result = await handle.result();
      expect(result.status).toBe('paid');
      expect(result.messagesSent).toEqual([]);
      expect(sms.sent).toEqual([]);
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
