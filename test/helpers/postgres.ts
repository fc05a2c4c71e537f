// A throwaway PostgreSQL server for tests: initdb into a temporary folder, start on a free loopback
// port, stop and delete afterwards. Uses TEST_DATABASE_URL instead when it is set. The server
// binaries come from the system (Debian's postgresql package; .ci/run installs it).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { postgresBinDir } from '../../scripts/lib/postgres';
import { freePort } from './stack';

export interface TestPostgres {
  /** A fresh, empty database on the server. */
  url: string;
  stop(): Promise<void>;
}

async function createDatabase(adminUrl: string): Promise<string> {
  const name = `loan_reminders_test_${process.pid}_${Date.now().toString(36)}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function startPostgres(): Promise<TestPostgres> {
  if (process.env.TEST_DATABASE_URL) {
    return { url: await createDatabase(process.env.TEST_DATABASE_URL), stop: () => Promise.resolve() };
  }
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'loan-reminders-pg-'));
  const data = join(dir, 'data');
  // PostgreSQL refuses to run as root: as root, run it as the system's postgres user.
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { stdio: 'pipe' })
      : execFileSync(join(bin, cmd), args, { stdio: 'pipe' });
  if (asRoot) {
    const ids = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    chownSync(dir, Number(ids), Number(gid));
  }
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  run('pg_ctl', [
    '-D',
    data,
    '-w',
    '-l',
    join(dir, 'server.log'),
    '-o',
    `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c full_page_writes=off`,
    'start',
  ]);
  const url = await createDatabase(`postgres://postgres@127.0.0.1:${port}/postgres`);
  return {
    url,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      return Promise.resolve();
    },
  };
}

/**
 * A URL of the same database whose connections work in a new, empty schema of their own (through
 * search_path): a clean place for one test, as a database of its own would be, at no cost.
 */
export async function freshSchema(url: string): Promise<string> {
  const schema = `t_${randomBytes(5).toString('hex')}`;
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end();
  }
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}
