// The HTTP API against a real Temporal dev server (the CLI), with a real worker behind it:
// every route's success, every error class, idempotency, signatures and scopes.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp, routePaths, type AppDeps } from '../../src/api/app';
import { SIGNATURE_HEADER, signatureHeader } from '../../src/api/signature';
import { effectiveness } from '../../src/analytics/effectiveness';
import { createLogger } from '../../src/log';
import { SqliteEventStore } from '../../src/store/event-store-sql';
import { DEFAULT_STAGES, localDate, POLICIES, RecordingProvider, zoneWithLocalHour } from '../helpers/temporal';
import { loanDueIn, startApiServer, withKey, workflowExists, type ApiServer } from '../helpers/api';
import { contractCheck } from '../helpers/contract';
import { openAuditTrail } from '../../src/operations/audit';
import { auditCheck } from '../helpers/audit';

// Every answer these tests get is held to the OpenAPI document (test/helpers/contract.ts).
const contract = contractCheck();
// And every state-changing request to the trail (test/helpers/audit.ts).
const audit = auditCheck();
const trail = openAuditTrail({
  sqlitePath: join(mkdtempSync(join(tmpdir(), 'loan-reminders-audit-')), 'audit.sqlite'),
});
const checkedApp = (deps: Parameters<typeof createApp>[0]) =>
  contract.wrap(audit.wrap(createApp({ ...deps, audit: trail })));
afterEach(() => contract.expectKept());

const WRITER = 'writer-key-0123456789abcdef0123';
const READER = 'reader-key-0123456789abcdef0123';
const METRICS = 'metrics-key-0123456789abcdef012';
const SECRET = 'whsec-current-0123456789abcdef';
const OLD_SECRET = 'whsec-previous-0123456789abcde';

let server: ApiServer;
let env: TestWorkflowEnvironment;
let app: Express;
/** The app itself, unwrapped, for the contract test to read its routes. */
let inner: Express;
let deps: AppDeps;
const logged = () => server.logged();
const sms = new RecordingProvider();

beforeAll(async () => {
  server = await startApiServer('api', sms);
  env = server.env;
  deps = {
    client: env.client,
    taskQueue: server.taskQueue,
    lender: { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' },
    policies: POLICIES,
    log: createLogger('info', 'api-test', server.logStream),
    apiKeys: [
      { name: 'ledger', key: WRITER, scopes: ['loans:write', 'loans:read'] },
      { name: 'dashboard', key: READER, scopes: ['loans:read'] },
      { name: 'prometheus', key: METRICS, scopes: ['metrics:read'] },
    ],
    webhookSecrets: [SECRET, OLD_SECRET],
    rateLimitPerMinute: 100_000,
    events: new SqliteEventStore(join(mkdtempSync(join(tmpdir(), 'loan-reminders-api-')), 'events.sqlite')),
  };
  inner = createApp({ ...deps, audit: trail });
  app = contract.wrap(audit.wrap(inner));
});

afterAll(async () => {
  await server?.stop();
});

/** A time zone where it is now daytime, so a thank-you message need not wait for the morning. */
const daytimeZone = () => zoneWithLocalHour(9, 20);

const newLoan = (dueInDays = 14, timezone = 'Asia/Shanghai') => loanDueIn('L', dueInDays, timezone);

const { post, get, patch } = withKey(() => app, WRITER);

type Operation = { responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> };

async function startLoan(loan = newLoan()) {
  await post('/v1/loans').send(loan).expect(201);
  return loan;
}

function expectProblem(res: request.Response, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, title: expect.any(String), type: expect.any(String) });
}

describe('POST /v1/loans and GET /v1/loans/:loanId', () => {
  it('starts the loan workflow and answers its status from the running workflow', async () => {
    const loan = newLoan();
    const created = await post('/v1/loans').send(loan).expect(201);
    expect(created.headers.location).toBe(`/v1/loans/${loan.loanId}`);
    expect(created.body).toMatchObject({ loanId: loan.loanId, workflowId: `loan-${loan.loanId}`, status: 'active' });
    expect(created.body.policyId).toBe('default');
    expect(created.body.schedule.map((p: { stage: string }) => p.stage)).toEqual(DEFAULT_STAGES);

    const description = await env.client.workflow.getHandle(`loan-${loan.loanId}`).describe();
    expect(description.status.name).toBe('RUNNING');

    const status = await get(`/v1/loans/${loan.loanId}`, READER).expect(200);
    expect(status.body).toMatchObject({
      loanId: loan.loanId,
      status: 'active',
      outstanding: 500000,
      currency: 'CNY',
      dueDate: loan.dueDate,
      nextReminderAt: created.body.schedule[0].at,
      messagesSent: [],
    });
    expect(status.body.requestFingerprint).toBeUndefined();
    // Status is for the loan system and staff: it carries no name or phone number.
    expect(JSON.stringify(status.body)).not.toContain('13800138000');
    expect(JSON.stringify(status.body)).not.toContain('张先生');
  });

  it('is idempotent on loanId: the same body answers the existing loan, a different one is a conflict', async () => {
    const loan = await startLoan();
    const again = await post('/v1/loans').send(loan).expect(200);
    expect(again.body).toMatchObject({ loanId: loan.loanId, status: 'active', outstanding: 500000 });
    // Key order does not make a different body.
    const reordered = {
      dueDate: loan.dueDate,
      currency: loan.currency,
      amountDue: loan.amountDue,
      borrower: loan.borrower,
      loanId: loan.loanId,
    };
    await post('/v1/loans').send(reordered).expect(200);
    expectProblem(await post('/v1/loans').send({ ...loan, amountDue: 1 }), 409);
  });

  it('answers 404 problem+json for an unknown loan', async () => {
    expectProblem(await get('/v1/loans/NO-SUCH-LOAN'), 404);
  });

  const spoilers: Array<[string, (l: ReturnType<typeof newLoan>) => unknown, string]> = [
    ['phone', (l) => ({ ...l, borrower: { ...l.borrower, phone: '13800138000' } }), 'borrower.phone'],
    ['timezone', (l) => ({ ...l, borrower: { ...l.borrower, timezone: 'Mars/Base' } }), 'borrower.timezone'],
    ['locale', (l) => ({ ...l, borrower: { ...l.borrower, locale: 'fr-FR' } }), 'borrower.locale'],
    ['name', (l) => ({ ...l, borrower: { ...l.borrower, name: 'x'.repeat(101) } }), 'borrower.name'],
    ['name with markup', (l) => ({ ...l, borrower: { ...l.borrower, name: '<script>' } }), 'borrower.name'],
    ['fractional amount', (l) => ({ ...l, amountDue: 12.5 }), 'amountDue'],
    ['huge amount', (l) => ({ ...l, amountDue: 1e15 }), 'amountDue'],
    ['amount as text', (l) => ({ ...l, amountDue: '500000' }), 'amountDue'],
    ['date', (l) => ({ ...l, dueDate: '2024-02-30' }), 'dueDate'],
    ['currency', (l) => ({ ...l, currency: 'XXY' }), 'currency'],
    ['loan id', (l) => ({ ...l, loanId: 'L 1/2' }), 'loanId'],
    ['unknown field', (l) => ({ ...l, amount: 1 }), '(body)'],
    ['policy', (l) => ({ ...l, policyId: 'no-such-policy' }), 'policyId'],
  ];
  it.each(spoilers)(
    'rejects a bad %s with a problem naming the field, and starts nothing',
    async (_what, spoil, field) => {
      const loan = newLoan();
      const res = await post('/v1/loans').send(spoil(loan) as object);
      expectProblem(res, 400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      expect(await workflowExists(env.client, `loan-${loan.loanId}`)).toBe(false);
    },
  );

  it('answers 415 for a body that is not JSON, 400 for malformed JSON, 413 for a body too large', async () => {
    expectProblem(await post('/v1/loans').set('content-type', 'text/plain').send('hello'), 415);
    const res = await post('/v1/loans').set('content-type', 'application/json').send('{"loanId":');
    expectProblem(res, 400);
    expect(res.body.title).toBe('Malformed JSON');
    const big = { ...newLoan(), padding: 'x'.repeat(300_000) };
    expectProblem(await post('/v1/loans').send(big), 413);
  });

  // Found by the fault suite's hostile-input test (test/faults/hostile-input.test.ts), which also
  // covers a forged pageToken (400; slow here, as the client retries the server's answer to it).
  it('answers a 4xx, never a 500, for a path it cannot decode or a corrupt compressed body', async () => {
    expectProblem(await get('/v1/loans/%E0%A4%A'), 400);
    expectProblem(await get('/v1/loans/%'), 400);
    const loan = newLoan();
    const corrupt = await post('/v1/loans')
      .set('content-type', 'application/json')
      .set('content-encoding', 'gzip')
      .send(JSON.stringify(loan));
    expectProblem(corrupt, 400);
    // And a body labelled in another charset than UTF-8 (UTF-7 would decode "+ACI-" as a quote).
    expectProblem(await post('/v1/loans').set('content-type', 'application/json; charset=utf-7').send(loan), 415);
    expect(await workflowExists(env.client, `loan-${loan.loanId}`)).toBe(false);
  });
});

describe('POST /v1/loans/batch', () => {
  it('answers per item: a bad item does not sink the others', async () => {
    const existing = await startLoan();
    const fresh = newLoan();
    const bad = { ...newLoan(), borrower: { ...newLoan().borrower, phone: 'nope' } };
    const res = await post('/v1/loans/batch')
      .send({ loans: [fresh, bad, existing, { ...existing, amountDue: 7 }, 42] })
      .expect(200);
    expect(res.body).toMatchObject({ started: 1, existing: 1, failed: 3 });
    expect(res.body.results.map((r: { httpStatus: number }) => r.httpStatus)).toEqual([201, 400, 200, 409, 400]);
    expect(res.body.results[0].loan).toMatchObject({ loanId: fresh.loanId, status: 'active' });
    expect(res.body.results[1].problem.errors.map((e: { field: string }) => e.field)).toContain('borrower.phone');
    expect(await workflowExists(env.client, `loan-${fresh.loanId}`)).toBe(true);
    expect(await workflowExists(env.client, `loan-${bad.loanId}`)).toBe(false);
  });

  it('refuses more than 1,000 loans in one batch', async () => {
    const res = await post('/v1/loans/batch').send({ loans: Array.from({ length: 1001 }, () => ({})) });
    expectProblem(res, 400);
    expect(res.body.errors[0].field).toBe('loans');
  });
});

describe('GET /v1/loans', () => {
  it('filters by status and amount through the search attributes, and pages', async () => {
    const big = await startLoan({ ...newLoan(), amountDue: 987_654_321 });
    const big2 = await startLoan({ ...newLoan(), amountDue: 987_654_322 });
    await startLoan({ ...newLoan(), amountDue: 1000 });
    const url = '/v1/loans?status=active&minOutstanding=987654321&maxOutstanding=987654322&pageSize=1';
    // Visibility is eventually consistent: read both pages until both loans are indexed.
    let ids: string[] = [];
    let first: request.Response | undefined;
    for (let i = 0; i < 50 && ids.length < 2; i++) {
      first = await get(url, READER).expect(200);
      ids = first.body.items.map((x: { loanId: string }) => x.loanId);
      if (first.body.nextPageToken) {
        expect(first.body.items).toHaveLength(1);
        const second = await get(`${url}&pageToken=${first.body.nextPageToken}`, READER).expect(200);
        ids.push(...second.body.items.map((x: { loanId: string }) => x.loanId));
      }
      if (ids.length < 2) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ids.sort()).toEqual([big.loanId, big2.loanId].sort());
    expect(first!.body.items[0]).toMatchObject({
      status: 'active',
      currency: 'CNY',
      policyId: 'default',
      stage: 'none',
    });
  });

  it('rejects an unknown filter', async () => {
    const res = await get('/v1/loans?status=happy', READER);
    expectProblem(res, 400);
    expect(res.body.errors[0].field).toBe('status');
  });
});

describe('PATCH, close and resume', () => {
  it('changes contact and terms through updates; the schedule follows the new due date', async () => {
    const loan = await startLoan();
    const newDue = localDate(Date.now(), 'Asia/Shanghai', 30);
    const res = await patch(`/v1/loans/${loan.loanId}`)
      .send({ borrower: { phone: '+8613900139000' }, dueDate: newDue, amountDue: 600000 })
      .expect(200);
    expect(res.body).toMatchObject({ dueDate: newDue, amountDue: 600000, outstanding: 600000 });
    const bad = await patch(`/v1/loans/${loan.loanId}`).send({ borrower: { phone: '123' } });
    expectProblem(bad, 400);
    expectProblem(await patch(`/v1/loans/${loan.loanId}`).send({}), 400);
  });

  it('a change the loan refuses is a 422 with its reason; a closed loan is a 409', async () => {
    const loan = await startLoan();
    const notPaused = await post(`/v1/loans/${loan.loanId}/resume`).send({});
    expectProblem(notPaused, 422);
    expect(notPaused.body.detail).toBe('the loan is not paused');
    await post(`/v1/loans/${loan.loanId}/close`).send({ reason: 'sold' }).expect(200);
    expect((await env.client.workflow.getHandle(`loan-${loan.loanId}`).result()).status).toBe('closed');
    expectProblem(await post(`/v1/loans/${loan.loanId}/close`).send({ reason: 'sold' }), 409);
    expectProblem(await patch(`/v1/loans/${loan.loanId}`).send({ amountDue: 5 }), 409);
  });
});

describe('payments', () => {
  it('counts a payment once however often it arrives, and a payment in full completes the loan', async () => {
    const loan = await startLoan(newLoan(14, daytimeZone()));
    const part = { paymentId: 'P-1', amount: 100000, paidAt: '2024-10-29T08:00:00Z' };
    await post(`/v1/loans/${loan.loanId}/payments`).send(part).expect(202);
    await post(`/v1/loans/${loan.loanId}/payments`).send(part).expect(202);
    const mid = await get(`/v1/loans/${loan.loanId}`).expect(200);
    expect(mid.body).toMatchObject({ status: 'active', outstanding: 400000 });
    expect(mid.body.payments).toHaveLength(1);

    await post(`/v1/loans/${loan.loanId}/payments`)
      .send({ paymentId: 'P-2', amount: 400000, paidAt: '2024-10-29T09:00:00Z' })
      .expect(202);
    const result = await env.client.workflow.getHandle(`loan-${loan.loanId}`).result();
    expect(result).toMatchObject({ status: 'paid', outstanding: 0, nextReminder: null });
    // The loan has ended: a further payment is kept and acknowledged, never refused (see below).
    const late = await post(`/v1/loans/${loan.loanId}/payments`).send({
      paymentId: 'P-3',
      amount: 1,
      paidAt: '2024-10-30T09:00:00Z',
    });
    expect(late.status).toBe(202);
    expect(late.body).toMatchObject({ accepted: true, recordedAs: 'after-end' });
    // No reminder was due yet; the only message is the thank-you, sent at once in the borrower's daytime.
    expect(sms.sent.filter((m) => m.loanId === loan.loanId).map((m) => m.stage)).toEqual(['thank-you']);
  });

  it('rejects a malformed payment naming the fields, and a payment for an unknown loan with 404', async () => {
    const loan = await startLoan();
    const bad = await post(`/v1/loans/${loan.loanId}/payments`).send({
      paymentId: 'P-1',
      amount: -5,
      paidAt: 'yesterday',
    });
    expectProblem(bad, 400);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['amount', 'paidAt']);
    expect((await get(`/v1/loans/${loan.loanId}`).expect(200)).body.payments).toEqual([]);
    expectProblem(
      await post('/v1/loans/NO-SUCH-LOAN/payments').send({
        paymentId: 'P-1',
        amount: 5,
        paidAt: '2024-10-29T08:00:00Z',
      }),
      404,
    );
  });
});

describe('POST /v1/loans/:loanId/feedback', () => {
  it('turns each kind of answer into the engine’s signal or update', async () => {
    const loan = await startLoan();
    const url = `/v1/loans/${loan.loanId}/feedback`;
    expect(
      (await post(url).send({ kind: 'callback', note: 'after 6pm', answerId: 'A-1' }).expect(202)).body.recordedAs,
    ).toBe('callback');
    await post(url).send({ kind: 'callback', note: 'after 6pm', answerId: 'A-1' }).expect(202); // a retry
    await post(url).send({ kind: 'rating', messageKey: 'pre-due@x', clarity: 4, tone: 2 }).expect(202);
    expect((await post(url).send({ kind: 'reply', text: 'who is this?' }).expect(202)).body.recordedAs).toBe(
      'callback',
    );
    const promise = await post(url)
      .send({ kind: 'promise-to-pay', date: localDate(Date.now(), 'Asia/Shanghai', 3) })
      .expect(200);
    expect(promise.body.pausedUntil).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    const tooFar = await post(url).send({ kind: 'promise-to-pay', date: localDate(Date.now(), 'Asia/Shanghai', 90) });
    expectProblem(tooFar, 422);
    expect(tooFar.body.detail).toMatch(/further ahead than the policy allows/);
    expect((await post(url).send({ kind: 'reply', text: '退订' }).expect(202)).body.recordedAs).toBe('opt-out');
    const status = (await get(`/v1/loans/${loan.loanId}`).expect(200)).body;
    expect(status.answers.map((a: { kind: string }) => a.kind)).toEqual(['callback', 'rating', 'callback', 'opt-out']);
    expect(status).toMatchObject({ optedOut: true, variant: 'gentle', pause: { kind: 'promise-to-pay' } });
  });

  it('pauses on a dispute until operations resume it', async () => {
    const loan = await startLoan();
    await post(`/v1/loans/${loan.loanId}/feedback`).send({ kind: 'dispute', reason: 'not my loan' }).expect(202);
    expect((await get(`/v1/loans/${loan.loanId}`).expect(200)).body).toMatchObject({
      status: 'paused',
      pause: { kind: 'dispute' },
    });
    const resumed = await post(`/v1/loans/${loan.loanId}/resume`).send({ note: 'checked' }).expect(200);
    expect(resumed.body).toMatchObject({ status: 'active', pause: null });
  });

  it('rejects an unknown kind or a rating out of range', async () => {
    const loan = await startLoan();
    expectProblem(await post(`/v1/loans/${loan.loanId}/feedback`).send({ kind: 'praise' }), 400);
    const r = await post(`/v1/loans/${loan.loanId}/feedback`).send({
      kind: 'rating',
      messageKey: 'k',
      clarity: 9,
      tone: 0,
    });
    expectProblem(r, 400);
    expect(r.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['clarity', 'tone']);
  });
});

describe('POST /v1/webhooks/payments', () => {
  const deliver = (body: string, header: string | undefined) => {
    const r = request(app).post('/v1/webhooks/payments').set('content-type', 'application/json');
    return header === undefined ? r.send(body) : r.set(SIGNATURE_HEADER, header).send(body);
  };

  it('accepts a signed delivery, and a replay or retry of it counts once', async () => {
    const loan = await startLoan();
    const body = JSON.stringify({
      loanId: loan.loanId,
      paymentId: 'WH-1',
      amount: 100000,
      paidAt: '2024-10-29T08:00:00Z',
    });
    await deliver(body, signatureHeader(SECRET, body)).expect(202);
    await deliver(body, signatureHeader(SECRET, body)).expect(202); // the sender retried
    await deliver(body, signatureHeader(OLD_SECRET, body)).expect(202); // signed with the previous secret while rotating
    const status = (await get(`/v1/loans/${loan.loanId}`).expect(200)).body;
    expect(status.payments).toHaveLength(1);
    expect(status.outstanding).toBe(400000);
  });

  it('rejects forged, stale, missing and malformed signatures, and signals nothing', async () => {
    const loan = await startLoan();
    const body = JSON.stringify({
      loanId: loan.loanId,
      paymentId: 'WH-X',
      amount: 500000,
      paidAt: '2024-10-29T08:00:00Z',
    });
    const forged = await deliver(body, signatureHeader('not-the-secret-0123456789abcd', body));
    expectProblem(forged, 401);
    expect(forged.body.detail).toBe('signature does not match');
    const tampered = await deliver(body.replace('500000', '500001'), signatureHeader(SECRET, body));
    expectProblem(tampered, 401);
    const stale = await deliver(body, signatureHeader(SECRET, body, Date.now() - 6 * 60_000));
    expectProblem(stale, 401);
    expect(stale.body.detail).toMatch(/5-minute/);
    expectProblem(await deliver(body, undefined), 401);
    expectProblem(await deliver(body, 't=abc,v1=zz'), 401);
    expect((await get(`/v1/loans/${loan.loanId}`).expect(200)).body.payments).toEqual([]);
  });

  it('validates a correctly signed body like any other', async () => {
    const body = JSON.stringify({ loanId: 'L-1', paymentId: 'WH-2', amount: 'lots', paidAt: 'now' });
    const res = await deliver(body, signatureHeader(SECRET, body));
    expectProblem(res, 400);
    expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['amount', 'paidAt']);
    expectProblem(await deliver('{oops', signatureHeader(SECRET, '{oops')), 400);
  });
});

describe('authentication, limits and operations', () => {
  it('401 without a key or with an unknown one, 403 without the scope; health needs none', async () => {
    expectProblem(await request(app).get('/v1/loans/L-1'), 401);
    expectProblem(await request(app).get('/v1/loans/L-1').set('Authorization', 'Bearer nope'), 401);
    expectProblem(await post('/v1/loans', READER).send(newLoan()), 403);
    expectProblem(await request(app).get('/metrics').set('Authorization', `Bearer ${READER}`), 403);
    await request(app).get('/healthz').expect(200);
    await request(app).get('/v1/loans/NO-SUCH-LOAN').set('X-API-Key', READER).expect(404);
  });

  it('/readyz reports Temporal reachable; /metrics counts requests and loans started', async () => {
    await request(app).get('/readyz').expect(200);
    const m = await request(app).get('/metrics').set('Authorization', `Bearer ${METRICS}`).expect(200);
    expect(m.text).toMatch(/loan_reminders_loans_started_total \d+/);
    expect(m.text).toMatch(/loan_reminders_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/loans"/);
    expect(Number(/loan_reminders_loans_started_total (\d+)/.exec(m.text)![1])).toBeGreaterThan(0);
  });

  it('answers 429 problem+json past the rate limit', async () => {
    const limited = checkedApp({ ...deps, rateLimitPerMinute: 2 });
    for (let i = 0; i < 2; i++)
      await request(limited).get('/v1/loans/NO-SUCH').set('Authorization', `Bearer ${READER}`).expect(404);
    const res = await request(limited).get('/v1/loans/NO-SUCH').set('Authorization', `Bearer ${READER}`);
    expectProblem(res, 429);
  });

  it('sends security headers and a request id, and never logs a name, phone number or key', async () => {
    const res = await request(app).get('/healthz').set('X-Request-Id', 'req-123').expect(200);
    expect(res.headers['x-request-id']).toBe('req-123');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBeDefined();
    await startLoan();
    expect(logged()).toContain('"msg":"loan started"');
    for (const secret of ['13800138000', '张先生', WRITER, READER, SECRET]) expect(logged()).not.toContain(secret);
  });
});

describe('the contract', () => {
  it('lists every route of the app in /openapi.json, with its schema', async () => {
    const doc = (await request(app).get('/openapi.json').expect(200)).body;
    expect(doc.openapi).toBe('3.1.0');
    const documented = new Set(
      Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
        Object.keys(ops).map((m) => `${m} ${p}`),
      ),
    );
    // Every route but the docs page's own static files.
    const served = routePaths(inner).filter((r) => !r.path.startsWith('/docs/'));
    expect(served.length).toBeGreaterThanOrEqual(15);
    for (const r of served) expect(documented).toContain(`${r.method} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    const create = doc.paths['/v1/loans'].post.requestBody.content['application/json'].schema;
    expect(create.properties.borrower.properties.phone.pattern).toBe('^\\+[1-9]\\d{6,14}$');
    expect(create.additionalProperties).toBe(false);
  });

  it('shows an example of POST /v1/loans that starts a loan as it is (Swagger’s Try it out)', async () => {
    const doc = (await request(app).get('/openapi.json').expect(200)).body;
    const example = doc.paths['/v1/loans'].post.requestBody.content['application/json'].example;
    const started = await post('/v1/loans').send(example).expect(201);
    expect(started.body).toMatchObject({ loanId: example.loanId, status: 'active', outstanding: example.amountDue });
    expect(started.body.schedule.length).toBeGreaterThan(0);
    // Sent again as shown, it is answered as the same loan.
    await post('/v1/loans').send(example).expect(200);
  });

  it('describes every answer of the table’s routes with a schema of its own, not a bare object', async () => {
    const doc = (await request(app).get('/openapi.json').expect(200)).body;
    for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, Operation>>))
      for (const [method, op] of Object.entries(operations))
        for (const [status, response] of Object.entries(op.responses)) {
          if (!/^2/.test(status)) continue;
          for (const media of Object.values(response.content ?? {}))
            expect(media.schema.$ref, `${method} ${path} ${status}`).toMatch(/^#\/components\/schemas\//);
        }
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
    expect(doc.paths['/v1/loans'].post.security).toEqual([{ apiKey: ['loans:write'] }]);
    expect(doc.paths['/v1/loans'].post.operationId).toBe('startLoan');
  });

  it('serves a browsable docs page', async () => {
    const page = await request(app).get('/docs').expect(200);
    expect(page.text).toContain('swagger-ui-bundle.js');
    await request(app)
      .get('/docs/swagger-ui-bundle.js')
      .expect(200)
      .expect('content-type', /javascript/);
  });
});

describe('payments are never lost, and never counted twice', () => {
  const pay = (loanId: string, body: object) => post(`/v1/loans/${loanId}/payments`).send(body);
  const webhook = (body: object) => {
    const raw = JSON.stringify(body);
    return request(app)
      .post('/v1/webhooks/payments')
      .set('content-type', 'application/json')
      .set(SIGNATURE_HEADER, signatureHeader(SECRET, raw))
      .send(raw);
  };

  it('refuses a payment id reported again with another amount or time (409 naming it); the same one is a repeat', async () => {
    const loan = await startLoan();
    const first = { paymentId: 'P-1', amount: 100000, paidAt: '2026-11-29T08:00:00Z' };
    expect((await pay(loan.loanId, first).expect(202)).body.recordedAs).toBe('counted');
    expect((await pay(loan.loanId, first).expect(202)).body.recordedAs).toBe('already-counted');
    for (const other of [
      { ...first, amount: 400000 },
      { ...first, paidAt: '2026-11-30T08:00:00Z' },
    ]) {
      const res = await pay(loan.loanId, other);
      expectProblem(res, 409);
      expect(res.body.errors).toEqual([{ field: 'paymentId', message: expect.any(String) }]);
      expectProblem(await webhook({ loanId: loan.loanId, ...other }), 409);
    }
    expect((await get(`/v1/loans/${loan.loanId}`).expect(200)).body).toMatchObject({
      outstanding: 400000,
      payments: [first],
    });
  });

  it.each(['closed', 'paid'] as const)(
    'keeps a payment for a loan that has ended (%s): acknowledged, stored once, counted in the analytics',
    async (how) => {
      const loan = await startLoan(newLoan(14, daytimeZone()));
      if (how === 'closed') await post(`/v1/loans/${loan.loanId}/close`).send({ reason: 'written-off' }).expect(200);
      else {
        await pay(loan.loanId, { paymentId: 'P-ALL', amount: 500000, paidAt: '2026-12-01T07:00:00Z' }).expect(202);
        await env.client.workflow.getHandle(`loan-${loan.loanId}`).result();
      }
      const late = { paymentId: 'P-LATE', amount: 250000, paidAt: '2026-12-01T08:00:00Z' };
      for (let i = 0; i < 2; i++) {
        const res = await pay(loan.loanId, late);
        expect(res.status).toBe(202);
        expect(res.body).toMatchObject({ accepted: true, recordedAs: 'after-end' });
      }
      expect((await webhook({ loanId: loan.loanId, ...late })).status).toBe(202); // the processor's own retry
      expectProblem(await pay(loan.loanId, { ...late, amount: 1 }), 409);
      const stored = (await deps.events!.forLoan(loan.loanId)).filter((e) => e.detail?.afterEnd === true);
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({ kind: 'payment', amount: 250000 });
      const report = await effectiveness(deps.events!, {
        fromMs: Date.now() - 3_600_000,
        toMs: Date.now() + 60_000,
        groupBy: 'stage',
      });
      expect(report.afterEnd.payments).toBeGreaterThanOrEqual(1);
      expect(report.afterEnd.amount.CNY).toBeGreaterThanOrEqual(250000);
    },
  );

  it('refuses (422 naming dueDate) a due date so far back that the loan would end at once, at start and in a change', async () => {
    const old = { ...newLoan(-90) };
    const res = await post('/v1/loans').send(old);
    expectProblem(res, 422);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['dueDate']);
    expect(await workflowExists(env.client, `loan-${old.loanId}`)).toBe(false);

    const loan = await startLoan();
    const change = await patch(`/v1/loans/${loan.loanId}`).send({
      dueDate: localDate(Date.now(), 'Asia/Shanghai', -90),
    });
    expectProblem(change, 422);
    expect(change.body.errors.map((e: { field: string }) => e.field)).toEqual(['dueDate']);
    // The loan goes on, and payments still reach it.
    expect((await get(`/v1/loans/${loan.loanId}`).expect(200)).body.status).toBe('active');
    await pay(loan.loanId, { paymentId: 'P-1', amount: 1000, paidAt: '2026-12-01T08:00:00Z' }).expect(202);
  });
});

describe('replies however worded', () => {
  it.each([
    ['please stop texting me', 'opt-out'],
    ['别再发了', 'opt-out'],
    ['不要再给我发短信', 'opt-out'],
    ['this is harassment', 'unclear-reply'],
    ['I will pay on Friday', 'callback'],
  ])('%j is recorded as %s', async (text, kind) => {
    const loan = await startLoan();
    const res = await post(`/v1/loans/${loan.loanId}/feedback`).send({ kind: 'reply', text });
    expect(res.body.recordedAs).toBe(kind);
    const status = (await get(`/v1/loans/${loan.loanId}`).expect(200)).body;
    if (kind === 'opt-out') expect(status.optedOut).toBe(true);
    if (kind === 'unclear-reply') expect(status).toMatchObject({ status: 'paused', pause: { kind: 'review' } });
    if (kind === 'callback') expect(status).toMatchObject({ status: 'active', optedOut: false });
  });
});

describe('the audit trail', () => {
  it('holds one record for every state-changing request this file made, with its status', async () => {
    const { requests } = await audit.expectRecorded(trail);
    expect(requests).toBeGreaterThan(10);
  });
});
