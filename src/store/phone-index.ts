// Finds a borrower's loans from the number a reply came from, without storing the number: each
// loan's phone is kept as an HMAC-SHA256 under a secret key (PHONE_INDEX_KEY), so the index alone
// reveals no phone number. On PostgreSQL every API instance reads the same index, so a STOP reply
// reaches the loan whichever instance the gateway calls.
import type Database from 'better-sqlite3';
import type { Pool } from 'pg';
import { createHmac } from 'node:crypto';
import { GroupCommit } from './sqlite';
import { forSqlite, postgresStore, sqliteStore, type Ready, type StoreLocation } from './sql';

const UPSERT = `INSERT INTO loan_phone (loan_id, phone_hash) VALUES ($1, $2)
  ON CONFLICT (loan_id) DO UPDATE SET phone_hash = excluded.phone_hash`;
const BY_HASH = `SELECT loan_id FROM loan_phone WHERE phone_hash = $1 ORDER BY loan_id`;

/** The keyed digests, the same whichever back end holds them. */
export abstract class PhoneIndex {
  constructor(private readonly key: string) {}

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

  /** The loan's number, replacing any earlier one. */
  abstract set(loanId: string, phone: string): Promise<void>;
  abstract loansOf(phone: string): Promise<string[]>;
  abstract close(): Promise<void>;
}

export class SqlitePhoneIndex extends PhoneIndex {
  private readonly db: Database.Database;
  private readonly opened: Ready;
  private readonly commits: GroupCommit;
  private statements?: { upsert: Database.Statement<[string, string]>; byHash: Database.Statement<[string]> };

  constructor(
    readonly path: string,
    key: string,
  ) {
    super(key);
    const store = sqliteStore(path, 'phones', { durable: false });
    this.db = store.db;
    this.opened = store.ready;
    this.commits = new GroupCommit(this.db);
  }

  private async s() {
    await this.opened.ready;
    this.statements ??= { upsert: this.db.prepare(forSqlite(UPSERT)), byHash: this.db.prepare(forSqlite(BY_HASH)) };
    return this.statements;
  }

  /** Loans started together share one commit. */
  async set(loanId: string, phone: string): Promise<void> {
    const s = await this.s();
    const hash = this.hash(phone);
    await this.commits.run(() => s.upsert.run(loanId, hash), { durable: false });
  }

  async loansOf(phone: string): Promise<string[]> {
    return ((await this.s()).byHash.all(this.hash(phone)) as Array<{ loan_id: string }>).map((r) => r.loan_id);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}

export class PostgresPhoneIndex extends PhoneIndex {
  private readonly pool: Pool;
  private readonly opened: Ready;
  private readonly release: () => Promise<void>;

  constructor(databaseUrl: string, key: string) {
    super(key);
    const store = postgresStore(databaseUrl, 'phones');
    this.pool = store.pool;
    this.opened = store.ready;
    this.release = store.release;
  }

  async set(loanId: string, phone: string): Promise<void> {
    await this.opened.ready;
    await this.pool.query(UPSERT, [loanId, this.hash(phone)]);
  }

  async loansOf(phone: string): Promise<string[]> {
    await this.opened.ready;
    const { rows } = await this.pool.query<{ loan_id: string }>(BY_HASH, [this.hash(phone)]);
    return rows.map((r) => r.loan_id);
  }

  close(): Promise<void> {
    return this.release();
  }
}

export function openPhoneIndex(at: StoreLocation, key: string): PhoneIndex {
  return 'databaseUrl' in at ? new PostgresPhoneIndex(at.databaseUrl, key) : new SqlitePhoneIndex(at.sqlitePath, key);
}
