// Where the workflow hands a loan to people: a call-back request, a hardship case, a wrong number,
// the end of the reminder schedule. A table in the service's store (a SQLite file on one machine,
// the shared PostgreSQL database with DATABASE_URL); each item has an idempotency key, so a
// retried activity on any machine files it once. A borrower's own words in an item are stored only
// encrypted under the payload keys (see CLEAR_DETAIL).
import type Database from 'better-sqlite3';
import type { Pool } from 'pg';
import { isSealedText, type EncryptionCodec } from '../codec/encryption';
import { forSqlite, postgresStore, sqliteStore, type Ready, type StoreLocation } from '../store/sql';

export interface OperationsItem {
  loanId: string;
  kind: string;
  detail: Record<string, unknown>;
  idempotencyKey: string;
}

export type FiledItem = OperationsItem & { filedAt: string };

export interface OperationsQueue {
  file(item: OperationsItem): Promise<{ filedAt: string; duplicate: boolean }>;
  /** Every item as stored (free text sealed), oldest first. */
  list(): Promise<FiledItem[]>;
  close(): Promise<void>;
}

/**
 * The facts in an item's detail that operations sort and count by, set by the workflow from the
 * loan's own data: kept in clear. Anything else (a note, a reason, a reply's text, a provider's
 * failure text, and any field added later) may hold a borrower's words, a name or a number, so it
 * is stored only encrypted, or not at all.
 */
const CLEAR_DETAIL = new Set(['outstanding', 'currency', 'status', 'dueDate', 'timezone', 'date', 'plannedFor']);

function sealDetail(detail: Record<string, unknown>, codec: EncryptionCodec | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const withheld: string[] = [];
  for (const [k, v] of Object.entries(detail)) {
    if (CLEAR_DETAIL.has(k) || v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') {
      out[k] = v;
    } else if (codec) {
      out[k] = codec.sealText(typeof v === 'string' ? v : JSON.stringify(v));
    } else {
      out[k] = null;
      withheld.push(k);
    }
  }
  if (withheld.length) out.withheld = withheld;
  return out;
}

/** An item as filed, its sealed free text opened with the payload keys (for operations' tools). */
export function openOperationsItem<T extends OperationsItem>(item: T, codec: EncryptionCodec): T {
  const detail = Object.fromEntries(
    Object.entries(item.detail).map(([k, v]) => [k, isSealedText(v) ? codec.openText(v) : v]),
  );
  return { ...item, detail };
}

export interface OperationsQueueOptions {
  /** Seals the borrower's free text with the payload keys; without it that text is not stored. */
  codec?: EncryptionCodec;
}

const INSERT = `INSERT INTO operations_items (idempotency_key, loan_id, kind, detail, filed_at, filed_at_ms)
  VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING RETURNING filed_at`;
const FILED_AT = `SELECT filed_at FROM operations_items WHERE idempotency_key = $1`;
const LIST = `SELECT idempotency_key, loan_id, kind, detail, filed_at FROM operations_items
  ORDER BY filed_at_ms, idempotency_key`;

interface Row {
  idempotency_key: string;
  loan_id: string;
  kind: string;
  detail: string;
  filed_at: string;
}

const itemOf = (r: Row): FiledItem => ({
  loanId: r.loan_id,
  kind: r.kind,
  detail: JSON.parse(r.detail) as Record<string, unknown>,
  idempotencyKey: r.idempotency_key,
  filedAt: r.filed_at,
});

function insertParams(item: OperationsItem, codec: EncryptionCodec | undefined): unknown[] {
  const now = Date.now();
  const detail = JSON.stringify(sealDetail(item.detail, codec));
  return [item.idempotencyKey, item.loanId, item.kind, detail, new Date(now).toISOString(), now];
}

export class SqliteOperationsQueue implements OperationsQueue {
  private readonly db: Database.Database;
  private readonly opened: Ready;

  constructor(
    readonly path: string,
    private readonly options: OperationsQueueOptions = {},
  ) {
    // A hand-over is a promise to a borrower that a person will look: synced before it is reported filed.
    const store = sqliteStore(path, 'operations', { durable: true });
    this.db = store.db;
    this.opened = store.ready;
  }

  async file(item: OperationsItem): Promise<{ filedAt: string; duplicate: boolean }> {
    await this.opened.ready;
    const row = this.db.prepare(forSqlite(INSERT)).get(...insertParams(item, this.options.codec)) as
      { filed_at: string } | undefined;
    if (row) return { filedAt: row.filed_at, duplicate: false };
    const earlier = this.db.prepare(forSqlite(FILED_AT)).get(item.idempotencyKey) as { filed_at: string };
    return { filedAt: earlier.filed_at, duplicate: true };
  }

  async list(): Promise<FiledItem[]> {
    await this.opened.ready;
    return (this.db.prepare(LIST).all() as Row[]).map(itemOf);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}

export class PostgresOperationsQueue implements OperationsQueue {
  private readonly pool: Pool;
  private readonly opened: Ready;
  private readonly release: () => Promise<void>;

  constructor(
    databaseUrl: string,
    private readonly options: OperationsQueueOptions = {},
  ) {
    const store = postgresStore(databaseUrl, 'operations');
    this.pool = store.pool;
    this.opened = store.ready;
    this.release = store.release;
  }

  async file(item: OperationsItem): Promise<{ filedAt: string; duplicate: boolean }> {
    await this.opened.ready;
    const { rows } = await this.pool.query<{ filed_at: string }>(INSERT, insertParams(item, this.options.codec));
    if (rows.length) return { filedAt: rows[0].filed_at, duplicate: false };
    const earlier = await this.pool.query<{ filed_at: string }>(FILED_AT, [item.idempotencyKey]);
    return { filedAt: earlier.rows[0].filed_at, duplicate: true };
  }

  async list(): Promise<FiledItem[]> {
    await this.opened.ready;
    return (await this.pool.query<Row>(LIST)).rows.map(itemOf);
  }

  close(): Promise<void> {
    return this.release();
  }
}

export function openOperationsQueue(at: StoreLocation, options: OperationsQueueOptions = {}): OperationsQueue {
  return 'databaseUrl' in at
    ? new PostgresOperationsQueue(at.databaseUrl, options)
    : new SqliteOperationsQueue(at.sqlitePath, options);
}
