// Who may call the API and sign webhooks. In production both come from the environment
// (API_KEYS, WEBHOOK_SECRETS). Locally, `npm start` creates a development key and webhook secret
// under data/ once and prints them, so the README's curl examples work on a fresh clone.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseApiKeys, SCOPES, type ApiKey } from './auth/api-keys';
import { EncryptionCodec, parsePayloadKeys } from './codec/encryption';
import type { Config } from './config';

export interface Credentials {
  apiKeys: ApiKey[];
  webhookSecrets: string[];
  phoneIndexKey: string;
  smsCallbackToken: string;
  /** The secret path segment of the codec endpoint for the Temporal Web UI. */
  codecUiToken: string;
  /** Set when the local development key is in use: its file. */
  devKeyFile?: string;
  devSecretFile?: string;
}

/**
 * With DATABASE_URL the instances run on several machines and share their stores, so each secret
 * must be the same on all of them: a file one machine made would not be (the phone index would
 * find no loan by a number another machine indexed). Only `npm start`, one machine by definition,
 * still makes and reads local files then.
 */
function refuseLocalSecret(config: Config, variable: string, create: boolean): void {
  if (config.databaseUrl && !create && !config.localSecrets)
    throw new Error(`${variable} must be set when DATABASE_URL is: every instance must share the same value`);
}

function devSecret(file: string, create: boolean): string | undefined {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  if (!create) return undefined;
  mkdirSync(join(file, '..'), { recursive: true });
  const value = randomBytes(32).toString('hex');
  writeFileSync(file, value + '\n', { mode: 0o600 });
  return value;
}

export function resolveCredentials(config: Config, opts: { createDevCredentials: boolean }): Credentials {
  const keyFile = join(config.dataDir, 'dev-api-key');
  const secretFile = join(config.dataDir, 'dev-webhook-secret');
  let apiKeys: ApiKey[];
  let devKeyFile: string | undefined;
  if (config.apiKeysSpec) {
    apiKeys = parseApiKeys(config.apiKeysSpec);
  } else {
    refuseLocalSecret(config, 'API_KEYS', opts.createDevCredentials);
    const key = devSecret(keyFile, opts.createDevCredentials);
    if (!key)
      throw new Error(`API_KEYS is not set and there is no ${keyFile}: set API_KEYS, or run \`npm start\` once`);
    apiKeys = [{ name: 'local-development', key, scopes: [...SCOPES] }];
    devKeyFile = keyFile;
  }
  let webhookSecrets = config.webhookSecrets;
  let devSecretFile: string | undefined;
  if (!webhookSecrets?.length) {
    refuseLocalSecret(config, 'WEBHOOK_SECRETS', opts.createDevCredentials);
    const secret = devSecret(secretFile, opts.createDevCredentials);
    if (!secret)
      throw new Error(`WEBHOOK_SECRETS is not set and there is no ${secretFile}: set it, or run \`npm start\` once`);
    webhookSecrets = [secret];
    devSecretFile = secretFile;
  }
  // Without these, the worker's phone index and the gateways' callback URLs use local development
  // values, created once like the key above (and needed by both the API and the worker).
  const dev = (variable: string, file: string): string => {
    refuseLocalSecret(config, variable, opts.createDevCredentials);
    const value = devSecret(join(config.dataDir, file), opts.createDevCredentials);
    if (!value)
      throw new Error(
        `${variable} is not set and there is no ${join(config.dataDir, file)}: set it, or run \`npm start\` once`,
      );
    return value;
  };
  const phoneIndexKey = config.phoneIndexKey ?? dev('PHONE_INDEX_KEY', 'dev-phone-index-key');
  const smsCallbackToken = config.smsCallbackToken ?? dev('SMS_CALLBACK_TOKEN', 'dev-sms-callback-token');
  const codecUiToken = config.codecUiToken ?? dev('CODEC_UI_TOKEN', 'dev-codec-ui-token');
  return { apiKeys, webhookSecrets, devKeyFile, devSecretFile, phoneIndexKey, smsCallbackToken, codecUiToken };
}

/** The codec UI token alone, for `npm start` to point the dev server's Web UI at the codec endpoint. */
export function codecUiToken(config: Config, opts: { create: boolean }): string {
  if (config.codecUiToken) return config.codecUiToken;
  refuseLocalSecret(config, 'CODEC_UI_TOKEN', opts.create);
  const file = join(config.dataDir, 'dev-codec-ui-token');
  const token = devSecret(file, opts.create);
  if (!token) throw new Error(`CODEC_UI_TOKEN is not set and there is no ${file}: set it, or run \`npm start\` once`);
  return token;
}

/**
 * The payload codec of every client and worker: PAYLOAD_KEYS in production; locally a key that
 * `npm start` creates once under data/ (never in the repository).
 */
export function payloadCodec(config: Config, opts: { create: boolean }): EncryptionCodec {
  if (config.payloadKeysSpec) return new EncryptionCodec(parsePayloadKeys(config.payloadKeysSpec), config.payloadKeyId);
  refuseLocalSecret(config, 'PAYLOAD_KEYS', opts.create);
  const file = join(config.dataDir, 'dev-payload-key');
  if (!existsSync(file) && opts.create) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, `local-1:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  }
  if (!existsSync(file))
    throw new Error(`PAYLOAD_KEYS is not set and there is no ${file}: set PAYLOAD_KEYS, or run \`npm start\` once`);
  return new EncryptionCodec(parsePayloadKeys(readFileSync(file, 'utf8').trim()));
}
