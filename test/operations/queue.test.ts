// The operations hand-over file: borrowers' free text (a reply, a call-back or hardship note, a
// dispute's reason, a provider's failure text) is stored only encrypted under the payload keys,
// readable by whoever holds them; the structured facts operations sort by stay in clear.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EncryptionCodec, parsePayloadKeys } from '../../src/codec/encryption';
import { FileOperationsQueue, openOperationsItem, readOperations } from '../../src/operations/queue';

const NAME = '欧阳娜娜';
const NUMBER = '13912345671';
const codecOf = (spec: string) => new EncryptionCodec(parsePayloadKeys(spec));
const tempFile = () => join(mkdtempSync(join(tmpdir(), 'ops-test-')), 'operations.jsonl');
const key = () => randomBytes(32).toString('base64');

const items = [
  {
    kind: 'callback',
    detail: { note: `我是${NAME}，请打${NUMBER}`, outstanding: 100, currency: 'CNY', status: 'active' },
  },
  { kind: 'hardship', detail: { note: `${NAME} lost her job`, outstanding: 100, currency: 'CNY', status: 'paused' } },
  { kind: 'dispute', detail: { reason: `not ${NAME}'s loan`, outstanding: 100, currency: 'CNY', status: 'paused' } },
  { kind: 'undeliverable', detail: { reason: `+86${NUMBER} is not reachable`, outstanding: 100 } },
  { kind: 'promise-broken', detail: { date: '2026-12-10', outstanding: 100, status: 'active' } },
].map((i, n) => ({ ...i, loanId: 'L-OPS-1', idempotencyKey: `L-OPS-1:ops:${n}` }));

describe('operations hand-over file', () => {
  it('holds no borrower free text in clear; the payload keys read it back', async () => {
    const path = tempFile();
    const k1 = key();
    const queue = new FileOperationsQueue(path, { codec: codecOf(`2026-11:${k1}`) });
    for (const item of items) expect((await queue.file(item)).duplicate).toBe(false);
    const bytes = readFileSync(path);
    for (const secret of [NAME, NUMBER, 'lost her job', 'not reachable', '请打'])
      for (const form of [Buffer.from(secret), Buffer.from(secret, 'utf16le'), Buffer.from(JSON.stringify(secret))])
        expect(bytes.includes(form), secret).toBe(false);
    const stored = readOperations(path);
    // What operations sort and count by stays readable.
    expect(stored.map((i) => i.kind)).toEqual(items.map((i) => i.kind));
    expect(stored[0].detail).toMatchObject({ outstanding: 100, currency: 'CNY', status: 'active' });
    expect(stored[4].detail).toMatchObject({ date: '2026-12-10' });
    expect(String(stored[0].detail.note)).toMatch(/^enc:AES-256-GCM:2026-11:/);
    // Whoever holds the keys (a rotated set included) reads the words again.
    const reader = new EncryptionCodec(parsePayloadKeys(`2027-01:${key()},2026-11:${k1}`));
    const opened = stored.map((i) => openOperationsItem(i, reader));
    expect(opened.map((i) => i.detail)).toEqual(items.map((i) => i.detail));
    expect(() => openOperationsItem(stored[0], codecOf(`other:${key()}`))).toThrow(/key "2026-11"/);
    // A retried activity still files each item once.
    const again = new FileOperationsQueue(path, { codec: codecOf(`2026-11:${k1}`) });
    expect((await again.file(items[0])).duplicate).toBe(true);
  });

  it('without a payload key it keeps no free text at all', async () => {
    const path = tempFile();
    await new FileOperationsQueue(path).file(items[0]);
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain(NAME);
    expect(text).not.toContain(NUMBER);
    expect(readOperations(path)[0].detail).toMatchObject({ note: null, withheld: ['note'], currency: 'CNY' });
  });
});
