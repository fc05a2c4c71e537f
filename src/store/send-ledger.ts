// The durable record of every SMS handed to a provider, keyed by the reminder's idempotency key.
// Before the provider is called, an attempt claims the key: one claim at a time anywhere (on
// PostgreSQL, across every machine's workers), held for as long as the attempt may run. A retried
// activity, a restarted worker or a replayed workflow then finds the key claimed or accepted and
// sends nothing. No phone number, name or text is stored here.
import type Database from 'better-sqlite3';
import type { Pool, PoolClient } from 'pg';
import { GroupCommit } from './sqlite';
import { forSqlite, postgresStore, sqliteStore, transaction, type Ready, type StoreLocation } from './sql';

export interface SendRecord {
  idempotencyKey: string;
  loanId: string;
  stage: string;
  provider: string;
  state: 'sending' | 'accepted';
  providerMessageId: string | null;
  attempts: number;
  firstAttemptAt: string;
  acceptedAt: string | null;
  deliveryStatus?: string | null;
  deliveryError?: string | null;
  /**
   * Read by key (get): an attempt took the key and has neither given it back nor recorded the
   * provider's answer. It is at the provider now, or its worker died before or after calling it.
   */
  claimed?: boolean;
}

export interface SendClaim {
  idempotencyKey: string;
  loanId: string;
  stage: string;
  provider: string;
  /** Unique to this attempt. */
  owner: string;
  /** Until when (epoch ms) no other attempt may take the key: the attempt's own time limit. */
  until: number;
}

/**
 * What a claim found: the key is this attempt's to send; or the provider already accepted it; or
 * another attempt, somewhere, holds it until `until` (it may be at the provider right now).
 */
export type ClaimResult =
  { outcome: 'claimed' } | { outcome: 'accepted'; record: SendRecord } | { outcome: 'held'; until: number };

/** A carrier's receipt for a send, as the receipts webhook read it. */
export interface DeliveryReceipt {
  status: 'delivered' | 'failed';
  error?: string;
  permanent: boolean;
  /** When the receipts webhook took it, for one that came before its send was recorded. */
  receivedAt?: string;
}

export interface SendLedger {
  get(key: string): Promise<SendRecord | undefined>;
  /** Takes the key for one attempt, atomically: a new key, or one whose earlier claim has run out. */
  claim(c: SendClaim): Promise<ClaimResult>;
  /** Gives back an attempt's claim that did not reach the provider (or was refused by it). */
  release(key: string, owner: string): Promise<void>;
  /**
   * Records that the provider accepted the message: from now on the key is never sent again.
   * Returns the receipts that reached the ledger before this (see recordReceipt), now recorded
   * against the send, for the caller to act on as the webhook would have. They stay kept until
   * the caller says they are acted on (settleReceipts), so a crash in between loses none.
   */
  accept(key: string, providerMessageId: string, acceptedAt: string): Promise<DeliveryReceipt[]>;
  /** The early receipts of an accepted send not yet acted on: what a retry of its attempt must finish. */
  pendingReceipts(key: string): Promise<DeliveryReceipt[]>;
  /** Forgets the early receipts of a send once their events are recorded and the loan told. */
  settleReceipts(key: string): Promise<void>;
  /**
   * Records a carrier's delivery receipt against its send and returns that send; or, when no
   * send has this id yet (its worker has not recorded the provider's answer: a crash in between,
   * a quick carrier), keeps the receipt for accept to apply and returns undefined. The two cannot
   * miss each other: both take the message id's lock (one write transaction on SQLite).
   */
  recordReceipt(provider: string, providerMessageId: string, receipt: DeliveryReceipt): Promise<SendRecord | undefined>;
  close(): Promise<void>;
}

// Quoted aliases: PostgreSQL folds unquoted ones to lower case.
const COLUMNS = `idempotency_key AS "idempotencyKey", loan_id AS "loanId", stage, provider, state,
  provider_message_id AS "providerMessageId", attempts, first_attempt_at AS "firstAttemptAt", accepted_at AS "acceptedAt",
  delivery_status AS "deliveryStatus", delivery_error AS "deliveryError"`;

const BY_KEY = `SELECT ${COLUMNS}, claim_expires_at_ms AS "claimExpires" FROM sms_sends WHERE idempotency_key = $1`;
// A new key is inserted claimed; an existing one is taken only while not accepted and when no
// other attempt's claim is still running. One statement, so two machines cannot both win.
const CLAIM = `INSERT INTO sms_sends
    (idempotency_key, loan_id, stage, provider, state, attempts, first_attempt_at, claimed_by, claim_expires_at_ms)
  VALUES ($1, $2, $3, $4, 'sending', 1, $5, $6, $7)
  ON CONFLICT (idempotency_key) DO UPDATE
    SET attempts = sms_sends.attempts + 1, claimed_by = excluded.claimed_by, claim_expires_at_ms = excluded.claim_expires_at_ms
    WHERE sms_sends.state = 'sending' AND (sms_sends.claim_expires_at_ms IS NULL OR sms_sends.claim_expires_at_ms <= $8)
  RETURNING idempotency_key`;
const ACCEPT = `UPDATE sms_sends SET state = 'accepted', provider_message_id = $1, accepted_at = $2,
    claimed_by = NULL, claim_expires_at_ms = NULL
  WHERE idempotency_key = $3 AND state = 'sending'`;
const RELEASE = `UPDATE sms_sends SET claimed_by = NULL, claim_expires_at_ms = NULL
  WHERE idempotency_key = $1 AND claimed_by = $2 AND state = 'sending'`;
const PARK = `INSERT INTO sms_early_receipts (provider, provider_message_id, status, error, permanent, received_at)
  VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, provider_message_id, status) DO NOTHING`;
const EARLY = `SELECT r.status, r.error, r.permanent, r.received_at FROM sms_early_receipts r
  JOIN sms_sends s ON s.provider = r.provider AND s.provider_message_id = r.provider_message_id
  WHERE s.idempotency_key = $1 ORDER BY r.received_at`;
const SETTLE = `DELETE FROM sms_early_receipts WHERE (provider, provider_message_id) IN
  (SELECT provider, provider_message_id FROM sms_sends WHERE idempotency_key = $1 AND state = 'accepted')`;
const RECEIPT = `UPDATE sms_sends SET delivery_status = $1, delivery_error = $2, delivery_at = $3
  WHERE provider = $4 AND provider_message_id = $5 RETURNING ${COLUMNS}`;

type Row = SendRecord & { claimExpires?: string | number | null };
type EarlyRow = {
  status: 'delivered' | 'failed';
  error: string | null;
  permanent: number | boolean;
  received_at: string;
};

const earlyReceipts = (rows: EarlyRow[]): DeliveryReceipt[] =>
  rows.map((r) => ({
    status: r.status,
    ...(r.error ? { error: r.error } : {}),
    permanent: Boolean(Number(r.permanent)),
    receivedAt: r.received_at,
  }));
const parkParams = (provider: string, id: string, r: DeliveryReceipt) => [
  provider,
  id,
  r.status,
  r.error ?? null,
  r.permanent ? 1 : 0,
  new Date().toISOString(),
];

function record(row: Row | undefined): SendRecord | undefined {
  if (!row) return undefined;
  const { claimExpires, ...r } = row;
  return {
    ...r,
    attempts: Number(r.attempts),
    ...(claimExpires !== undefined && r.state === 'sending' ? { claimed: claimExpires !== null } : {}),
  };
}

const claimParams = (c: SendClaim, now: number) => [
  c.idempotencyKey,
  c.loanId,
  c.stage,
  c.provider,
  new Date(now).toISOString(),
  c.owner,
  c.until,
  now,
];

function claimLost(row: Row | undefined): ClaimResult {
  if (row?.state === 'accepted') return { outcome: 'accepted', record: record(row)! };
  return { outcome: 'held', until: Number(row?.claimExpires ?? 0) };
}

/** One machine's ledger: a SQLite file its worker processes share (WAL). */
export class SqliteSendLedger implements SendLedger {
  private readonly db: Database.Database;
  private readonly opened: Ready;
  private statements?: Record<
    'byKey' | 'claim' | 'release' | 'accept' | 'receipt' | 'park' | 'early' | 'settle',
    Database.Statement<unknown[]>
  >;
  private readonly commits: GroupCommit;

  constructor(readonly path: string) {
    // FULL sync for an accept: an accepted send is on disk before the activity reports it.
    const store = sqliteStore(path, 'sends', { durable: true });
    this.db = store.db;
    this.opened = store.ready;
    this.commits = new GroupCommit(this.db);
  }

  private async s() {
    await this.opened.ready;
    this.statements ??= {
      byKey: this.db.prepare(forSqlite(BY_KEY)),
      claim: this.db.prepare(forSqlite(CLAIM)),
      release: this.db.prepare(forSqlite(RELEASE)),
      accept: this.db.prepare(forSqlite(ACCEPT)),
      receipt: this.db.prepare(forSqlite(RECEIPT)),
      park: this.db.prepare(forSqlite(PARK)),
      early: this.db.prepare(forSqlite(EARLY)),
      settle: this.db.prepare(forSqlite(SETTLE)),
    };
    return this.statements;
  }

  async get(key: string): Promise<SendRecord | undefined> {
    return record((await this.s()).byKey.get(key) as Row | undefined);
  }

  async claim(c: SendClaim): Promise<ClaimResult> {
    const s = await this.s();
    const now = Date.now();
    let won = false;
    // Not synced on its own: lost to a power cut, the claim is simply made again; the accept's
    // sync carries it to disk anyway.
    await this.commits.run(() => (won = s.claim.get(...claimParams(c, now)) !== undefined), { durable: false });
    return won ? { outcome: 'claimed' } : claimLost(s.byKey.get(c.idempotencyKey) as Row | undefined);
  }

  async release(key: string, owner: string): Promise<void> {
    const s = await this.s();
    await this.commits.run(() => s.release.run(key, owner), { durable: false });
  }

  async accept(key: string, providerMessageId: string, acceptedAt: string): Promise<DeliveryReceipt[]> {
    const s = await this.s();
    let early: EarlyRow[] = [];
    await this.commits.run(
      () => {
        s.accept.run(providerMessageId, acceptedAt, key);
        early = s.early.all(key) as EarlyRow[];
        if (!early.length) return;
        const send = s.byKey.get(key) as Row;
        const last = early[early.length - 1];
        s.receipt.get(last.status, last.error, last.received_at, send.provider, providerMessageId);
      },
      { durable: true },
    );
    return earlyReceipts(early);
  }

  async pendingReceipts(key: string): Promise<DeliveryReceipt[]> {
    return earlyReceipts((await this.s()).early.all(key) as EarlyRow[]);
  }

  async settleReceipts(key: string): Promise<void> {
    const s = await this.s();
    // Not synced on its own: lost to a power cut, the receipts are acted on again, which is harmless.
    await this.commits.run(() => s.settle.run(key), { durable: false });
  }

  async recordReceipt(provider: string, providerMessageId: string, receipt: DeliveryReceipt) {
    const s = await this.s();
    const at = new Date().toISOString();
    // IMMEDIATE: the write lock from the start, so an accept in another process is wholly before or after.
    return this.db
      .transaction(() => {
        const row = s.receipt.get(receipt.status, receipt.error ?? null, at, provider, providerMessageId) as Row;
        if (!row) s.park.run(...parkParams(provider, providerMessageId, receipt));
        return record(row);
      })
      .immediate();
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}

/** Every machine's ledger: one table in the shared PostgreSQL database. */
export class PostgresSendLedger implements SendLedger {
  private readonly pool: Pool;
  private readonly opened: Ready;
  private readonly givePoolBack: () => Promise<void>;

  constructor(databaseUrl: string) {
    const store = postgresStore(databaseUrl, 'sends');
    this.pool = store.pool;
    this.opened = store.ready;
    this.givePoolBack = store.release;
  }

  private async q(sql: string, params: unknown[]): Promise<Row[]> {
    await this.opened.ready;
    return (await this.pool.query<Row>(sql, params)).rows;
  }

  async get(key: string): Promise<SendRecord | undefined> {
    return record((await this.q(BY_KEY, [key]))[0]);
  }

  async claim(c: SendClaim): Promise<ClaimResult> {
    const won = await this.q(CLAIM, claimParams(c, Date.now()));
    return won.length ? { outcome: 'claimed' } : claimLost((await this.q(BY_KEY, [c.idempotencyKey]))[0]);
  }

  async release(key: string, owner: string): Promise<void> {
    await this.q(RELEASE, [key, owner]);
  }

  async accept(key: string, providerMessageId: string, acceptedAt: string): Promise<DeliveryReceipt[]> {
    return this.inTransaction(providerMessageId, async (c) => {
      await c.query(ACCEPT, [providerMessageId, acceptedAt, key]);
      const early = (await c.query<EarlyRow>(EARLY, [key])).rows;
      if (early.length) {
        const send = (await c.query<Row>(BY_KEY, [key])).rows[0];
        const last = early[early.length - 1];
        await c.query(RECEIPT, [last.status, last.error, last.received_at, send.provider, providerMessageId]);
      }
      return earlyReceipts(early);
    });
  }

  async pendingReceipts(key: string): Promise<DeliveryReceipt[]> {
    await this.opened.ready;
    return earlyReceipts((await this.pool.query<EarlyRow>(EARLY, [key])).rows);
  }

  async settleReceipts(key: string): Promise<void> {
    await this.q(SETTLE, [key]);
  }

  async recordReceipt(provider: string, providerMessageId: string, receipt: DeliveryReceipt) {
    const at = new Date().toISOString();
    return this.inTransaction(providerMessageId, async (c) => {
      const row = (
        await c.query<Row>(RECEIPT, [receipt.status, receipt.error ?? null, at, provider, providerMessageId])
      ).rows[0];
      if (!row) await c.query(PARK, parkParams(provider, providerMessageId, receipt));
      return record(row);
    });
  }

  /** A transaction holding the message id's lock: a receipt and its send's accept run one after the other. */
  private async inTransaction<T>(providerMessageId: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
    await this.opened.ready;
    return transaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [providerMessageId]);
      return fn(c);
    });
  }

  close(): Promise<void> {
    return this.givePoolBack();
  }
}

export function openSendLedger(at: StoreLocation): SendLedger {
  return 'databaseUrl' in at ? new PostgresSendLedger(at.databaseUrl) : new SqliteSendLedger(at.sqlitePath);
}
