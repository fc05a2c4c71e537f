// The audit trail: one record per state-changing request of the API, in the operations store (a
// SQLite file on one machine, the shared PostgreSQL database with DATABASE_URL). Append-only: the
// store has no way to change or remove a record, and the database refuses to (triggers). Records
// hold summaries (statuses, amounts, kinds, field names), never a name, a number or anyone's words.
import { randomBytes } from 'node:crypto';
import { sqlRunner, type SqlRunner, type StoreLocation } from '../store/sql';

export type AuditOutcome = 'accepted' | 'refused' | 'failed';
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['accepted', 'refused', 'failed'];

export interface AuditRecord {
  id: string;
  at: string;
  /** The API key's name, or what authenticated the request (a payment webhook's signature, a gateway). */
  actorKey: string;
  /** The person using the key (HTTP Basic user name or X-Operator), when there is one. */
  actorUser: string | null;
  /** The operation (its operationId), or the method and path a request without a route asked for. */
  action: string;
  method: string;
  route: string;
  loanId: string | null;
  itemId: string | null;
  requestId: string;
  status: number;
  outcome: AuditOutcome;
  what: Record<string, unknown> | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export type NewAuditRecord = Omit<AuditRecord, 'id' | 'at'> & { atMs?: number };

export interface AuditQuery {
  loanId?: string;
  /** A key's name or a person's. */
  actor?: string;
  action?: string;
  outcome?: AuditOutcome;
  fromMs?: number;
  toMs?: number;
  limit: number;
  /** The last record of the previous page: records after it, oldest first. */
  after?: { atMs: number; id: string };
}

export interface AuditTrail {
  append(record: NewAuditRecord): Promise<AuditRecord>;
  find(q: AuditQuery): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

const COLUMNS = `id, at, at_ms, actor_key, actor_user, action, method, route, loan_id, item_id, request_id,
  status, outcome, what, before, after`;
const INSERT = `INSERT INTO audit_records (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`;

interface Row {
  id: string;
  at: string;
  at_ms: string | number;
  actor_key: string;
  actor_user: string | null;
  action: string;
  method: string;
  route: string;
  loan_id: string | null;
  item_id: string | null;
  request_id: string;
  status: number | string;
  outcome: AuditOutcome;
  what: string | null;
  before: string | null;
  after: string | null;
}

const json = (v: string | null) => (v === null ? null : (JSON.parse(v) as Record<string, unknown>));
const recordOf = (r: Row): AuditRecord => ({
  id: r.id,
  at: r.at,
  actorKey: r.actor_key,
  actorUser: r.actor_user,
  action: r.action,
  method: r.method,
  route: r.route,
  loanId: r.loan_id,
  itemId: r.item_id,
  requestId: r.request_id,
  status: Number(r.status),
  outcome: r.outcome,
  what: json(r.what),
  before: json(r.before),
  after: json(r.after),
});

function findStatement(q: AuditQuery): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const p = (v: unknown) => (params.push(v), `$${params.length}`);
  const where: string[] = [];
  if (q.loanId !== undefined) where.push(`loan_id = ${p(q.loanId)}`);
  if (q.actor !== undefined) where.push(`(actor_key = ${p(q.actor)} OR actor_user = ${p(q.actor)})`);
  if (q.action !== undefined) where.push(`action = ${p(q.action)}`);
  if (q.outcome !== undefined) where.push(`outcome = ${p(q.outcome)}`);
  if (q.fromMs !== undefined) where.push(`at_ms >= ${p(q.fromMs)}`);
  if (q.toMs !== undefined) where.push(`at_ms < ${p(q.toMs)}`);
  if (q.after) where.push(`(at_ms > ${p(q.after.atMs)} OR (at_ms = ${p(q.after.atMs)} AND id > ${p(q.after.id)}))`);
  const sql = `SELECT ${COLUMNS} FROM audit_records ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY at_ms, id LIMIT ${p(q.limit)}`;
  return { sql, params };
}

class SqlAuditTrail implements AuditTrail {
  private readonly runner: SqlRunner;

  constructor(at: StoreLocation) {
    // An audit record is evidence: synced before the store reports it written.
    this.runner = sqlRunner(at, 'operations', { durable: true });
  }

  private query<R>(sql: string, params: readonly unknown[]): Promise<R[]> {
    return this.runner.query<R>(sql, params);
  }

  close(): Promise<void> {
    return this.runner.close();
  }

  async append(r: NewAuditRecord): Promise<AuditRecord> {
    const atMs = r.atMs ?? Date.now();
    // Sorts by time within a millisecond too: the instant, then random bits.
    const id = `${atMs.toString(36).padStart(9, '0')}-${randomBytes(8).toString('hex')}`;
    const at = new Date(atMs).toISOString();
    const text = (v: Record<string, unknown> | null) => (v === null ? null : JSON.stringify(v));
    await this.query(INSERT, [
      id,
      at,
      atMs,
      r.actorKey,
      r.actorUser,
      r.action,
      r.method,
      r.route,
      r.loanId,
      r.itemId,
      r.requestId,
      r.status,
      r.outcome,
      text(r.what),
      text(r.before),
      text(r.after),
    ]);
    const { atMs: _ignored, ...rest } = r;
    return { id, at, ...rest };
  }

  async find(q: AuditQuery): Promise<AuditRecord[]> {
    const { sql, params } = findStatement(q);
    return (await this.query<Row>(sql, params)).map(recordOf);
  }
}

/** The audit trail where the operations inbox is: the same SQLite file, or the shared database. */
export function openAuditTrail(at: StoreLocation): AuditTrail {
  return new SqlAuditTrail(at);
}
