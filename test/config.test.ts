import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { serviceLevelsOf } from '../src/operations/queue';
import { payloadCodec, resolveCredentials } from '../src/credentials';
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

  it('reads the inbox service levels over the defaults, and the Web UI the inbox links to', () => {
    const config = loadConfig({ OPERATIONS_SERVICE_LEVELS: 'callback=PT2H, dispute=P2DT4H' });
    expect(config.operationsServiceLevels).toEqual({ callback: 'PT2H', dispute: 'P2DT4H' });
    const levels = serviceLevelsOf(config.operationsServiceLevels);
    expect(levels.byKind.callback).toBe(7_200_000);
    expect(levels.byKind.dispute).toBe(52 * 3_600_000);
    expect(levels.byKind.hardship).toBe(86_400_000);
    expect(() => loadConfig({ OPERATIONS_SERVICE_LEVELS: 'callback=2 hours' })).toThrow(/OPERATIONS_SERVICE_LEVELS/);
    expect(loadConfig({}).temporalUiUrl).toBe('http://localhost:8233');
    expect(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233' }).temporalUiUrl).toBeUndefined();
    expect(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_UI_URL: 'https://ui.example' }).temporalUiUrl).toBe(
      'https://ui.example',
    );
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

  it('sends outbound events only with a URL, and then needs a whsec_ secret', () => {
    expect(loadConfig({}).outboundWebhook).toBeUndefined();
    const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
    expect(
      loadConfig({ OUTBOUND_WEBHOOK_URL: 'https://lender.example/hooks', OUTBOUND_WEBHOOK_SECRET: secret })
        .outboundWebhook,
    ).toEqual({
      url: 'https://lender.example/hooks',
      secret,
    });
    expect(() => loadConfig({ OUTBOUND_WEBHOOK_URL: 'https://lender.example/hooks' })).toThrow(
      /OUTBOUND_WEBHOOK_SECRET: required when OUTBOUND_WEBHOOK_URL is set/,
    );
    expect(() =>
      loadConfig({ OUTBOUND_WEBHOOK_URL: 'https://lender.example/hooks', OUTBOUND_WEBHOOK_SECRET: 'not-a-secret' }),
    ).toThrow(/OUTBOUND_WEBHOOK_SECRET: must be whsec_/);
    expect(() => loadConfig({ OUTBOUND_WEBHOOK_URL: 'ftp://lender.example', OUTBOUND_WEBHOOK_SECRET: secret })).toThrow(
      /OUTBOUND_WEBHOOK_URL/,
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

  it('with DATABASE_URL keeps every store in that database, and takes no secret from one machine’s files', () => {
    const data = mkdtempSync(join(tmpdir(), 'config-'));
    for (const f of [
      'dev-api-key',
      'dev-webhook-secret',
      'dev-phone-index-key',
      'dev-sms-callback-token',
      'dev-codec-ui-token',
    ])
      writeFileSync(join(data, f), 'x'.repeat(40));
    writeFileSync(join(data, 'dev-payload-key'), `local-1:${Buffer.alloc(32).toString('base64')}`);
    const local = loadConfig({ DATA_DIR: data });
    expect(local.stores.sends).toEqual({ sqlitePath: join(data, 'sends.sqlite') });
    expect(resolveCredentials(local, { createDevCredentials: false }).phoneIndexKey).toBe('x'.repeat(40));
    const url = 'postgres://app@db.internal:5432/loan_reminders';
    const shared = loadConfig({ DATA_DIR: data, DATABASE_URL: url });
    for (const at of Object.values(shared.stores)) expect(at).toEqual({ databaseUrl: url });
    expect(Object.keys(shared.stores).sort()).toEqual(['events', 'limits', 'operations', 'phones', 'sends']);
    // A key made on one machine would differ from the next one's: each must be configured.
    expect(() => resolveCredentials(shared, { createDevCredentials: false })).toThrow(
      /API_KEYS must be set when DATABASE_URL is/,
    );
    const keyed = loadConfig({
      DATA_DIR: data,
      DATABASE_URL: url,
      API_KEYS: `ops:${'k'.repeat(32)}:loans:write`,
      WEBHOOK_SECRETS: 'w'.repeat(32),
    });
    expect(() => resolveCredentials(keyed, { createDevCredentials: false })).toThrow(/PHONE_INDEX_KEY must be set/);
    expect(() => payloadCodec(keyed, { create: false })).toThrow(/PAYLOAD_KEYS must be set/);
    // `npm start` is one machine: its local files still serve.
    expect(resolveCredentials({ ...keyed, localSecrets: true }, { createDevCredentials: false }).phoneIndexKey).toBe(
      'x'.repeat(40),
    );
  });
});
