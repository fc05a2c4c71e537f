// The durable record of every SMS handed to a provider, keyed by the reminder's idempotency key.
// A retried activity, a restarted worker or a replayed workflow finds the key already accepted and
// sends nothing. No phone number, name or text is stored here.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

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
}

export class SendLedger {
  private readonly db: Database.Database;

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    // WAL lets several worker processes on one machine share the file; FULL sync makes an
    // accepted send durable before the activity reports it.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`CREATE TABLE IF NOT EXISTS sms_sends (
      idempotency_key TEXT PRIMARY KEY,
      loan_id TEXT NOT NULL,
      stage TEXT NOT NULL,
      provider TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('sending', 'accepted')),
      provider_message_id TEXT,
      attempts INTEGER NOT NULL DEFAULT 0,
      first_attempt_at TEXT NOT NULL,
      accepted_at TEXT,
      delivery_status TEXT,
      delivery_error TEXT,
      delivery_at TEXT
    );
    CREATE INDEX IF NOT EXISTS sms_sends_by_message ON sms_sends (provider, provider_message_id);`);
    // Ledgers written before delivery receipts were recorded get the columns added in place.
    const columns = new Set(
      (this.db.prepare(`PRAGMA table_info(sms_sends)`).all() as Array<{ name: string }>).map((c) => c.name),
    );
    for (const c of ['delivery_status', 'delivery_error', 'delivery_at']) {
      if (!columns.has(c)) this.db.exec(`ALTER TABLE sms_sends ADD COLUMN ${c} TEXT`);
    }
  }

  /**
   * Records a carrier's delivery receipt against the send it belongs to; returns that send, or
   * undefined when no send has this provider message id.
   */
  recordReceipt(
    provider: string,
    providerMessageId: string,
    receipt: { status: string; error?: string },
  ): SendRecord | undefined {
    const info = this.db
      .prepare(
        `UPDATE sms_sends SET delivery_status = ?, delivery_error = ?, delivery_at = ?
          WHERE provider = ? AND provider_message_id = ?`,
      )
      .run(receipt.status, receipt.error ?? null, new Date().toISOString(), provider, providerMessageId);
    if (info.changes === 0) return undefined;
    const row = this.db
      .prepare(`SELECT idempotency_key AS key FROM sms_sends WHERE provider = ? AND provider_message_id = ?`)
      .get(provider, providerMessageId) as { key: string };
    return this.get(row.key);
  }

  get(key: string): SendRecord | undefined {
    const row = this.db
      .prepare(
        `SELECT idempotency_key AS idempotencyKey, loan_id AS loanId, stage, provider, state,
                provider_message_id AS providerMessageId, attempts, first_attempt_at AS firstAttemptAt,
                accepted_at AS acceptedAt, delivery_status AS deliveryStatus, delivery_error AS deliveryError
           FROM sms_sends WHERE idempotency_key = ?`,
      )
      .get(key) as SendRecord | undefined;
    return row;
  }

  /** Records an attempt before the provider is called; returns the record as it now stands. */
  begin(r: { idempotencyKey: string; loanId: string; stage: string; provider: string }): SendRecord {
    this.db
      .prepare(
        `INSERT INTO sms_sends (idempotency_key, loan_id, stage, provider, state, attempts, first_attempt_at)
         VALUES (@idempotencyKey, @loanId, @stage, @provider, 'sending', 1, @now)
         ON CONFLICT (idempotency_key) DO UPDATE SET attempts = attempts + 1 WHERE state = 'sending'`,
      )
      .run({ ...r, now: new Date().toISOString() });
    return this.get(r.idempotencyKey)!;
  }

  /** Records that the provider accepted the message: from now on the key is never sent again. */
  accept(key: string, providerMessageId: string, acceptedAt: string): void {
    this.db
      .prepare(
        `UPDATE sms_sends SET state = 'accepted', provider_message_id = ?, accepted_at = ?
          WHERE idempotency_key = ? AND state = 'sending'`,
      )
      .run(providerMessageId, acceptedAt, key);
  }

  close(): void {
    this.db.close();
  }
}
