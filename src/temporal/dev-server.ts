// Runs the Temporal CLI dev server for `npm start`: persisted to a SQLite file so loans survive
// restarts, with the Web UI. In its own process group, so Ctrl-C reaches it only after the worker
// and API have stopped; under a guard (dev-server-guard.js) that stops it when this process ends in
// any way, kill -9 included, so it never keeps its ports and database file as an orphan.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
  /** SIGTERM, then SIGKILL after 10 s; resolves once the server has exited. */
  stop(): Promise<void>;
  /** SIGKILL to the server and its guard at once, for a stop that ran out of time. */
  kill(): void;
}

/** Watches this process for the dev server; see the file itself. */
export const DEV_SERVER_GUARD_PATH = join(__dirname, 'dev-server-guard.js');

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
  // The guard and the server in a process group of their own; the guard's stdin is a pipe from this
  // process, which only this process's end (of any kind) closes.
  const child = spawn(process.execPath, [DEV_SERVER_GUARD_PATH, temporalCliPath(), ...args], {
    detached: true,
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  // However this process exits (process.exit, an uncaught error), the whole group goes with it.
  process.once('exit', killGroup);
  const address = `127.0.0.1:${opts.port}`;
  try {
    await waitUntilServing(address, child, 60_000);
  } catch (err) {
    killGroup();
    throw err;
  }
  return {
    address,
    uiUrl: `http://localhost:${opts.uiPort}`,
    async stop() {
      if (running()) {
        child.kill('SIGTERM');
        const timer = setTimeout(killGroup, 10_000);
        await exited;
        clearTimeout(timer);
      }
      // Anything the server left in its group.
      killGroup();
      child.stdin?.destroy();
      process.removeListener('exit', killGroup);
    },
    kill: killGroup,
  };
}
