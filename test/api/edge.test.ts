// The API's edges against a real Temporal dev server and worker: the ranges it accepts, what it
// does with a loan it cannot read, rate limits for unknown callers, text that reaches an SMS,
// what it logs, page tokens, methods, caching and the shapes of its answers.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createHttpServer, type AppDeps } from '../../src/api/app';
import { signatureHeader, SIGNATURE_HEADER } from '../../src/api/signature';
import { createLogger } from '../../src/log';
import type { LoanReminderInput } from '../../src/workflows/messages';
import { loanReminder } from '../../src/workflows/loan-reminder';
import { DEFAULT_POLICY, POLICIES, TEST_LENDER } from '../helpers/temporal';
import { until } from '../helpers/stack';
import { openRateLimitStore } from '../../src/store/rate-limit';
import { freshSchema, startPostgres, type TestPostgres } from '../helpers/postgres';
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

const WRITER = 'edge-writer-key-0123456789abcdef';
const SECRET = 'whsec-edge-0123456789abcdef0123';

let server: ApiServer;
let env: TestWorkflowEnvironment;
let app: Express;
let deps: AppDeps;
const logged = () => server.logged();

beforeAll(async () => {
  server = await startApiServer('edge');
  env = server.env;
  deps = {
    client: env.client,
    taskQueue: server.taskQueue,
    lender: TEST_LENDER,
    policies: POLICIES,
    log: createLogger('info', 'api-edge-test', server.logStream),
    apiKeys: [{ name: 'ledger', key: WRITER, scopes: ['loans:write', 'loans:read', 'analytics:read'] }],
    webhookSecrets: [SECRET],
    rateLimitPerMinute: 100_000,
  };
  app = checkedApp(deps);
});

afterAll(async () => {
  await server?.stop();
});

const newLoan = (dueInDays = 14, timezone = 'Asia/Shanghai') => loanDueIn('E', dueInDays, timezone);

const { post, get, patch } = withKey(() => app, WRITER);

async function startLoan(loan = newLoan()) {
  await post('/v1/loans').send(loan).expect(201);
  return loan;
}

function expectProblem(res: request.Response, status: number, field?: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, title: expect.any(String), type: expect.any(String) });
  if (field !== undefined) expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
}

describe('dates and instants lie in the stated range', () => {
  const badDueDates = ['0000-01-01', '0001-01-01', '1999-12-31', '2100-01-01', '9999-12-31'];
  it.each(badDueDates)('refuses the due date %s before starting anything', async (dueDate) => {
    const loan = { ...newLoan(), dueDate };
    expectProblem(await post('/v1/loans').send(loan), 400, 'dueDate');
    expect(await workflowExists(env.client, `loan-${loan.loanId}`)).toBe(false);
  });

  it('accepts the bounds themselves', async () => {
    // 2099-12-31 is far ahead; the loan starts and waits.
    await post('/v1/loans')
      .send({ ...newLoan(), dueDate: '2099-12-31' })
      .expect(201);
  });

  it('refuses out-of-range dates and instants on every other route', async () => {
    const loan = await startLoan();
    expectProblem(await patch(`/v1/loans/${loan.loanId}`).send({ dueDate: '0000-01-01' }), 400, 'dueDate');
    const pay = { paymentId: 'P-R', amount: 1, paidAt: '0000-01-01T00:00:00Z' };
    expectProblem(await post(`/v1/loans/${loan.loanId}/payments`).send(pay), 400, 'paidAt');
    expectProblem(
      await post(`/v1/loans/${loan.loanId}/payments`).send({ ...pay, paidAt: '2100-01-01T00:00:00Z' }),
      400,
      'paidAt',
    );
    const hook = JSON.stringify({ loanId: loan.loanId, ...pay });
    expectProblem(
      await request(app)
        .post('/v1/webhooks/payments')
        .set('content-type', 'application/json')
        .set(SIGNATURE_HEADER, signatureHeader(SECRET, hook))
        .send(hook),
      400,
      'paidAt',
    );
    const url = `/v1/loans/${loan.loanId}/feedback`;
    expectProblem(await post(url).send({ kind: 'callback', at: '1970-01-01T00:00:00Z' }), 400, 'at');
    expectProblem(await post(url).send({ kind: 'promise-to-pay', date: '0000-01-01' }), 400, 'date');
    expectProblem(await get('/v1/analytics/effectiveness?from=0000-01-01&to=0000-02-01'), 400, 'from');
    expectProblem(await get('/v1/analytics/effectiveness?to=0000-01-01T00:00:00Z'), 400, 'to');
    expect((await get(`/v1/loans/${loan.loanId}`).expect(200)).body).toMatchObject({ payments: [], answers: [] });
  });
});

describe('a loan whose workflow cannot run', () => {
  it('answers a clear 503 problem to its readers, never a 500', async () => {
    // Started past the API's checks with a zone no calendar knows: the worker fails its first task
    // on every attempt.
    const fresh = newLoan();
    const loan = { ...fresh, borrower: { ...fresh.borrower, timezone: 'Mars/Olympus_Mons' } };
    const input: LoanReminderInput = { loan, lender: TEST_LENDER, policy: DEFAULT_POLICY };
    await env.client.workflow.start(loanReminder, {
      workflowId: `loan-${loan.loanId}`,
      taskQueue: deps.taskQueue,
      args: [input],
    });
    await until(
      'its workflow task to fail',
      async () =>
        (await env.client.workflow.getHandle(`loan-${loan.loanId}`).fetchHistory()).events?.some(
          (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        ) ?? false,
      30_000,
    );
    const res = await get(`/v1/loans/${loan.loanId}`);
    expectProblem(res, 503);
    expect(res.body.type).toBe('urn:loan-reminders:problem:loan-unreadable');
    expect(res.headers['retry-after']).toBeDefined();
    expect(JSON.stringify(res.body)).not.toContain('FAILED_PRECONDITION');
    await env.client.workflow.getHandle(`loan-${loan.loanId}`).terminate('test over');
  });

  it('a due date the server cannot index (year 0000) no longer fails the loan: it runs, without that attribute', async () => {
    const loan = { ...newLoan(), dueDate: '0000-01-01' };
    const input: LoanReminderInput = { loan, lender: TEST_LENDER, policy: DEFAULT_POLICY };
    await env.client.workflow.start(loanReminder, {
      workflowId: `loan-${loan.loanId}`,
      taskQueue: deps.taskQueue,
      args: [input],
    });
    await until('the loan to answer', async () => (await get(`/v1/loans/${loan.loanId}`)).status === 200, 30_000);
    const history = await env.client.workflow.getHandle(`loan-${loan.loanId}`).fetchHistory();
    expect(
      history.events?.some((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED),
    ).toBe(false);
    await env.client.workflow.getHandle(`loan-${loan.loanId}`).terminate('test over');
  });
});

describe('time zones are IANA names', () => {
  const hostZones = ['system', 'default', 'local', 'UTC+8', 'GMT-5', 'Local'];
  it.each(hostZones)('refuses %s at the start and in a change', async (timezone) => {
    const loan = newLoan();
    expectProblem(
      await post('/v1/loans').send({ ...loan, borrower: { ...loan.borrower, timezone } }),
      400,
      'borrower.timezone',
    );
    expect(await workflowExists(env.client, `loan-${loan.loanId}`)).toBe(false);
  });

  it('refuses them in a change too, and takes UTC and Etc/ zones', async () => {
    const loan = await startLoan();
    for (const timezone of hostZones)
      expectProblem(await patch(`/v1/loans/${loan.loanId}`).send({ borrower: { timezone } }), 400, 'borrower.timezone');
    await patch(`/v1/loans/${loan.loanId}`)
      .send({ borrower: { timezone: 'Etc/GMT-8' } })
      .expect(200);
    await patch(`/v1/loans/${loan.loanId}`)
      .send({ borrower: { timezone: 'UTC' } })
      .expect(200);
    await startLoan(newLoan(14, 'America/Argentina/Buenos_Aires'));
  });
});

describe('text that reaches an SMS', () => {
  const hostile = [
    'Mr\nSmith',
    'Mr\u202Eevil',
    'Mr\u0000',
    'Mr {{amount}}',
    'visit http://x.io',
    'www.pay-here.com',
    'pay.example.io',
    'x.io',
    'Mr\u200B',
  ];
  const withHonorific = (honorific: string) => {
    const loan = newLoan();
    return { ...loan, borrower: { ...loan.borrower, honorific } };
  };
  const withLender = (name: { 'zh-CN': string; 'en-US': string }, contactPhone = '400 123 4567') => ({
    ...newLoan(),
    lender: { name, contactPhone },
  });
  it.each(hostile)('refuses the honorific %j', async (value) => {
    const loan = withHonorific(value);
    expectProblem(await post('/v1/loans').send(loan), 400, 'borrower.honorific');
    expect(await workflowExists(env.client, `loan-${loan.loanId}`)).toBe(false);
  });
  it.each(hostile)('refuses the lender name %j in either locale', async (value) => {
    expectProblem(
      await post('/v1/loans').send(withLender({ 'zh-CN': value, 'en-US': 'Jincheng' })),
      400,
      'lender.name.zh-CN',
    );
    expectProblem(
      await post('/v1/loans').send(withLender({ 'zh-CN': '锦程', 'en-US': value })),
      400,
      'lender.name.en-US',
    );
  });
  it.each(['x.io', 'pay.example.io', 'Zhang\u202E', 'www.x.cn'])('refuses the borrower name %j', async (name) => {
    const loan = newLoan();
    expectProblem(
      await post('/v1/loans').send({ ...loan, borrower: { ...loan.borrower, name } }),
      400,
      'borrower.name',
    );
  });
  const badPhones = ['--- ---', '+', '4001234567\n', '400{{x}}', '400.123.4567', '+ 400', '400--123', 'http://x.io'];
  it.each(badPhones)('refuses the lender contact phone %j', async (contactPhone) => {
    expectProblem(
      await post('/v1/loans').send(withLender({ 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone)),
      400,
      'lender.contactPhone',
    );
  });
  it('takes ordinary honorifics, lender names and phone numbers', async () => {
    await post('/v1/loans').send(withHonorific('Ms')).expect(201);
    await post('/v1/loans').send(withHonorific('先生')).expect(201);
    await post('/v1/loans').send(withHonorific('Dr.')).expect(201);
    await post('/v1/loans')
      .send(withLender({ 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance Co., Ltd. (360)' }, '+86 400-123-4567'))
      .expect(201);
    await post('/v1/loans')
      .send(withLender({ 'zh-CN': '锦程金融', 'en-US': 'O’Brien & Sons' }, '4001234567'))
      .expect(201);
  });
});

describe('rate limits for unknown callers', () => {
  const routes: Array<[string, (a: Express, auth: string) => request.Test]> = [
    ['GET /v1/loans', (a, auth) => request(a).get('/v1/loans').set('Authorization', auth)],
    [
      'POST /v1/webhooks/payments',
      (a, auth) =>
        request(a)
          .post('/v1/webhooks/payments')
          .set('Authorization', auth)
          .set('content-type', 'application/json')
          .send('{}'),
    ],
    [
      'POST /v1/webhooks/sms/twilio/status',
      (a, auth) => request(a).post('/v1/webhooks/sms/twilio/status').set('Authorization', auth).send('x=1'),
    ],
    [
      'POST /v1/webhooks/sms/aliyun/inbound',
      (a, auth) => request(a).post('/v1/webhooks/sms/aliyun/inbound').set('X-API-Key', auth).send('[]'),
    ],
  ];
  it.each(routes)('counts made-up keys against the address on %s', async (_route, send) => {
    const limited = checkedApp({ ...deps, rateLimitPerMinute: 30 });
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) statuses.push((await send(limited, `Bearer ${randomUUID()}${randomUUID()}`)).status);
    expect(statuses.slice(0, 30)).not.toContain(429);
    expect(statuses.slice(30)).toEqual(Array(30).fill(429));
    // A known key still has its own allowance.
    await request(limited).get('/v1/loans/NO-SUCH').set('Authorization', `Bearer ${WRITER}`).expect(404);
  });
});

describe('one rate limit for every instance', () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(() => pg?.stop());

  it('two API instances on one database give a caller one allowance, made-up keys by address', async () => {
    const at = { databaseUrl: await freshSchema(pg.url) };
    const stores = [openRateLimitStore(at), openRateLimitStore(at)];
    const [a, b] = stores.map((rateLimitStore) => checkedApp({ ...deps, rateLimitPerMinute: 20, rateLimitStore }));
    const statuses: number[] = [];
    // A load balancer sends the caller to each instance in turn; each request with a fresh made-up key.
    for (let i = 0; i < 40; i++)
      statuses.push(
        (
          await request(i % 2 ? b : a)
            .get('/v1/loans/L-1')
            .set('Authorization', `Bearer ${randomUUID()}${randomUUID()}`)
        ).status,
      );
    expect(statuses.slice(0, 20)).not.toContain(429);
    expect(statuses.slice(20)).toEqual(Array(20).fill(429));
    // A known key has its own allowance, on either instance.
    await request(b).get('/v1/loans/NO-SUCH').set('Authorization', `Bearer ${WRITER}`).expect(404);
    await Promise.all(stores.map((s) => s.shutdown()));
  });
});

describe('query strings are neither logged() nor echoed', () => {
  const keyNames = ['api_key', 'apikey', 'API-KEY', 'key', 'token', 'access_token', 'x-api-key', 'auth', 'api_key[]'];
  it.each(keyNames)('refuses a key in ?%s without repeating it', async (name) => {
    const before = logged().length;
    for (const path of ['/v1/loans', '/v1/loans/L-1', '/healthz', '/dashboard/', '/v1/webhooks/payments']) {
      const res = await request(app)
        .get(`${path}?pageSize=5&${encodeURIComponent(name)}=${WRITER}`)
        .set('Authorization', `Bearer ${WRITER}`);
      expectProblem(res, 400, name);
      expect(res.text).not.toContain(WRITER);
      expect(res.body.instance).toBe(path);
    }
    expect(logged().slice(before)).not.toContain(WRITER);
  });

  it('logs the path and the parameter names, never a value, and keeps it out of the problem', async () => {
    const before = logged().length;
    const res = await get('/v1/loans?status=active&phone=%2B8613912345678');
    expectProblem(res, 400);
    expect(res.text).not.toContain('13912345678');
    expect(res.body.instance).toBe('/v1/loans');
    await get('/v1/loans?status=active&pageSize=7').expect(200);
    const lines = logged().slice(before);
    expect(lines).toContain('/v1/loans');
    expect(lines).toContain('phone');
    expect(lines).not.toContain('13912345678');
    expect(lines).not.toContain('active');
    expect(lines).not.toMatch(/pageSize=7/);
  });

  it("still takes the SMS gateways' callback token in the query, and keeps it out of the log", async () => {
    const before = logged().length;
    const res = await request(app).post('/v1/webhooks/sms/aliyun/inbound?token=callback-secret-xyz').send('[]');
    expect(res.status).not.toBe(400);
    expect(logged().slice(before)).not.toContain('callback-secret-xyz');
  });
});

describe('page tokens are the API’s own', () => {
  /** A real token for the listing with these filters: two loans started, read until a second page exists. */
  async function realToken(query: string): Promise<string> {
    await startLoan();
    await startLoan();
    let token: string | null = null;
    await until(
      'a second page',
      async () => {
        token = (await get(`/v1/loans?${query}`).expect(200)).body.nextPageToken;
        return token !== null;
      },
      20_000,
      200,
    );
    return token!;
  }

  it('refuses a forged token at once, without asking Temporal', async () => {
    for (const forged of ['AAAA', 'Zm9yZ2Vk', 'x'.repeat(300), `${Buffer.alloc(40).toString('base64url')}`]) {
      const started = Date.now();
      const res = await get(`/v1/loans?pageToken=${forged}`);
      expectProblem(res, 400, 'pageToken');
      expect(Date.now() - started).toBeLessThan(1000);
    }
  });

  it('takes its own token, on another API instance with the same configuration too, and refuses it tampered or with other filters', async () => {
    const token = await realToken('pageSize=1&policyId=default');
    await get(`/v1/loans?pageSize=1&policyId=default&pageToken=${token}`).expect(200);
    await request(checkedApp(deps))
      .get(`/v1/loans?pageSize=1&policyId=default&pageToken=${token}`)
      .set('Authorization', `Bearer ${WRITER}`)
      .expect(200);
    const flipped = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1);
    for (const [query, what] of [
      [`pageSize=1&policyId=default&pageToken=${flipped}`, 'tampered'],
      [`pageSize=1&policyId=default&status=paid&pageToken=${token}`, 'another filter'],
      [`pageSize=1&pageToken=${token}`, 'a filter dropped'],
    ]) {
      const started = Date.now();
      const res = await get(`/v1/loans?${query}`);
      expectProblem(res, 400, 'pageToken');
      expect(Date.now() - started, what).toBeLessThan(1000);
    }
    // An API configured with other secrets did not issue it.
    const other = checkedApp({ ...deps, webhookSecrets: ['another-secret-0123456789abcdef'] });
    expectProblem(
      await request(other)
        .get(`/v1/loans?pageSize=1&policyId=default&pageToken=${token}`)
        .set('Authorization', `Bearer ${WRITER}`),
      400,
      'pageToken',
    );
  });
});

describe('methods, and errors from the HTTP parser', () => {
  it('answers a wrong method on a known path with 405 and Allow, and OPTIONS with Allow', async () => {
    const cases: Array<[string, string, string]> = [
      ['post', '/v1/loans/L-1', 'GET, HEAD, PATCH'],
      ['delete', '/v1/loans', 'GET, HEAD, POST'],
      ['put', '/v1/loans/L-1/payments', 'POST'],
      ['get', '/v1/webhooks/payments', 'POST'],
      ['delete', '/healthz', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const agent = request(app) as unknown as Record<string, (p: string) => request.Test>;
      const res = await agent[method](path).set('Authorization', `Bearer ${WRITER}`);
      expectProblem(res, 405);
      expect(res.headers.allow, `${method} ${path}`).toBe(allow);
    }
    const options = await request(app).options('/v1/loans/L-1');
    expect(options.status).toBe(204);
    expect(options.headers.allow).toBe('GET, HEAD, PATCH, OPTIONS');
    expectProblem(await request(app).delete('/v1/no-such-thing').set('Authorization', `Bearer ${WRITER}`), 404);
    expectProblem(await request(app).options('/v1/no-such-thing'), 404);
  });

  async function raw(requestText: string): Promise<string> {
    const server = createHttpServer(app);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const { port } = server.address() as AddressInfo;
    try {
      return await new Promise<string>((ok, fail) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(requestText));
        let answer = '';
        socket.on('data', (d) => (answer += String(d)));
        socket.on('end', () => ok(answer));
        socket.on('error', fail);
      });
    } finally {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    }
  }

  const problemOf = (answer: string) => {
    const [head, body] = answer.split('\r\n\r\n');
    expect(head).toMatch(/content-type: application\/problem\+json/i);
    return { status: Number(head.split(' ')[1]), body: JSON.parse(body) as { status: number; title: string } };
  };

  it('answers headers too large with 431 problem+json', async () => {
    const answer = await raw(`GET /v1/loans HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    const p = problemOf(answer);
    expect(p.status).toBe(431);
    expect(p.body).toMatchObject({ status: 431, title: expect.any(String) });
  });

  it('answers a request with both Transfer-Encoding and Content-Length with 400 problem+json', async () => {
    const answer = await raw(
      'POST /v1/loans HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
    );
    const p = problemOf(answer);
    expect(p.status).toBe(400);
    expect(p.body).toMatchObject({ status: 400 });
  });
});

describe('caching', () => {
  it('marks every /v1 answer no-store', async () => {
    const loan = await startLoan();
    const answers = [
      await get(`/v1/loans/${loan.loanId}`).expect(200),
      await get('/v1/loans').expect(200),
      await get('/v1/loans/NO-SUCH'),
      await request(app).get(`/v1/loans/${loan.loanId}`),
      await post('/v1/loans').send(newLoan()).expect(201),
      await post(`/v1/loans/${loan.loanId}/feedback`).send({ kind: 'callback' }),
      await get('/v1/loans?api_key=x'),
      await get('/v1/nothing-here'),
    ];
    answers.forEach((res, i) => expect(res.headers['cache-control'], `answer ${i}`).toBe('no-store'));
  });
});

describe('the shapes of the answers', () => {
  it('lists the due date as the calendar date in the borrower’s zone, as the loan itself does', async () => {
    const zones = [
      'Asia/Shanghai',
      'America/New_York',
      'Pacific/Auckland',
      'Pacific/Honolulu',
      'Pacific/Chatham',
      'UTC',
      'America/Santiago',
      'Asia/Kolkata',
    ];
    const base = 700_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
    const loans = await Promise.all(
      zones.map((zone, i) => startLoan({ ...newLoan(14 + i, zone), amountDue: base + i })),
    );
    let items: Array<{ loanId: string; dueDate: string }> = [];
    await until(
      'every loan listed',
      async () => {
        items = (await get(`/v1/loans?minOutstanding=${base}&maxOutstanding=${base + 9}`).expect(200)).body.items;
        return items.length === loans.length;
      },
      20_000,
      200,
    );
    const listed = Object.fromEntries(items.map((x) => [x.loanId, x.dueDate]));
    expect(listed).toEqual(Object.fromEntries(loans.map((l) => [l.loanId, l.dueDate])));
  });

  it('answers a repeated start in the shape of the first', async () => {
    const loan = newLoan();
    const created = (await post('/v1/loans').send(loan).expect(201)).body;
    const again = (await post('/v1/loans').send(loan).expect(200)).body;
    expect(Object.keys(again).sort()).toEqual(Object.keys(created).sort());
    expect(again).toMatchObject({
      loanId: loan.loanId,
      workflowId: `loan-${loan.loanId}`,
      runId: created.runId,
      status: 'active',
      policyId: 'default',
      schedule: created.schedule,
      skipped: [],
    });
  });

  it('says which reminders were skipped because their time had passed at the start', async () => {
    // Due two days ago: the pre-due and due reminders have passed; the overdue one goes out late.
    const loan = newLoan(-2, 'Asia/Shanghai');
    const created = (await post('/v1/loans').send(loan).expect(201)).body;
    expect(created.skipped).toEqual([
      { stage: 'pre-due', template: 'pre-due', plannedFor: expect.any(String), reason: expect.any(String) },
      { stage: 'due', template: 'due', plannedFor: expect.any(String), reason: expect.any(String) },
    ]);
    for (const s of created.skipped as Array<{ plannedFor: string }>)
      expect(Date.parse(s.plannedFor)).toBeLessThan(Date.now());
    expect(created.schedule[0].stage).toBe('overdue');
    const again = (await post('/v1/loans').send(loan).expect(200)).body;
    expect(again.skipped.map((s: { stage: string }) => s.stage)).toEqual(['pre-due', 'due']);
    expect(again.skipped[0].plannedFor).toBe(created.skipped[0].plannedFor);
  });
});

describe('the audit trail', () => {
  it('holds one record for every state-changing request this file made, with its status', async () => {
    const { requests } = await audit.expectRecorded(trail);
    expect(requests).toBeGreaterThan(10);
  });
});
