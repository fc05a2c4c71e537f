// The operations hand-overs, on both back ends: borrowers' free text (a reply, a call-back or hardship note, a
// dispute's reason, a provider's failure text) is stored only encrypted under the payload keys,
// readable by whoever holds them; the structured facts operations sort by stay in clear.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec, parsePayloadKeys } from '../../src/codec/encryption';
import {
  openOperationsItem,
  openOperationsQueue,
  type OperationsQueue,
  type OperationsQueueOptions,
} from '../../src/operations/queue';
import { freshSchema, startPostgres, type TestPostgres } from '../helpers/postgres';

const NAME = '欧阳娜娜';
const NUMBER = '13912345671';
const codecOf = (spec: string) => new EncryptionCodec(parsePayloadKeys(spec));
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

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(() => pg?.stop());

/** A place for one queue's data, and everything stored there as bytes (the file, or the table's rows). */
interface Place {
  open(options?: OperationsQueueOptions): OperationsQueue;
  bytes(): Promise<Buffer>;
}

const places: Array<[string, () => Promise<Place>]> = [
  [
    'SQLite',
    () => {
      const path = join(mkdtempSync(join(tmpdir(), 'ops-test-')), 'operations.sqlite');
      return Promise.resolve({
        open: (o) => openOperationsQueue({ sqlitePath: path }, o),
        bytes: () => Promise.resolve(Buffer.concat([readFileSync(path), readFileSync(`${path}-wal`, { flag: 'a+' })])),
      });
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const url = await freshSchema(pg.url);
      return {
        open: (o) => openOperationsQueue({ databaseUrl: url }, o),
        bytes: async () => Buffer.from(JSON.stringify(await query(url, 'SELECT * FROM operations_items'))),
      };
    },
  ],
];

async function query(url: string, sql: string): Promise<unknown[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

describe.each(places)('operations hand-overs on %s', (_name, placeOf) => {
  it('hold no borrower free text in clear; the payload keys read it back', async () => {
    const place = await placeOf();
    const k1 = key();
    const queue = place.open({ codec: codecOf(`2026-11:${k1}`) });
    for (const item of items) expect((await queue.file(item)).duplicate).toBe(false);
    const bytes = await place.bytes();
    for (const secret of [NAME, NUMBER, 'lost her job', 'not reachable', '请打'])
      for (const form of [Buffer.from(secret), Buffer.from(secret, 'utf16le'), Buffer.from(JSON.stringify(secret))])
        expect(bytes.includes(form), secret).toBe(false);
    const stored = await queue.list();
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
    // A retried activity, in this process or another machine's, still files each item once.
    const again = place.open({ codec: codecOf(`2026-11:${k1}`) });
    const first = await again.file(items[0]);
    expect(first).toEqual({ filedAt: stored[0].filedAt, duplicate: true });
    expect(await again.list()).toHaveLength(items.length);
    await Promise.all([queue.close(), again.close()]);
  });

  it('without a payload key keeps no free text at all', async () => {
    const place = await placeOf();
    const queue = place.open();
    await queue.file(items[0]);
    const text = (await place.bytes()).toString('utf8');
    expect(text).not.toContain(NAME);
    expect(text).not.toContain(NUMBER);
    expect((await queue.list())[0].detail).toMatchObject({ note: null, withheld: ['note'], currency: 'CNY' });
    await queue.close();
  });
});
