// Finds a borrower's loans from the number a reply came from, without storing the number: each
// loan's phone is kept as an HMAC-SHA256 under a secret key (PHONE_INDEX_KEY), so the index file
// alone reveals no phone number.
import type Database from 'better-sqlite3';
import { GroupCommit, openSqlite } from './sqlite';
import { createHmac } from 'node:crypto';

export class PhoneIndex {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement<[string, string]>;
  private readonly byHash: Database.Statement<[string], { loan_id: string }>;
  private readonly commits: GroupCommit;

  constructor(
    readonly path: string,
    private readonly key: string,
  ) {
    this.db = openSqlite(path, { durable: false });
    this.db.exec(`CREATE TABLE IF NOT EXISTS loan_phone (
      loan_id TEXT PRIMARY KEY,
      phone_hash TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS loan_phone_by_hash ON loan_phone (phone_hash);`);
    this.upsert = this.db.prepare(
      `INSERT INTO loan_phone (loan_id, phone_hash) VALUES (?, ?)
       ON CONFLICT (loan_id) DO UPDATE SET phone_hash = excluded.phone_hash`,
    );
    this.commits = new GroupCommit(this.db);
    this.byHash = this.db.prepare(`SELECT loan_id FROM loan_phone WHERE phone_hash = ? ORDER BY loan_id`);
  }

  /** Normalises to E.164 digits, so "+86 138-0013-8000" and "8613800138000" match. */
  hash(phone: string): string {
    const digits = phone.replace(/[^\d]/g, '').replace(/^00/, '');
    return createHmac('sha256', this.key).update(digits).digest('hex');
  }

  /**
   * A keyed digest, under the same key, of an identifier that may carry a number (a gateway's id
   * for a reply is built from the sender's number by some providers): equal for equal input, so a
   * repeated delivery keeps its id, and meaningless without the key. The NUL separator keeps it
   * apart from the numbers' own digests, which are of digits only.
   */
  keyedId(purpose: string, value: string): string {
    return createHmac('sha256', this.key).update(`${purpose}\0${value}`).digest('hex');
  }

  /** The loan's number, replacing any earlier one; loans started together share one commit. */
  set(loanId: string, phone: string): Promise<void> {
    const hash = this.hash(phone);
    return this.commits.run(() => this.upsert.run(loanId, hash), { durable: false });
  }

  loansOf(phone: string): string[] {
    return this.byHash.all(this.hash(phone)).map((r) => r.loan_id);
  }

  close(): void {
    this.db.close();
  }
}
