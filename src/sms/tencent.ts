// Tencent Cloud SMS through the official `tencentcloud-sdk-nodejs-sms` package. Like Aliyun it
// sends pre-approved templates; TemplateParamSet is positional: name, amount, date, contact number.
// SessionContext carries our idempotency key to Tencent's records.
import * as tencentcloud from 'tencentcloud-sdk-nodejs-sms';
import {
  GatewayConfigurationError,
  InvalidPhoneNumberError,
  TransientSendError,
  type OutgoingSms,
  type SmsProvider,
  type SmsReceipt,
} from './provider';

const SmsClient = tencentcloud.sms.v20210111.Client;

export interface TencentConfig {
  secretId: string;
  secretKey: string;
  smsSdkAppId: string;
  signName: string;
  /** Reminder template id -> Tencent TemplateId. */
  templates: Record<string, string>;
  region?: string;
  /** Default sms.tencentcloudapi.com; host:port. */
  endpoint?: string;
  protocol?: 'https://' | 'http://';
  timeoutMs?: number;
}

/** Status codes that no retry can fix for this number. */
const PERMANENT = new Set([
  'InvalidParameterValue.IncorrectPhoneNumber',
  'FailedOperation.PhoneNumberInBlacklist',
  'UnsupportedOperation.UnsupportedRegion',
  'FailedOperation.PhoneNumberParseFail',
]);

/** The template parameters, in the order the templates are registered with. */
export const TENCENT_PARAM_ORDER = ['name', 'amount', 'date', 'phone'] as const;

export class TencentProvider implements SmsProvider {
  readonly name = 'tencent';
  private readonly client: InstanceType<typeof SmsClient>;

  constructor(private readonly config: TencentConfig) {
    this.client = new SmsClient({
      credential: { secretId: config.secretId, secretKey: config.secretKey },
      region: config.region ?? 'ap-guangzhou',
      profile: {
        httpProfile: {
          endpoint: config.endpoint ?? 'sms.tencentcloudapi.com',
          protocol: config.protocol ?? 'https://',
          reqTimeout: Math.ceil((config.timeoutMs ?? 10_000) / 1000),
        },
      },
    });
  }

  async send(m: OutgoingSms): Promise<SmsReceipt> {
    const templateId = m.template ? this.config.templates[m.template] : undefined;
    if (!templateId)
      throw new GatewayConfigurationError(
        `TENCENT_TEMPLATES has no Tencent TemplateId for the reminder template "${m.template ?? '(none)'}"`,
      );
    let status: { Code?: string; Message?: string; SerialNo?: string } | undefined;
    try {
      const res = await this.client.SendSms({
        PhoneNumberSet: [m.to],
        SmsSdkAppId: this.config.smsSdkAppId,
        SignName: this.config.signName,
        TemplateId: templateId,
        TemplateParamSet: TENCENT_PARAM_ORDER.map((k) => m.params?.[k] ?? ''),
        SessionContext: m.idempotencyKey.slice(0, 512),
      });
      status = res.SendStatusSet?.[0];
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code && PERMANENT.has(e.code)) throw new InvalidPhoneNumberError(`Tencent refused the number (${e.code})`);
      throw new TransientSendError(`Tencent: ${e.code ?? ''} ${e.message ?? String(err)}`.trim());
    }
    if (status?.Code === 'Ok' && status.SerialNo) {
      return { messageId: status.SerialNo, sentAt: new Date().toISOString(), duplicate: false };
    }
    if (status?.Code && PERMANENT.has(status.Code))
      throw new InvalidPhoneNumberError(`Tencent refused the number (${status.Code})`);
    throw new TransientSendError(`Tencent: ${status?.Code ?? 'no status'} ${status?.Message ?? ''}`.trim());
  }
}
