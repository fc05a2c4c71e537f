// Where the service's own state lives: a SQLite file per concern on one machine (the default; `npm
// start` needs nothing installed), or one PostgreSQL database that every worker and API instance
// shares (DATABASE_URL), so that a send claimed, a number indexed or a hand-over filed on one
// machine is seen by all. Both back ends run the same migrations (./migrations.ts), applied by
// Kysely's migrator, which records them and holds a lock while it runs: PostgreSQL's advisory lock,
// so instances starting together migrate once.
import type Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import { Pool, type PoolClient } from 'pg';
import { MIGRATIONS, type Concern } from './migrations';
import { openSqlite } from './sqlite';

/** How a store reaches its data: its own SQLite file, or the shared PostgreSQL database. */
export type StoreLocation = { sqlitePath: string } | { databaseUrl: string };

/** The SQLite file of one concern, or the database URL when one is set. */
export function storeLocation(opts: { databaseUrl?: string; sqlitePath: string }): StoreLocation {
  return opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : { sqlitePath: opts.sqlitePath };
}

// ---- PostgreSQL: one pool per process and database, shared by its stores ----

const pools = new Map<string, { pool: Pool; users: number }>();

/** The process's pool for this database; give it back with releasePool when the store closes. */
export function sharedPool(databaseUrl: string): Pool {
  let entry = pools.get(databaseUrl);
  if (!entry) {
    const pool = new Pool({ connectionString: databaseUrl, max: 10 });
    // An idle client's error (the server restarted) must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    entry = { pool, users: 0 };
    pools.set(databaseUrl, entry);
  }
  entry.users++;
  return entry.pool;
}

export async function releasePool(databaseUrl: string): Promise<void> {
  const entry = pools.get(databaseUrl);
  if (!entry || --entry.users > 0) return;
  pools.delete(databaseUrl);
  await entry.pool.end();
}

/** Runs `fn` in one transaction on a client of the pool: committed if it resolves, rolled back if it throws. */
export async function transaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

// ---- Migrations ----

async function runMigrations(db: Kysely<unknown>, concern: Concern, schema?: string): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(MIGRATIONS[concern]) },
    migrationTableName: `${concern}_migrations`,
    migrationLockTableName: `${concern}_migrations_lock`,
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(
      `the ${concern} store could not be migrated${failed ? ` (${failed})` : ''}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** SQLite migrations of this process, by file: one at a time (Kysely takes no lock on SQLite). */
const sqliteMigrations = new Map<string, Promise<void>>();

/** Brings a SQLite file to the latest schema of its concern; a second process at the same moment waits. */
export async function migrateSqlite(db: Database.Database, concern: Concern): Promise<void> {
  const earlier = sqliteMigrations.get(db.name) ?? Promise.resolve();
  const mine = earlier.catch(() => undefined).then(() => migrateSqliteNow(db, concern));
  sqliteMigrations.set(db.name, mine);
  return mine;
}

async function migrateSqliteNow(db: Database.Database, concern: Concern): Promise<void> {
  // Not destroyed afterwards: that would close the file the store goes on using.
  const kysely = new Kysely<unknown>({ dialect: new SqliteDialect({ database: db }) });
  for (let attempt = 1; ; attempt++) {
    try {
      return await runMigrations(kysely, concern);
    } catch (err) {
      // Another process migrating the same new file at the same moment: once it is done, this
      // one finds the migrations applied.
      const cause = String((err as Error).cause ?? err);
      if (attempt >= 20 || !/SQLITE_BUSY|database is locked|UNIQUE constraint failed/.test(cause)) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

/** Brings the shared database to the latest schema of a concern, once however many instances start. */
export async function migratePostgres(pool: Pool, concern: Concern): Promise<void> {
  // The schema the connection works in (search_path): the migrator's own tables go there too, not
  // to whichever schema of the database first holds a table of their name.
  const { rows } = await pool.query<{ schema: string }>('SELECT current_schema() AS schema');
  // Not destroyed afterwards: that would end the pool the stores share.
  await runMigrations(new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }), concern, rows[0].schema);
}

/**
 * A store's readiness: opened and migrated once, on first use. A failure (PostgreSQL not yet up)
 * is not kept: the next call tries again, so a store that starts before its database recovers.
 */
export class Ready {
  private done?: Promise<void>;
  constructor(private readonly open: () => Promise<void>) {}
  get ready(): Promise<void> {
    this.done ??= this.open().catch((err: unknown) => {
      this.done = undefined;
      throw err;
    });
    return this.done;
  }
}

/** A SQLite file opened for a store and migrated to its concern's schema. */
export function sqliteStore(path: string, concern: Concern, opts: { durable: boolean }) {
  const db = openSqlite(path, opts);
  return { db, ready: new Ready(() => migrateSqlite(db, concern)) };
}

/** The shared pool, migrated to a concern's schema on first use. */
export function postgresStore(databaseUrl: string, concern: Concern) {
  const pool = sharedPool(databaseUrl);
  return { pool, ready: new Ready(() => migratePostgres(pool, concern)), release: () => releasePool(databaseUrl) };
}

/** Statements are written with $1..$n, each used once and in order, which SQLite reads as ?. */
export const forSqlite = (sql: string) => sql.replace(/\$\d+/g, '?');

/** Statements written with $1..$n over one concern's store, whichever back end holds it. */
export interface SqlRunner {
  /** The statement's rows (none for a statement that returns nothing). */
  query<R>(sql: string, params: readonly unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

/** A runner over a concern's store: its SQLite file (synced on every write with `durable`) or the shared database. */
export function sqlRunner(at: StoreLocation, concern: Concern, opts: { durable: boolean }): SqlRunner {
  if ('databaseUrl' in at) {
    const { pool, ready, release } = postgresStore(at.databaseUrl, concern);
    return {
      async query<R>(sql: string, params: readonly unknown[]) {
        await ready.ready;
        return (await pool.query(sql, params as unknown[])).rows as R[];
      },
      close: release,
    };
  }
  const { db, ready } = sqliteStore(at.sqlitePath, concern, opts);
  return {
    async query<R>(sql: string, params: readonly unknown[]) {
      await ready.ready;
      const st = db.prepare(forSqlite(sql));
      if (st.reader) return st.all(...params) as R[];
      st.run(...params);
      return [];
    },
    close() {
      db.close();
      return Promise.resolve();
    },
  };
}
