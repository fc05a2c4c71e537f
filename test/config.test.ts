import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { createProvider } from '../src/sms/select';

describe('configuration', () => {
  it('defaults to the local outbox provider', () => {
    expect(createProvider(loadConfig({}).sms).name).toBe('outbox');
  });

  it('names every variable a chosen SMS provider still needs', () => {
    expect(() => loadConfig({ SMS_PROVIDER: 'tencent', TENCENT_SECRET_ID: 'x' })).toThrow(
      /TENCENT_SECRET_KEY: required when SMS_PROVIDER=tencent[\s\S]*TENCENT_SMS_APP_ID[\s\S]*TENCENT_TEMPLATES/,
    );
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(/PORT/);
  });

  it('reads template maps and builds the provider it names', () => {
    const config = loadConfig({
      SMS_PROVIDER: 'aliyun',
      ALIYUN_ACCESS_KEY_ID: 'id',
      ALIYUN_ACCESS_KEY_SECRET: 'secret',
      ALIYUN_SIGN_NAME: '锦程金融',
      ALIYUN_TEMPLATES: 'pre-due=SMS_1,due=SMS_2',
    });
    expect(config.sms).toMatchObject({
      provider: 'aliyun',
      aliyun: { templates: { 'pre-due': 'SMS_1', due: 'SMS_2' } },
    });
    expect(createProvider(config.sms).name).toBe('aliyun');
    expect(() => loadConfig({ SMS_PROVIDER: 'aliyun', ALIYUN_TEMPLATES: 'due:SMS_2' })).toThrow(
      /ALIYUN_TEMPLATES: must be template=id pairs/,
    );
  });
});
