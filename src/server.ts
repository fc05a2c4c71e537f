// API entry point (`npm run api`): the HTTP API, connected to Temporal.
import type { Server } from 'node:http';
import { createApp, createHttpServer } from './api/app';
import { loadConfig, type Config } from './config';
import { createLogger, type Logger } from './log';
import { payloadCodec, resolveCredentials } from './credentials';
import { PolicyRegistry } from './policies/registry';
import { openEventStore } from './store/event-store-sql';
import { openAuditTrail } from './operations/audit';
import { openOperationsQueue, serviceLevelsOf } from './operations/queue';
import { openPhoneIndex } from './store/phone-index';
import { openRateLimitStore } from './store/rate-limit';
import { openSendLedger } from './store/send-ledger';
import { connectClient } from './temporal/client';

/** How long a stopping API waits for requests in flight. */
export const SHUTDOWN_GRACE_MS = 10_000;

export interface RunningApi {
  url: string;
  stop(): Promise<void>;
}

export async function startApi(
  config: Config,
  log: Logger,
  opts: { createDevCredentials: boolean } = { createDevCredentials: false },
): Promise<RunningApi & { devKeyFile?: string; devSecretFile?: string }> {
  const policies = PolicyRegistry.load(config.policiesDir);
  const credentials = resolveCredentials(config, opts);
  const client = await connectClient(config);
  const ledger = openSendLedger(config.stores.sends);
  const phoneIndex = openPhoneIndex(config.stores.phones, credentials.phoneIndexKey);
  const events = openEventStore(config.eventStore);
  const rateLimitStore = openRateLimitStore(config.stores.limits);
  const codec = payloadCodec(config, { create: false });
  const operations = openOperationsQueue(config.stores.operations, {
    codec,
    serviceLevels: serviceLevelsOf(config.operationsServiceLevels),
  });
  const audit = openAuditTrail(config.stores.operations);
  const app = createApp({
    client,
    taskQueue: config.taskQueue,
    lender: config.lender,
    policies,
    log,
    apiKeys: credentials.apiKeys,
    webhookSecrets: credentials.webhookSecrets,
    rateLimitPerMinute: config.rateLimitPerMinute,
    rateLimitStore,
    events,
    operations,
    audit,
    payloadCodec: codec,
    temporalUi: config.temporalUiUrl ? { url: config.temporalUiUrl, namespace: config.namespace } : undefined,
    codec: {
      codec,
      corsOrigins: config.codecCorsOrigins,
      uiToken: credentials.codecUiToken,
    },
    sms: {
      ledger,
      phoneIndex,
      auth: {
        twilioAuthToken: config.twilioAuthToken,
        publicBaseUrl: config.publicBaseUrl,
        callbackToken: credentials.smsCallbackToken,
      },
    },
  });
  const server: Server = await new Promise((ok, fail) => {
    const s = createHttpServer(app).listen(config.http.port, config.http.host, () => ok(s));
    s.once('error', fail);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const url = `http://${config.http.host === '0.0.0.0' ? 'localhost' : config.http.host}:${port}`;
  log.info({ url }, 'API listening');
  return {
    url,
    devKeyFile: credentials.devKeyFile,
    devSecretFile: credentials.devSecretFile,
    async stop() {
      // Finish requests in flight and refuse new ones; let idle keep-alive sockets go at once, and
      // cut whatever is still open after the grace time.
      await new Promise<void>((done) => {
        const cut = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
        server.close(() => {
          clearTimeout(cut);
          done();
        });
        server.closeIdleConnections();
      });
      await Promise.all([
        ledger.close(),
        phoneIndex.close(),
        events.close(),
        operations.close(),
        audit.close(),
        rateLimitStore.shutdown(),
      ]);
      await client.connection.close();
    },
  };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'api');
  const api = await startApi(config, log);
  const stop = () => {
    log.info('stopping API');
    api.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'API stopped with an error');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
