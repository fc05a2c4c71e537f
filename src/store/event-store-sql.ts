// The event store on SQL: the same migrations (./migrations.ts) and statements on SQLite (one
// machine, the default) and PostgreSQL (several machines, DATABASE_URL).
import type Database from 'better-sqlite3';
import type { Pool, PoolClient } from 'pg';
import type { EventKind, EventStore, LoanEvent } from './events';
import { forSqlite as sqlite, postgresStore, sqliteStore, storeLocation, transaction, type Ready } from './sql';
import { GroupCommit } from './sqlite';

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

export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database;
  private readonly opened: Ready;
  private insertStatement?: Database.Statement;
  private readonly commits: GroupCommit;

  constructor(readonly path: string) {
    // Shared by the worker and the API on one machine.
    const store = sqliteStore(path, 'events', { durable: false });
    this.db = store.db;
    this.opened = store.ready;
    this.commits = new GroupCommit(this.db);
  }

  private async insert(): Promise<Database.Statement> {
    await this.opened.ready;
    return (this.insertStatement ??= this.db.prepare(sqlite(INSERT)));
  }

  async append(events: readonly LoanEvent[]): Promise<number> {
    const insert = await this.insert();
    const now = Date.now();
    let inserted = 0;
    // Survives a crash of the process, not necessarily a power cut: analytics, not a promise to a
    // borrower, and not worth a sync to disk on every send.
    await this.commits.run(
      () => {
        inserted = 0; // run again alone if its group's transaction failed
        for (const e of events) inserted += insert.run(...toRow(e, now)).changes;
      },
      { durable: false },
    );
    return inserted;
  }

  async between(fromMs: number, toMs: number, kinds?: readonly EventKind[]): Promise<LoanEvent[]> {
    await this.opened.ready;
    const k = kindsClause(kinds, 3);
    const rows = this.db
      .prepare(sqlite(`${SELECT} WHERE at_ms >= $1 AND at_ms < $2${k.sql} ORDER BY at_ms, event_id`))
      .all(fromMs, toMs, ...k.params) as Row[];
    return rows.map(fromRow);
  }

  async forLoan(loanId: string): Promise<LoanEvent[]> {
    await this.opened.ready;
    const rows = this.db.prepare(sqlite(`${SELECT} WHERE loan_id = $1 ORDER BY at_ms, event_id`)).all(loanId) as Row[];
    return rows.map(fromRow);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}

export class PostgresEventStore implements EventStore {
  private readonly pool: Pool;
  private readonly opened: Ready;
  private readonly release: () => Promise<void>;

  constructor(connectionString: string) {
    const store = postgresStore(connectionString, 'events');
    this.pool = store.pool;
    this.opened = store.ready;
    this.release = store.release;
  }

  /** Resolves when the database is reachable and migrated; a failure is retried by the next call. */
  private get ready(): Promise<void> {
    return this.opened.ready;
  }

  private tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    return transaction(this.pool, fn);
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

  close(): Promise<void> {
    return this.release();
  }
}

/** PostgreSQL when a URL is given, else the SQLite file. */
export function openEventStore(opts: { databaseUrl?: string; sqlitePath: string }): EventStore {
  const at = storeLocation(opts);
  return 'databaseUrl' in at ? new PostgresEventStore(at.databaseUrl) : new SqliteEventStore(at.sqlitePath);
}
