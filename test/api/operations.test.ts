// The operations inbox against a real Temporal dev server and a real worker, on both store back
// ends: a borrower's answer hands the loan over, the item appears once, staff claim it, and each
// kind's resolution acts on the loan through its updates; a refusal stays on the item.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type AppDeps } from '../../src/api/app';
import { MASKED } from '../../src/api/use-cases/operations-inbox';
import { EncryptionCodec, parsePayloadKeys } from '../../src/codec/encryption';
import { createLogger } from '../../src/log';
import { openOperationsQueue, serviceLevelsOf, type OperationsQueueOptions } from '../../src/operations/queue';
import type { StoreLocation } from '../../src/store/sql';
import { openAuditTrail, type AuditTrail } from '../../src/operations/audit';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { loanDueIn, startApiServer, withKey, type ApiServer } from '../helpers/api';
import { contractCheck } from '../helpers/contract';
import { auditCheck } from '../helpers/audit';
import { freshSchema, startPostgres, type TestPostgres } from '../helpers/postgres';
import { localDate, POLICIES } from '../helpers/temporal';

const contract = contractCheck();
afterEach(() => contract.expectKept());

const OPS = 'operations-key-0123456789abcdef01';
const OPS_DECODE = 'operations-decode-0123456789abcd';
const WRITER = 'writer-key-0123456789abcdef0123';
const LOANS_ONLY = 'loans-only-key-0123456789abcdef0';
const AUDITOR = 'auditor-key-0123456789abcdef0123';
const codec = new EncryptionCodec(parsePayloadKeys(`k1:${randomBytes(32).toString('base64')}`));
const queueOptions: OperationsQueueOptions = { codec, serviceLevels: serviceLevelsOf({ callback: 'PT2H' }) };

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(() => pg?.stop());

const backEnds: Array<[string, () => Promise<StoreLocation>]> = [
  ['SQLite', () => Promise.resolve({ sqlitePath: join(mkdtempSync(join(tmpdir(), 'ops-api-')), 'operations.sqlite') })],
  ['PostgreSQL', async () => ({ databaseUrl: await freshSchema(pg.url) })],
];

describe.each(backEnds)('the operations inbox on %s', (_name, placeOf) => {
  let server: ApiServer;
  let app: Express;
  let deps: AppDeps;
  let at: StoreLocation;
  let trail: AuditTrail;
  const audit = auditCheck();

  beforeAll(async () => {
    at = await placeOf();
    trail = openAuditTrail(at);
    server = await startApiServer('ops', undefined, openOperationsQueue(at, queueOptions));
    deps = {
      client: server.env.client,
      taskQueue: server.taskQueue,
      lender: { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' },
      policies: POLICIES,
      log: createLogger('info', 'ops-test', server.logStream),
      apiKeys: [
        { name: 'ops-desk', key: OPS, scopes: ['operations:read', 'operations:write', 'loans:read'] },
        { name: 'ops-lead', key: OPS_DECODE, scopes: ['operations:read', 'operations:write', 'payloads:decode'] },
        { name: 'ledger', key: WRITER, scopes: ['loans:write', 'loans:read'] },
        { name: 'reports', key: LOANS_ONLY, scopes: ['loans:read'] },
        { name: 'compliance', key: AUDITOR, scopes: ['audit:read'] },
      ],
      webhookSecrets: ['whsec-ops-0123456789abcdef0123'],
      rateLimitPerMinute: 100_000,
      // The API reads the same store the worker files into (another connection to it).
      operations: openOperationsQueue(at, queueOptions),
      payloadCodec: codec,
      temporalUi: { url: 'http://temporal-ui.example:8080/', namespace: 'default' },
      audit: trail,
    };
    app = contract.wrap(audit.wrap(createApp(deps)));
  }, 120_000);
  afterAll(async () => {
    await trail?.close();
    await deps?.operations?.close();
    await server?.stop();
    await server?.operations.close();
  });

  const as = (operator: string, key = OPS) => {
    const { get, post } = withKey(() => app, key);
    return {
      get: (path: string) => get(path).set('X-Operator', operator),
      post: (path: string) => post(path).set('X-Operator', operator),
    };
  };
  const mei = as('mei');
  const li = as('li');
  const ledger = withKey(() => app, WRITER);

  async function startLoan(prefix: string) {
    const loan = loanDueIn(prefix, 14);
    await ledger.post('/v1/loans').send(loan).expect(201);
    return loan;
  }

  /** The loan's items once it has filed `count` of them (the worker files them as it runs). */
  async function itemsOf(loanId: string, count = 1) {
    const until = Date.now() + 30_000;
    for (;;) {
      const res = await mei.get(`/v1/operations/items?loanId=${loanId}`).expect(200);
      const items = (res.body as { items: Array<Record<string, unknown>> }).items;
      if (items.length >= count || Date.now() > until) return items;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function handOver(prefix: string, answer: Record<string, unknown>) {
    const loan = await startLoan(prefix);
    await ledger.post(`/v1/loans/${loan.loanId}/feedback`).send(answer).expect(202);
    const [item] = await itemsOf(loan.loanId);
    expect(item).toMatchObject({ loanId: loan.loanId, kind: answer.kind, state: 'open', assignee: null });
    return { loan, id: item.id as string, item };
  }

  const loanOf = async (loanId: string) =>
    (await ledger.get(`/v1/loans/${loanId}`).expect(200)).body as {
      status: string;
      pause: { kind: string; until?: string } | null;
      borrower?: unknown;
    };

  it('a dispute is claimed by one person, refused to another, and resolved by resuming the loan', async () => {
    const { loan, id, item } = await handOver('OPS-D', { kind: 'dispute', reason: '这不是我的贷款 13912345678' });
    // The borrower's words are masked without payloads:decode, read with it.
    expect((item.detail as Record<string, unknown>).reason).toBe(MASKED);
    const opened = await as('lead', OPS_DECODE)
      .get(`/v1/operations/items/${encodeURIComponent(id)}`)
      .expect(200);
    expect(opened.body.detail.reason).toBe('这不是我的贷款 13912345678');
    expect(item.links).toEqual({
      loan: `/v1/loans/${loan.loanId}`,
      temporalUi: `http://temporal-ui.example:8080/namespaces/default/workflows/${encodeURIComponent(`loan-${loan.loanId}`)}`,
    });
    expect((await loanOf(loan.loanId)).pause?.kind).toBe('dispute');

    const path = `/v1/operations/items/${encodeURIComponent(id)}`;
    // The item's loan, as GET /v1/loans/:loanId answers it: the borrower's words masked without
    // payloads:decode (the key needs no loans:read), read with it.
    const masked = await mei.get(`${path}/loan`).expect(200);
    expect(masked.body).toMatchObject({ loanId: loan.loanId, pause: { kind: 'dispute' } });
    expect(masked.body.answers).toEqual([expect.objectContaining({ kind: 'dispute', reason: MASKED })]);
    expect(JSON.stringify(masked.body)).not.toContain('13912345678');
    const read = await as('lead', OPS_DECODE).get(`${path}/loan`).expect(200);
    expect(read.body.answers[0].reason).toBe('这不是我的贷款 13912345678');
    await mei.get('/v1/operations/items/no-such-item/loan').expect(404);
    await withKey(() => app, LOANS_ONLY)
      .get(`${path}/loan`)
      .expect(403, /operations:read/);

    await mei
      .post(`${path}/claim`)
      .send({})
      .expect(200, /"assignee":"mei"/);
    // Claiming your own again is a no-op; someone else is told who holds it.
    await mei.post(`${path}/claim`).send({}).expect(200);
    const taken = await li.post(`${path}/claim`).send({}).expect(409);
    expect(taken.body.detail).toMatch(/claimed by mei/);
    await li.post(`${path}/resolve`).send({ resolution: 'resume' }).expect(409);
    const mine = await mei.get('/v1/operations/items?state=claimed&assignee=mei').expect(200);
    expect(mine.body.items.map((i: { id: string }) => i.id)).toContain(id);

    const done = await mei
      .post(`${path}/resolve`)
      .send({ resolution: 'resume', note: 'statement checked with the borrower' })
      .expect(200);
    expect(done.body).toMatchObject({ state: 'resolved', resolution: 'resume', assignee: 'mei', note: MASKED });
    expect(done.body.outcome).toMatchObject({ accepted: true, resumed: true, loanStatus: 'active', pause: null });
    expect((await loanOf(loan.loanId)).pause).toBeNull();
    // A retried resolution is answered as it was; a different one is refused.
    await mei.post(`${path}/resolve`).send({ resolution: 'resume' }).expect(200);
    await mei
      .post(`${path}/resolve`)
      .send({ resolution: 'write-off' })
      .expect(409, /resolved \(resume\)/);
    const note = await as('lead', OPS_DECODE).get(path).expect(200);
    expect(note.body.note).toBe('statement checked with the borrower');
  });

  it('a wrong number refuses a resume (kept on the item) and is resolved by the new number', async () => {
    const { loan, id } = await handOver('OPS-W', { kind: 'wrong-number' });
    const path = `/v1/operations/items/${encodeURIComponent(id)}`;
    const refused = await mei.post(`${path}/resolve`).send({ resolution: 'resume' }).expect(422);
    expect(refused.body.detail).toMatch(/the loan refused the resume/);
    const kept = await mei.get(path).expect(200);
    expect(kept.body).toMatchObject({ state: 'open', outcome: { accepted: false, resolution: 'resume', status: 422 } });
    // A field the resolution needs is named.
    const missing = await mei.post(`${path}/resolve`).send({ resolution: 'new-number' }).expect(400);
    expect(missing.body.errors).toEqual([expect.objectContaining({ field: 'phone' })]);

    const done = await mei.post(`${path}/resolve`).send({ resolution: 'new-number', phone: '+8613700137000' });
    expect(done.status).toBe(200);
    expect(done.body.outcome).toMatchObject({ accepted: true, changed: ['phone'], loanStatus: 'active', pause: null });
    expect((await loanOf(loan.loanId)).pause).toBeNull();
    expect(JSON.stringify(done.body)).not.toContain('13700137000');
  });

  it('hardship resolved by a plan pauses the loan until its date; a dispute written off closes it', async () => {
    const hardship = await handOver('OPS-H', { kind: 'hardship', note: 'lost my job' });
    const date = localDate(Date.now(), 'Asia/Shanghai', 30);
    const plan = await mei
      .post(`/v1/operations/items/${encodeURIComponent(hardship.id)}/resolve`)
      .send({ resolution: 'plan', date })
      .expect(200);
    expect(plan.body.outcome).toMatchObject({ accepted: true, pause: 'promise-to-pay', loanStatus: 'paused' });
    expect((await loanOf(hardship.loan.loanId)).pause?.kind).toBe('promise-to-pay');

    const dispute = await handOver('OPS-X', { kind: 'dispute', reason: 'fraud' });
    const off = await li
      .post(`/v1/operations/items/${encodeURIComponent(dispute.id)}/resolve`)
      .send({ resolution: 'write-off' })
      .expect(200);
    expect(off.body.outcome).toMatchObject({ accepted: true, closed: 'written-off', loanStatus: 'closed' });
    expect((await loanOf(dispute.loan.loanId)).status).toBe('closed');

    const callback = await handOver('OPS-C', { kind: 'callback', note: 'after six please' });
    // Due in the call-back's two hours, so it sorts before the day-long cases.
    expect(Date.parse(callback.item.dueBy as string) - Date.parse(callback.item.filedAt as string)).toBe(7_200_000);
    await mei
      .post(`/v1/operations/items/${encodeURIComponent(callback.id)}/claim`)
      .send({})
      .expect(200);
    await mei
      .post(`/v1/operations/items/${encodeURIComponent(callback.id)}/release`)
      .send({})
      .expect(200, /"state":"open"/);
    const none = await li
      .post(`/v1/operations/items/${encodeURIComponent(callback.id)}/resolve`)
      .send({ resolution: 'no-action', note: 'called back' })
      .expect(200);
    expect(none.body.outcome).toMatchObject({ accepted: true, loanStatus: 'active' });
  });

  it('lists by kind, state and age, due first and paged, counts the queues, and checks scope and input', async () => {
    const a = await handOver('OPS-L1', { kind: 'callback', note: 'call me' });
    const b = await handOver('OPS-L2', { kind: 'hardship', note: 'ill' });
    const page = await mei.get('/v1/operations/items?kind=callback,hardship&state=open&pageSize=1').expect(200);
    expect(page.body.items).toHaveLength(1);
    const seen: string[] = [page.body.items[0].id];
    let token: string | null = page.body.nextPageToken;
    while (token) {
      const next = await mei.get(
        `/v1/operations/items?kind=callback,hardship&state=open&pageSize=1&pageToken=${token}`,
      );
      expect(next.status).toBe(200);
      seen.push(...next.body.items.map((i: { id: string }) => i.id));
      token = next.body.nextPageToken;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining([a.id, b.id]));
    // Due first across the pages.
    const all = (await mei.get('/v1/operations/items?kind=callback,hardship&state=open&pageSize=200').expect(200)).body
      .items as Array<{ kind: string; dueBy: string }>;
    expect(all.map((i) => i.dueBy)).toEqual([...all.map((i) => i.dueBy)].sort());
    // A token is for its own filters only.
    const other = await mei.get(`/v1/operations/items?kind=dispute&pageToken=${page.body.nextPageToken as string}`);
    expect(other.status).toBe(400);
    expect(other.body.errors[0].field).toBe('pageToken');
    expect((await mei.get('/v1/operations/items?olderThan=P1D').expect(200)).body.items).toEqual([]);
    const bad = await mei.get('/v1/operations/items?state=lost&olderThan=soon').expect(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['olderThan', 'state.0']);

    const summary = await mei.get('/v1/operations/summary').expect(200);
    const callbacks = summary.body.queues.find(
      (q: { kind: string; state: string }) => q.kind === 'callback' && q.state === 'open',
    );
    expect(callbacks.items).toBeGreaterThanOrEqual(1);
    expect(callbacks.overdue).toBe(0);

    await withKey(() => app, LOANS_ONLY)
      .get('/v1/operations/items')
      .expect(403, /operations:read/);
    await withKey(() => app, WRITER)
      .post(`/v1/operations/items/${encodeURIComponent(a.id)}/claim`)
      .send({})
      .expect(403);
    await mei.get('/v1/operations/items/no-such-item').expect(404);
    await mei.post('/v1/operations/items/no-such-item/claim').send({}).expect(404);
    await mei
      .post(`/v1/operations/items/${encodeURIComponent(a.id)}/resolve`)
      .send({ resolution: 'pardon' })
      .expect(400);
  });

  it('keeps every change in an append-only audit trail: who, what, which loan, before and after, how it ended', async () => {
    const { loan, id } = await handOver('OPS-A', { kind: 'dispute', reason: '我的号码是13912345678' });
    const path = `/v1/operations/items/${encodeURIComponent(id)}`;
    await mei.post(`${path}/claim`).send({}).expect(200);
    await li.post(`${path}/resolve`).send({ resolution: 'resume' }).expect(409);
    await mei.post(`${path}/resolve`).send({ resolution: 'resume', note: 'rang 13912345678' }).expect(200);
    await ledger
      .patch(`/v1/loans/${loan.loanId}`)
      .send({ borrower: { phone: '+8613700137001' } })
      .expect(200);
    const { requests, records } = await audit.expectRecorded(trail);
    expect(requests).toBeGreaterThanOrEqual(6);

    const auditor = withKey(() => app, AUDITOR);
    const mine = (await auditor.get(`/v1/audit?loanId=${loan.loanId}`).expect(200)).body.records as Array<
      Record<string, unknown>
    >;
    expect(mine.map((r) => `${r.action} ${r.status}`)).toEqual([
      'startLoan 201',
      'reportAnswer 202',
      'claimInboxItem 200',
      'resolveInboxItem 409',
      'resolveInboxItem 200',
      'changeLoan 200',
    ]);
    expect(mine[2]).toMatchObject({ actorKey: 'ops-desk', actorUser: 'mei', itemId: id, outcome: 'accepted' });
    expect(mine[3]).toMatchObject({
      actorUser: 'li',
      outcome: 'refused',
      before: { state: 'claimed', assignee: 'mei' },
    });
    expect(mine[4]).toMatchObject({
      what: { fields: ['resolution', 'note'], resolution: 'resume' },
      before: { state: 'claimed', assignee: 'mei', kind: 'dispute' },
      after: { state: 'resolved', resolution: 'resume', loanStatus: 'active', accepted: true },
    });
    expect(mine[5]).toMatchObject({
      actorKey: 'ledger',
      actorUser: null,
      what: { fields: ['borrower.phone'] },
      before: { status: 'active', pause: null },
      after: { status: 'active', pause: null },
    });
    // No number, name or words in it: the note and the new number are named, never kept.
    const stored = JSON.stringify(records);
    for (const secret of ['13912345678', '13700137001', '张先生', '我的号码', 'rang '])
      expect(stored).not.toContain(secret);

    // Filters, pages, CSV and the scope.
    const byMei = (await auditor.get('/v1/audit?actor=mei&outcome=accepted').expect(200)).body.records;
    expect(byMei.length).toBeGreaterThan(0);
    expect(byMei.every((r: { actorUser: string }) => r.actorUser === 'mei')).toBe(true);
    const first = await auditor.get(`/v1/audit?loanId=${loan.loanId}&pageSize=4`).expect(200);
    const second = await auditor.get(
      `/v1/audit?loanId=${loan.loanId}&pageSize=4&pageToken=${first.body.nextPageToken}`,
    );
    expect([...first.body.records, ...second.body.records].map((r: { id: string }) => r.id)).toEqual(
      mine.map((r) => r.id),
    );
    expect(second.body.nextPageToken).toBeNull();
    const csv = await auditor.get(`/v1/audit?loanId=${loan.loanId}&format=csv`).expect(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toBe(
      'at,actor_key,actor_user,action,method,route,loan_id,item_id,request_id,status,outcome,what,before,after,id',
    );
    expect(lines).toHaveLength(mine.length + 1);
    expect(lines[3]).toContain('claimInboxItem');
    await auditor.get('/v1/audit?from=2026-13-01').expect(400, /from/);
    await mei.get('/v1/audit').expect(403, /audit:read/);

    // Append-only, whoever asks: the database refuses to change or remove a record.
    if ('sqlitePath' in at) {
      const db = new Database(at.sqlitePath);
      expect(() => db.prepare(`UPDATE audit_records SET outcome = 'accepted'`).run()).toThrow(/append-only/);
      expect(() => db.prepare('DELETE FROM audit_records').run()).toThrow(/append-only/);
      db.close();
    } else {
      const c = new Client({ connectionString: at.databaseUrl });
      await c.connect();
      try {
        await expect(c.query(`UPDATE audit_records SET outcome = 'accepted'`)).rejects.toThrow(/append-only/);
        await expect(c.query('DELETE FROM audit_records')).rejects.toThrow(/append-only/);
        await expect(c.query('TRUNCATE audit_records')).rejects.toThrow(/append-only/);
      } finally {
        await c.end();
      }
    }
    expect((await trail.find({ limit: 100_000 })).length).toBeGreaterThanOrEqual(records.length);
  });
});
