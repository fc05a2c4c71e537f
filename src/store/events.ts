// The append-only record of what happens to every loan, for the effectiveness analytics. Written by
// activities (and the receipts webhook) with an event id each, so a retried write never counts
// twice. Never holds a phone number, a name or free text a borrower wrote.
import type { EventKind, LoanEvent } from '../domain/events';

// What an event is lives in the domain (the workflow makes them); re-exported for the store's callers.
export { deliveredEventOf, EVENT_KINDS, type EventDetail, type EventKind, type LoanEvent } from '../domain/events';

export interface EventStore {
  /** Appends events; ids already present are ignored. Returns how many were new. */
  append(events: readonly LoanEvent[]): Promise<number>;
  /** Events whose instant is in [fromMs, toMs), oldest first, optionally of some kinds only. */
  between(fromMs: number, toMs: number, kinds?: readonly EventKind[]): Promise<LoanEvent[]>;
  /** Every event of one loan, oldest first. */
  forLoan(loanId: string): Promise<LoanEvent[]>;
  close(): Promise<void>;
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
