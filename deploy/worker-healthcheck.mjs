// Health check of a worker container (docker-compose.yml runs `node deploy/worker-healthcheck.mjs`
// in the image): healthy when a worker of this container polled its workflow task queue on the
// Temporal server within the last MAX_SILENCE_MS. Connects with the app's own configuration, so it
// follows TEMPORAL_ADDRESS, the namespace, the task queue and the connection settings.
/* global process, console */
import { hostname } from 'node:os';
import { loadConfig } from '../dist/config.js';
import { connectClient } from '../dist/temporal/client.js';

// An idle worker's long polls return and are renewed about once a minute.
const MAX_SILENCE_MS = 180_000;
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_WORKFLOW = 1;

/** A protobuf Timestamp (seconds may be a Long) in epoch milliseconds; 0 when absent. */
function toMs(timestamp) {
  const seconds = timestamp?.seconds;
  if (seconds === undefined || seconds === null) return 0;
  const s = typeof seconds === 'object' ? seconds.toNumber() : Number(seconds);
  const ms = s * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6);
  return Number.isFinite(ms) ? ms : 0;
}

async function main() {
  const config = loadConfig();
  const client = await connectClient(config);
  try {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: config.namespace,
      taskQueue: { name: config.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
      taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
    });
    // Worker identities are `<pid>@<hostname>`, and a container's hostname is its own.
    const here = `@${hostname()}`;
    const polls = (pollers ?? []).filter((p) => p.identity?.endsWith(here)).map((p) => toMs(p.lastAccessTime));
    if (polls.length === 0) {
      console.error(`no worker of this container polls task queue ${config.taskQueue}`);
      return 1;
    }
    const silence = Date.now() - Math.max(...polls);
    if (!(silence <= MAX_SILENCE_MS)) {
      console.error(
        `no poll from this container on task queue ${config.taskQueue} for ${Math.round(silence / 1000)} s`,
      );
      return 1;
    }
    console.log(`polling task queue ${config.taskQueue}`);
    return 0;
  } finally {
    await client.connection.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
