// Configuration, read and validated once at start-up; a bad value stops the process with a
// message that names the variable.
import { resolve } from 'node:path';
import { z } from 'zod';
import type { Lender } from './domain/loan';

const port = z.coerce.number().int().min(0).max(65_535);

const schema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('loan-reminders'),
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(3000),
  DATA_DIR: z.string().min(1).default('data'),
  OUTBOX_PATH: z.string().min(1).optional(),
  OPERATIONS_PATH: z.string().min(1).optional(),
  SEND_LEDGER_PATH: z.string().min(1).optional(),
  POLICIES_DIR: z.string().min(1).default('policies'),
  LENDER_NAME_ZH: z.string().min(1).default('锦程金融'),
  LENDER_NAME_EN: z.string().min(1).default('Jincheng Finance'),
  LENDER_CONTACT_PHONE: z.string().min(3).default('4001234567'),
  API_KEYS: z.string().optional(),
  WEBHOOK_SECRETS: z.string().optional(),
  SMS_RATE_PER_SECOND: z.coerce.number().positive().max(10_000).default(20),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(1200),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface Config {
  /** Set when the service uses an existing Temporal server; unset, `npm start` runs its own. */
  temporalAddress: string | undefined;
  namespace: string;
  taskQueue: string;
  devServer: { port: number; uiPort: number; dbFile: string };
  http: { host: string; port: number };
  dataDir: string;
  outboxPath: string;
  operationsPath: string;
  sendLedgerPath: string;
  policiesDir: string;
  lender: Lender;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
  /** API_KEYS as given (parsed by the API); unset means the local development key. */
  apiKeysSpec: string | undefined;
  /** Webhook secrets, comma-separated in WEBHOOK_SECRETS; unset means the local development secret. */
  webhookSecrets: string[] | undefined;
  rateLimitPerMinute: number;
  /** SMS per second across all workers: the provider's pace. */
  smsPerSecond: number;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty variables count as unset, as in most shells' `FOO= npm start`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  return {
    temporalAddress: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    devServer: { port: e.TEMPORAL_DEV_PORT, uiPort: e.TEMPORAL_UI_PORT, dbFile: resolve(dataDir, 'temporal.db') },
    http: { host: e.HOST, port: e.PORT },
    dataDir,
    outboxPath: resolve(e.OUTBOX_PATH ?? resolve(dataDir, 'outbox.jsonl')),
    operationsPath: resolve(e.OPERATIONS_PATH ?? resolve(dataDir, 'operations.jsonl')),
    sendLedgerPath: resolve(e.SEND_LEDGER_PATH ?? resolve(dataDir, 'sends.sqlite')),
    policiesDir: resolve(e.POLICIES_DIR),
    lender: { name: { 'zh-CN': e.LENDER_NAME_ZH, 'en-US': e.LENDER_NAME_EN }, contactPhone: e.LENDER_CONTACT_PHONE },
    logLevel: e.LOG_LEVEL,
    apiKeysSpec: e.API_KEYS,
    webhookSecrets: e.WEBHOOK_SECRETS?.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    smsPerSecond: e.SMS_RATE_PER_SECOND,
  };
}

/** Where worker and API connect when no address is configured: the local dev server. */
export function temporalAddressOf(config: Config): string {
  return config.temporalAddress ?? `127.0.0.1:${config.devServer.port}`;
}
