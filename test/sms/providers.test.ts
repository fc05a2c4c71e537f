// Each SMS gateway adapter through its real SDK and HTTP path, against a local stand-in that
// answers as that provider's documented API does: success, invalid number, rate limited, server
// error, timeout. Permanent failures become InvalidPhoneNumberError (never retried); the others
// TransientSendError (retried by the activity's policy). A template gateway without a template for
// the message is a GatewayConfigurationError (never retried), raised before any request.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AliyunProvider } from '../../src/sms/aliyun';
import {
  GatewayConfigurationError,
  InvalidPhoneNumberError,
  TransientSendError,
  type OutgoingSms,
  type SmsProvider,
} from '../../src/sms/provider';
import { TencentProvider } from '../../src/sms/tencent';
import { TwilioProvider } from '../../src/sms/twilio';
import { FakeGateway, type Answer } from '../helpers/fake-gateway';

const message: OutgoingSms = {
  to: '+8613800138000',
  body: '尊敬的张先生，您好！您在锦程金融的还款金额为5000元，截止日期为2024年10月30日。',
  loanId: 'L-1',
  stage: 'due',
  idempotencyKey: 'L-1:due@2024-10-30',
  scheduledFor: '2024-10-30T02:00:00.000Z',
  template: 'due',
  params: { name: '张先生', amount: '5000元', date: '2024年10月30日', phone: '4001234567', lender: '锦程金融' },
};

interface Case {
  name: string;
  make: (gw: FakeGateway) => SmsProvider;
  success: Answer;
  invalid: Answer;
  limited: Answer;
  serverError: Answer;
  messageId: string;
  /** What the provider must have been sent. */
  check: (gw: FakeGateway) => void;
}

const cases: Case[] = [
  {
    name: 'Twilio',
    make: (gw) =>
      new TwilioProvider({
        accountSid: 'AC0123456789abcdef0123456789abcdef',
        authToken: 'token',
        from: '+15005550006',
        baseUrl: gw.url,
        timeoutMs: 500,
      }),
    success: { status: 201, body: { sid: 'SM0123456789abcdef0123456789abcdef', status: 'queued' } },
    invalid: {
      status: 400,
      body: { code: 21211, message: "The 'To' number is not a valid phone number.", status: 400 },
    },
    limited: { status: 429, body: { code: 20429, message: 'Too Many Requests', status: 429 } },
    serverError: { status: 503, body: { code: 20503, message: 'Service Unavailable', status: 503 } },
    messageId: 'SM0123456789abcdef0123456789abcdef',
    check: (gw) => {
      const r = gw.requests[0];
      expect(r.method).toBe('POST');
      expect(r.url).toBe('/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json');
      expect(r.headers.authorization).toBe(
        `Basic ${Buffer.from('AC0123456789abcdef0123456789abcdef:token').toString('base64')}`,
      );
      const form = new URLSearchParams(r.body);
      expect(form.get('To')).toBe('+8613800138000');
      expect(form.get('From')).toBe('+15005550006');
      expect(form.get('Body')).toBe(message.body);
    },
  },
  {
    name: 'Aliyun',
    make: (gw) =>
      new AliyunProvider({
        accessKeyId: 'LTAI-test',
        accessKeySecret: 'secret',
        signName: '锦程金融',
        templates: { due: 'SMS_100001' },
        endpoint: gw.host,
        protocol: 'http',
        timeoutMs: 500,
      }),
    success: { status: 200, body: { Code: 'OK', Message: 'OK', BizId: '900619746936498440^0', RequestId: 'r-1' } },
    invalid: { status: 200, body: { Code: 'isv.MOBILE_NUMBER_ILLEGAL', Message: '非法手机号', RequestId: 'r-2' } },
    limited: {
      status: 200,
      body: { Code: 'isv.BUSINESS_LIMIT_CONTROL', Message: '触发分钟级流控Permits:1', RequestId: 'r-3' },
    },
    serverError: {
      status: 503,
      body: {
        Code: 'ServiceUnavailable',
        Message: 'The request has failed due to a temporary failure of the server.',
        RequestId: 'r-4',
      },
    },
    messageId: '900619746936498440^0',
    check: (gw) => {
      const r = gw.requests[0];
      const all = new URLSearchParams(`${r.url.split('?')[1] ?? ''}&${r.body}`);
      expect(all.get('PhoneNumbers')).toBe('13800138000');
      expect(all.get('TemplateCode')).toBe('SMS_100001');
      expect(all.get('SignName')).toBe('锦程金融');
      expect(all.get('OutId')).toBe('L-1:due@2024-10-30');
      expect(JSON.parse(all.get('TemplateParam') ?? '{}')).toMatchObject({ name: '张先生', amount: '5000元' });
      expect(String(r.headers.authorization)).toMatch(/^ACS3-HMAC-SHA256 Credential=LTAI-test/);
    },
  },
  {
    name: 'Tencent',
    make: (gw) =>
      new TencentProvider({
        secretId: 'AKID-test',
        secretKey: 'secret',
        smsSdkAppId: '1400000000',
        signName: '锦程金融',
        templates: { due: '100001' },
        endpoint: gw.host,
        protocol: 'http://',
        timeoutMs: 1000,
      }),
    success: {
      status: 200,
      body: {
        Response: {
          SendStatusSet: [
            {
              SerialNo: '2028:f825e6b16e23f73f4123',
              PhoneNumber: '+8613800138000',
              Fee: 1,
              SessionContext: 'L-1:due@2024-10-30',
              Code: 'Ok',
              Message: 'send success',
              IsoCode: 'CN',
            },
          ],
          RequestId: 'r-1',
        },
      },
    },
    invalid: {
      status: 200,
      body: {
        Response: {
          SendStatusSet: [
            {
              SerialNo: '',
              PhoneNumber: '+8613800138000',
              Fee: 0,
              SessionContext: '',
              Code: 'InvalidParameterValue.IncorrectPhoneNumber',
              Message: 'incorrect number',
              IsoCode: 'CN',
            },
          ],
          RequestId: 'r-2',
        },
      },
    },
    limited: {
      status: 200,
      body: {
        Response: {
          SendStatusSet: [
            {
              SerialNo: '',
              PhoneNumber: '+8613800138000',
              Fee: 0,
              SessionContext: '',
              Code: 'LimitExceeded.PhoneNumberThirtySecondLimit',
              Message: '30 second limit',
              IsoCode: 'CN',
            },
          ],
          RequestId: 'r-3',
        },
      },
    },
    serverError: {
      status: 200,
      body: { Response: { Error: { Code: 'InternalError.TimeoutError', Message: 'timeout' }, RequestId: 'r-4' } },
    },
    messageId: '2028:f825e6b16e23f73f4123',
    check: (gw) => {
      const r = gw.requests[0];
      expect(r.headers['x-tc-action']).toBe('SendSms');
      expect(String(r.headers.authorization)).toMatch(/^TC3-HMAC-SHA256 Credential=AKID-test/);
      const body = JSON.parse(r.body);
      expect(body).toMatchObject({
        PhoneNumberSet: ['+8613800138000'],
        SmsSdkAppId: '1400000000',
        SignName: '锦程金融',
        TemplateId: '100001',
        TemplateParamSet: ['张先生', '5000元', '2024年10月30日', '4001234567'],
        SessionContext: 'L-1:due@2024-10-30',
      });
    },
  },
];

describe.each(cases)('$name adapter', (c) => {
  let gw: FakeGateway;
  beforeEach(async () => {
    gw = await new FakeGateway().start();
  });
  afterEach(async () => {
    await gw.stop();
  });

  it('sends through the real SDK and returns the provider’s message id', async () => {
    gw.answer = () => c.success;
    const receipt = await c.make(gw).send(message);
    expect(receipt).toMatchObject({ messageId: c.messageId, duplicate: false });
    expect(gw.requests).toHaveLength(1);
    c.check(gw);
  });

  it('turns an invalid number into a permanent failure', async () => {
    gw.answer = () => c.invalid;
    await expect(c.make(gw).send(message)).rejects.toBeInstanceOf(InvalidPhoneNumberError);
  });

  it.each([
    ['rate limited', 'limited'],
    ['a server error', 'serverError'],
  ] as const)('turns %s into a failure worth retrying', async (_what, key) => {
    gw.answer = () => c[key];
    await expect(c.make(gw).send(message)).rejects.toBeInstanceOf(TransientSendError);
  });

  it('turns a provider that does not answer into a failure worth retrying, within the timeout', async () => {
    gw.answer = () => ({ status: 0, body: null, hang: true });
    const started = Date.now();
    await expect(c.make(gw).send(message)).rejects.toBeInstanceOf(TransientSendError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe.each(cases.filter((c) => c.name !== 'Twilio'))('$name adapter without a template for the message', (c) => {
  let gw: FakeGateway;
  beforeEach(async () => {
    gw = await new FakeGateway().start();
  });
  afterEach(async () => {
    await gw.stop();
  });

  it('refuses as a configuration error, naming the template, without calling the provider', async () => {
    gw.answer = () => c.success;
    const sent = c.make(gw).send({ ...message, template: 'final-notice' });
    await expect(sent).rejects.toBeInstanceOf(GatewayConfigurationError);
    await expect(sent).rejects.toThrow(/TEMPLATES has no .* for the reminder template "final-notice"/);
    expect(gw.requests).toHaveLength(0);
  });
});
