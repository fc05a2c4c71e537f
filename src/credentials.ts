// Who may call the API and sign webhooks. In production both come from the environment
// (API_KEYS, WEBHOOK_SECRETS). Locally, `npm start` creates a development key and webhook secret
// under data/ once and prints them, so the README's curl examples work on a fresh clone.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseApiKeys, SCOPES, type ApiKey } from './api/auth';
import type { Config } from './config';

export interface Credentials {
  apiKeys: ApiKey[];
  webhookSecrets: string[];
  phoneIndexKey: string;
  smsCallbackToken: string;
  /** Set when the local development key is in use: its file. */
  devKeyFile?: string;
  devSecretFile?: string;
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
    const key = devSecret(keyFile, opts.createDevCredentials);
    if (!key)
      throw new Error(`API_KEYS is not set and there is no ${keyFile}: set API_KEYS, or run \`npm start\` once`);
    apiKeys = [{ name: 'local-development', key, scopes: [...SCOPES] }];
    devKeyFile = keyFile;
  }
  let webhookSecrets = config.webhookSecrets;
  let devSecretFile: string | undefined;
  if (!webhookSecrets?.length) {
    const secret = devSecret(secretFile, opts.createDevCredentials);
    if (!secret)
      throw new Error(`WEBHOOK_SECRETS is not set and there is no ${secretFile}: set it, or run \`npm start\` once`);
    webhookSecrets = [secret];
    devSecretFile = secretFile;
  }
  // Without these, the worker's phone index and the gateways' callback URLs use local development
  // values, created once like the key above (and needed by both the API and the worker).
  const dev = (variable: string, file: string): string => {
    const value = devSecret(join(config.dataDir, file), opts.createDevCredentials);
    if (!value)
      throw new Error(
        `${variable} is not set and there is no ${join(config.dataDir, file)}: set it, or run \`npm start\` once`,
      );
    return value;
  };
  const phoneIndexKey = config.phoneIndexKey ?? dev('PHONE_INDEX_KEY', 'dev-phone-index-key');
  const smsCallbackToken = config.smsCallbackToken ?? dev('SMS_CALLBACK_TOKEN', 'dev-sms-callback-token');
  return { apiKeys, webhookSecrets, devKeyFile, devSecretFile, phoneIndexKey, smsCallbackToken };
}
