// The HTTP API against a real Temporal dev server (the CLI), with a real worker behind it.
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Express } from 'express';
import { createActivities } from '../../src/activities';
import { createApp } from '../../src/api/app';
import { createLogger } from '../../src/log';
import {
  DEFAULT_STAGES,
  devServerEnv,
  localDate,
  POLICIES,
  RecordingProvider,
  tempOperations,
  workflowBundle,
} from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let app: Express;
const sms = new RecordingProvider();

beforeAll(async () => {
  env = await devServerEnv();
  const taskQueue = `api-${randomUUID()}`;
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({ sms, operations: tempOperations() }),
  });
  running = worker.run();
  app = createApp({
    client: env.client,
    taskQueue,
    lender: { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' },
    policies: POLICIES,
    log: createLogger('silent'),
  });
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

/** A time zone where it is now daytime, so a thank-you message need not wait for the morning. */
function daytimeZone(): string {
  const zones = [
    'Asia/Shanghai',
    'Europe/Berlin',
    'America/New_York',
    'America/Los_Angeles',
    'Pacific/Auckland',
    'Asia/Kolkata',
  ];
  return zones.find((z) => {
    const hour = Number(
      new Intl.DateTimeFormat('en-GB', { timeZone: z, hour: '2-digit', hourCycle: 'h23' }).format(new Date()),
    );
    return hour >= 9 && hour < 20;
  })!;
}

function newLoan(dueInDays = 14, timezone = 'Asia/Shanghai') {
  return {
    loanId: `L-${randomUUID().slice(0, 8)}`,
    borrower: { name: '张先生', phone: '+8613800138000', locale: 'zh-CN', timezone },
    amountDue: 500000,
    currency: 'CNY',
    dueDate: localDate(Date.now(), timezone, dueInDays),
  };
}

async function workflowExists(workflowId: string): Promise<boolean> {
  return env.client.workflow
    .getHandle(workflowId)
    .describe()
    .then(
      () => true,
      () => false,
    );
}

describe('POST /v1/loans and GET /v1/loans/:loanId', () => {
  it('starts the loan workflow and answers its status from the running workflow', async () => {
    const loan = newLoan();
    const created = await request(app).post('/v1/loans').send(loan).expect(201);
    expect(created.headers.location).toBe(`/v1/loans/${loan.loanId}`);
    expect(created.body).toMatchObject({ loanId: loan.loanId, workflowId: `loan-${loan.loanId}`, status: 'active' });
    expect(created.body.policyId).toBe('default');
    expect(created.body.schedule.map((p: { stage: string }) => p.stage)).toEqual(DEFAULT_STAGES);

    const description = await env.client.workflow.getHandle(`loan-${loan.loanId}`).describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.type).toBe('loanReminder');

    const status = await request(app).get(`/v1/loans/${loan.loanId}`).expect(200);
    expect(status.body).toMatchObject({
      loanId: loan.loanId,
      status: 'active',
      outstanding: 500000,
      currency: 'CNY',
      dueDate: loan.dueDate,
      nextReminderAt: created.body.schedule[0].at,
      messagesSent: [],
    });
    // Status is for the loan system and staff: it carries no name or phone number.
    expect(JSON.stringify(status.body)).not.toContain('13800138000');
    expect(JSON.stringify(status.body)).not.toContain('张先生');
  });

  it('refuses to start the same loan twice', async () => {
    const loan = newLoan();
    await request(app).post('/v1/loans').send(loan).expect(201);
    const again = await request(app).post('/v1/loans').send(loan).expect(409);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('answers 404 problem+json for an unknown loan', async () => {
    const res = await request(app).get('/v1/loans/NO-SUCH-LOAN').expect(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 404, title: 'Not found' });
  });

  it.each([
    [
      'phone',
      (l: ReturnType<typeof newLoan>) => ({ ...l, borrower: { ...l.borrower, phone: '13800138000' } }),
      'borrower.phone',
    ],
    [
      'timezone',
      (l: ReturnType<typeof newLoan>) => ({ ...l, borrower: { ...l.borrower, timezone: 'Mars/Base' } }),
      'borrower.timezone',
    ],
    ['amount', (l: ReturnType<typeof newLoan>) => ({ ...l, amountDue: 12.5 }), 'amountDue'],
    ['date', (l: ReturnType<typeof newLoan>) => ({ ...l, dueDate: '2024-02-30' }), 'dueDate'],
    ['currency', (l: ReturnType<typeof newLoan>) => ({ ...l, currency: 'XXY' }), 'currency'],
    ['unknown field', (l: ReturnType<typeof newLoan>) => ({ ...l, amount: 1 }), '(body)'],
    ['policy', (l: ReturnType<typeof newLoan>) => ({ ...l, policyId: 'no-such-policy' }), 'policyId'],
  ])('rejects a bad %s with a problem naming the field, and starts nothing', async (_what, spoil, field) => {
    const loan = newLoan();
    const res = await request(app).post('/v1/loans').send(spoil(loan)).expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await workflowExists(`loan-${loan.loanId}`)).toBe(false);
  });

  it('answers 415 for a body that is not JSON and 400 for malformed JSON', async () => {
    await request(app).post('/v1/loans').set('content-type', 'text/plain').send('hello').expect(415);
    const res = await request(app)
      .post('/v1/loans')
      .set('content-type', 'application/json')
      .send('{"loanId":')
      .expect(400);
    expect(res.body.title).toBe('Malformed JSON');
  });
});

describe('search attributes', () => {
  it('lets operations filter loans by status, amount and next reminder, with no personal data in them', async () => {
    const big = { ...newLoan(), amountDue: 900000 };
    const small = { ...newLoan(), amountDue: 1000 };
    await request(app).post('/v1/loans').send(big).expect(201);
    await request(app).post('/v1/loans').send(small).expect(201);
    const ids = [big.loanId, small.loanId].map((id) => `'loan-${id}'`).join(', ');
    const query = `LoanStatus = 'active' AND OutstandingAmount > 100000 AND WorkflowId IN (${ids})`;
    const found: string[] = [];
    for (let i = 0; i < 50 && found.length === 0; i++) {
      for await (const w of env.client.workflow.list({ query })) found.push(w.workflowId);
      if (found.length === 0) await new Promise((r) => setTimeout(r, 200)); // visibility is eventually consistent
    }
    expect(found).toEqual([`loan-${big.loanId}`]);
    const description = await env.client.workflow.getHandle(`loan-${big.loanId}`).describe();
    const attrs = description.searchAttributes;
    expect(attrs).toMatchObject({
      LoanStatus: ['active'],
      LoanStage: ['none'],
      PolicyId: ['default'],
      PauseReason: ['none'],
    });
    expect(attrs.NextReminderAt).toHaveLength(1);
    expect(JSON.stringify(attrs)).not.toMatch(/13800138000|张先生/);
  });
});

describe('POST /v1/loans/:loanId/payments', () => {
  it('counts a payment once however often it arrives, and a payment in full completes the loan', async () => {
    const loan = newLoan(14, daytimeZone());
    await request(app).post('/v1/loans').send(loan).expect(201);
    const part = { paymentId: 'P-1', amount: 100000, paidAt: '2024-10-29T08:00:00Z' };
    await request(app).post(`/v1/loans/${loan.loanId}/payments`).send(part).expect(202);
    await request(app).post(`/v1/loans/${loan.loanId}/payments`).send(part).expect(202);
    const mid = await request(app).get(`/v1/loans/${loan.loanId}`).expect(200);
    expect(mid.body).toMatchObject({ status: 'active', outstanding: 400000 });
    expect(mid.body.payments).toHaveLength(1);

    await request(app)
      .post(`/v1/loans/${loan.loanId}/payments`)
      .send({ paymentId: 'P-2', amount: 400000, paidAt: '2024-10-29T09:00:00Z' })
      .expect(202);
    const result = await env.client.workflow.getHandle(`loan-${loan.loanId}`).result();
    expect(result).toMatchObject({ status: 'paid', outstanding: 0, nextReminder: null });
    const after = await request(app).get(`/v1/loans/${loan.loanId}`).expect(200);
    expect(after.body).toMatchObject({ status: 'paid', outstanding: 0, nextReminderAt: null });

    // The loan has ended: a further payment is refused with a reason, not lost silently.
    const late = await request(app)
      .post(`/v1/loans/${loan.loanId}/payments`)
      .send({ paymentId: 'P-3', amount: 1, paidAt: '2024-10-30T09:00:00Z' })
      .expect(409);
    expect(late.body.title).toBe('Loan closed');
    // No reminder was due yet; the only message is the thank-you, sent at once in the borrower's daytime.
    expect(sms.sent.filter((m) => m.loanId === loan.loanId).map((m) => m.stage)).toEqual(['thank-you']);
  });

  it('rejects a malformed payment naming the field, and a payment for an unknown loan with 404', async () => {
    const loan = newLoan();
    await request(app).post('/v1/loans').send(loan).expect(201);
    const bad = await request(app)
      .post(`/v1/loans/${loan.loanId}/payments`)
      .send({ paymentId: 'P-1', amount: -5, paidAt: 'yesterday' })
      .expect(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['amount', 'paidAt']);
    const status = await request(app).get(`/v1/loans/${loan.loanId}`).expect(200);
    expect(status.body.payments).toEqual([]);

    await request(app)
      .post('/v1/loans/NO-SUCH-LOAN/payments')
      .send({ paymentId: 'P-1', amount: 5, paidAt: '2024-10-29T08:00:00Z' })
      .expect(404);
  });
});
