// The facts recorded of every loan, for the effectiveness analytics: what an event is, pure and
// shared by the workflow (which makes them), the activities and the API (which store them) and the
// analytics (which read them). Never a phone number, a name or free text a borrower wrote.
import type { Locale } from './loan';

export const EVENT_KINDS = [
  'loan-started',
  'reminder-planned',
  'reminder-skipped',
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

/** The "delivered" fact of a sent message whose provider confirmed delivery at once. */
export function deliveredEventOf(sent: LoanEvent): LoanEvent {
  return { ...sent, eventId: `${sent.eventId}:delivered`, kind: 'message-delivered', detail: undefined };
}
