// Worker entry point (`npm run worker`): runs the loan workflows and the SMS activities on the
// configured task queue.
import { join } from 'node:path';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from './activities';
import { loadConfig, temporalAddressOf, type Config } from './config';
import { createLogger, sdkLogger, type Logger } from './log';
import { FileOperationsQueue } from './operations/queue';
import { OutboxProvider } from './sms/outbox';
import { ensureSearchAttributes } from './temporal/search-attributes';

export interface RunningWorker {
  worker: Worker;
  /** Settles when the worker has stopped. */
  done: Promise<void>;
  stop(): Promise<void>;
}

let runtimeInstalled = false;
/**
 * The SDK logs through our logger; and the process, not the SDK, decides when to stop, since it
 * must stop the API, the worker and the dev server in that order.
 */
export function installRuntime(log: Logger): void {
  if (runtimeInstalled) return;
  Runtime.install({ shutdownSignals: [], logger: sdkLogger(log) });
  runtimeInstalled = true;
}

export const WORKFLOWS_PATH = join(__dirname, 'workflows', 'index.ts');

export async function startWorker(config: Config, log: Logger): Promise<RunningWorker> {
  installRuntime(log);
  // Bundled here rather than by Worker.create, so the bundler's build report stays out of the logs.
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: sdkLogger(log.child({}, { level: 'warn' })),
  });
  const connection = await NativeConnection.connect({ address: temporalAddressOf(config) });
  const registered = await ensureSearchAttributes(connection, config.namespace);
  if (registered.length) log.info({ registered }, 'registered search attributes');
  const worker = await Worker.create({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    workflowBundle,
    activities: createActivities({
      sms: new OutboxProvider(config.outboxPath),
      operations: new FileOperationsQueue(config.operationsPath),
    }),
    shutdownGraceTime: '10 seconds',
  });
  const done = worker.run().finally(() => connection.close());
  log.info({ taskQueue: config.taskQueue, namespace: config.namespace }, 'worker running');
  return {
    worker,
    done,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'worker');
  const running = await startWorker(config, log);
  const stop = () => {
    log.info('stopping worker');
    running.stop().catch((err: unknown) => log.error({ err }, 'worker stopped with an error'));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await running.done;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
