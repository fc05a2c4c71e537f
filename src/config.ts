// Configuration, read and validated once at start-up; a bad value stops the process with a
// message that names the variable.
import { resolve } from 'node:path';
import { z } from 'zod';
import type { Lender } from './domain/loan';
import type { Concern } from './store/migrations';
import type { StoreLocation } from './store/sql';
import type { AliyunConfig } from './sms/aliyun';
import type { TencentConfig } from './sms/tencent';
import type { TwilioConfig } from './sms/twilio';

const port = z.coerce.number().int().min(0).max(65_535);
/** `due=SMS_1,pre-due=SMS_2,...`: reminder template -> the gateway's approved template id. */
const templateMap = z
  .string()
  .regex(
    /^[a-z-]+=[\w-]+(,[a-z-]+=[\w-]+)*$/,
    'must be template=id pairs, comma-separated, e.g. due=SMS_1,pre-due=SMS_2',
  )
  .transform((s) => Object.fromEntries(s.split(',').map((p) => p.split('=') as [string, string])));

/** What each SMS provider needs; a missing one stops the process naming the variable. */
const PROVIDER_NEEDS: Record<string, string[]> = {
  outbox: [],
  twilio: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'],
  aliyun: ['ALIYUN_ACCESS_KEY_ID', 'ALIYUN_ACCESS_KEY_SECRET', 'ALIYUN_SIGN_NAME', 'ALIYUN_TEMPLATES'],
  tencent: ['TENCENT_SECRET_ID', 'TENCENT_SECRET_KEY', 'TENCENT_SMS_APP_ID', 'TENCENT_SIGN_NAME', 'TENCENT_TEMPLATES'],
};

const schema = z
  .object({
    TEMPORAL_ADDRESS: z.string().min(1).optional(),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_TASK_QUEUE: z.string().min(1).default('loan-reminders'),
    TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
    TEMPORAL_TLS_CERT_PATH: z.string().min(1).optional(),
    TEMPORAL_TLS_KEY_PATH: z.string().min(1).optional(),
    TEMPORAL_TLS_CA_PATH: z.string().min(1).optional(),
    TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
    TEMPORAL_API_KEY: z.string().min(1).optional(),
    PAYLOAD_KEYS: z.string().min(1).optional(),
    PAYLOAD_KEY_ID: z.string().min(1).optional(),
    CODEC_CORS_ORIGINS: z.string().min(1).optional(),
    CODEC_UI_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
    TEMPORAL_DEV_PORT: port.default(7233),
    TEMPORAL_UI_PORT: port.default(8233),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: port.default(3000),
    DATA_DIR: z.string().min(1).default('data'),
    OUTBOX_PATH: z.string().min(1).optional(),
    OPERATIONS_PATH: z.string().min(1).optional(),
    OPERATIONS_SERVICE_LEVELS: z
      .string()
      .regex(
        /^\s*[a-z][a-z-]*=P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?)?\s*(,\s*[a-z][a-z-]*=P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?)?\s*)*$/,
        'must be kind=ISO 8601 duration pairs, e.g. callback=PT2H,dispute=P1D',
      )
      .optional(),
    TEMPORAL_UI_URL: z.url().optional(),
    SEND_LEDGER_PATH: z.string().min(1).optional(),
    PHONE_INDEX_PATH: z.string().min(1).optional(),
    EVENT_STORE_PATH: z.string().min(1).optional(),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    PHONE_INDEX_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
    SMS_CALLBACK_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
    PUBLIC_BASE_URL: z.url().optional(),
    POLICIES_DIR: z.string().min(1).default('policies'),
    LENDER_NAME_ZH: z.string().min(1).default('锦程金融'),
    LENDER_NAME_EN: z.string().min(1).default('Jincheng Finance'),
    LENDER_CONTACT_PHONE: z.string().min(3).default('4001234567'),
    API_KEYS: z.string().optional(),
    WEBHOOK_SECRETS: z.string().optional(),
    OUTBOUND_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
    OUTBOUND_WEBHOOK_SECRET: z
      .string()
      .regex(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/, 'must be whsec_ and at least 24 bytes in base64')
      .optional(),
    SMS_PROVIDER: z.enum(['outbox', 'twilio', 'aliyun', 'tencent']).default('outbox'),
    SMS_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
    TWILIO_ACCOUNT_SID: z.string().optional(),
    TWILIO_AUTH_TOKEN: z.string().optional(),
    TWILIO_FROM: z.string().optional(),
    TWILIO_BASE_URL: z.url().optional(),
    ALIYUN_ACCESS_KEY_ID: z.string().optional(),
    ALIYUN_ACCESS_KEY_SECRET: z.string().optional(),
    ALIYUN_SIGN_NAME: z.string().optional(),
    ALIYUN_TEMPLATES: templateMap.optional(),
    ALIYUN_ENDPOINT: z.string().optional(),
    ALIYUN_PROTOCOL: z.enum(['https', 'http']).default('https'),
    TENCENT_SECRET_ID: z.string().optional(),
    TENCENT_SECRET_KEY: z.string().optional(),
    TENCENT_SMS_APP_ID: z.string().optional(),
    TENCENT_SIGN_NAME: z.string().optional(),
    TENCENT_TEMPLATES: templateMap.optional(),
    TENCENT_REGION: z.string().default('ap-guangzhou'),
    TENCENT_ENDPOINT: z.string().optional(),
    TENCENT_PROTOCOL: z.enum(['https://', 'http://']).default('https://'),
    SMS_RATE_PER_SECOND: z.coerce.number().positive().max(10_000).default(20),
    RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(1200),
    // Bounded, so sleeping loans are not held in memory: the SDK's default grows with the machine's memory.
    WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).max(1_000_000).default(500),
    WORKER_WORKFLOW_TASK_SLOTS: z.coerce.number().int().min(2).max(10_000).optional(),
    WORKER_ACTIVITY_SLOTS: z.coerce.number().int().min(1).max(10_000).optional(),
    WORKER_POLLERS: z.coerce.number().int().min(2).max(100).optional(),
    WORKER_SEARCH_ATTRIBUTES: z.enum(['on', 'off', 'auto']).default('auto'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((e, ctx) => {
    if (!!e.TEMPORAL_TLS_CERT_PATH !== !!e.TEMPORAL_TLS_KEY_PATH) {
      const missing = e.TEMPORAL_TLS_CERT_PATH ? 'TEMPORAL_TLS_KEY_PATH' : 'TEMPORAL_TLS_CERT_PATH';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'mTLS needs both the certificate and its key' });
    }
    if (e.PAYLOAD_KEY_ID && !e.PAYLOAD_KEYS) {
      ctx.addIssue({
        code: 'custom',
        path: ['PAYLOAD_KEY_ID'],
        message: 'names a key of PAYLOAD_KEYS, which is not set',
      });
    }
    if (e.OUTBOUND_WEBHOOK_URL && !e.OUTBOUND_WEBHOOK_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['OUTBOUND_WEBHOOK_SECRET'],
        message: 'required when OUTBOUND_WEBHOOK_URL is set: every event is signed',
      });
    }
    for (const name of PROVIDER_NEEDS[e.SMS_PROVIDER]) {
      if (!e[name as keyof typeof e]) {
        ctx.addIssue({ code: 'custom', path: [name], message: `required when SMS_PROVIDER=${e.SMS_PROVIDER}` });
      }
    }
  });

export interface Config {
  /** Set when the service uses an existing Temporal server; unset, `npm start` runs its own. */
  temporalAddress: string | undefined;
  namespace: string;
  /** How to reach a remote cluster or Temporal Cloud: TLS (mTLS with a client certificate) and/or an API key. */
  temporalTls: { enabled: boolean; certPath?: string; keyPath?: string; caPath?: string; serverName?: string };
  temporalApiKey: string | undefined;
  /** PAYLOAD_KEYS as given (parsed by the codec); unset means the local development key. */
  payloadKeysSpec: string | undefined;
  payloadKeyId: string | undefined;
  /** Origins (the Temporal Web UI's) allowed to call the codec endpoint from a browser. */
  codecCorsOrigins: string[];
  /** The secret in the codec endpoint's path for a Web UI that cannot send credentials; unset: local development token. */
  codecUiToken: string | undefined;
  taskQueue: string;
  devServer: { port: number; uiPort: number; dbFile: string };
  http: { host: string; port: number };
  dataDir: string;
  outboxPath: string;
  operationsPath: string;
  /** How long each kind of hand-over may wait for a person (ISO 8601 durations over the defaults). */
  operationsServiceLevels: Record<string, string>;
  /** The Temporal Web UI operations open a loan's workflow in; with the local dev server, its own UI. */
  temporalUiUrl: string | undefined;
  sendLedgerPath: string;
  phoneIndexPath: string;
  /** The event store: PostgreSQL when a URL is set, else the SQLite file. */
  eventStore: { databaseUrl: string | undefined; sqlitePath: string };
  /** Set: every store of the service is in this PostgreSQL database, and no process needs DATA_DIR for state. */
  databaseUrl: string | undefined;
  /** Where each store keeps its data: the shared database when DATABASE_URL is set, else a SQLite file each. */
  stores: Record<Concern, StoreLocation>;
  /** Secrets may come from files under DATA_DIR even with DATABASE_URL: `npm start`, one machine by definition. */
  localSecrets: boolean;
  /** Unset: the local development key. */
  phoneIndexKey: string | undefined;
  /** Unset: the local development token. */
  smsCallbackToken: string | undefined;
  /** The API's address as SMS gateways call it (Twilio signs the full URL). */
  publicBaseUrl: string | undefined;
  twilioAuthToken: string | undefined;
  policiesDir: string;
  lender: Lender;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
  /** API_KEYS as given (parsed by the API); unset means the local development key. */
  apiKeysSpec: string | undefined;
  /** Webhook secrets, comma-separated in WEBHOOK_SECRETS; unset means the local development secret. */
  webhookSecrets: string[] | undefined;
  /** Where the lender's systems hear of their loans, signed with the secret; unset: nothing is sent. */
  outboundWebhook: { url: string; secret: string } | undefined;
  rateLimitPerMinute: number;
  /** SMS per second across all workers: the provider's pace. */
  smsPerSecond: number;
  /** Worker capacity; unset values keep the SDK's defaults (see WorkerTuning in worker.ts). */
  workerTuning: {
    maxCachedWorkflows?: number;
    workflowTaskSlots?: number;
    activitySlots?: number;
    pollers?: number;
  };
  /**
   * Whether the worker's loans keep their search attributes current: `on` (registered at start-up
   * if missing; a server that cannot stops the worker), `off`, or `auto` (on when the server has an
   * OperatorService, off when it has none, e.g. the time-skipping test server).
   */
  searchAttributes: 'on' | 'off' | 'auto';
  sms: SmsConfig;
}

export type SmsConfig =
  | { provider: 'outbox'; outboxPath: string }
  | { provider: 'twilio'; twilio: TwilioConfig }
  | { provider: 'aliyun'; aliyun: AliyunConfig }
  | { provider: 'tencent'; tencent: TencentConfig };

function smsConfig(e: z.output<typeof schema>, outboxPath: string): SmsConfig {
  const timeoutMs = e.SMS_TIMEOUT_MS;
  switch (e.SMS_PROVIDER) {
    case 'outbox':
      return { provider: 'outbox', outboxPath };
    case 'twilio':
      return {
        provider: 'twilio',
        twilio: {
          accountSid: e.TWILIO_ACCOUNT_SID!,
          authToken: e.TWILIO_AUTH_TOKEN!,
          from: e.TWILIO_FROM!,
          baseUrl: e.TWILIO_BASE_URL,
          timeoutMs,
        },
      };
    case 'aliyun':
      return {
        provider: 'aliyun',
        aliyun: {
          accessKeyId: e.ALIYUN_ACCESS_KEY_ID!,
          accessKeySecret: e.ALIYUN_ACCESS_KEY_SECRET!,
          signName: e.ALIYUN_SIGN_NAME!,
          templates: e.ALIYUN_TEMPLATES!,
          endpoint: e.ALIYUN_ENDPOINT,
          protocol: e.ALIYUN_PROTOCOL,
          timeoutMs,
        },
      };
    case 'tencent':
      return {
        provider: 'tencent',
        tencent: {
          secretId: e.TENCENT_SECRET_ID!,
          secretKey: e.TENCENT_SECRET_KEY!,
          smsSdkAppId: e.TENCENT_SMS_APP_ID!,
          signName: e.TENCENT_SIGN_NAME!,
          templates: e.TENCENT_TEMPLATES!,
          region: e.TENCENT_REGION,
          endpoint: e.TENCENT_ENDPOINT,
          protocol: e.TENCENT_PROTOCOL,
          timeoutMs,
        },
      };
  }
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
    temporalTls: {
      // An API key (Temporal Cloud) or a client certificate means TLS unless TEMPORAL_TLS=false says otherwise.
      enabled:
        e.TEMPORAL_TLS === 'true' ||
        (e.TEMPORAL_TLS !== 'false' && !!(e.TEMPORAL_API_KEY || e.TEMPORAL_TLS_CERT_PATH || e.TEMPORAL_TLS_CA_PATH)),
      certPath: e.TEMPORAL_TLS_CERT_PATH,
      keyPath: e.TEMPORAL_TLS_KEY_PATH,
      caPath: e.TEMPORAL_TLS_CA_PATH,
      serverName: e.TEMPORAL_TLS_SERVER_NAME,
    },
    temporalApiKey: e.TEMPORAL_API_KEY,
    payloadKeysSpec: e.PAYLOAD_KEYS,
    payloadKeyId: e.PAYLOAD_KEY_ID,
    codecCorsOrigins: (
      e.CODEC_CORS_ORIGINS ?? `http://localhost:${e.TEMPORAL_UI_PORT},http://127.0.0.1:${e.TEMPORAL_UI_PORT}`
    )
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    codecUiToken: e.CODEC_UI_TOKEN,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    devServer: { port: e.TEMPORAL_DEV_PORT, uiPort: e.TEMPORAL_UI_PORT, dbFile: resolve(dataDir, 'temporal.db') },
    http: { host: e.HOST, port: e.PORT },
    dataDir,
    outboxPath: resolve(e.OUTBOX_PATH ?? resolve(dataDir, 'outbox.jsonl')),
    operationsPath: resolve(e.OPERATIONS_PATH ?? resolve(dataDir, 'operations.sqlite')),
    operationsServiceLevels: Object.fromEntries(
      (e.OPERATIONS_SERVICE_LEVELS ?? '')
        .split(',')
        .map((pair) => pair.trim())
        .filter(Boolean)
        .map((pair) => pair.split('=').map((x) => x.trim()) as [string, string]),
    ),
    temporalUiUrl: e.TEMPORAL_UI_URL ?? (e.TEMPORAL_ADDRESS ? undefined : `http://localhost:${e.TEMPORAL_UI_PORT}`),
    sendLedgerPath: resolve(e.SEND_LEDGER_PATH ?? resolve(dataDir, 'sends.sqlite')),
    phoneIndexPath: resolve(e.PHONE_INDEX_PATH ?? resolve(dataDir, 'phone-index.sqlite')),
    eventStore: {
      databaseUrl: e.DATABASE_URL,
      sqlitePath: resolve(e.EVENT_STORE_PATH ?? resolve(dataDir, 'events.sqlite')),
    },
    databaseUrl: e.DATABASE_URL,
    localSecrets: false,
    stores: storesOf(e.DATABASE_URL, {
      sends: resolve(e.SEND_LEDGER_PATH ?? resolve(dataDir, 'sends.sqlite')),
      phones: resolve(e.PHONE_INDEX_PATH ?? resolve(dataDir, 'phone-index.sqlite')),
      events: resolve(e.EVENT_STORE_PATH ?? resolve(dataDir, 'events.sqlite')),
      operations: resolve(e.OPERATIONS_PATH ?? resolve(dataDir, 'operations.sqlite')),
      limits: resolve(dataDir, 'rate-limits.sqlite'),
    }),
    phoneIndexKey: e.PHONE_INDEX_KEY,
    smsCallbackToken: e.SMS_CALLBACK_TOKEN,
    publicBaseUrl: e.PUBLIC_BASE_URL,
    twilioAuthToken: e.TWILIO_AUTH_TOKEN,
    policiesDir: resolve(e.POLICIES_DIR),
    lender: { name: { 'zh-CN': e.LENDER_NAME_ZH, 'en-US': e.LENDER_NAME_EN }, contactPhone: e.LENDER_CONTACT_PHONE },
    logLevel: e.LOG_LEVEL,
    apiKeysSpec: e.API_KEYS,
    webhookSecrets: e.WEBHOOK_SECRETS?.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    outboundWebhook: e.OUTBOUND_WEBHOOK_URL
      ? { url: e.OUTBOUND_WEBHOOK_URL, secret: e.OUTBOUND_WEBHOOK_SECRET! }
      : undefined,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    smsPerSecond: e.SMS_RATE_PER_SECOND,
    workerTuning: {
      maxCachedWorkflows: e.WORKER_MAX_CACHED_WORKFLOWS,
      workflowTaskSlots: e.WORKER_WORKFLOW_TASK_SLOTS,
      activitySlots: e.WORKER_ACTIVITY_SLOTS,
      pollers: e.WORKER_POLLERS,
    },
    searchAttributes: e.WORKER_SEARCH_ATTRIBUTES,
    sms: smsConfig(e, resolve(e.OUTBOX_PATH ?? resolve(dataDir, 'outbox.jsonl'))),
  };
}

function storesOf(databaseUrl: string | undefined, files: Record<Concern, string>): Record<Concern, StoreLocation> {
  const at = (file: string): StoreLocation => (databaseUrl ? { databaseUrl } : { sqlitePath: file });
  return {
    sends: at(files.sends),
    phones: at(files.phones),
    events: at(files.events),
    operations: at(files.operations),
    limits: at(files.limits),
  };
}

/** Where worker and API connect when no address is configured: the local dev server. */
export function temporalAddressOf(config: Config): string {
  return config.temporalAddress ?? `127.0.0.1:${config.devServer.port}`;
}
