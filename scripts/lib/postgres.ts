// A PostgreSQL server from the system's binaries (Debian's postgresql package), for the local
// cluster (scripts/cluster.ts) and its tests: initdb into a folder once, then start it on a
// loopback port; as root, run as the system's postgres user (PostgreSQL refuses to run as root).
// The same way of starting as test/helpers/postgres.ts, but on a folder that may outlive the
// process (data/cluster/postgres), so a cluster keeps its databases from one run to the next.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';

export interface LocalPostgres {
  /** The superuser `postgres` on database `postgres`, over TCP. */
  adminUrl: string;
  port: number;
  dataDir: string;
  logFile: string;
  stop(): Promise<void>;
}

export function postgresBinDir(): string {
  const candidates = [process.env.PG_BIN_DIR ?? ''];
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    for (const v of readdirSync(debian).sort((a, b) => Number(b) - Number(a))) candidates.push(join(debian, v, 'bin'));
  }
  const found = candidates.find((d) => d && existsSync(join(d, 'initdb')));
  if (found) return found;
  const onPath = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return join(onPath, '..');
  throw new Error(
    'PostgreSQL server binaries not found: install them (Debian: apt-get install postgresql), set PG_BIN_DIR, or pass a database URL',
  );
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts PostgreSQL on `dir` (created and initialised when empty; `dir/data` holds the cluster).
 * `port` defaults to a free one. `ephemeral` deletes the folder on stop.
 */
export async function startLocalPostgres(opts: {
  dir: string;
  port?: number;
  ephemeral?: boolean;
}): Promise<LocalPostgres> {
  const bin = postgresBinDir();
  const { dir } = opts;
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  mkdirSync(dir, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { stdio: 'pipe' })
      : execFileSync(join(bin, cmd), args, { stdio: 'pipe' });
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
    if (spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-w', dir]).status !== 0)
      throw new Error(`the postgres user cannot reach ${dir}: a folder above it is closed to other users`);
  }
  if (!existsSync(join(data, 'PG_VERSION'))) {
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  } else if (existsSync(join(data, 'postmaster.pid'))) {
    // Left by a run that did not stop cleanly: pg_ctl status tells a live server from a stale file.
    const status = spawnSync(asRoot ? 'runuser' : join(bin, 'pg_ctl'), [
      ...(asRoot ? ['-u', 'postgres', '--', join(bin, 'pg_ctl')] : []),
      '-D',
      data,
      'status',
    ]);
    if (status.status === 0) {
      const pid = readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0];
      throw new Error(`PostgreSQL is already running on ${data} (pid ${pid}): stop it first`);
    }
  }
  const port = opts.port ?? (await freePort());
  // A local cluster's data is for trials: fsync off as in the tests, so it is quick on small disks.
  run('pg_ctl', [
    '-D',
    data,
    '-w',
    '-t',
    '60',
    '-l',
    logFile,
    '-o',
    `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c full_page_writes=off -c max_connections=300`,
    'start',
  ]);
  let stopped = false;
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir: data,
    logFile,
    stop() {
      if (stopped) return Promise.resolve();
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        if (opts.ephemeral) rmSync(dir, { recursive: true, force: true });
      }
      return Promise.resolve();
    },
  };
}

const ident = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL identifier: ${name}`);
  return `"${name}"`;
};

/**
 * What deploy/postgres/init-databases.sh does for one role, where it is still missing: the role
 * (with its password), its databases, owned by it, and no other role may connect to them.
 */
export async function ensureRoleAndDatabases(
  adminUrl: string,
  role: string,
  password: string,
  databases: readonly string[],
): Promise<void> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const roles = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    if (!roles.rowCount) {
      // A password is a literal in CREATE ROLE, not a parameter: quoted with escapeLiteral.
      await admin.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD ${admin.escapeLiteral(password)}`);
    }
    for (const db of databases) {
      const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
      if (found.rowCount) continue;
      await admin.query(`CREATE DATABASE ${ident(db)} OWNER ${ident(role)}`);
      await admin.query(`REVOKE ALL ON DATABASE ${ident(db)} FROM PUBLIC`);
    }
  } finally {
    await admin.end();
  }
}

/** adminUrl with another user, password and database. */
export function urlFor(adminUrl: string, user: string, password: string, database: string): string {
  const url = new URL(adminUrl);
  url.username = user;
  url.password = password;
  url.pathname = `/${database}`;
  return url.toString();
}
