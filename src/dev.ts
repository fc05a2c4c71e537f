// `npm start`: the whole local stack in one process tree: the Temporal dev server (unless
// TEMPORAL_ADDRESS points elsewhere), the worker and the API. Ctrl-C stops all three in order.
// However many SIGINTs and SIGTERMs arrive (a terminal's Ctrl-C reaches npm and this process, and
// npm relays it again), the first starts the stop and the others change nothing; a stop that takes
// longer than STOP_GRACE_MS kills the dev server by force. If this process is killed outright, the
// dev server's guard stops it (temporal/dev-server-guard.js).
import { loadConfig } from './config';
import { codecUiToken, payloadCodec } from './credentials';
import { createLogger } from './log';
import { readFileSync } from 'node:fs';
import { startApi } from './server';
import { startDevServer, type RunningDevServer } from './temporal/dev-server';
import { startWorker, type RunningWorker } from './worker';

/** Printed under the dev server's Web UI: how it differs from the one docker-compose.yml runs. */
const DEV_UI_WRITE_ACTIONS =
  'write actions on (terminate, cancel, signal, reset): local development only; the compose UI is read-only';

/** How long a stop may take before the dev server is killed. */
const STOP_GRACE_MS = 30_000;

async function main(): Promise<void> {
  // One machine: its secrets may be local files, whatever store it uses.
  const config = { ...loadConfig(), localSecrets: true };
  const log = createLogger(config.logLevel, 'dev');
  let devServer: RunningDevServer | undefined;
  let worker: RunningWorker | undefined;
  let api: Awaited<ReturnType<typeof startApi>> | undefined;

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping: API, worker, then the Temporal server...');
    // Bounded: past the grace, the dev server is killed (never left running) and this process ends.
    const force = setTimeout(() => {
      console.error(`Not stopped after ${STOP_GRACE_MS / 1000} s: killing the Temporal server.`);
      devServer?.kill();
      process.exit(1);
    }, STOP_GRACE_MS);
    const step = async (what: string, fn?: () => Promise<void>) => {
      try {
        await fn?.();
      } catch (err) {
        log.error({ err }, `${what} stopped with an error`);
        code = 1;
      }
    };
    await step('API', api?.stop);
    await step('worker', worker?.stop);
    await step('Temporal dev server', devServer?.stop);
    clearTimeout(force);
    console.log('Stopped.');
    process.exit(code);
  };
  // Handlers that stay: a later signal must not meet the default action, which would end this
  // process with the dev server still to stop.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping) {
        console.log(`(${signal}: already stopping)`);
        return;
      }
      void stop(0);
    });
  }

  try {
    // The local payload key and codec token, made once under data/ unless configured.
    payloadCodec(config, { create: true });
    const codecEndpoint = `http://localhost:${config.http.port}/codec/${codecUiToken(config, { create: true })}`;
    if (!config.temporalAddress) {
      devServer = await startDevServer({ ...config.devServer, namespace: config.namespace, codecEndpoint });
      config.temporalAddress = devServer.address;
    }
    worker = await startWorker(config, log);
    api = await startApi(config, log, { createDevCredentials: true });
  } catch (err) {
    console.error(`Could not start: ${err instanceof Error ? err.message : String(err)}`);
    await stop(1);
    return;
  }
  worker.done.catch((err: unknown) => {
    log.error({ err }, 'worker failed');
    void stop(1);
  });

  console.log(
    [
      '',
      'loan-reminders is running:',
      `  API          ${api.url}   (POST /v1/loans, GET /v1/loans/:loanId)`,
      devServer
        ? [
            `  Temporal UI  ${devServer.uiUrl}`,
            // The CLI's dev server has no setting that makes its UI read-only (docker-compose.yml's does).
            `               ${DEV_UI_WRITE_ACTIONS}`,
            `  Temporal     ${devServer.address} (namespace ${config.namespace}, data in ${config.devServer.dbFile})`,
          ].join('\n')
        : `  Temporal     ${config.temporalAddress} (namespace ${config.namespace})`,
      `  Worker       task queue ${config.taskQueue}`,
      `  SMS outbox   ${config.outboxPath}`,
      ...(api.devKeyFile
        ? [
            `  API key      ${readFileSync(api.devKeyFile, 'utf8').trim()}   (local development key, in ${api.devKeyFile})`,
          ]
        : []),
      ...(api.devSecretFile ? [`  Webhooks     signed with the secret in ${api.devSecretFile}`] : []),
      `  API docs     ${api.url}/docs`,
      `  Dashboard    ${api.url}/dashboard/   (any user name; an API key as the password)`,
      `  Operations   ${api.url}/operations/   (your name as the user name; an API key as the password)`,
      `  Payloads     encrypted in Temporal (${config.payloadKeysSpec ? 'PAYLOAD_KEYS' : `key in ${config.dataDir}/dev-payload-key`}); the Web UI decodes them through ${api.url}/codec`,
      '',
      'Press Ctrl-C to stop.',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
