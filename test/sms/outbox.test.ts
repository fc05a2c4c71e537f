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

  it('refuses a number that is not E.164 as a permanent failure', async () => {
    await expect(new OutboxProvider(tempOutbox()).send({ ...message, to: '13800138000' })).rejects.toBeInstanceOf(
      InvalidPhoneNumberError,
    );
  });
});
