// One way to open the project's SQLite files: the folder made, WAL so the worker and the API on one
// machine can share a file, a wait rather than an error while another process writes, and (for
// what must survive a crash the moment it is written) FULL sync.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export function openSqlite(path: string, opts: { durable: boolean }): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  if (opts.durable) db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  return db;
}
