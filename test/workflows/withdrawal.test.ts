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
import { SqliteSendLedger } from '../../src/store/send-ledger';
import { createWorkers } from '../../src/worker';
import { Worker } from '@temporalio/worker';
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

/**
 * The local outbox, on a worker that dies the moment the provider has taken the first message:
 * its attempt never answers (nor records the provider's answer), as after a kill -9.
 */
class DyingProvider extends RecordingProvider {
  accepted?: SmsReceipt;
  private bury!: () => void;
  private readonly grave = new Promise<void>((r) => (this.bury = r));
  /** Lets the dead attempt's code end (with an error, recording nothing), so its worker can stop. */
  forget(): void {
    this.bury();
  }
  override async send(message: OutgoingSms): Promise<SmsReceipt> {
    const receipt = await super.send(message);
    if (this.accepted) return receipt;
    this.accepted = receipt;
    await this.grave;
    throw new Error('this worker died before it could record the answer');
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

  it('is recorded as sent when its worker died after the provider took it and before the loan withdrew it', async () => {
    // A worker killed between the provider's answer and recording it: the attempt times out,
    // and the loan, paid meanwhile, has asked to cancel it, so the server retries it no more.
    // The borrower got the text, and its delivery receipt came: the loan and the ledger must say so.
    const sms = new DyingProvider();
    const ledger = new SqliteSendLedger(':memory:');
    const taskQueue = `withdrawal-${randomUUID()}`;
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({ sms, ledger, operations: tempOperations() }),
    });
    try {
      await runWorkersUntil(workers, async () => {
        try {
          const loan = { ...burstLoan(`W-${randomUUID()}`), amountDue: 1000 };
          const handle = await env.client.workflow.start(loanReminder, {
            workflowId: `loan-${loan.loanId}`,
            taskQueue,
            args: [{ loan, lender: TEST_LENDER, policy: { ...burstPolicy('PT2S'), thankYou: false } }],
          });
          await until('the provider to take the message', () => sms.accepted !== undefined, 30_000);
          const parked = await ledger.recordReceipt(sms.name, sms.accepted!.messageId, {
            status: 'delivered',
            permanent: false,
            receivedAt: new Date().toISOString(),
          });
          expect(parked, 'the receipt came before its send was recorded').toBeUndefined();
          await handle.signal(paymentReceivedSignal, {
            paymentId: 'P-1',
            amount: 1000,
            paidAt: new Date().toISOString(),
          });
          await until('the loan to withdraw the send', () => cancelRequested(handle), 30_000);
          const result = await handle.result(); // once the dead attempt's 30 s have run out
          expect(result.status).toBe('paid');
          expect(result.messagesSent.map((m) => m.stage)).toEqual(['due']);
          expect(result.failed).toEqual([]);
          const key = `${loan.loanId}:${result.messagesSent[0].key}`;
          expect(await ledger.get(key)).toMatchObject({
            state: 'accepted',
            providerMessageId: sms.accepted!.messageId,
            deliveryStatus: 'delivered',
          });
          expect(await ledger.pendingReceipts(key)).toEqual([]);
          expect(sms.sent).toHaveLength(1);
          // The new path (behind its patch) replays on the code that made it.
          await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, await handle.fetchHistory());
        } finally {
          sms.forget(); // the dead attempt must end for its worker to stop
        }
      });
    } finally {
      sms.forget();
      await ledger.close();
    }
  }, 120_000);
});
