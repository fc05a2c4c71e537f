// One way to open the project's SQLite files: the folder made, WAL so the worker and the API on one
// machine can share a file, a wait rather than an error while another process writes, and (for
// what must survive a crash the moment it is written) FULL sync. The rest syncs at checkpoints
// (NORMAL: in WAL mode, safe across a crash of the process; a power cut may lose the last writes),
// not on every write: each sync blocks the process's event loop (SQLite's default is FULL).
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export function openSqlite(path: string, opts: { durable: boolean }): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(opts.durable ? 'synchronous = FULL' : 'synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  return db;
}

/**
 * Commits the writes asked for in one turn of the event loop as one transaction: many concurrent
 * sends share one sync to disk instead of each blocking the process for its own. A write marked
 * durable is on disk when its promise settles (its transaction syncs: FULL); the others survive a
 * crash of the process but may be lost to a power cut (NORMAL), and cost no sync of their own.
 * A write that fails is retried alone, so it cannot fail the others.
 */
export class GroupCommit {
  private queue: Array<{ write: () => void; durable: boolean; resolve: () => void; reject: (err: unknown) => void }> =
    [];
  private syncing: boolean | undefined;

  constructor(private readonly db: Database.Database) {}

  run(write: () => void, opts: { durable: boolean }): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ write, durable: opts.durable, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue.splice(0);
    const durable = batch.some((w) => w.durable);
    if (durable !== this.syncing) {
      this.db.pragma(durable ? 'synchronous = FULL' : 'synchronous = NORMAL');
      this.syncing = durable;
    }
    try {
      this.db.transaction(() => {
        for (const w of batch) w.write();
      })();
    } catch {
      for (const w of batch) {
        try {
          this.db.transaction(w.write)();
          w.resolve();
        } catch (err) {
          w.reject(err);
        }
      }
      return;
    }
    for (const w of batch) w.resolve();
  }
}
