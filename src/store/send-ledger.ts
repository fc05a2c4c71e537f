// The durable record of every SMS handed to a provider, keyed by the reminder's idempotency key.
// A retried activity, a restarted worker or a replayed workflow finds the key already accepted and
// sends nothing. No phone number, name or text is stored here.
import type Database from 'better-sqlite3';
import { GroupCommit, openSqlite } from './sqlite';

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

const COLUMNS = `idempotency_key AS idempotencyKey, loan_id AS loanId, stage, provider, state,
  provider_message_id AS providerMessageId, attempts, first_attempt_at AS firstAttemptAt, accepted_at AS acceptedAt,
  delivery_status AS deliveryStatus, delivery_error AS deliveryError`;

export class SendLedger {
  private readonly db: Database.Database;
  // Prepared once: every send runs these.
  private readonly byKey: Database.Statement<[string], SendRecord>;
  private readonly byMessage: Database.Statement<[string, string], SendRecord>;
  private readonly insertAttempt: Database.Statement<[Record<string, string>]>;
  private readonly markAccepted: Database.Statement<[string, string, string]>;
  private readonly markReceipt: Database.Statement<[string, string | null, string, string, string]>;
  private readonly commits: GroupCommit;

  constructor(readonly path: string) {
    // WAL lets several worker processes on one machine share the file; FULL sync makes an
    // accepted send durable before the activity reports it.
    this.db = openSqlite(path, { durable: true });
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
    this.commits = new GroupCommit(this.db);
    this.byKey = this.db.prepare(`SELECT ${COLUMNS} FROM sms_sends WHERE idempotency_key = ?`);
    this.byMessage = this.db.prepare(`SELECT ${COLUMNS} FROM sms_sends WHERE provider = ? AND provider_message_id = ?`);
    this.insertAttempt = this.db.prepare(
      `INSERT INTO sms_sends (idempotency_key, loan_id, stage, provider, state, attempts, first_attempt_at)
       VALUES (@idempotencyKey, @loanId, @stage, @provider, 'sending', 1, @now)
       ON CONFLICT (idempotency_key) DO UPDATE SET attempts = attempts + 1 WHERE state = 'sending'`,
    );
    this.markAccepted = this.db.prepare(
      `UPDATE sms_sends SET state = 'accepted', provider_message_id = ?, accepted_at = ?
        WHERE idempotency_key = ? AND state = 'sending'`,
    );
    this.markReceipt = this.db.prepare(
      `UPDATE sms_sends SET delivery_status = ?, delivery_error = ?, delivery_at = ?
        WHERE provider = ? AND provider_message_id = ?`,
    );
  }

  get(key: string): SendRecord | undefined {
    return this.byKey.get(key);
  }

  /** Records an attempt before the provider is called. */
  begin(r: { idempotencyKey: string; loanId: string; stage: string; provider: string }): Promise<void> {
    const now = new Date().toISOString();
    // Not synced on its own: lost to a power cut, the attempt is simply begun again; the accept's
    // sync below carries it to disk anyway.
    return this.commits.run(() => this.insertAttempt.run({ ...r, now }), { durable: false });
  }

  /** Records that the provider accepted the message: from now on the key is never sent again. */
  accept(key: string, providerMessageId: string, acceptedAt: string): Promise<void> {
    return this.commits.run(() => this.markAccepted.run(providerMessageId, acceptedAt, key), { durable: true });
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
    const info = this.markReceipt.run(
      receipt.status,
      receipt.error ?? null,
      new Date().toISOString(),
      provider,
      providerMessageId,
    );
    return info.changes === 0 ? undefined : this.byMessage.get(provider, providerMessageId);
  }

  close(): void {
    this.db.close();
  }
}
