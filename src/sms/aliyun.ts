// Aliyun (Alibaba Cloud) SMS through the official `@alicloud/dysmsapi20170525` package. Chinese
// gateways send pre-approved templates: each reminder template maps to an Aliyun TemplateCode,
// filled with the message's parameters. OutId carries our idempotency key to Aliyun's records.
import Dysmsapi, { SendSmsRequest } from '@alicloud/dysmsapi20170525';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import { RuntimeOptions } from '@darabonba/typescript';
import {
  GatewayConfigurationError,
  InvalidPhoneNumberError,
  TransientSendError,
  type OutgoingSms,
  type SmsProvider,
  type SmsReceipt,
} from './provider';

export interface AliyunConfig {
  accessKeyId: string;
  accessKeySecret: string;
  signName: string;
  /** Reminder template id -> Aliyun TemplateCode. */
  templates: Record<string, string>;
  /** Default dysmsapi.aliyuncs.com; host:port. */
  endpoint?: string;
  protocol?: 'https' | 'http';
  timeoutMs?: number;
}

/** Codes that no retry can fix for this number. */
const PERMANENT = new Set([
  'isv.MOBILE_NUMBER_ILLEGAL',
  'isv.MOBILE_COUNT_OVER_LIMIT',
  'isv.BLACK_KEY_CONTROL_LIMIT',
  'isv.DENY_IP_RANGE',
]);

export class AliyunProvider implements SmsProvider {
  readonly name = 'aliyun';
  private readonly client: Dysmsapi;

  constructor(private readonly config: AliyunConfig) {
    this.client = new Dysmsapi(
      new $OpenApiUtil.Config({
        accessKeyId: config.accessKeyId,
        accessKeySecret: config.accessKeySecret,
        endpoint: config.endpoint ?? 'dysmsapi.aliyuncs.com',
        protocol: config.protocol ?? 'https',
      }),
    );
  }

  async send(m: OutgoingSms): Promise<SmsReceipt> {
    const templateCode = m.template ? this.config.templates[m.template] : undefined;
    if (!templateCode)
      throw new GatewayConfigurationError(
        `ALIYUN_TEMPLATES has no Aliyun TemplateCode for the reminder template "${m.template ?? '(none)'}"`,
      );
    const timeout = this.config.timeoutMs ?? 10_000;
    let body: { code?: string; message?: string; bizId?: string } | undefined;
    try {
      const res = await this.client.sendSmsWithOptions(
        new SendSmsRequest({
          // Aliyun wants mainland numbers without +86; others in international form without '+'.
          phoneNumbers: m.to.startsWith('+86') ? m.to.slice(3) : m.to.replace(/^\+/, '00'),
          signName: this.config.signName,
          templateCode,
          templateParam: JSON.stringify(m.params ?? {}),
          outId: m.idempotencyKey.slice(0, 256),
        }),
        new RuntimeOptions({ readTimeout: timeout, connectTimeout: timeout, autoretry: false, maxAttempts: 1 }),
      );
      body = res.body;
    } catch (err) {
      const e = err as { code?: string; statusCode?: number; message?: string };
      if (e.code && PERMANENT.has(e.code)) throw new InvalidPhoneNumberError(`Aliyun refused the number (${e.code})`);
      throw new TransientSendError(`Aliyun: ${e.statusCode ?? ''} ${e.code ?? ''} ${e.message ?? String(err)}`.trim());
    }
    if (body?.code === 'OK' && body.bizId)
      return { messageId: body.bizId, sentAt: new Date().toISOString(), duplicate: false };
    if (body?.code && PERMANENT.has(body.code))
      throw new InvalidPhoneNumberError(`Aliyun refused the number (${body.code})`);
    throw new TransientSendError(`Aliyun: ${body?.code ?? 'no code'} ${body?.message ?? ''}`.trim());
  }
}
