// The default local provider: one JSON line per message in an outbox file, so a developer (and the
// tests) can read exactly what a borrower would have received. Refuses to write a key twice.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { InvalidPhoneNumberError, type OutgoingSms, type SmsProvider, type SmsReceipt } from './provider';

export interface OutboxLine extends OutgoingSms {
  messageId: string;
  sentAt: string;
  segments: number;
}

const E164 = /^\+[1-9]\d{6,14}$/;

/** Counts SMS segments: GSM-7 160 (153 when split), otherwise UCS-2 70 (67). */
export function smsSegments(body: string): number {
  // eslint-disable-next-line no-control-regex
  const gsm = /^[\x0A\x0D\x20-\x5F\x61-\x7E£¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà]*$/.test(body);
  const length = [...body].length;
  const [single, part] = gsm ? [160, 153] : [70, 67];
  return length <= single ? 1 : Math.ceil(length / part);
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
    if (!E164.test(message.to)) throw new InvalidPhoneNumberError('phone number is not in E.164 form');
    const sent = this.load();
    const earlier = sent.get(message.idempotencyKey);
    if (earlier) return { messageId: earlier.messageId, sentAt: earlier.sentAt, duplicate: true };
    const line: OutboxLine = {
      ...message,
      messageId: randomUUID(),
      sentAt: new Date().toISOString(),
      segments: smsSegments(message.body),
    };
    appendFileSync(this.path, JSON.stringify(line) + '\n');
    sent.set(line.idempotencyKey, line);
    return { messageId: line.messageId, sentAt: line.sentAt, duplicate: false };
  }

  private load(): Map<string, OutboxLine> {
    if (!this.sent) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.sent = new Map(readOutbox(this.path).map((l) => [l.idempotencyKey, l]));
    }
    return this.sent;
  }
}
