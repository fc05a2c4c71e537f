// The event store on SQL: the same migrations and statements on SQLite (one machine, the default)
// and PostgreSQL (several machines, DATABASE_URL). Statements are written with $1..$n parameters,
// which SQLite reads as ?1..?n.
import type Database from 'better-sqlite3';
import { Pool, type PoolClient } from 'pg';
import type { EventKind, EventStore, LoanEvent } from './events';
import { GroupCommit, openSqlite } from './sqlite';

/** Applied in order, once each, recorded in schema_migrations. Portable SQL only. */
export const MIGRATIONS: ReadonlyArray<{ id: string; sql: string }> = [
  {
    id: '001-loan-events',
    sql: `CREATE TABLE loan_events (
      event_id TEXT PRIMARY KEY,
      loan_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      at_ms BIGINT NOT NULL,
      policy_id TEXT,
      message_key TEXT,
      stage TEXT,
      template TEXT,
      variant TEXT,
      locale TEXT,
      segments INTEGER,
      amount BIGINT,
      outstanding BIGINT,
      currency TEXT,
      detail TEXT,
      recorded_at_ms BIGINT NOT NULL
    );
    CREATE INDEX loan_events_by_time ON loan_events (at_ms, kind);
    CREATE INDEX loan_events_by_loan ON loan_events (loan_id, at_ms);`,
  },
];

const COLUMNS = [
  'event_id',
  'loan_id',
  'kind',
  'at_ms',
  'policy_id',
  'message_key',
  'stage',
  'template',
  'variant',
  'locale',
  'segments',
  'amount',
  'outstanding',
  'currency',
  'detail',
  'recorded_at_ms',
] as const;

const INSERT = `INSERT INTO loan_events (${COLUMNS.join(', ')})
  VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})
  ON CONFLICT (event_id) DO NOTHING`;
const SELECT = `SELECT ${COLUMNS.join(', ')} FROM loan_events`;

type Row = Record<(typeof COLUMNS)[number], string | number | null>;

function toRow(e: LoanEvent, now: number): unknown[] {
  return [
    e.eventId,
    e.loanId,
    e.kind,
    Date.parse(e.at),
    e.policyId ?? null,
    e.messageKey ?? null,
    e.stage ?? null,
    e.template ?? null,
    e.variant ?? null,
    e.locale ?? null,
    e.segments ?? null,
    e.amount ?? null,
    e.outstanding ?? null,
    e.currency ?? null,
    e.detail ? JSON.stringify(e.detail) : null,
    now,
  ];
}

// PostgreSQL returns BIGINT as a string; both drivers return NULL as null.
const num = (v: string | number | null) => (v === null ? undefined : Number(v));
const text = (v: string | number | null) => (v === null ? undefined : String(v));

function fromRow(r: Row): LoanEvent {
  const e: LoanEvent = {
    eventId: String(r.event_id),
    loanId: String(r.loan_id),
    kind: String(r.kind) as EventKind,
    at: new Date(Number(r.at_ms)).toISOString(),
    policyId: text(r.policy_id),
    messageKey: text(r.message_key),
    stage: text(r.stage),
    template: text(r.template),
    variant: text(r.variant),
    locale: text(r.locale) as LoanEvent['locale'],
    segments: num(r.segments),
    amount: num(r.amount),
    outstanding: num(r.outstanding),
    currency: text(r.currency),
    detail: r.detail === null ? undefined : (JSON.parse(String(r.detail)) as LoanEvent['detail']),
  };
  for (const k of Object.keys(e) as Array<keyof LoanEvent>) if (e[k] === undefined) delete e[k];
  return e;
}

function kindsClause(kinds: readonly EventKind[] | undefined, first: number): { sql: string; params: string[] } {
  if (!kinds?.length) return { sql: '', params: [] };
  return { sql: ` AND kind IN (${kinds.map((_, i) => `$${first + i}`).join(', ')})`, params: [...kinds] };
}

// Every statement uses its parameters once each, in order: SQLite's positional ? fits.
const sqlite = (sql: string) => sql.replace(/\$\d+/g, '?');

export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly commits: GroupCommit;

  constructor(readonly path: string) {
    // Shared by the worker and the API on one machine.
    this.db = openSqlite(path, { durable: false });
    this.migrate();
    this.insert = this.db.prepare(sqlite(INSERT));
    this.commits = new GroupCommit(this.db);
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)');
    const applied = new Set(
      this.db
        .prepare<[], { id: string }>('SELECT id FROM schema_migrations')
        .all()
        .map((r) => r.id),
    );
    for (const m of MIGRATIONS) {
      if (applied.has(m.id)) continue;
      // IMMEDIATE: a second process migrating at the same moment waits, then finds it applied.
      this.db
        .transaction(() => {
          if (this.db.prepare('SELECT 1 FROM schema_migrations WHERE id = ?').get(m.id)) return;
          this.db.exec(m.sql);
          this.db.prepare('INSERT INTO schema_migrations (id, applied_at_ms) VALUES (?, ?)').run(m.id, Date.now());
        })
        .immediate();
    }
  }

  async append(events: readonly LoanEvent[]): Promise<number> {
    const now = Date.now();
    let inserted = 0;
    // Survives a crash of the process, not necessarily a power cut: analytics, not a promise to a
    // borrower, and not worth a sync to disk on every send.
    await this.commits.run(
      () => {
        inserted = 0; // run again alone if its group's transaction failed
        for (const e of events) inserted += this.insert.run(...toRow(e, now)).changes;
      },
      { durable: false },
    );
    return inserted;
  }

  between(fromMs: number, toMs: number, kinds?: readonly EventKind[]): Promise<LoanEvent[]> {
    const k = kindsClause(kinds, 3);
    const rows = this.db
      .prepare(sqlite(`${SELECT} WHERE at_ms >= $1 AND at_ms < $2${k.sql} ORDER BY at_ms, event_id`))
      .all(fromMs, toMs, ...k.params) as Row[];
    return Promise.resolve(rows.map(fromRow));
  }

  forLoan(loanId: string): Promise<LoanEvent[]> {
    const rows = this.db.prepare(sqlite(`${SELECT} WHERE loan_id = $1 ORDER BY at_ms, event_id`)).all(loanId) as Row[];
    return Promise.resolve(rows.map(fromRow));
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}

/** Any fixed number: serialises migrations across processes sharing one database. */
const MIGRATION_LOCK = 7_246_311;

export class PostgresEventStore implements EventStore {
  private readonly pool: Pool;
  private migrated?: Promise<void>;

  constructor(connectionString: string) {
    this.pool = new Pool({ connectionString, max: 5 });
    // An idle client's error (the server restarted) must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  /** Resolves when the database is reachable and migrated; a failure is retried by the next call. */
  private get ready(): Promise<void> {
    this.migrated ??= this.migrate().catch((err: unknown) => {
      this.migrated = undefined;
      throw err;
    });
    return this.migrated;
  }

  private async migrate(): Promise<void> {
    await this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await c.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)',
      );
      const { rows } = await c.query<{ id: string }>('SELECT id FROM schema_migrations');
      const applied = new Set(rows.map((r) => r.id));
      for (const m of MIGRATIONS) {
        if (applied.has(m.id)) continue;
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (id, applied_at_ms) VALUES ($1, $2)', [m.id, Date.now()]);
      }
    });
  }

  private async tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
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

  async append(events: readonly LoanEvent[]): Promise<number> {
    await this.ready;
    const now = Date.now();
    return this.tx(async (c) => {
      let n = 0;
      for (const e of events) n += (await c.query(INSERT, toRow(e, now))).rowCount ?? 0;
      return n;
    });
  }

  async between(fromMs: number, toMs: number, kinds?: readonly EventKind[]): Promise<LoanEvent[]> {
    await this.ready;
    const k = kindsClause(kinds, 3);
    const { rows } = await this.pool.query<Row>(
      `${SELECT} WHERE at_ms >= $1 AND at_ms < $2${k.sql} ORDER BY at_ms, event_id`,
      [fromMs, toMs, ...k.params],
    );
    return rows.map(fromRow);
  }

  async forLoan(loanId: string): Promise<LoanEvent[]> {
    await this.ready;
    const { rows } = await this.pool.query<Row>(`${SELECT} WHERE loan_id = $1 ORDER BY at_ms, event_id`, [loanId]);
    return rows.map(fromRow);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** PostgreSQL when a URL is given, else the SQLite file. */
export function openEventStore(opts: { databaseUrl?: string; sqlitePath: string }): EventStore {
  return opts.databaseUrl ? new PostgresEventStore(opts.databaseUrl) : new SqliteEventStore(opts.sqlitePath);
}
