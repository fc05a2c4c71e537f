// The default local provider: one JSON line per message in an outbox file, so a developer (and the
// tests) can read exactly what a borrower would have received. Refuses to write a key twice, also
// when several worker processes write the same file (OUTBOX_PATH): before each send it reads what
// the others appended since, as a gateway that de-duplicates by key would know.
import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
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

/** Every whole line of the outbox; a line another process is writing at this moment is left for later. */
export function readOutbox(path: string): OutboxLine[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as OutboxLine);
}

export class OutboxProvider implements SmsProvider {
  readonly name = 'outbox';
  private readonly sent = new Map<string, OutboxLine>();
  /** How far into the file this process has read: whole lines only. */
  private offset = 0;

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

  async sentWith(idempotencyKey: string): Promise<SmsReceipt | undefined> {
    const line = this.load().get(idempotencyKey);
    return line && { messageId: line.messageId, sentAt: line.sentAt, duplicate: true, delivered: true };
  }

  /** The keys sent so far by any process writing this file. */
  private load(): Map<string, OutboxLine> {
    if (this.offset === 0) mkdirSync(dirname(this.path), { recursive: true });
    if (!existsSync(this.path)) return this.sent;
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return this.sent;
      const chunk = Buffer.alloc(size - this.offset);
      readSync(fd, chunk, 0, chunk.length, this.offset);
      const end = chunk.lastIndexOf(0x0a) + 1; // a line still being written is read next time
      for (const l of chunk.subarray(0, end).toString('utf8').split('\n')) {
        if (l.trim() === '') continue;
        const line = JSON.parse(l) as OutboxLine;
        this.sent.set(line.idempotencyKey, line);
      }
      this.offset += end;
    } finally {
      closeSync(fd);
    }
    return this.sent;
  }
}
