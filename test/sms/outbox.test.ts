import { describe, expect, it } from 'vitest';
import { OutboxProvider, readOutbox } from '../../src/sms/outbox';
import { InvalidPhoneNumberError } from '../../src/sms/provider';
import { tempOutbox } from '../helpers/temporal';

const message = {
  to: '+8613800138000',
  body: '尊敬的张先生，您好！',
  loanId: 'L-1',
  stage: 'due',
  idempotencyKey: 'L-1:due:2024-10-30',
  scheduledFor: '2024-10-30T02:00:00.000Z',
};

describe('OutboxProvider', () => {
  it('writes one JSON line per message and never the same idempotency key twice, even from a new process', async () => {
    const path = tempOutbox();
    const first = await new OutboxProvider(path).send(message);
    const again = await new OutboxProvider(path).send(message); // as after a worker restart
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ ...first, duplicate: true });
    const lines = readOutbox(path);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ ...message, messageId: first.messageId, sentAt: first.sentAt, segments: 1 });
  });

  it('knows what other processes writing the same file sent since it started (workers on several machines)', async () => {
    const path = tempOutbox();
    const [a, b] = [new OutboxProvider(path), new OutboxProvider(path)];
    await b.send({ ...message, idempotencyKey: 'L-0:due' }); // b has read the file
    const first = await a.send(message);
    // b's retry of the same reminder (a crashed before its ledger recorded the send) sends nothing.
    expect(await b.send(message)).toEqual({ ...first, duplicate: true });
    expect(readOutbox(path).map((l) => l.idempotencyKey)).toEqual(['L-0:due', message.idempotencyKey]);
  });

  it('refuses a number that is not E.164 as a permanent failure', async () => {
    await expect(new OutboxProvider(tempOutbox()).send({ ...message, to: '13800138000' })).rejects.toBeInstanceOf(
      InvalidPhoneNumberError,
    );
  });
});
