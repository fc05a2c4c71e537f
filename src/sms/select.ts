// Chooses the SMS provider the configuration names.
import type { SmsConfig } from '../config';
import { AliyunProvider } from './aliyun';
import { OutboxProvider } from './outbox';
import type { SmsProvider } from './provider';
import { TencentProvider } from './tencent';
import { TwilioProvider } from './twilio';

export function createProvider(config: SmsConfig): SmsProvider {
  switch (config.provider) {
    case 'outbox':
      return new OutboxProvider(config.outboxPath);
    case 'twilio':
      return new TwilioProvider(config.twilio);
    case 'aliyun':
      return new AliyunProvider(config.aliyun);
    case 'tencent':
      return new TencentProvider(config.tencent);
  }
}
