import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { connectionOptions } from '../src/temporal/connection';
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

  it('reaches the local dev server by default, a remote cluster with mTLS, or Temporal Cloud with an API key', () => {
    expect(connectionOptions(loadConfig({}))).toEqual({ address: '127.0.0.1:7233' });

    const dir = mkdtempSync(join(tmpdir(), 'tls-'));
    for (const f of ['client.pem', 'client.key', 'ca.pem']) writeFileSync(join(dir, f), `-- ${f} --`);
    const mtls = connectionOptions(
      loadConfig({
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        TEMPORAL_TLS_CERT_PATH: join(dir, 'client.pem'),
        TEMPORAL_TLS_KEY_PATH: join(dir, 'client.key'),
        TEMPORAL_TLS_CA_PATH: join(dir, 'ca.pem'),
        TEMPORAL_TLS_SERVER_NAME: 'temporal',
      }),
    );
    expect(mtls.address).toBe('temporal.internal:7233');
    expect(String(mtls.tls?.clientCertPair?.crt)).toBe('-- client.pem --');
    expect(String(mtls.tls?.clientCertPair?.key)).toBe('-- client.key --');
    expect(String(mtls.tls?.serverRootCACertificate)).toBe('-- ca.pem --');
    expect(mtls.tls?.serverNameOverride).toBe('temporal');

    const cloud = connectionOptions(
      loadConfig({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'api-key-value' }),
    );
    expect(cloud).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: {}, apiKey: 'api-key-value' });
  });

  it('names what is wrong with a TLS setting', () => {
    expect(() => loadConfig({ TEMPORAL_TLS_CERT_PATH: '/x.pem' })).toThrow(/TEMPORAL_TLS_KEY_PATH: mTLS needs both/);
    expect(() =>
      connectionOptions(loadConfig({ TEMPORAL_TLS_CERT_PATH: '/no/cert.pem', TEMPORAL_TLS_KEY_PATH: '/no/key.pem' })),
    ).toThrow(/TEMPORAL_TLS_CERT_PATH: cannot read \/no\/cert.pem \(ENOENT\)/);
    expect(() => loadConfig({ PAYLOAD_KEY_ID: 'k1' })).toThrow(/PAYLOAD_KEY_ID: names a key of PAYLOAD_KEYS/);
  });
});
