// The append-only record of what happens to every loan, for the effectiveness analytics. Written by
// activities (and the receipts webhook) with an event id each, so a retried write never counts
// twice. Never holds a phone number, a name or free text a borrower wrote.
import type { Locale } from '../domain/loan';

export const EVENT_KINDS = [
  'loan-started',
  'reminder-planned',
  'message-sent',
  'message-delivered',
  'message-failed',
  'payment',
  'answer',
  'paused',
  'resumed',
  'completed',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** Kind-specific facts: ids, kinds, ratings, instants. Never personal data. */
export type EventDetail = Record<string, string | number | boolean | null>;

export interface LoanEvent {
  /** Unique and stable across retries: the same fact always has the same id. */
  eventId: string;
  loanId: string;
  kind: EventKind;
  /** When it happened, ISO 8601 (the workflow's clock for workflow events). */
  at: string;
  policyId?: string;
  /** The message's idempotency key (`<loanId>:<point>`), for message events and what refers to one. */
  messageKey?: string;
  stage?: string;
  template?: string;
  variant?: string;
  locale?: Locale;
  segments?: number;
  /** Minor units: the payment, the amount a message asked for, or the loan's amount at start. */
  amount?: number;
  /** Minor units still owed after the event. */
  outstanding?: number;
  currency?: string;
  detail?: EventDetail;
}

export interface EventStore {
  /** Appends events; ids already present are ignored. Returns how many were new. */
  append(events: readonly LoanEvent[]): Promise<number>;
  /** Events whose instant is in [fromMs, toMs), oldest first, optionally of some kinds only. */
  between(fromMs: number, toMs: number, kinds?: readonly EventKind[]): Promise<LoanEvent[]>;
  /** Every event of one loan, oldest first. */
  forLoan(loanId: string): Promise<LoanEvent[]>;
  close(): Promise<void>;
}

/** The "delivered" fact of a sent message whose provider confirmed delivery at once. */
export function deliveredEventOf(sent: LoanEvent): LoanEvent {
  return { ...sent, eventId: `${sent.eventId}:delivered`, kind: 'message-delivered', detail: undefined };
}

/** The "delivered" or "failed" fact of a carrier's receipt; a provider repeating its receipt repeats this id. */
export function receiptEventOf(
  provider: string,
  providerMessageId: string,
  send: { loanId: string; idempotencyKey: string; stage: string },
  receipt: { status: 'delivered' | 'failed'; permanent: boolean },
  /** When the receipt came; now unless it was kept for its send. */
  at: string = new Date().toISOString(),
): LoanEvent {
  return {
    eventId: `receipt:${provider}:${providerMessageId}:${receipt.status}`,
    loanId: send.loanId,
    kind: receipt.status === 'delivered' ? 'message-delivered' : 'message-failed',
    at,
    messageKey: send.idempotencyKey,
    stage: send.stage,
    detail: { provider, permanent: receipt.permanent },
  };
}
