// Worker entry point (`npm run worker`): runs the loan workflows on the configured task queue, and
// the SMS sends on a queue of their own whose rate the server holds to the provider's pace.
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Runtime, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type Activities } from './activities';
import { encryptedDataConverter } from './codec/encryption';
import { loadConfig, type Config } from './config';
import { payloadCodec } from './credentials';
import { createLogger, sdkLogger, type Logger } from './log';
import { openOperationsQueue, serviceLevelsOf } from './operations/queue';
import { createProvider } from './sms/select';
import { openEventStore } from './store/event-store-sql';
import { openSendLedger } from './store/send-ledger';
import { connectionOptions } from './temporal/connection';
import { decideSearchAttributes } from './temporal/search-attributes';
import { workerWorkflowBundle } from './temporal/workflow-bundle';
import { smsTaskQueue } from './workflows/messages';

export interface RunningWorker {
  workers: Worker[];
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

export async function startWorker(config: Config, log: Logger): Promise<RunningWorker> {
  installRuntime(log);
  const codec = payloadCodec(config, { create: false });
  const dataConverter = encryptedDataConverter(codec);
  // Prebuilt by `npm run build` for the compiled worker; bundled now from the sources (see workflow-bundle.ts).
  const workflowBundle = await workerWorkflowBundle(log);
  const connection = await NativeConnection.connect(connectionOptions(config));
  const searchAttributes = await decideSearchAttributes(
    connection,
    config.namespace,
    config.searchAttributes,
    log,
  ).catch(async (err: unknown) => {
    await connection.close();
    throw err;
  });
  const ledger = openSendLedger(config.stores.sends);
  const events = openEventStore(config.eventStore);
  const operations = openOperationsQueue(config.stores.operations, {
    codec,
    serviceLevels: serviceLevelsOf(config.operationsServiceLevels),
  });
  const workers = await createWorkers({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    workflowBundle,
    dataConverter,
    activities: createActivities({
      sms: createProvider(config.sms),
      operations,
      ledger,
      events,
      searchAttributes,
      webhooks: config.outboundWebhook && { ...config.outboundWebhook, taskQueue: config.taskQueue },
    }),
    smsPerSecond: config.smsPerSecond,
    tuning: config.workerTuning,
  });
  const done = Promise.all(workers.map((w) => w.run()))
    .then(() => undefined)
    .finally(() => Promise.all([ledger.close(), operations.close(), events.close(), connection.close()]));
  log.info(
    {
      taskQueue: config.taskQueue,
      smsTaskQueue: smsTaskQueue(config.taskQueue),
      smsPerSecond: config.smsPerSecond,
      smsProvider: config.sms.provider,
      searchAttributes,
    },
    'worker running',
  );
  return {
    workers,
    done,
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done;
    },
  };
}

export interface WorkerSetup {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  /** The bundled code, or the path of a prebuilt bundle (see temporal/workflow-bundle.ts). */
  workflowBundle: WorkflowBundleOption;
  activities: Activities;
  /** The SMS provider's pace, held by the server across every worker of the queue. */
  smsPerSecond?: number;
  /** Payload encryption (see codec/encryption.ts); the bundle must then carry the same failure converter. */
  dataConverter?: DataConverter;
  tuning?: WorkerTuning;
}

/**
 * Capacity of a worker process; each unset value keeps the SDK's default. `npm run bench` measures
 * what they change (README, Performance).
 */
export interface WorkerTuning {
  /** Loans kept in memory between their workflow tasks (sticky cache); the rest replay from history. */
  maxCachedWorkflows?: number;
  /** Workflow tasks run at once. */
  workflowTaskSlots?: number;
  /** Activities (sends, hand-overs, event writes) run at once, per queue. */
  activitySlots?: number;
  /** Long polls kept open to the server, per kind of task. */
  pollers?: number;
}

/** The SDK options a tuning sets; shared with the benchmark's bare worker, so both run alike. */
export function workerTuningOptions(t: WorkerTuning = {}) {
  return {
    ...(t.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: t.maxCachedWorkflows } : {}),
    ...(t.workflowTaskSlots !== undefined ? { maxConcurrentWorkflowTaskExecutions: t.workflowTaskSlots } : {}),
    ...(t.activitySlots !== undefined ? { maxConcurrentActivityTaskExecutions: t.activitySlots } : {}),
    ...(t.pollers !== undefined
      ? {
          workflowTaskPollerBehavior: { type: 'simple-maximum' as const, maximum: t.pollers },
          activityTaskPollerBehavior: { type: 'simple-maximum' as const, maximum: t.pollers },
        }
      : {}),
  };
}

/**
 * The two workers of a worker process: workflows (and operations hand-overs) on the task queue,
 * SMS sends on their own rate-limited queue. Tests build theirs with this too.
 */
export async function createWorkers(setup: WorkerSetup): Promise<[Worker, Worker]> {
  const common = {
    ...workerTuningOptions(setup.tuning),
    connection: setup.connection,
    namespace: setup.namespace ?? 'default',
    shutdownGraceTime: '10 seconds' as const,
    ...(setup.dataConverter ? { dataConverter: setup.dataConverter } : {}),
  };
  const main = await Worker.create({
    ...common,
    taskQueue: setup.taskQueue,
    workflowBundle: setup.workflowBundle,
    // All activities here too: loans started before SMS had a queue of their own still send from this one.
    activities: setup.activities,
  });
  const sms = await Worker.create({
    ...common,
    taskQueue: smsTaskQueue(setup.taskQueue),
    activities: { sendSms: setup.activities.sendSms },
    ...(setup.smsPerSecond ? { maxTaskQueueActivitiesPerSecond: setup.smsPerSecond } : {}),
  });
  return [main, sms];
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
