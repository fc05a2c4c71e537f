// A send the loan withdraws (here: paid in full) while the provider is already taking it: the SMS
// went out, so the loan must say so. Before the loans waited for the activity's own answer, they
// took the withdrawal for done and a message went out that neither their state nor their events
// showed. On the dev server, in real time: the provider holds the message until the test says.
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

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a send withdrawn while the provider takes it', () => {
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
      await until('the provider to be called', () => sms.entered);
      await handle.signal(paymentReceivedSignal, { paymentId: 'P-1', amount: 1000, paidAt: new Date().toISOString() });
      await until('the loan to withdraw the send', async () => {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        return pending.some(
          (a) => a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED,
        );
      });
      sms.release(); // the provider takes it after all
      const result = await handle.result();
      expect(result.status).toBe('paid');
      expect(sms.sent.map((m) => m.stage)).toEqual(['due']);
      expect(result.messagesSent.map((m) => m.stage)).toEqual(['due']);
    });
  }, 60_000);
});
