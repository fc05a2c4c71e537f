// The schema of every store the service keeps, one list of migrations per concern, written once
// with Kysely's schema builder so the same steps run on SQLite and on PostgreSQL. A migration is
// never edited once released: a change is a new one at the end of its list. The first of each
// list creates only what is missing, so files made before migrations existed are adopted as they
// are (their tables already have exactly these columns).
import { PostgresAdapter, sql, type ColumnDefinitionBuilder, type Kysely, type Migration } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations see the schema as it was then, untyped */
type Db = Kysely<any>;

export const CONCERNS = ['sends', 'phones', 'events', 'operations', 'limits'] as const;
export type Concern = (typeof CONCERNS)[number];

export const MIGRATIONS: Record<Concern, Record<string, Migration>> = {
  /** The send ledger: what was handed to a provider, by idempotency key (src/store/send-ledger.ts). */
  sends: {
    '001-sms-sends': {
      async up(db: Db) {
        await db.schema
          .createTable('sms_sends')
          .ifNotExists()
          .addColumn('idempotency_key', 'text', (c) => c.primaryKey())
          .addColumn('loan_id', 'text', (c) => c.notNull())
          .addColumn('stage', 'text', (c) => c.notNull())
          .addColumn('provider', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull().check(sql`state IN ('sending', 'accepted')`))
          .addColumn('provider_message_id', 'text')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('first_attempt_at', 'text', (c) => c.notNull())
          .addColumn('accepted_at', 'text')
          .addColumn('delivery_status', 'text')
          .addColumn('delivery_error', 'text')
          .addColumn('delivery_at', 'text')
          .execute();
        await db.schema
          .createIndex('sms_sends_by_message')
          .ifNotExists()
          .on('sms_sends')
          .columns(['provider', 'provider_message_id'])
          .execute();
      },
    },
    /** Who holds the send now, and until when: only one attempt anywhere may call the provider. */
    '002-send-claims': {
      async up(db: Db) {
        await db.schema.alterTable('sms_sends').addColumn('claimed_by', 'text').execute();
        await db.schema.alterTable('sms_sends').addColumn('claim_expires_at_ms', 'bigint').execute();
      },
    },
    /** Receipts that came before their send was recorded (a crash in between, a fast carrier): kept until it is. */
    '003-early-receipts': {
      async up(db: Db) {
        await db.schema
          .createTable('sms_early_receipts')
          .ifNotExists()
          .addColumn('provider', 'text', (c) => c.notNull())
          .addColumn('provider_message_id', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('error', 'text')
          .addColumn('permanent', 'integer', (c) => c.notNull())
          .addColumn('received_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('sms_early_receipts_pk', ['provider', 'provider_message_id', 'status'])
          .execute();
      },
    },
  },

  /** The phone index: each loan's number as a keyed digest (src/store/phone-index.ts). */
  phones: {
    '001-loan-phone': {
      async up(db: Db) {
        await db.schema
          .createTable('loan_phone')
          .ifNotExists()
          .addColumn('loan_id', 'text', (c) => c.primaryKey())
          .addColumn('phone_hash', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('loan_phone_by_hash').ifNotExists().on('loan_phone').column('phone_hash').execute();
      },
    },
  },

  /** The event store of the effectiveness analytics (src/store/event-store-sql.ts). */
  events: {
    '001-loan-events': {
      async up(db: Db) {
        await db.schema
          .createTable('loan_events')
          .ifNotExists()
          .addColumn('event_id', 'text', (c) => c.primaryKey())
          .addColumn('loan_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('at_ms', 'bigint', (c) => c.notNull())
          .addColumn('policy_id', 'text')
          .addColumn('message_key', 'text')
          .addColumn('stage', 'text')
          .addColumn('template', 'text')
          .addColumn('variant', 'text')
          .addColumn('locale', 'text')
          .addColumn('segments', 'integer')
          .addColumn('amount', 'bigint')
          .addColumn('outstanding', 'bigint')
          .addColumn('currency', 'text')
          .addColumn('detail', 'text')
          .addColumn('recorded_at_ms', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('loan_events_by_time')
          .ifNotExists()
          .on('loan_events')
          .columns(['at_ms', 'kind'])
          .execute();
        await db.schema
          .createIndex('loan_events_by_loan')
          .ifNotExists()
          .on('loan_events')
          .columns(['loan_id', 'at_ms'])
          .execute();
      },
    },
  },

  /** Hand-overs to operations staff, one per idempotency key (src/operations/queue.ts). */
  operations: {
    '001-operations-items': {
      async up(db: Db) {
        await db.schema
          .createTable('operations_items')
          .ifNotExists()
          .addColumn('idempotency_key', 'text', (c) => c.primaryKey())
          .addColumn('loan_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          // JSON; a borrower's free text in it only sealed under the payload keys.
          .addColumn('detail', 'text', (c) => c.notNull())
          .addColumn('filed_at', 'text', (c) => c.notNull())
          .addColumn('filed_at_ms', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('operations_items_by_time')
          .ifNotExists()
          .on('operations_items')
          .columns(['filed_at_ms', 'idempotency_key'])
          .execute();
        await db.schema
          .createIndex('operations_items_by_loan')
          .ifNotExists()
          .on('operations_items')
          .column('loan_id')
          .execute();
      },
    },
    /**
     * The inbox: each hand-over is a work item, open -> claimed -> resolved, with the time it is due
     * by (the service level of its kind when it was filed), who holds it and how it ended. Items
     * filed before this are open, due when they were filed.
     */
    '002-operations-inbox': {
      async up(db: Db) {
        const add = (name: string, type: 'text' | 'bigint', build = (c: ColumnDefinitionBuilder) => c) =>
          db.schema.alterTable('operations_items').addColumn(name, type, build).execute();
        await add('state', 'text', (c) => c.notNull().defaultTo('open'));
        await add('due_by_ms', 'bigint');
        await add('assignee', 'text');
        await add('claimed_at', 'text');
        await add('resolved_at', 'text');
        await add('resolution', 'text');
        // JSON: the operator's note (sealed under the payload keys) and the loan's answer.
        await add('resolution_note', 'text');
        await add('outcome', 'text');
        await db.schema
          .createIndex('operations_items_by_state')
          .ifNotExists()
          .on('operations_items')
          .columns(['state', 'due_by_ms'])
          .execute();
      },
    },
    /**
     * The audit trail: one record per state-changing request of the API (who, what, which loan,
     * before and after, the request's id, when, how it ended). Append-only: the database itself
     * refuses to change or remove a record, whoever asks.
     */
    '003-audit-trail': {
      async up(db: Db) {
        await db.schema
          .createTable('audit_records')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('at_ms', 'bigint', (c) => c.notNull())
          .addColumn('actor_key', 'text', (c) => c.notNull())
          .addColumn('actor_user', 'text')
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('route', 'text', (c) => c.notNull())
          .addColumn('loan_id', 'text')
          .addColumn('item_id', 'text')
          .addColumn('request_id', 'text', (c) => c.notNull())
          .addColumn('status', 'integer', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull())
          // JSON summaries: statuses, amounts, kinds, field names; never a name, number or words.
          .addColumn('what', 'text')
          .addColumn('before', 'text')
          .addColumn('after', 'text')
          .execute();
        await db.schema
          .createIndex('audit_by_time')
          .ifNotExists()
          .on('audit_records')
          .columns(['at_ms', 'id'])
          .execute();
        await db.schema
          .createIndex('audit_by_loan')
          .ifNotExists()
          .on('audit_records')
          .columns(['loan_id', 'at_ms'])
          .execute();
        if (db.getExecutor().adapter instanceof PostgresAdapter) {
          await sql`CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$`.execute(db);
          await sql`CREATE TRIGGER audit_records_no_change BEFORE UPDATE OR DELETE ON audit_records
            FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()`.execute(db);
          await sql`CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
            FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only()`.execute(db);
        } else {
          await sql`CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records
            BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END`.execute(db);
          await sql`CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records
            BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END`.execute(db);
        }
      },
    },
  },

  /** The API's rate-limit counters, one row per caller and window (src/store/rate-limit.ts). */
  limits: {
    '001-rate-limit-hits': {
      async up(db: Db) {
        await db.schema
          .createTable('rate_limit_hits')
          .ifNotExists()
          .addColumn('caller', 'text', (c) => c.notNull())
          .addColumn('window_start_ms', 'bigint', (c) => c.notNull())
          .addColumn('hits', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('rate_limit_hits_pk', ['caller', 'window_start_ms'])
          .execute();
        await db.schema
          .createIndex('rate_limit_hits_by_window')
          .ifNotExists()
          .on('rate_limit_hits')
          .column('window_start_ms')
          .execute();
      },
    },
  },
};
