// Exactly-once sending: the durable ledger stops a second provider call for a reminder the
// provider already accepted, across activity retries and worker restarts.
import { readFileSync } from 'node:fs';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import type { OutgoingSms, SmsProvider, SmsReceipt } from '../../src/sms/provider';
import { SqliteEventStore } from '../../src/store/event-store-sql';
import type { EventStore, LoanEvent } from '../../src/store/events';
import { SqliteSendLedger } from '../../src/store/send-ledger';
import { OutboxProvider } from '../../src/sms/outbox';
import { tempOperations, tempOutbox } from '../helpers/temporal';

/** A gateway with no de-duplication of its own: every call is a message on a phone. */
class CountingProvider implements SmsProvider {
  readonly name = 'counting';
  calls = 0;
  failNext = 0;
  async send(m: OutgoingSms): Promise<SmsReceipt> {
    this.calls++;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('provider answered 503');
    }
    return { messageId: `msg-${this.calls}-${m.idempotencyKey}`, sentAt: new Date().toISOString(), duplicate: false };
  }
}

const message: OutgoingSms = {
  to: '+8613800138000',
  body: '尊敬的张先生，您好！',
  loanId: 'L-1',
  stage: 'due',
  idempotencyKey: 'L-1:due@2024-10-30',
  scheduledFor: '2024-10-30T02:00:00.000Z',
};

const run = (
  ledger: SqliteSendLedger,
  sms: SmsProvider,
  opts: { events?: EventStore; sending?: OutgoingSms } = {},
): Promise<SmsReceipt> =>
  new MockActivityEnvironment({ currentAttemptScheduledTimestampMs: Date.now() }).run(
    createActivities({ sms, operations: tempOperations(), ledger, events: opts.events }).sendSms,
    opts.sending ?? message,
  );

/** An event store that refuses its next few writes (a database blip, or a worker killed mid-way). */
class FlakyEvents extends SqliteEventStore {
  refuse = 0;
  override append(events: readonly LoanEvent[]): Promise<number> {
    if (this.refuse > 0) {
      this.refuse--;
      return Promise.reject(new Error('connection reset'));
    }
    return super.append(events);
  }
}

describe('the send ledger', () => {
  it('sends a reminder once even when the activity runs again in a restarted worker', async () => {
    const path = tempOutbox().replace('outbox.jsonl', 'sends.sqlite');
    const provider = new CountingProvider();
    const first = await run(new SqliteSendLedger(path), provider);
    const again = await run(new SqliteSendLedger(path), provider); // a new process, the same file
    expect(provider.calls).toBe(1);
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ messageId: first.messageId, sentAt: first.sentAt, duplicate: true, eventsRecorded: true });
    expect(await new SqliteSendLedger(path).get(message.idempotencyKey)).toMatchObject({
      state: 'accepted',
      attempts: 1,
    });
  });

  it('lets a failed attempt be retried, and counts the attempts', async () => {
    const ledger = new SqliteSendLedger(':memory:');
    const provider = new CountingProvider();
    provider.failNext = 1;
    await expect(run(ledger, provider)).rejects.toThrow(/503/);
    expect(await ledger.get(message.idempotencyKey)).toMatchObject({ state: 'sending', attempts: 1 });
    await run(ledger, provider);
    expect(await ledger.get(message.idempotencyKey)).toMatchObject({ state: 'accepted', attempts: 2 });
    expect(provider.calls).toBe(2);
  });

  it('calls no provider while another attempt, on any machine, holds the send; takes it over once that claim runs out', async () => {
    const ledger = new SqliteSendLedger(':memory:');
    const provider = new CountingProvider();
    // An attempt elsewhere took the send and may be at the provider now (its activity timed out,
    // the worker has not noticed).
    const until = Date.now() + 1_500;
    await ledger.claim({ ...message, provider: 'counting', owner: 'zombie', until });
    const refused = await run(ledger, provider).catch((err: unknown) => err);
    expect(refused).toMatchObject({ type: 'SendInProgress', nonRetryable: false });
    // Retried when the claim runs out.
    expect((refused as { nextRetryDelay: number }).nextRetryDelay).toBeGreaterThan(1_000);
    expect(provider.calls).toBe(0);
    // The zombie died (kill -9): its claim runs out, and the retry sends once.
    await new Promise((r) => setTimeout(r, until - Date.now() + 10));
    expect((await run(ledger, provider)).duplicate).toBe(false);
    expect(provider.calls).toBe(1);
    await ledger.close();
  });

  it('records a receipt that came before its send even when the first try to record it fails', async () => {
    const ledger = new SqliteSendLedger(':memory:');
    const events = new FlakyEvents(tempOutbox().replace('outbox.jsonl', 'events.sqlite'));
    const provider = new CountingProvider();
    // The carrier answered before the worker recorded the provider's answer: the receipt is parked.
    const messageId = `msg-1-${message.idempotencyKey}`;
    expect(
      await ledger.recordReceipt('counting', messageId, { status: 'failed', error: 'absent', permanent: true }),
    ).toBeUndefined();
    // The receipt's event cannot be written this time (the send's own event goes first and is kept).
    events.refuse = 1;
    const attempts: unknown[] = [];
    for (let i = 0; i < 3 && attempts.at(-1) !== 'done'; i++)
      attempts.push(
        await run(ledger, provider, { events }).then(
          () => 'done',
          (err: unknown) => err,
        ),
      );
    expect(attempts.at(-1)).toBe('done');
    expect(provider.calls).toBe(1);
    const failed = (await events.forLoan(message.loanId)).filter((e) => e.kind === 'message-failed');
    expect(failed).toMatchObject([
      { messageKey: message.idempotencyKey, detail: { provider: 'counting', permanent: true } },
    ]);
    // Applied once: it is no longer parked, so a further retry records nothing more.
    expect(await ledger.pendingReceipts(message.idempotencyKey)).toEqual([]);
    await ledger.close();
  });

  it('a retry after the sending window closed, of a send the provider accepted, reports it sent', async () => {
    const ledger = new SqliteSendLedger(':memory:');
    const provider = new CountingProvider();
    // An earlier attempt reached the provider and recorded its answer, then its worker died.
    await ledger.claim({ ...message, provider: 'counting', owner: 'dead', until: Date.now() - 1 });
    await ledger.accept(message.idempotencyKey, 'msg-earlier', '2024-10-30T02:00:01.000Z');
    const late = { ...message, notAfter: new Date(Date.now() - 60_000).toISOString() };
    expect(await run(ledger, provider, { sending: late })).toMatchObject({
      messageId: 'msg-earlier',
      duplicate: true,
    });
    expect(provider.calls).toBe(0);
    // Not accepted before the window closed: refused, and nothing sent.
    const other = { ...late, idempotencyKey: 'L-1:overdue@2024-10-31', stage: 'overdue' };
    await expect(run(ledger, provider, { sending: other })).rejects.toMatchObject({ type: 'WindowClosed' });
    expect(provider.calls).toBe(0);
    await ledger.close();
  });

  it('stores no phone number, name or text', async () => {
    const path = tempOutbox().replace('outbox.jsonl', 'sends.sqlite');
    const ledger = new SqliteSendLedger(path);
    await run(ledger, new CountingProvider());
    await ledger.close();
    const bytes = readFileSync(path).toString('utf8') + readFileSync(`${path}-wal`, { flag: 'a+' }).toString('utf8');
    expect(bytes).toContain('L-1:due@2024-10-30');
    for (const secret of ['13800138000', '张先生']) expect(bytes).not.toContain(secret);
  });
});

describe('a send its loan withdrew, asked about afterwards', () => {
  const settle = (ledger: SqliteSendLedger, sms: SmsProvider) =>
    new MockActivityEnvironment({ currentAttemptScheduledTimestampMs: Date.now() }).run(
      createActivities({ sms, operations: tempOperations(), ledger }).settleWithdrawnSms,
      message,
    );
  const claim = (ledger: SqliteSendLedger, owner: string) =>
    ledger.claim({ ...message, provider: 'outbox', owner, until: Date.now() - 1 });

  it('did not go out when no worker took it, or the one that did gave it back', async () => {
    const ledger = new SqliteSendLedger(':memory:');
    const outbox = new OutboxProvider(tempOutbox());
    expect(await settle(ledger, outbox)).toBeNull();
    await claim(ledger, 'attempt-1');
    await ledger.release(message.idempotencyKey, 'attempt-1');
    expect(await settle(ledger, outbox)).toBeNull();
  });

  it('went out when its worker recorded the answer, and finishes the receipts that came before', async () => {
    const ledger = new SqliteSendLedger(':memory:');
    await claim(ledger, 'attempt-1');
    await ledger.recordReceipt('outbox', 'm-1', { status: 'delivered', permanent: false });
    await ledger.accept(message.idempotencyKey, 'm-1', '2024-10-30T02:00:01.000Z');
    const receipt = await settle(ledger, new OutboxProvider(tempOutbox()));
    expect(receipt).toMatchObject({ messageId: 'm-1', duplicate: true });
    expect(await ledger.pendingReceipts(message.idempotencyKey)).toEqual([]);
  });

  it('went out when its worker died after the provider took it: recorded then, from the provider', async () => {
    const ledger = new SqliteSendLedger(':memory:');
    const outbox = new OutboxProvider(tempOutbox());
    await claim(ledger, 'attempt-1'); // the attempt dies holding its claim...
    const sent = await outbox.send(message); // ...after the provider took the message
    await ledger.recordReceipt('outbox', sent.messageId, { status: 'delivered', permanent: false });
    expect(await settle(ledger, outbox)).toMatchObject({ messageId: sent.messageId });
    expect(await ledger.get(message.idempotencyKey)).toMatchObject({
      state: 'accepted',
      providerMessageId: sent.messageId,
      deliveryStatus: 'delivered',
    });
  });

  it('is taken as not sent when the provider cannot say and the worker died holding it', async () => {
    const ledger = new SqliteSendLedger(':memory:');
    await claim(ledger, 'attempt-1');
    expect(await ledger.get(message.idempotencyKey)).toMatchObject({ state: 'sending', claimed: true });
    expect(await settle(ledger, new CountingProvider())).toBeNull();
  });
});
