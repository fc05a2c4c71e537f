// The lender's outbound events, on a real Temporal server and a real worker, posted to a receiver
// that is down at first: each arrives once (by its webhook-id) once it is back, signed, with the
// same id and body on every try, and a second start of the same event sends nothing.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { webhookStarter, type OutboundWebhooks } from '../../src/activities/outbound-webhooks';
import type { OutboundEvent } from '../../src/domain/outbound-events';
import { SqliteEventStore } from '../../src/store/event-store-sql';
import { InvalidPhoneNumberError, type OutgoingSms, type SmsProvider } from '../../src/sms/provider';
import { createWorkers } from '../../src/worker';
import { borrowerAnswerSignal, loanStatusQuery, paymentReceivedSignal } from '../../src/workflows/messages';
import { loanReminder } from '../../src/workflows/loan-reminder';
import { webhookWorkflowId } from '../../src/workflows/webhooks';
import {
  devServerEnv,
  policyWith,
  runWorkersUntil,
  TEST_LENDER,
  tempOperations,
  workflowBundle,
} from '../helpers/temporal';

// A secret in the format the lender is given (24 random bytes, base64).
const SECRET = `whsec_${Buffer.from('outbound-webhooks-test-k').toString('base64')}`;
const PHONE = '+12025550100';
const NAME = 'Rivera';

interface Delivery {
  id: string;
  body: string;
  status: number;
}

/** The lender's receiver: refuses (503) the first `refuse` requests, then takes each; verifies every signature. */
class Receiver {
  readonly requests: Delivery[] = [];
  badSignatures = 0;
  private readonly server: Server;
  private readonly verifier = new Webhook(SECRET);

  constructor(private refuse: number) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const id = String(req.headers['webhook-id']);
        let status = 200;
        try {
          this.verifier.verify(body, headersOf(req.headers));
        } catch {
          this.badSignatures++;
          status = 400;
        }
        if (status === 200 && this.refuse > 0) {
          this.refuse--;
          status = 503;
        }
        this.requests.push({ id, body, status });
        res.writeHead(status).end();
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  taken(): Delivery[] {
    return this.requests.filter((d) => d.status === 200);
  }

  refused(): Delivery[] {
    return this.requests.filter((d) => d.status === 503);
  }
}

function headersOf(h: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v)]));
}

/** A provider whose first message fails for good (the number is invalid), so the loan has a failure to tell. */
class FailingFirstProvider implements SmsProvider {
  readonly name = 'failing-first';
  sends = 0;
  send(message: OutgoingSms) {
    this.sends++;
    if (this.sends === 1) return Promise.reject(new InvalidPhoneNumberError(`${message.to} is not a mobile number`));
    return Promise.resolve({ messageId: randomUUID(), sentAt: new Date().toISOString(), duplicate: false });
  }
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// One reminder a second after the loan starts, at any hour; nothing after it for a month.
const policy = policyWith({
  id: 'outbound',
  anchor: 'loan-start',
  sendTime: '00:00',
  window: { start: '00:00', end: '24:00' },
  points: [{ stage: 'due', offset: 'PT1S', template: 'due' }],
  overdueRepeat: undefined,
  finalNotice: undefined,
  caps: [],
  thankYou: false,
  afterLastPoint: { handOver: false, listenFor: 'P30D' },
});

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

describe('outbound events', () => {
  it('a loan’s events reach a receiver that was down, each once by id, signed, the same on every try', async () => {
    const receiver = new Receiver(4);
    const taskQueue = `outbound-${randomUUID()}`;
    const webhooks: OutboundWebhooks = { url: await receiver.listen(), secret: SECRET, taskQueue, retryDelayMs: 200 };
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({
        searchAttributes: false,
        sms: new FailingFirstProvider(),
        operations: tempOperations(),
        events: new SqliteEventStore(':memory:'),
        webhooks,
      }),
    });
    const loanId = `OUT-${randomUUID()}`;
    const expected = [
      'message.failed', // the reminder could not go: the number is invalid
      'handover.filed', // ... and operations were told (undeliverable)
      'borrower.opted_out',
      'handover.filed', // ... operations told of the opt-out
      'loan.paid',
      'loan.closed',
    ];
    try {
      await runWorkersUntil(workers, async () => {
        const handle = await env.client.workflow.start(loanReminder, {
          taskQueue,
          workflowId: `loan-${loanId}`,
          args: [
            {
              loan: {
                loanId,
                borrower: { name: NAME, phone: PHONE, locale: 'en-US', timezone: 'UTC' },
                amountDue: 1000,
                currency: 'USD',
                dueDate: new Date().toISOString().slice(0, 10),
              },
              lender: TEST_LENDER,
              policy,
            },
          ],
        });
        await until('the reminder has failed', async () => (await handle.query(loanStatusQuery)).failed.length > 0);
        await handle.signal(borrowerAnswerSignal, { kind: 'opt-out', answerId: 'A-1' });
        await handle.signal(borrowerAnswerSignal, { kind: 'opt-out', answerId: 'A-2' }); // said twice: one event
        await handle.signal(paymentReceivedSignal, {
          paymentId: 'P-1',
          amount: 1000,
          paidAt: new Date().toISOString(),
        });
        expect((await handle.result()).status).toBe('paid');

        await until('every event is taken', () => new Set(receiver.taken().map((d) => d.id)).size >= expected.length);
        const ids = [...new Set(receiver.requests.map((d) => d.id))];
        for (const id of ids)
          await until(`the delivery of ${id} has finished`, async () => {
            const d = await env.client.workflow.getHandle(webhookWorkflowId(id)).describe();
            return d.status.name === 'COMPLETED';
          });

        // Every try was signed for the receiver's secret; the first ones were refused and tried again.
        expect(receiver.badSignatures).toBe(0);
        expect(receiver.refused()).toHaveLength(4);
        // Each event taken exactly once, and every try of it had the same id and the same body.
        const taken = receiver.taken();
        expect(taken.map((d) => d.id).sort()).toEqual(ids.sort());
        expect(taken).toHaveLength(ids.length);
        for (const id of ids)
          expect(new Set(receiver.requests.filter((d) => d.id === id).map((d) => d.body)).size).toBe(1);
        for (const refused of receiver.refused()) expect(taken.some((d) => d.id === refused.id)).toBe(true);

        const events = taken.map((d) => JSON.parse(d.body) as OutboundEvent);
        expect(events.map((e) => e.type).sort()).toEqual([...expected].sort());
        for (const e of events) {
          expect(e.data.loanId).toBe(loanId);
          expect(taken.find((d) => d.id === e.id)).toBeDefined(); // the body's id is the header's
        }
        const byType = (t: string) => events.filter((e) => e.type === t).map((e) => e.id);
        expect(byType('loan.paid')).toEqual([`${loanId}:loan.paid`]);
        expect(byType('loan.closed')).toEqual([`${loanId}:loan.closed`]);
        expect(byType('borrower.opted_out')).toEqual([`${loanId}:borrower.opted_out`]);
        expect(byType('handover.filed').sort()).toEqual([`${loanId}:ops:1`, `${loanId}:ops:2`]);
        expect(byType('message.failed')[0]).toMatch(new RegExp(`^${loanId}:message\\.failed:\\d+$`));
        // Nothing personal: no phone number, no name, no words of the provider's about the number.
        for (const d of taken) expect(d.body).not.toMatch(/2025550100|Rivera|mobile/);

        // The same events started again (a retried activity, events carried twice): nothing more is sent.
        const before = receiver.requests.length;
        await webhookStarter(webhooks, () => env.client)(events);
        await new Promise((r) => setTimeout(r, 1500));
        expect(receiver.requests).toHaveLength(before);
      });
    } finally {
      await receiver.close();
    }
  }, 90_000);

  it('an event started twice while its receiver is down is one delivery', async () => {
    const receiver = new Receiver(3);
    const taskQueue = `outbound-${randomUUID()}`;
    const webhooks: OutboundWebhooks = { url: await receiver.listen(), secret: SECRET, taskQueue, retryDelayMs: 300 };
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({
        searchAttributes: false,
        sms: new FailingFirstProvider(),
        operations: tempOperations(),
        webhooks,
      }),
    });
    const event: OutboundEvent = {
      id: `L-${randomUUID()}:loan.closed`,
      type: 'loan.closed',
      timestamp: new Date().toISOString(),
      data: { loanId: 'L-x', status: 'closed' },
    };
    const start = webhookStarter(webhooks, () => env.client);
    try {
      await runWorkersUntil(workers, async () => {
        await start([event]);
        await until('the receiver has refused it', () => receiver.refused().length > 0);
        await start([event]); // while it is being retried
        await env.client.workflow.getHandle(webhookWorkflowId(event.id)).result();
        await start([event]); // after it was delivered
        await new Promise((r) => setTimeout(r, 1000));
      });
      expect(receiver.refused()).toHaveLength(3);
      expect(receiver.taken()).toHaveLength(1);
      expect(new Set(receiver.requests.map((d) => d.id))).toEqual(new Set([event.id]));
      expect(new Set(receiver.requests.map((d) => d.body))).toEqual(new Set([JSON.stringify(event)]));
    } finally {
      await receiver.close();
    }
  }, 60_000);
});
