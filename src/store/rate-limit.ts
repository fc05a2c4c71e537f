// The API's rate-limit counters in the service's store, for express-rate-limit: with DATABASE_URL
// every API instance counts against the same allowance, so a caller spread over several instances
// (by a load balancer, or on purpose) gets no more than one instance would give. Fixed windows:
// one row per caller and window, incremented in one statement; old windows are swept now and then.
// The caller is a digest of a known key, or an address (see app.ts), never a key itself.
import type Database from 'better-sqlite3';
import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { Pool } from 'pg';
import { forSqlite, postgresStore, sqliteStore, type Ready, type StoreLocation } from './sql';

const HIT = `INSERT INTO rate_limit_hits (caller, window_start_ms, hits) VALUES ($1, $2, 1)
  ON CONFLICT (caller, window_start_ms) DO UPDATE SET hits = rate_limit_hits.hits + 1
  RETURNING hits`;
const UNHIT = `UPDATE rate_limit_hits SET hits = hits - 1 WHERE caller = $1 AND window_start_ms = $2 AND hits > 0`;
const READ = `SELECT hits FROM rate_limit_hits WHERE caller = $1 AND window_start_ms = $2`;
const RESET = `DELETE FROM rate_limit_hits WHERE caller = $1`;
const SWEEP = `DELETE FROM rate_limit_hits WHERE window_start_ms < $1`;

/** How often (in hits) the expired windows are deleted. */
const SWEEP_EVERY = 1_000;

abstract class SqlRateLimitStore implements Store {
  /** Counted across instances: express-rate-limit must not assume it sees every hit. */
  readonly localKeys = false;
  private windowMs = 60_000;
  private hitsSinceSweep = 0;

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  private window(now = Date.now()) {
    const start = now - (now % this.windowMs);
    return { start, resetTime: new Date(start + this.windowMs) };
  }

  protected abstract query(sql: string, params: unknown[]): Promise<Array<{ hits: number | string }>>;
  protected abstract exec(sql: string, params: unknown[]): Promise<void>;
  abstract shutdown(): Promise<void>;

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const w = this.window();
    const [row] = await this.query(READ, [key, w.start]);
    return row ? { totalHits: Number(row.hits), resetTime: w.resetTime } : undefined;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const w = this.window();
    const [row] = await this.query(HIT, [key, w.start]);
    if (++this.hitsSinceSweep >= SWEEP_EVERY) {
      this.hitsSinceSweep = 0;
      await this.exec(SWEEP, [w.start]);
    }
    return { totalHits: Number(row.hits), resetTime: w.resetTime };
  }

  async decrement(key: string): Promise<void> {
    await this.exec(UNHIT, [key, this.window().start]);
  }

  async resetKey(key: string): Promise<void> {
    await this.exec(RESET, [key]);
  }
}

export class SqliteRateLimitStore extends SqlRateLimitStore {
  private readonly db: Database.Database;
  private readonly opened: Ready;

  constructor(readonly path: string) {
    super();
    // Counters, not promises: a crash may lose the last increments.
    const store = sqliteStore(path, 'limits', { durable: false });
    this.db = store.db;
    this.opened = store.ready;
  }

  protected async query(sql: string, params: unknown[]) {
    await this.opened.ready;
    return this.db.prepare(forSqlite(sql)).all(...params) as Array<{ hits: number }>;
  }

  protected async exec(sql: string, params: unknown[]) {
    await this.opened.ready;
    this.db.prepare(forSqlite(sql)).run(...params);
  }

  shutdown(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}

export class PostgresRateLimitStore extends SqlRateLimitStore {
  private readonly pool: Pool;
  private readonly opened: Ready;
  private readonly release: () => Promise<void>;

  constructor(databaseUrl: string) {
    super();
    const store = postgresStore(databaseUrl, 'limits');
    this.pool = store.pool;
    this.opened = store.ready;
    this.release = store.release;
  }

  protected async query(sql: string, params: unknown[]) {
    await this.opened.ready;
    return (await this.pool.query<{ hits: number }>(sql, params)).rows;
  }

  protected async exec(sql: string, params: unknown[]) {
    await this.opened.ready;
    await this.pool.query(sql, params);
  }

  shutdown(): Promise<void> {
    return this.release();
  }
}

export function openRateLimitStore(at: StoreLocation): SqliteRateLimitStore | PostgresRateLimitStore {
  return 'databaseUrl' in at ? new PostgresRateLimitStore(at.databaseUrl) : new SqliteRateLimitStore(at.sqlitePath);
}
