// The default local provider: one JSON line per message in an outbox file, so a developer (and the
// tests) can read exactly what a borrower would have received. Refuses to write a key twice.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { isE164 } from '../domain/loan';
import { smsSegments } from '../domain/segments';
import { InvalidPhoneNumberError, type OutgoingSms, type SmsProvider, type SmsReceipt } from './provider';

export interface OutboxLine extends OutgoingSms {
  messageId: string;
  sentAt: string;
  segments: number;
}

export function readOutbox(path: string): OutboxLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as OutboxLine);
}

export class OutboxProvider implements SmsProvider {
  readonly name = 'outbox';
  private sent?: Map<string, OutboxLine>;

  constructor(readonly path: string) {}

  async send(message: OutgoingSms): Promise<SmsReceipt> {
    if (!isE164(message.to)) throw new InvalidPhoneNumberError('phone number is not in E.164 form');
    const sent = this.load();
    const earlier = sent.get(message.idempotencyKey);
    if (earlier) return { messageId: earlier.messageId, sentAt: earlier.sentAt, duplicate: true, delivered: true };
    const line: OutboxLine = {
      ...message,
      messageId: randomUUID(),
      sentAt: new Date().toISOString(),
      segments: smsSegments(message.body).segments,
    };
    appendFileSync(this.path, JSON.stringify(line) + '\n');
    sent.set(line.idempotencyKey, line);
    return { messageId: line.messageId, sentAt: line.sentAt, duplicate: false, delivered: true };
  }

  private load(): Map<string, OutboxLine> {
    if (!this.sent) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.sent = new Map(readOutbox(this.path).map((l) => [l.idempotencyKey, l]));
    }
    return this.sent;
  }
}
