// A worker process for the baseline workflows, with the service's payload encryption and worker
// tuning, so a comparison differs only in the workflow's own work.
import { join } from 'node:path';
import { bundleWorkflowCode, NativeConnection, Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import {
  encryptedDataConverter,
  EncryptionCodec,
  FAILURE_CONVERTER_PATH,
  parsePayloadKeys,
} from '../../src/codec/encryption';
import { loadConfig } from '../../src/config';
import { workerTuningOptions } from '../../src/worker';
import { bareActivities } from './activities';

async function main(): Promise<void> {
  const config = loadConfig();
  Runtime.install({ shutdownSignals: [], logger: new DefaultLogger('WARN') });
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: join(__dirname, 'workflows.ts'),
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
  });
  const connection = await NativeConnection.connect({ address: config.temporalAddress! });
  const worker = await Worker.create({
    ...workerTuningOptions(config.workerTuning),
    connection,
    taskQueue: config.taskQueue,
    workflowBundle,
    activities: bareActivities(config.outboxPath),
    dataConverter: encryptedDataConverter(new EncryptionCodec(parsePayloadKeys(config.payloadKeysSpec!))),
  });
  process.once('SIGTERM', () => worker.shutdown());
  console.log('worker running');
  await worker.run();
  await connection.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
