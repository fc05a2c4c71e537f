// The stack a benchmark measures: a tuned Temporal dev server on its own SQLite file, and the
// worker and API as separate processes, configured as in production (encrypted payloads, the local
// SMS provider). Each process can be asked for its resident memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { EncryptionCodec, encryptedDataConverter, parsePayloadKeys } from '../../src/codec/encryption';
import { DEV_SERVER_SQLITE_PRAGMAS, startDevServer, type RunningDevServer } from '../../src/temporal/dev-server';
import { startLocalPostgres } from '../../scripts/lib/postgres';
import { freePortBlock, startTemporalCluster } from '../../scripts/lib/temporal-cluster';
import { freePort, ROOT } from '../../test/helpers/stack';

/** PostgreSQL in the run's folder and the Temporal server on it. */
async function startClusterServer(dir: string): Promise<Pick<RunningDevServer, 'address' | 'stop'>> {
  chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user when this runs as root
  const pg = await startLocalPostgres({ dir: join(dir, 'postgres'), ephemeral: true });
  const cluster = await startTemporalCluster({
    postgresAdminUrl: pg.adminUrl,
    port: await freePortBlock(),
    historyShards: 16,
    namespace: 'default',
    dir: join(dir, 'temporal'),
  });
  return {
    address: cluster.address,
    async stop() {
      await cluster.stop();
      await pg.stop();
    },
  };
}

export interface BenchServer {
  server: Pick<RunningDevServer, 'address' | 'stop'>;
  dbFile: string;
  dir: string;
  client: Client;
  connection: Connection;
  payloadKeys: string;
  /** Bytes of the server's SQLite file and its write-ahead log. */
  dbBytes(): number;
  stop(): Promise<void>;
}

/**
 * The Temporal server of a run: the CLI's dev server on a SQLite file (the default), or the
 * Temporal server built from Go modules on PostgreSQL, as docker-compose.yml runs it (`cluster`).
 */
export async function startBenchServer(
  opts: { pragmas?: readonly string[]; temporal?: 'dev-server' | 'cluster' } = {},
): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const dbFile = join(dir, 'temporal.db');
  const [port, uiPort] = [await freePort(), await freePort()];
  const server: Pick<RunningDevServer, 'address' | 'stop'> =
    opts.temporal === 'cluster'
      ? await startClusterServer(dir)
      : await startDevServer({
          port,
          uiPort,
          dbFile,
          namespace: 'default',
          headless: true,
          sqlitePragmas: opts.pragmas ?? DEV_SERVER_SQLITE_PRAGMAS,
        });
  const payloadKeys = `bench:${randomBytes(32).toString('base64')}`;
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({
    connection,
    dataConverter: encryptedDataConverter(new EncryptionCodec(parsePayloadKeys(payloadKeys))),
  });
  return {
    server,
    dbFile,
    dir,
    client,
    connection,
    payloadKeys,
    dbBytes: () => [dbFile, `${dbFile}-wal`].filter((f) => existsSync(f)).reduce((sum, f) => sum + statSync(f).size, 0),
    async stop() {
      await connection.close();
      await server.stop();
    },
  };
}

export interface BenchProcess {
  child: ChildProcess;
  output(): string;
  /** Resident set size in bytes, from /proc. */
  rssBytes(): number;
  /** CPU seconds (user + system) used so far, from /proc. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Runs a TypeScript entry point as its own Node process, until `ready` appears in its output. */
export async function startProcess(
  entry: string,
  env: NodeJS.ProcessEnv,
  ready: (output: string) => boolean,
  logFile: string,
): Promise<BenchProcess> {
  // Logs (at info, as in production) go to a file, not through a pipe the benchmark must drain.
  const log = openSync(logFile, 'a');
  // BENCH_PROFILE_DIR=<dir>: each process writes a V8 CPU profile there when it stops.
  const profile = process.env.BENCH_PROFILE_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
    : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const tail = () => {
    const text = readFileSync(logFile, 'utf8');
    return text.slice(-20_000);
  };
  let out = '';
  const killOnExit = () => child.exitCode === null && child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const deadline = Date.now() + 120_000;
  while (!ready((out = tail()))) {
    if (child.exitCode !== null) throw new Error(`${entry} exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`${entry} did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const stat = () => readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return {
    child,
    output: tail,
    rssBytes: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024,
    // Fields 14 and 15 of /proc/<pid>/stat (utime, stime) in clock ticks of 1/100 s.
    cpuSeconds: () => (Number(stat()[11]) + Number(stat()[12])) / 100,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
      process.removeListener('exit', killOnExit);
    },
  };
}

/** Waits until a process has used less than `share` of a core over a second: it has caught up. */
export async function untilIdle(p: BenchProcess, share = 0.05, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let before = p.cpuSeconds();
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = p.cpuSeconds();
    if (now - before < share || Date.now() > deadline) return;
    before = now;
  }
}

export interface OurService {
  worker: BenchProcess;
  api?: BenchProcess & { url: string; apiKey: string; webhookSecret: string };
  outboxPath: string;
  eventStorePath: string;
  taskQueue: string;
  stop(): Promise<void>;
}

/**
 * The service as deployed: `src/worker.ts` and (optionally) `src/server.ts` as processes of their
 * own against the benchmark's server, with no SMS rate limit unless `env` sets one.
 */
export async function startService(
  s: BenchServer,
  opts: { name: string; api?: boolean; env?: NodeJS.ProcessEnv; bare?: boolean },
): Promise<OurService> {
  const dir = mkdtempSync(join(s.dir, `${opts.name}-`));
  const taskQueue = `bench-${opts.name}`;
  const apiKey = randomBytes(24).toString('hex');
  const webhookSecret = randomBytes(24).toString('hex');
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    TEMPORAL_ADDRESS: s.server.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    DATA_DIR: dir,
    PAYLOAD_KEYS: s.payloadKeys,
    OUTBOX_PATH: join(dir, 'outbox.jsonl'),
    SEND_LEDGER_PATH: join(dir, 'sends.sqlite'),
    OPERATIONS_PATH: join(dir, 'operations.sqlite'),
    EVENT_STORE_PATH: join(dir, 'events.sqlite'),
    PHONE_INDEX_PATH: join(dir, 'phone-index.sqlite'),
    PHONE_INDEX_KEY: randomBytes(24).toString('hex'),
    SMS_CALLBACK_TOKEN: randomBytes(24).toString('hex'),
    CODEC_UI_TOKEN: randomBytes(24).toString('hex'),
    API_KEYS: `bench:${apiKey}:loans:write+loans:read`,
    WEBHOOK_SECRETS: webhookSecret,
    HOST: '127.0.0.1',
    PORT: String(port),
    RATE_LIMIT_PER_MINUTE: '1000000',
    SMS_RATE_PER_SECOND: '10000',
    ...opts.env,
  };
  const worker = await startProcess(
    opts.bare ? 'bench/bare/worker.ts' : 'src/worker.ts',
    env,
    (o) => o.includes('worker running'),
    join(dir, 'worker.log'),
  );
  let api: OurService['api'];
  if (opts.api) {
    const p = await startProcess('src/server.ts', env, (o) => o.includes('API listening'), join(dir, 'api.log'));
    api = Object.assign(p, { url: `http://127.0.0.1:${port}`, apiKey, webhookSecret });
  }
  return {
    worker,
    api,
    outboxPath: env.OUTBOX_PATH!,
    eventStorePath: env.EVENT_STORE_PATH!,
    taskQueue,
    async stop() {
      await api?.stop();
      await worker.stop();
    },
  };
}
