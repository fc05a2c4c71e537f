// The loan's events as the workflow records them, on the time-skipping server: what arrives while
// they are being written (a slow database) still wakes the loan at once.
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { SqliteEventStore } from '../../src/store/event-store-sql';
import type { EventStore, LoanEvent } from '../../src/store/events';
import { createWorkers } from '../../src/worker';
import { loanStatusQuery, paymentReceivedSignal } from '../../src/workflows/messages';
import { loanReminder } from '../../src/workflows/loan-reminder';
import {
  DEFAULT_POLICY,
  localDate,
  RecordingProvider,
  runWorkersUntil,
  TEST_LENDER,
  tempOperations,
  timeSkippingEnv,
  workflowBundle,
  zoneWithLocalHour,
} from '../helpers/temporal';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

/** A store whose writes take a second of real time, as a busy database's might. */
class SlowStore implements EventStore {
  writing = 0;
  constructor(private readonly inner: EventStore) {}
  async append(events: readonly LoanEvent[]) {
    this.writing++;
    await new Promise((r) => setTimeout(r, 1000));
    this.writing--;
    return this.inner.append(events);
  }
  between(...args: Parameters<EventStore['between']>) {
    return this.inner.between(...args);
  }
  forLoan(loanId: string) {
    return this.inner.forLoan(loanId);
  }
  close() {
    return this.inner.close();
  }
}

describe('events', () => {
  it('a payment that arrives while a payment is being recorded ends the loan at once', async () => {
    const store = new SlowStore(new SqliteEventStore(':memory:'));
    const sms = new RecordingProvider();
    const taskQueue = `events-${randomUUID()}`;
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({ searchAttributes: false, sms, operations: tempOperations(), events: store }),
    });
    const timezone = zoneWithLocalHour(9, 19); // daytime: the thank-you may go at once
    const loanId = `EV-${randomUUID()}`;
    await runWorkersUntil(workers, async () => {
      const start = await env.currentTimeMs();
      const handle = await env.client.workflow.start(loanReminder, {
        taskQueue,
        workflowId: `loan-${loanId}`,
        args: [
          {
            loan: {
              loanId,
              borrower: { name: 'Rivera', phone: '+12025550100', locale: 'en-US', timezone },
              amountDue: 1000,
              currency: 'USD',
              dueDate: localDate(start, timezone, 14),
            },
            lender: TEST_LENDER,
            policy: DEFAULT_POLICY,
          },
        ],
      });
      await handle.query(loanStatusQuery);
      await handle.signal(paymentReceivedSignal, { paymentId: 'P-1', amount: 400, paidAt: new Date().toISOString() });
      // The first payment is being written: the second lands meanwhile.
      for (let i = 0; i < 100 && store.writing === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(store.writing).toBe(1);
      await handle.signal(paymentReceivedSignal, { paymentId: 'P-2', amount: 600, paidAt: new Date().toISOString() });
      const result = await handle.result();
      expect(result.status).toBe('paid');
      // Paid and thanked the same day, not when the next reminder's timer (a week on) would have fired.
      expect(Date.parse(result.completedAt!) - start).toBeLessThan(3_600_000);
      expect(sms.sent.map((m) => m.stage)).toEqual(['thank-you']);
      const kinds = (await store.forLoan(loanId)).map((e) => e.kind);
      expect(kinds.filter((k) => k === 'payment')).toHaveLength(2);
      expect(kinds).toContain('completed');
    });
  });
});
