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
  serviceLevelsOf,
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

  it('moves an item open → claimed → resolved once, by whoever holds it, due by its kind’s service level', async () => {
    const place = await placeOf();
    const codec = codecOf(`k:${key()}`);
    const queue = place.open({ codec, serviceLevels: serviceLevelsOf({ callback: 'PT2H' }) });
    const before = Date.now();
    for (const item of items) await queue.file(item);
    const byId = async (id: string) => (await queue.get(id))!;
    const callback = await byId(items[0].idempotencyKey);
    const due = Date.parse(callback.dueBy) - Date.parse(callback.filedAt);
    expect(due).toBe(2 * 3600_000);
    expect(Date.parse((await byId(items[1].idempotencyKey)).dueBy) - Date.parse(callback.filedAt)).toBeGreaterThan(
      20 * 3600_000,
    );
    expect(callback).toMatchObject({ state: 'open', assignee: null, resolution: null, outcome: null });
    expect(Date.parse(callback.filedAt)).toBeGreaterThanOrEqual(before - 1000);

    // Due first: the call-back (two hours) comes before the day-long cases.
    const all = await queue.find({ limit: 10 });
    expect(all[0].kind).toBe('callback');
    expect(all.map((i) => Date.parse(i.dueBy))).toEqual([...all.map((i) => Date.parse(i.dueBy))].sort((a, b) => a - b));
    // Pages continue where the last one stopped, none twice.
    const first = await queue.find({ limit: 2 });
    const last = first[1];
    const rest = await queue.find({ limit: 10, after: { dueByMs: Date.parse(last.dueBy), id: last.id } });
    expect([...first, ...rest].map((i) => i.id)).toEqual(all.map((i) => i.id));

    const id = items[2].idempotencyKey;
    expect(await queue.move(id, { to: 'claimed', assignee: 'mei' })).toMatchObject({
      state: 'claimed',
      assignee: 'mei',
    });
    // Claiming your own again is a no-op; someone else cannot take it, release it or resolve it.
    expect(await queue.move(id, { to: 'claimed', assignee: 'mei' })).toMatchObject({ assignee: 'mei' });
    expect(await queue.move(id, { to: 'claimed', assignee: 'li' })).toBeUndefined();
    expect(await queue.move(id, { to: 'open', assignee: 'li' })).toBeUndefined();
    const outcome = { accepted: true, loanStatus: 'active' };
    expect(await queue.move(id, { to: 'resolved', assignee: 'li', resolution: 'resume', outcome })).toBeUndefined();
    expect(await queue.find({ limit: 10, states: ['claimed'], assignee: 'mei' })).toHaveLength(1);
    expect(await queue.move(id, { to: 'open', assignee: 'mei' })).toMatchObject({ state: 'open', assignee: null });
    await queue.move(id, { to: 'claimed', assignee: 'li' });
    const note = `rang ${NAME} on ${NUMBER}`;
    const resolved = await queue.move(id, { to: 'resolved', assignee: 'li', resolution: 'resume', note, outcome });
    expect(resolved).toMatchObject({ state: 'resolved', assignee: 'li', resolution: 'resume', outcome });
    expect(codec.openText(resolved!.note as string)).toBe(note);
    expect(resolved!.resolvedAt).not.toBeNull();
    // Resolved is final: no claim, release or second resolution moves it.
    expect(await queue.move(id, { to: 'claimed', assignee: 'li' })).toBeUndefined();
    expect(await queue.move(id, { to: 'resolved', assignee: 'li', resolution: 'close', outcome })).toBeUndefined();
    const bytes = await place.bytes();
    expect(bytes.includes(Buffer.from(NAME))).toBe(false);
    expect(bytes.includes(Buffer.from(NUMBER))).toBe(false);

    // Filters: kind, state, loan, age.
    expect((await queue.find({ limit: 10, kinds: ['dispute', 'hardship'] })).map((i) => i.kind).sort()).toEqual([
      'dispute',
      'hardship',
    ]);
    expect(await queue.find({ limit: 10, states: ['resolved'] })).toHaveLength(1);
    expect(await queue.find({ limit: 10, loanId: 'L-OTHER' })).toHaveLength(0);
    expect(await queue.find({ limit: 10, filedBy: before - 60_000 })).toHaveLength(0);
    expect(await queue.find({ limit: 10, filedBy: Date.now() + 1 })).toHaveLength(items.length);

    // Counts of what waits, with how many are past due at a given time.
    const later = Date.now() + 3 * 3600_000;
    const counts = await queue.counts(later);
    expect(counts.find((c) => c.kind === 'callback')).toEqual({
      kind: 'callback',
      state: 'open',
      items: 1,
      overdue: 1,
    });
    expect(counts.find((c) => c.kind === 'hardship')).toEqual({
      kind: 'hardship',
      state: 'open',
      items: 1,
      overdue: 0,
    });
    expect(counts.find((c) => c.kind === 'dispute')).toBeUndefined();
    await queue.close();
  });
});
