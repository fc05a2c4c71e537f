// Exactly-once sending: the durable ledger stops a second provider call for a reminder the
// provider already accepted, across activity retries and worker restarts.
import { readFileSync } from 'node:fs';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import type { OutgoingSms, SmsProvider, SmsReceipt } from '../../src/sms/provider';
import { SqliteSendLedger } from '../../src/store/send-ledger';
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

const run = (ledger: SqliteSendLedger, sms: SmsProvider): Promise<SmsReceipt> =>
  new MockActivityEnvironment({ currentAttemptScheduledTimestampMs: Date.now() }).run(
    createActivities({ sms, operations: tempOperations(), ledger }).sendSms,
    message,
  );

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
