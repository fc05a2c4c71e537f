// A loan's reminder reaching a real gateway SDK end to end: the workflow on the time-skipping
// server, the SMS activity, the Twilio adapter, and a local stand-in for Twilio's API. And a
// template gateway (Aliyun) configured without a template for the reminder: a configuration
// error, failed at once rather than retried until the sending window closes.
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { Failure } from '../../src/domain/failures';
import { AliyunProvider } from '../../src/sms/aliyun';
import { SqliteSendLedger } from '../../src/store/send-ledger';
import { TwilioProvider } from '../../src/sms/twilio';
import { createWorkers } from '../../src/worker';
import { loanReminder } from '../../src/workflows/loan-reminder';
import { FakeGateway } from '../helpers/fake-gateway';
import {
  localDate,
  policyWith,
  runWorkersUntil,
  tempOperations,
  timeSkippingEnv,
  workflowBundle,
} from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let gw: FakeGateway;

beforeAll(async () => {
  env = await timeSkippingEnv();
  gw = await new FakeGateway().start();
});

afterAll(async () => {
  await gw?.stop();
  await env?.teardown();
});

/** A lender and a policy with the due-date reminder alone. */
const DUE_ONLY = {
  lender: { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' },
  policy: policyWith({
    points: [{ stage: 'due', offset: 'P0D', template: 'due' }],
    overdueRepeat: undefined,
    finalNotice: undefined,
    afterLastPoint: { handOver: false, listenFor: 'P1D' },
  }),
};

describe('a reminder through Twilio', () => {
  it('goes out once through the SDK, after a 503 and a 429, with the rendered text', async () => {
    let calls = 0;
    gw.answer = () => {
      calls++;
      if (calls === 1) return { status: 503, body: { code: 20503, message: 'Service Unavailable', status: 503 } };
      if (calls === 2) return { status: 429, body: { code: 20429, message: 'Too Many Requests', status: 429 } };
      return { status: 201, body: { sid: `SM${randomUUID().replace(/-/g, '')}`, status: 'queued' } };
    };
    const taskQueue = `twilio-${randomUUID()}`;
    const ledger = new SqliteSendLedger(':memory:');
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({
        searchAttributes: false,
        sms: new TwilioProvider({
          accountSid: 'AC00000000000000000000000000000000',
          authToken: 't',
          from: '+15005550006',
          baseUrl: gw.url,
          timeoutMs: 1000,
        }),
        operations: tempOperations(),
        ledger,
      }),
    });
    const loanId = `L-TW-${randomUUID().slice(0, 8)}`;
    const result = await runWorkersUntil(workers, async () =>
      env.client.workflow.execute(loanReminder, {
        workflowId: `loan-${loanId}`,
        taskQueue,
        args: [
          {
            loan: {
              loanId,
              borrower: {
                name: 'Rivera',
                honorific: 'Ms',
                phone: '+12025550100',
                locale: 'en-US',
                timezone: 'America/New_York',
              },
              amountDue: 123450,
              currency: 'USD',
              dueDate: localDate(await env.currentTimeMs(), 'America/New_York', 3),
            },
            ...DUE_ONLY,
          },
        ],
      }),
    );
    expect(calls).toBe(3);
    const delivered = gw.requests.map((r) => new URLSearchParams(r.body));
    expect(new Set(delivered.map((f) => f.get('Body'))).size).toBe(1);
    expect(delivered[2].get('To')).toBe('+12025550100');
    expect(delivered[2].get('Body')).toMatch(
      /^Dear Ms Rivera, your repayment of \$1,234\.50 to Jincheng Finance is due today/,
    );
    expect(result.messagesSent).toHaveLength(1);
    expect(result.messagesSent[0]).toMatchObject({ stage: 'due' });
    expect(await ledger.get(`${loanId}:${result.messagesSent[0].key}`)).toMatchObject({
      state: 'accepted',
      attempts: 3,
      provider: 'twilio',
    });
  });
});

describe('a template gateway without a template for the reminder', () => {
  it('fails the send at once, not retried, naming what the configuration lacks', async () => {
    gw.requests.length = 0;
    gw.answer = () => ({ status: 200, body: { Code: 'OK', Message: 'OK', BizId: 'b-1', RequestId: 'r-1' } });
    const taskQueue = `aliyun-${randomUUID()}`;
    const ledger = new SqliteSendLedger(':memory:');
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({
        searchAttributes: false,
        // Templates for other reminders, none for the due-date one the loan sends.
        sms: new AliyunProvider({
          accessKeyId: 'LTAI-test',
          accessKeySecret: 'secret',
          signName: '锦程金融',
          templates: { 'pre-due': 'SMS_100001', overdue: 'SMS_100002' },
          endpoint: gw.host,
          protocol: 'http',
          timeoutMs: 1000,
        }),
        operations: tempOperations(),
        ledger,
      }),
    });
    const loanId = `L-AL-${randomUUID().slice(0, 8)}`;
    const workflowId = `loan-${loanId}`;
    const result = await runWorkersUntil(workers, async () =>
      env.client.workflow.execute(loanReminder, {
        workflowId,
        taskQueue,
        args: [
          {
            loan: {
              loanId,
              borrower: {
                name: '张先生',
                phone: '+8613800138000',
                locale: 'zh-CN',
                timezone: 'Asia/Shanghai',
              },
              amountDue: 500000,
              currency: 'CNY',
              dueDate: localDate(await env.currentTimeMs(), 'Asia/Shanghai', 3),
            },
            ...DUE_ONLY,
          },
        ],
      }),
    );
    // Nothing reached the gateway, and the loan knows the message failed, and why.
    expect(gw.requests).toHaveLength(0);
    expect(result.messagesSent).toHaveLength(0);
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]).toMatchObject({
      stage: 'due',
      reason: 'ALIYUN_TEMPLATES has no Aliyun TemplateCode for the reminder template "due"',
    });
    // One attempt, failed as non-retryable with the configuration error's name.
    const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const sends = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendSms');
    expect(sends).toHaveLength(1);
    const ofSend = (id: unknown) => String(id) === String(sends[0].eventId);
    const started = events.filter((e) => ofSend(e.activityTaskStartedEventAttributes?.scheduledEventId));
    expect(started.map((e) => e.activityTaskStartedEventAttributes?.attempt)).toEqual([1]);
    const failed = events
      .filter((e) => ofSend(e.activityTaskFailedEventAttributes?.scheduledEventId))
      .flatMap((e) => e.activityTaskFailedEventAttributes?.failure ?? []);
    expect(failed).toHaveLength(1);
    expect(failed[0].applicationFailureInfo).toMatchObject({
      type: Failure.GatewayMisconfigured,
      nonRetryable: true,
    });
  });
});
