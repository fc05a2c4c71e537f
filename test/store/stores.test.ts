// The service's stores on both back ends, as several machines would use them: two instances of a
// store (two processes, or two machines on one PostgreSQL database) see each other's writes, and
// claiming a send is atomic between them. SQLite is one machine's file; PostgreSQL is the shared one.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPhoneIndex } from '../../src/store/phone-index';
import { openRateLimitStore } from '../../src/store/rate-limit';
import { openSendLedger, type SendClaim } from '../../src/store/send-ledger';
import type { StoreLocation } from '../../src/store/sql';
import { freshSchema, startPostgres, type TestPostgres } from '../helpers/postgres';

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(() => pg?.stop());

const backEnds: Array<[string, (file: string) => Promise<StoreLocation>]> = [
  ['SQLite', (file) => Promise.resolve({ sqlitePath: join(mkdtempSync(join(tmpdir(), 'stores-')), file) })],
  ['PostgreSQL', async () => ({ databaseUrl: await freshSchema(pg.url) })],
];

const claimOf = (key: string, owner: string, until: number): SendClaim => ({
  idempotencyKey: key,
  loanId: key.split(':')[0],
  stage: 'due',
  provider: 'outbox',
  owner,
  until,
});

describe.each(backEnds)('stores on %s', (_name, place) => {
  it('a send is claimed by one attempt at a time, and never again once accepted', async () => {
    const at = await place('sends.sqlite');
    const [a, b] = [openSendLedger(at), openSendLedger(at)]; // two machines
    const later = Date.now() + 30_000;
    expect(await a.claim(claimOf('L-1:due', 'attempt-1', later))).toEqual({ outcome: 'claimed' });
    // Another attempt meanwhile (a zombie of a timed-out one, or its retry too early) waits.
    expect(await b.claim(claimOf('L-1:due', 'attempt-2', later))).toEqual({ outcome: 'held', until: later });
    // Given back (the provider refused it): the next attempt may go at once.
    await a.release('L-1:due', 'attempt-1');
    expect(await b.claim(claimOf('L-1:due', 'attempt-2', later))).toEqual({ outcome: 'claimed' });
    // Only its owner gives a claim back.
    await a.release('L-1:due', 'attempt-1');
    expect((await a.claim(claimOf('L-1:due', 'attempt-3', later))).outcome).toBe('held');
    await b.accept('L-1:due', 'provider-id-1', '2026-12-02T09:00:00.000Z');
    const accepted = await a.claim(claimOf('L-1:due', 'attempt-4', Date.now() + 30_000));
    expect(accepted).toMatchObject({
      outcome: 'accepted',
      record: { idempotencyKey: 'L-1:due', state: 'accepted', providerMessageId: 'provider-id-1', attempts: 2 },
    });
    // A claim whose attempt died (kill -9) runs out and the key can be taken again.
    expect(await a.claim(claimOf('L-2:due', 'dead', Date.now() - 1))).toEqual({ outcome: 'claimed' });
    expect(await b.claim(claimOf('L-2:due', 'retry', Date.now() + 30_000))).toEqual({ outcome: 'claimed' });
    expect(await a.get('L-2:due')).toMatchObject({ state: 'sending', attempts: 2 });
    // A receipt reaching the other machine finds its send.
    expect(await a.recordReceipt('outbox', 'provider-id-1', { status: 'delivered', permanent: false })).toMatchObject({
      idempotencyKey: 'L-1:due',
      loanId: 'L-1',
      deliveryStatus: 'delivered',
    });
    expect(await b.recordReceipt('outbox', 'unknown-id', { status: 'delivered', permanent: false })).toBeUndefined();
    await Promise.all([a.close(), b.close()]);
  });

  it('a receipt that comes before its send is recorded is kept, and applied when it is', async () => {
    const at = await place('sends.sqlite');
    const [api, worker] = [openSendLedger(at), openSendLedger(at)];
    await worker.claim(claimOf('L-5:due', 'attempt-1', Date.now() + 30_000));
    // The provider took the message and its carrier answered at once; the worker has not yet recorded it.
    const early = { status: 'failed', error: 'absent', permanent: false } as const;
    expect(await api.recordReceipt('outbox', 'm-early', early)).toBeUndefined();
    expect(await api.recordReceipt('outbox', 'm-early', early)).toBeUndefined(); // repeated: kept once
    const kept = [{ status: 'failed', error: 'absent', permanent: false, receivedAt: expect.any(String) }];
    expect(await worker.accept('L-5:due', 'm-early', '2026-12-02T09:00:00.000Z')).toEqual(kept);
    expect(await api.get('L-5:due')).toMatchObject({ deliveryStatus: 'failed', deliveryError: 'absent' });
    // Kept until its effects are done: the worker may die before recording its event.
    expect(await api.pendingReceipts('L-5:due')).toEqual(kept);
    await worker.settleReceipts('L-5:due');
    expect(await api.pendingReceipts('L-5:due')).toEqual([]);
    // Another send's accept finds nothing parked.
    await worker.claim(claimOf('L-6:due', 'attempt-1', Date.now() + 30_000));
    expect(await worker.accept('L-6:due', 'm-other', '2026-12-02T09:00:00.000Z')).toEqual([]);
    await Promise.all([api.close(), worker.close()]);
  });

  it('a receipt racing its send’s accept on another machine is never lost', async () => {
    const at = await place('sends.sqlite');
    const [api, worker] = [openSendLedger(at), openSendLedger(at)];
    const keys = Array.from({ length: 80 }, (_, i) => `R-${i}:due`);
    for (const k of keys) await worker.claim(claimOf(k, 'w', Date.now() + 30_000));
    const receipt = { status: 'delivered', permanent: false } as const;
    await Promise.all(
      keys.flatMap((k) => [
        worker.accept(k, `id-${k}`, '2026-12-02T09:00:00.000Z'),
        api.recordReceipt('outbox', `id-${k}`, receipt),
      ]),
    );
    for (const k of keys) expect((await api.get(k))?.deliveryStatus, k).toBe('delivered');
    await Promise.all([api.close(), worker.close()]);
  });

  it('claims raced from two machines: exactly one wins each key', async () => {
    const at = await place('sends.sqlite');
    const machines = [openSendLedger(at), openSendLedger(at), openSendLedger(at)];
    const keys = Array.from({ length: 60 }, (_, i) => `L-${i}:due`);
    const until = Date.now() + 30_000;
    const results = await Promise.all(
      keys.flatMap((k) =>
        machines.map((m, i) => m.claim(claimOf(k, `machine-${i}`, until)).then((r) => [k, r] as const)),
      ),
    );
    for (const k of keys) {
      const outcomes = results.filter(([key]) => key === k).map(([, r]) => r.outcome);
      expect(
        outcomes.filter((o) => o === 'claimed'),
        k,
      ).toHaveLength(1);
      expect(
        outcomes.filter((o) => o === 'held'),
        k,
      ).toHaveLength(2);
    }
    await Promise.all(machines.map((m) => m.close()));
  });

  it('the phone index answers the same on every machine', async () => {
    const at = await place('phones.sqlite');
    const key = 'k'.repeat(32);
    const [a, b] = [openPhoneIndex(at, key), openPhoneIndex(at, key)];
    await a.set('L-1', '+8613800138000');
    await b.set('L-2', '+86 138 0013 8000');
    expect(await b.loansOf('8613800138000')).toEqual(['L-1', 'L-2']);
    await b.set('L-1', '+12025550100');
    expect(await a.loansOf('+8613800138000')).toEqual(['L-2']);
    await Promise.all([a.close(), b.close()]);
  });

  it('the rate limit counts one allowance across instances, per window', async () => {
    const at = await place('rate-limits.sqlite');
    const [a, b] = [openRateLimitStore(at), openRateLimitStore(at)];
    const options = { windowMs: 60_000 } as Parameters<typeof a.init>[0];
    a.init(options);
    b.init(options);
    const hits = [];
    for (let i = 0; i < 6; i++) hits.push((await (i % 2 ? b : a).increment('ip:203.0.113.9')).totalHits);
    expect(hits).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await b.increment('key:other')).totalHits).toBe(1);
    const info = await a.get('ip:203.0.113.9');
    expect(info?.totalHits).toBe(6);
    expect((info?.resetTime?.getTime() ?? 1) % 60_000).toBe(0);
    await b.decrement('ip:203.0.113.9');
    expect((await a.get('ip:203.0.113.9'))?.totalHits).toBe(5);
    await a.resetKey('ip:203.0.113.9');
    expect(await b.get('ip:203.0.113.9')).toBeUndefined();
    await Promise.all([a.shutdown(), b.shutdown()]);
  });

  it('instances starting together migrate once, and a second start finds nothing to do', async () => {
    const at = await place('sends.sqlite');
    const ledgers = Array.from({ length: 5 }, () => openSendLedger(at));
    // Each first use migrates; none may fail for another having done it at the same moment.
    await Promise.all(ledgers.map((l, i) => l.claim(claimOf(`L-${i}:due`, 'o', Date.now() + 1_000))));
    await Promise.all(ledgers.map((l) => l.close()));
    const again = openSendLedger(at);
    expect(await again.get('L-4:due')).toMatchObject({ state: 'sending', attempts: 1 });
    await again.close();
  });
});

describe('a send ledger made before migrations existed', () => {
  it('is adopted as it is, its sends kept', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'stores-')), 'sends.sqlite');
    // The file as earlier releases made it.
    const old = new Database(path);
    old.exec(`CREATE TABLE sms_sends (
      idempotency_key TEXT PRIMARY KEY, loan_id TEXT NOT NULL, stage TEXT NOT NULL, provider TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('sending', 'accepted')), provider_message_id TEXT,
      attempts INTEGER NOT NULL DEFAULT 0, first_attempt_at TEXT NOT NULL, accepted_at TEXT,
      delivery_status TEXT, delivery_error TEXT, delivery_at TEXT);
      CREATE INDEX sms_sends_by_message ON sms_sends (provider, provider_message_id);
      INSERT INTO sms_sends VALUES ('L-9:due', 'L-9', 'due', 'outbox', 'accepted', 'm-9', 1, '2026-01-01T00:00:00Z',
        '2026-01-01T00:00:01Z', NULL, NULL, NULL);`);
    old.close();
    const ledger = openSendLedger({ sqlitePath: path });
    expect(await ledger.claim(claimOf('L-9:due', 'new', Date.now() + 30_000))).toMatchObject({
      outcome: 'accepted',
      record: { providerMessageId: 'm-9' },
    });
    expect(await ledger.claim(claimOf('L-10:due', 'new', Date.now() + 30_000))).toEqual({ outcome: 'claimed' });
    await ledger.close();
  });
});
