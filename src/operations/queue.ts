// Where the workflow hands a loan to people: a call-back request, a hardship case, a wrong number,
// the end of the reminder schedule. A table in the service's store (a SQLite file on one machine,
// the shared PostgreSQL database with DATABASE_URL); each item has an idempotency key, so a
// retried activity on any machine files it once. A borrower's own words in an item are stored only
// encrypted under the payload keys (see CLEAR_DETAIL).
import { Duration } from 'luxon';
import { isSealedText, type EncryptionCodec } from '../codec/encryption';
import { sqlRunner, type SqlRunner, type StoreLocation } from '../store/sql';

export interface OperationsItem {
  loanId: string;
  kind: string;
  detail: Record<string, unknown>;
  idempotencyKey: string;
}

export type FiledItem = OperationsItem & { filedAt: string };

export type ItemState = 'open' | 'claimed' | 'resolved';
export const ITEM_STATES: readonly ItemState[] = ['open', 'claimed', 'resolved'];

/** A hand-over as operations work it: its state, who holds it, when it is due and how it ended. */
export interface InboxItem extends FiledItem {
  /** The hand-over's own id: its idempotency key. */
  id: string;
  state: ItemState;
  /** When a person should have acted: its filing plus the service level of its kind. */
  dueBy: string;
  assignee: string | null;
  claimedAt: string | null;
  resolvedAt: string | null;
  resolution: string | null;
  /** The operator's note, sealed under the payload keys like a borrower's words (null without keys). */
  note: unknown;
  /** The loan's answer to the resolution (or to a refused attempt at one). */
  outcome: Record<string, unknown> | null;
}

export interface InboxQuery {
  kinds?: readonly string[];
  states?: readonly ItemState[];
  assignee?: string;
  loanId?: string;
  /** Only items filed at or before this instant (ms): "older than". */
  filedBy?: number;
  limit: number;
  /** The last item of the previous page: items after it in the order, due first. */
  after?: { dueByMs: number; id: string };
}

export type Transition =
  | { to: 'claimed'; assignee: string }
  | { to: 'open'; assignee: string }
  | { to: 'resolved'; assignee: string; resolution: string; note?: string; outcome: Record<string, unknown> }
  | { to: 'outcome'; assignee: string; outcome: Record<string, unknown> };

export interface OperationsQueue {
  file(item: OperationsItem): Promise<{ filedAt: string; duplicate: boolean }>;
  /** Every item as stored (free text sealed), oldest first. */
  list(): Promise<FiledItem[]>;
  get(id: string): Promise<InboxItem | undefined>;
  /** Items due first (then by id), filtered; at most `limit`. */
  find(q: InboxQuery): Promise<InboxItem[]>;
  /** Items not resolved, by kind and state, with how many are past their due time at `now`. */
  counts(now: number): Promise<Array<{ kind: string; state: ItemState; items: number; overdue: number }>>;
  /**
   * Moves an item if it is where the move starts (claim: open, or claimed by the same person;
   * release, resolve, outcome: claimed by that person, or open). The item as it is afterwards, or
   * undefined when it was elsewhere (the caller reads it to say why).
   */
  move(id: string, t: Transition): Promise<InboxItem | undefined>;
  close(): Promise<void>;
}

/** How long each kind of hand-over may wait for a person; kinds not named wait DEFAULT_SERVICE_LEVEL. */
export const DEFAULT_SERVICE_LEVELS: Readonly<Record<string, string>> = {
  'payment-conflict': 'PT4H',
  callback: 'PT4H',
  dispute: 'P1D',
  hardship: 'P1D',
  'wrong-number': 'P1D',
  'unclear-reply': 'P1D',
  'promise-broken': 'P1D',
  undeliverable: 'P2D',
  'opt-out': 'P3D',
  'schedule-exhausted': 'P7D',
};
export const DEFAULT_SERVICE_LEVEL = 'P2D';

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
  /** Milliseconds each kind may wait for a person (see DEFAULT_SERVICE_LEVELS); others wait `otherKinds`. */
  serviceLevels?: { byKind: Readonly<Record<string, number>>; otherKinds: number };
}

/** Service levels as milliseconds, from ISO 8601 durations by kind (the defaults where not given). */
export function serviceLevelsOf(given: Readonly<Record<string, string>> = {}, other = DEFAULT_SERVICE_LEVEL) {
  const ms = (d: string) => Duration.fromISO(d).as('milliseconds');
  const byKind = Object.fromEntries(
    Object.entries({ ...DEFAULT_SERVICE_LEVELS, ...given }).map(([k, d]) => [k, ms(d)]),
  );
  return { byKind, otherKinds: ms(other) };
}

const DEFAULT_LEVELS = serviceLevelsOf();

const COLUMNS = `idempotency_key, loan_id, kind, detail, filed_at, filed_at_ms, state, due_by_ms, assignee,
  claimed_at, resolved_at, resolution, resolution_note, outcome`;
const DUE = 'COALESCE(due_by_ms, filed_at_ms)';
const INSERT = `INSERT INTO operations_items (idempotency_key, loan_id, kind, detail, filed_at, filed_at_ms, due_by_ms)
  VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING RETURNING filed_at`;
const FILED_AT = `SELECT filed_at FROM operations_items WHERE idempotency_key = $1`;
const LIST = `SELECT ${COLUMNS} FROM operations_items ORDER BY filed_at_ms, idempotency_key`;
const GET = `SELECT ${COLUMNS} FROM operations_items WHERE idempotency_key = $1`;
const COUNTS = `SELECT kind, state, COUNT(*) AS items, SUM(CASE WHEN ${DUE} < $1 THEN 1 ELSE 0 END) AS overdue
  FROM operations_items WHERE state <> 'resolved' GROUP BY kind, state ORDER BY kind, state`;

interface Row {
  idempotency_key: string;
  loan_id: string;
  kind: string;
  detail: string;
  filed_at: string;
  filed_at_ms: string | number;
  state: ItemState;
  due_by_ms: string | number | null;
  assignee: string | null;
  claimed_at: string | null;
  resolved_at: string | null;
  resolution: string | null;
  resolution_note: string | null;
  outcome: string | null;
}

const itemOf = (r: Row): InboxItem => ({
  loanId: r.loan_id,
  kind: r.kind,
  detail: JSON.parse(r.detail) as Record<string, unknown>,
  idempotencyKey: r.idempotency_key,
  filedAt: r.filed_at,
  id: r.idempotency_key,
  state: r.state,
  dueBy: new Date(Number(r.due_by_ms ?? r.filed_at_ms)).toISOString(),
  assignee: r.assignee,
  claimedAt: r.claimed_at,
  resolvedAt: r.resolved_at,
  resolution: r.resolution,
  note: r.resolution_note === null ? null : JSON.parse(r.resolution_note),
  outcome: r.outcome === null ? null : (JSON.parse(r.outcome) as Record<string, unknown>),
});

/** A statement and its parameters, numbered $1..$n in the order they are used. */
function statement(): { sql: string[]; params: unknown[]; p(v: unknown): string } {
  const params: unknown[] = [];
  return { sql: [], params, p: (v) => (params.push(v), `$${params.length}`) };
}

function findStatement(q: InboxQuery) {
  const st = statement();
  const where: string[] = [];
  if (q.kinds?.length) where.push(`kind IN (${q.kinds.map((k) => st.p(k)).join(', ')})`);
  if (q.states?.length) where.push(`state IN (${q.states.map((k) => st.p(k)).join(', ')})`);
  if (q.assignee !== undefined) where.push(`assignee = ${st.p(q.assignee)}`);
  if (q.loanId !== undefined) where.push(`loan_id = ${st.p(q.loanId)}`);
  if (q.filedBy !== undefined) where.push(`filed_at_ms <= ${st.p(q.filedBy)}`);
  if (q.after) {
    const due = st.p(q.after.dueByMs);
    where.push(`(${DUE} > ${due} OR (${DUE} = ${st.p(q.after.dueByMs)} AND idempotency_key > ${st.p(q.after.id)}))`);
  }
  const sql = `SELECT ${COLUMNS} FROM operations_items ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY ${DUE}, idempotency_key LIMIT ${st.p(q.limit)}`;
  return { sql, params: st.params };
}

function moveStatement(id: string, t: Transition, codec: EncryptionCodec | undefined) {
  const st = statement();
  const now = new Date().toISOString();
  let set: string;
  let from: string;
  const mine = (assignee: string) => `assignee = ${st.p(assignee)}`;
  switch (t.to) {
    case 'claimed':
      set = `state = 'claimed', assignee = ${st.p(t.assignee)}, claimed_at = ${st.p(now)}`;
      from = `(state = 'open' OR (state = 'claimed' AND ${mine(t.assignee)}))`;
      break;
    case 'open':
      set = `state = 'open', assignee = NULL, claimed_at = NULL`;
      from = `state = 'claimed' AND ${mine(t.assignee)}`;
      break;
    case 'resolved': {
      const note = t.note === undefined ? null : JSON.stringify(codec ? codec.sealText(t.note) : null);
      set = `state = 'resolved', assignee = ${st.p(t.assignee)}, claimed_at = COALESCE(claimed_at, ${st.p(now)}),
        resolved_at = ${st.p(now)}, resolution = ${st.p(t.resolution)}, resolution_note = ${st.p(note)},
        outcome = ${st.p(JSON.stringify(t.outcome))}`;
      from = `(state = 'open' OR (state = 'claimed' AND ${mine(t.assignee)}))`;
      break;
    }
    case 'outcome':
      set = `outcome = ${st.p(JSON.stringify(t.outcome))}`;
      from = `(state = 'open' OR (state = 'claimed' AND ${mine(t.assignee)}))`;
      break;
  }
  return inTextOrder(
    `UPDATE operations_items SET ${set} WHERE idempotency_key = ${st.p(id)} AND ${from}
    RETURNING ${COLUMNS}`,
    st.params,
  );
}

/**
 * The statement renumbered so its parameters are $1..$n in the order the text uses them, with the
 * parameters in that order: SQLite binds by position, PostgreSQL by number, and both then agree.
 */
function inTextOrder(sql: string, params: readonly unknown[]): { sql: string; params: unknown[] } {
  const ordered: unknown[] = [];
  const text = sql.replace(/\$(\d+)/g, (_m, n: string) => {
    ordered.push(params[Number(n) - 1]);
    return `$${ordered.length}`;
  });
  return { sql: text, params: ordered };
}

function insertParams(item: OperationsItem, options: OperationsQueueOptions): unknown[] {
  const now = Date.now();
  const detail = JSON.stringify(sealDetail(item.detail, options.codec));
  const levels = options.serviceLevels ?? DEFAULT_LEVELS;
  const dueBy = now + (levels.byKind[item.kind] ?? levels.otherKinds);
  return [item.idempotencyKey, item.loanId, item.kind, detail, new Date(now).toISOString(), now, dueBy];
}

/** The queue over one concern's store: a SQLite file, or the shared PostgreSQL database. */
class SqlOperationsQueue implements OperationsQueue {
  private readonly runner: SqlRunner;

  constructor(
    at: StoreLocation,
    protected readonly options: OperationsQueueOptions,
  ) {
    // A hand-over is a promise to a borrower that a person will look: synced before it is reported filed.
    this.runner = sqlRunner(at, 'operations', { durable: true });
  }

  private query<R>(sql: string, params: readonly unknown[]): Promise<R[]> {
    return this.runner.query<R>(sql, params);
  }

  close(): Promise<void> {
    return this.runner.close();
  }

  async file(item: OperationsItem): Promise<{ filedAt: string; duplicate: boolean }> {
    const [row] = await this.query<{ filed_at: string }>(INSERT, insertParams(item, this.options));
    if (row) return { filedAt: row.filed_at, duplicate: false };
    const [earlier] = await this.query<{ filed_at: string }>(FILED_AT, [item.idempotencyKey]);
    return { filedAt: earlier.filed_at, duplicate: true };
  }

  async list(): Promise<FiledItem[]> {
    return (await this.query<Row>(LIST, [])).map((r) => {
      const { loanId, kind, detail, idempotencyKey, filedAt } = itemOf(r);
      return { loanId, kind, detail, idempotencyKey, filedAt };
    });
  }

  async get(id: string): Promise<InboxItem | undefined> {
    const [row] = await this.query<Row>(GET, [id]);
    return row && itemOf(row);
  }

  async find(q: InboxQuery): Promise<InboxItem[]> {
    const { sql, params } = findStatement(q);
    return (await this.query<Row>(sql, params)).map(itemOf);
  }

  async counts(now: number) {
    const rows = await this.query<{ kind: string; state: ItemState; items: number | string; overdue: number | string }>(
      COUNTS,
      [now],
    );
    return rows.map((r) => ({ kind: r.kind, state: r.state, items: Number(r.items), overdue: Number(r.overdue ?? 0) }));
  }

  async move(id: string, t: Transition): Promise<InboxItem | undefined> {
    const { sql, params } = moveStatement(id, t, this.options.codec);
    const [row] = await this.query<Row>(sql, params);
    return row && itemOf(row);
  }
}

export class SqliteOperationsQueue extends SqlOperationsQueue {
  constructor(
    readonly path: string,
    options: OperationsQueueOptions = {},
  ) {
    super({ sqlitePath: path }, options);
  }
}

export function openOperationsQueue(at: StoreLocation, options: OperationsQueueOptions = {}): OperationsQueue {
  return 'sqlitePath' in at ? new SqliteOperationsQueue(at.sqlitePath, options) : new SqlOperationsQueue(at, options);
}
