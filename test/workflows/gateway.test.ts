// A loan's reminder reaching a real gateway SDK end to end: the workflow on the time-skipping
// server, the SMS activity, the Twilio adapter, and a local stand-in for Twilio's API.
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
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
            lender: { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' },
            policy: policyWith({
              points: [{ stage: 'due', offset: 'P0D', template: 'due' }],
              overdueRepeat: undefined,
              finalNotice: undefined,
              afterLastPoint: { handOver: false, listenFor: 'P1D' },
            }),
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
