// What the SMS gateways push back, against a real dev server and worker: borrowers' replies
// (opt-out by STOP / 退订, other text to operations) found through the keyed phone index, and
// delivery receipts recorded against the send, a final failure reaching the loan.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { Express } from 'express';
import request from 'supertest';
import twilio from 'twilio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { createApp } from '../../src/api/app';
import { parseReceipts, parseReplies } from '../../src/api/sms-webhooks';
import { createLogger } from '../../src/log';
import type { OutgoingSms, SmsProvider, SmsReceipt } from '../../src/sms/provider';
import { SqlitePhoneIndex } from '../../src/store/phone-index';
import { SqliteSendLedger } from '../../src/store/send-ledger';
import { createWorkers } from '../../src/worker';
import {
  devServerEnv,
  localDate,
  POLICIES,
  tempOperations,
  workflowBundle,
  zoneWithLocalHour,
} from '../helpers/temporal';
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

const KEY = 'sms-webhook-test-key-0123456789ab';
const TWILIO_TOKEN = 'twilio-auth-token-for-tests';
const CALLBACK_TOKEN = 'callback-token-0123456789abcdef';
const PUBLIC = 'https://reminders.example.test';

/** Stands for Twilio having accepted the message (the adapter itself is tested against its API). */
class AcceptingTwilio implements SmsProvider {
  readonly name = 'twilio';
  readonly sent: OutgoingSms[] = [];
  async send(m: OutgoingSms): Promise<SmsReceipt> {
    this.sent.push(m);
    return {
      messageId: `SM${this.sent.length}${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      sentAt: new Date().toISOString(),
      duplicate: false,
    };
  }
}

let env: TestWorkflowEnvironment;
let workers: Worker[] = [];
let running: Promise<unknown>;
let app: Express;
const ledger = new SqliteSendLedger(':memory:');
const index = new SqlitePhoneIndex(':memory:', 'phone-index-key-0123456789abcdef0123');
const provider = new AcceptingTwilio();

beforeAll(async () => {
  env = await devServerEnv();
  const taskQueue = `smshooks-${randomUUID()}`;
  workers = await createWorkers({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({ sms: provider, operations: tempOperations(), ledger }),
  });
  running = Promise.all(workers.map((w) => w.run()));
  app = checkedApp({
    client: env.client,
    taskQueue,
    lender: { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' },
    policies: POLICIES,
    log: createLogger('silent'),
    apiKeys: [{ name: 'ledger', key: KEY, scopes: ['loans:write', 'loans:read', 'metrics:read'] }],
    webhookSecrets: ['unused-secret-0123456789abcdef'],
    sms: {
      ledger,
      phoneIndex: index,
      auth: { twilioAuthToken: TWILIO_TOKEN, publicBaseUrl: PUBLIC, callbackToken: CALLBACK_TOKEN },
    },
  });
});

afterAll(async () => {
  for (const w of workers) w.shutdown();
  await running;
  await env?.teardown();
});

/** A zone where it is now between 10:00 and 20:00, so a loan due today is reminded at once. */
const lateMorningZone = () => zoneWithLocalHour(10, 20);

async function startLoan(phone: string, dueInDays = 14, timezone = 'Asia/Shanghai') {
  const loan = {
    loanId: `L-${randomUUID().slice(0, 8)}`,
    borrower: { name: '张先生', phone, locale: 'zh-CN', timezone },
    amountDue: 500000,
    currency: 'CNY',
    dueDate: localDate(Date.now(), timezone, dueInDays),
  };
  await request(app).post('/v1/loans').set('Authorization', `Bearer ${KEY}`).send(loan).expect(201);
  return loan.loanId;
}

const status = async (loanId: string) =>
  (await request(app).get(`/v1/loans/${loanId}`).set('Authorization', `Bearer ${KEY}`).expect(200)).body;

function twilioPost(path: string, params: Record<string, string>, signWith = TWILIO_TOKEN) {
  const signature = twilio.getExpectedTwilioSignature(signWith, `${PUBLIC}${path}`, params);
  return request(app).post(path).type('form').set('X-Twilio-Signature', signature).send(params);
}

describe('replies', () => {
  it('a signed Twilio STOP opts the borrower out of every open loan on that number', async () => {
    const phone = `+1202555${String(Math.floor(Math.random() * 9000) + 1000)}`;
    const [a, b] = [await startLoan(phone), await startLoan(phone)];
    const other = await startLoan('+12025550199');
    const res = await twilioPost('/v1/webhooks/sms/twilio/inbound', {
      From: phone,
      Body: 'Stop',
      MessageSid: 'SM-in-1',
    }).expect(200);
    expect(res.text).toContain('<Response>');
    for (const id of [a, b]) expect((await status(id)).optedOut).toBe(true);
    expect((await status(other)).optedOut).toBe(false);
  });

  it('refuses a reply with a forged Twilio signature, and changes nothing', async () => {
    const phone = '+12025550142';
    const id = await startLoan(phone);
    const res = await twilioPost('/v1/webhooks/sms/twilio/inbound', { From: phone, Body: 'STOP' }, 'not-the-token');
    expect(res.status).toBe(401);
    expect((await status(id)).optedOut).toBe(false);
  });

  it('an Aliyun 退订 with the callback token opts out; without the token it is refused', async () => {
    const id = await startLoan('+8613800138077');
    const body = [{ phone_number: '13800138077', content: '退订', send_time: '2024-10-30 10:05:00', sequence_id: 1 }];
    await request(app).post('/v1/webhooks/sms/aliyun/inbound').send(body).expect(401);
    expect((await status(id)).optedOut).toBe(false);
    const res = await request(app)
      .post(`/v1/webhooks/sms/aliyun/inbound?token=${CALLBACK_TOKEN}`)
      .send(body)
      .expect(200);
    expect(res.body).toEqual({ code: 0, msg: '成功' });
    expect((await status(id)).optedOut).toBe(true);
  });

  it('a Tencent reply that is not an opt-out goes to operations and reminders go on', async () => {
    const id = await startLoan('+8613800138066');
    const body = {
      extend: '',
      mobile: '13800138066',
      nationcode: '86',
      sign: '锦程金融',
      text: '我下周一还款',
      time: 1730000000,
    };
    await request(app).post(`/v1/webhooks/sms/tencent/inbound?token=${CALLBACK_TOKEN}`).send(body).expect(200);
    const s = await status(id);
    expect(s.optedOut).toBe(false);
    expect(s.answers).toEqual([expect.objectContaining({ kind: 'callback', note: '我下周一还款' })]);
  });

  it('keeps no number in an answer id, whatever the provider builds it from; a repeated delivery counts once', async () => {
    const national = `139${String(Math.floor(Math.random() * 9e7) + 1e7)}`;
    const id = await startLoan(`+86${national}`);
    const tencent = {
      extend: '',
      mobile: national,
      nationcode: '86',
      sign: '锦程金融',
      text: '明天还',
      time: 1730000123,
    };
    const aliyun = [{ phone_number: national, content: '后天还', send_time: '2024-10-30 10:05:00', sequence_id: 77 }];
    for (let i = 0; i < 2; i++) {
      await request(app).post(`/v1/webhooks/sms/tencent/inbound?token=${CALLBACK_TOKEN}`).send(tencent).expect(200);
      await request(app).post(`/v1/webhooks/sms/aliyun/inbound?token=${CALLBACK_TOKEN}`).send(aliyun).expect(200);
    }
    const { answers } = (await status(id)) as { answers: Array<{ answerId?: string; note?: string }> };
    expect(answers.map((a) => a.note)).toEqual(['明天还', '后天还']);
    for (const a of answers) {
      expect(a.answerId).toMatch(/^(tencent|aliyun):[0-9a-f]{64}$/);
      // A keyed hash (64 hex digits) holds no run of the number or the time but by chance (an
      // 11-digit run in 64 hex digits: about 3 in a trillion); Aliyun's short sequence id (77) could
      // appear in one, so the shape above is what proves it was not kept.
      for (const leak of [national, '1730000123']) expect(a.answerId).not.toContain(leak);
    }
    // Twilio's id carries no number, but no provider's id is kept as given.
    const phone = `+1202555${String(Math.floor(Math.random() * 9000) + 1000)}`;
    const twilioLoan = await startLoan(phone);
    const params = { From: phone, Body: 'call me', MessageSid: `SM${randomUUID().replace(/-/g, '')}` };
    await twilioPost('/v1/webhooks/sms/twilio/inbound', params).expect(200);
    await twilioPost('/v1/webhooks/sms/twilio/inbound', params).expect(200);
    const twilioAnswers = (await status(twilioLoan)).answers as Array<{ answerId: string }>;
    expect(twilioAnswers).toHaveLength(1);
    expect(twilioAnswers[0].answerId).toMatch(/^twilio:[0-9a-f]{64}$/);
    expect(twilioAnswers[0].answerId).not.toContain(params.MessageSid);
  });

  it('reads the local outbox’s own callbacks (for rehearsals), behind the same token', async () => {
    const json = (v: unknown) => Buffer.from(JSON.stringify(v));
    expect(
      parseReceipts('outbox', json([{ message_id: 'm-1', status: 'failed', error: 'off' }]), 'application/json'),
    ).toEqual([{ providerMessageId: 'm-1', status: 'failed', error: 'off', permanent: false }]);
    const replies = parseReplies(
      'outbox',
      json({ from: '+86 139 0000 0001', text: 'STOP', id: 'r-1' }),
      'application/json',
      (p, v) => `${p}|${v}`,
    );
    expect(replies).toEqual([{ phone: '8613900000001', text: 'STOP', answerId: 'outbox:sms-reply:outbox|r-1' }]);
    expect(() => parseReceipts('outbox', json([{ message_id: 'm-1', status: 'maybe' }]), 'application/json')).toThrow(
      /not an outbox delivery report/,
    );
    await request(app).post('/v1/webhooks/sms/outbox/status?token=wrong').type('json').send([]).expect(401);
  });

  it('answers 404 for an unknown provider', async () => {
    await request(app).post(`/v1/webhooks/sms/carrier-pigeon/inbound?token=${CALLBACK_TOKEN}`).send({}).expect(404);
  });
});

describe('delivery receipts', () => {
  it('records a receipt against its send, and a final failure to an unreachable number stops texting it', async () => {
    const id = await startLoan('+12025550177', 0, lateMorningZone());
    // The due-day reminder goes out at once (it is today, inside the window).
    let s = await status(id);
    for (let i = 0; i < 100 && s.messagesSent.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await status(id);
    }
    expect(s.messagesSent).toHaveLength(1);
    const key = `${id}:${s.messagesSent[0].key}`;
    const sid = (await ledger.get(key))!.providerMessageId!;

    await twilioPost('/v1/webhooks/sms/twilio/status', { MessageSid: sid, MessageStatus: 'sent' }).expect(200);
    expect((await ledger.get(key))!.deliveryStatus).toBeNull(); // not final yet
    await twilioPost('/v1/webhooks/sms/twilio/status', {
      MessageSid: sid,
      MessageStatus: 'undelivered',
      ErrorCode: '30003',
    }).expect(200);
    expect(await ledger.get(key)).toMatchObject({ deliveryStatus: 'failed', deliveryError: '30003' });
    s = await status(id);
    expect(s).toMatchObject({ numberBlocked: true, pause: { kind: 'undeliverable' } });
    expect(s.failed).toEqual([expect.objectContaining({ stage: 'due', reason: 'not delivered: 30003' })]);
  });

  it('a delivered receipt is recorded and changes nothing for the loan', async () => {
    const id = await startLoan('+12025550178', 0, lateMorningZone());
    let s = await status(id);
    for (let i = 0; i < 100 && s.messagesSent.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await status(id);
    }
    const key = `${id}:${s.messagesSent[0].key}`;
    const sid = (await ledger.get(key))!.providerMessageId!;
    await twilioPost('/v1/webhooks/sms/twilio/status', { MessageSid: sid, MessageStatus: 'delivered' }).expect(200);
    expect((await ledger.get(key))!.deliveryStatus).toBe('delivered');
    expect((await status(id)).failed).toEqual([]);
  });
});

describe('callbacks the provider’s format cannot read', () => {
  const rejected = async (provider: string, kind: string): Promise<number> => {
    const text = (await request(app).get('/metrics').set('Authorization', `Bearer ${KEY}`).expect(200)).text;
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`loan_reminders_sms_callbacks_rejected_total{provider="${provider}",kind="${kind}"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  };
  const post = (provider: string, kind: string) =>
    request(app).post(`/v1/webhooks/sms/${provider}/${kind}?token=${CALLBACK_TOKEN}`);

  it('answers 400 problem+json, acknowledges nothing, and counts each by provider and kind', async () => {
    const cases: Array<[string, string, () => request.Test]> = [
      ['aliyun', 'status', () => post('aliyun', 'status').type('json').send('{"biz_id": ')],
      ['aliyun', 'status', () => post('aliyun', 'status').send([{ report: 'delivered' }])],
      ['aliyun', 'status', () => post('aliyun', 'status').send([])],
      ['aliyun', 'status', () => post('aliyun', 'status').send({ biz_id: '1^2', success: 'maybe' })],
      ['aliyun', 'inbound', () => post('aliyun', 'inbound').send([{ content: '退订' }])],
      ['aliyun', 'inbound', () => post('aliyun', 'inbound').type('form').send('phone_number=13800138077&content=TD')],
      ['aliyun', 'inbound', () => post('aliyun', 'inbound').send('"just a string"').type('json')],
      ['tencent', 'status', () => post('tencent', 'status').send([{ mobile: '13800138000' }])],
      ['tencent', 'status', () => post('tencent', 'status').type('text/plain').send('report_status=SUCCESS')],
      ['tencent', 'inbound', () => post('tencent', 'inbound').send({ nationcode: '86', text: 'hi' })],
      ['tencent', 'inbound', () => post('tencent', 'inbound').send({ mobile: '13800138000', text: 42 })],
    ];
    for (const [provider, kind, send] of cases) {
      const before = await rejected(provider, kind);
      const res = await send();
      expect(res.status, `${provider} ${kind}: ${res.text}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.text).not.toContain('成功');
      expect(await rejected(provider, kind)).toBe(before + 1);
    }
  });

  it('a signed Twilio callback without its fields, or not a form, is a 400 too', async () => {
    const before = [await rejected('twilio', 'status'), await rejected('twilio', 'inbound')];
    expect((await twilioPost('/v1/webhooks/sms/twilio/status', { MessageStatus: 'delivered' })).status).toBe(400);
    expect((await twilioPost('/v1/webhooks/sms/twilio/inbound', { Body: 'STOP', MessageSid: 'SM1' })).status).toBe(400);
    // JSON instead of a form, signed as Twilio signs (over the body read as form fields).
    const body = JSON.stringify({ MessageSid: 'SM1', MessageStatus: 'delivered' });
    const asForm = Object.fromEntries(new URLSearchParams(body));
    const signature = twilio.getExpectedTwilioSignature(
      TWILIO_TOKEN,
      `${PUBLIC}/v1/webhooks/sms/twilio/status`,
      asForm,
    );
    const json = await request(app)
      .post('/v1/webhooks/sms/twilio/status')
      .set('X-Twilio-Signature', signature)
      .type('json')
      .send(body);
    expect(json.status).toBe(400);
    expect([await rejected('twilio', 'status'), await rejected('twilio', 'inbound')]).toEqual([
      before[0] + 2,
      before[1] + 1,
    ]);
  });

  it('well-formed callbacks of every provider are still acknowledged in its own format', async () => {
    await post('aliyun', 'status')
      .send([{ biz_id: 'unknown^1', success: true, err_code: 'DELIVERED', phone_number: '13800138000' }])
      .expect(200, { code: 0, msg: '成功' });
    await post('aliyun', 'status')
      .send([{ biz_id: 'unknown^2', success: 'false', err_code: 'MK:0001', err_msg: 'failed' }])
      .expect(200);
    await post('tencent', 'status')
      .send([{ sid: 'unknown:1', report_status: 'SUCCESS', mobile: '13800138000', nationcode: '86' }])
      .expect(200, { result: 0, errmsg: 'OK' });
    await post('tencent', 'inbound')
      .send({ extend: '', mobile: '13800138011', nationcode: '86', sign: '锦程金融', text: '', time: 1730000000 })
      .expect(200);
    await post('aliyun', 'inbound')
      .send({ phone_number: '13800138012', content: 'hello', send_time: '2024-10-30 10:05:00' })
      .expect(200);
    const ok = await twilioPost('/v1/webhooks/sms/twilio/status', { MessageSid: 'SMunknown', MessageStatus: 'queued' });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('<Response>');
    await twilioPost('/v1/webhooks/sms/twilio/inbound', { From: '+12025550100', Body: '', MessageSid: 'SMx' }).expect(
      200,
    );
  });
});

describe('the audit trail', () => {
  it('holds one record for every state-changing request this file made, with its status', async () => {
    const { requests } = await audit.expectRecorded(trail);
    expect(requests).toBeGreaterThan(10);
  });
});
