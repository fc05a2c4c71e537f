// Runs the Temporal CLI dev server for `npm start`: persisted to a SQLite file so loans survive
// restarts, with the Web UI. In its own process group, so Ctrl-C reaches it only after the worker
// and API have stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createConnection } from 'node:net';
import { Connection } from '@temporalio/client';
import { temporalCliPath } from './binaries';
import { devServerSearchAttributeArgs } from './search-attributes';

export interface DevServerOptions {
  port: number;
  uiPort: number;
  dbFile: string;
  namespace: string;
  /** The codec endpoint the Web UI decodes payloads through. */
  codecEndpoint?: string;
  /** SQLite pragmas for the server's file; default DEV_SERVER_SQLITE_PRAGMAS. */
  sqlitePragmas?: readonly string[];
  /** Without the Web UI (benchmarks, tests). */
  headless?: boolean;
}

/**
 * The dev server's SQLite file tuned for throughput: a write-ahead log (readers do not wait for
 * the writer; one fsync per checkpoint rather than per transaction) with `synchronous=NORMAL`,
 * which in WAL mode survives any crash of the process (a power cut may lose the last commits).
 * `npm run bench` measures the gain (README, Performance).
 */
export const DEV_SERVER_SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'] as const;

export interface RunningDevServer {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

async function waitUntilServing(address: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the Temporal dev server exited with code ${child.exitCode}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`the Temporal dev server did not answer on ${address}: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The CLI's arguments for a dev server with these options (also for tests that run it themselves). */
export function devServerArgs(opts: DevServerOptions): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.port),
    '--ui-port',
    String(opts.uiPort),
    '--db-filename',
    opts.dbFile,
    '--namespace',
    opts.namespace,
    '--log-level',
    'error',
    ...(opts.codecEndpoint ? ['--ui-codec-endpoint', opts.codecEndpoint] : []),
    ...(opts.sqlitePragmas ?? DEV_SERVER_SQLITE_PRAGMAS).flatMap((p) => ['--sqlite-pragma', p]),
    ...(opts.headless ? ['--headless'] : []),
    ...devServerSearchAttributeArgs(),
  ];
}

export async function startDevServer(opts: DevServerOptions): Promise<RunningDevServer> {
  for (const port of [opts.port, opts.uiPort]) {
    if (await portInUse(port)) {
      throw new Error(
        `port ${port} is already in use (another Temporal server?). ` +
          `Stop it, choose other ports with TEMPORAL_DEV_PORT / TEMPORAL_UI_PORT, ` +
          `or set TEMPORAL_ADDRESS to use a server that is already running.`,
      );
    }
  }
  mkdirSync(dirname(opts.dbFile), { recursive: true });
  const args = devServerArgs(opts);
  const child = spawn(temporalCliPath(), args, { detached: true, stdio: ['ignore', 'inherit', 'inherit'] });
  const killOnExit = () => child.exitCode === null && child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const address = `127.0.0.1:${opts.port}`;
  try {
    await waitUntilServing(address, child, 60_000);
  } catch (err) {
    killOnExit();
    throw err;
  }
  return {
    address,
    uiUrl: `http://localhost:${opts.uiPort}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      process.removeListener('exit', killOnExit);
    },
  };
}
