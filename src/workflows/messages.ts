// The loan workflow's contract: its signals, queries and updates, and the types of its input, its
// state and its answers. Callers that only start, signal or query a loan (the API, scripts, tests)
// import this module, not the workflow body; `loan-reminder.ts` re-exports all of it.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BorrowerAnswer } from '../domain/answers';
import type { Hold, PauseKind } from '../domain/holds';
import type { Lender, Loan, Locale, Payment } from '../domain/loan';
import type { Policy, TemplateId } from '../domain/policy';
import type { PlanShift } from '../domain/schedule';
import type { Variant } from '../domain/variants';

// ---- Messages: the API and tests use these constants, never raw names. ----

export interface PromiseToPay {
  /** The borrower's calendar date they promise to pay by, YYYY-MM-DD. */
  date: string;
}
export interface ContactChange {
  phone?: string;
  locale?: Locale;
  timezone?: string;
}
export interface TermsChange {
  dueDate?: string;
  amountDue?: number;
}
export interface CloseLoan {
  reason: 'written-off' | 'sold' | 'settled-elsewhere' | 'cancelled';
}

export interface DeliveryFailure {
  /** The message's idempotency key, as sent to the provider. */
  idempotencyKey: string;
  reason: string;
  /** The number cannot receive texts (unreachable, not mobile, blocked): stop texting it. */
  permanent: boolean;
}

/** The loan workflow's type, by which clients start it without loading its body. */
export const LOAN_WORKFLOW_TYPE = 'loanReminder';

export const paymentReceivedSignal = defineSignal<[Payment]>('paymentReceived');
/** A carrier's final word that a message the provider accepted never reached the phone. */
export const deliveryFailedSignal = defineSignal<[DeliveryFailure]>('deliveryFailed');
export const borrowerAnswerSignal = defineSignal<[BorrowerAnswer]>('borrowerAnswer');
export const promiseToPayUpdate = defineUpdate<{ pausedUntil: string }, [PromiseToPay]>('promiseToPay');
export const resumeUpdate = defineUpdate<{ resumed: true }, [{ note?: string }]>('resume');
export const changeContactUpdate = defineUpdate<{ changed: string[] }, [ContactChange]>('changeContact');
export const changeTermsUpdate = defineUpdate<{ outstanding: number; dueDate: string }, [TermsChange]>('changeTerms');
export const closeLoanUpdate = defineUpdate<{ status: 'closed' }, [CloseLoan]>('closeLoan');
export const loanStatusQuery = defineQuery<LoanStatus>('loanStatus');

// ---- State ----

export type LoanStatusName = 'active' | 'paused' | 'paid' | 'closed' | 'unresolved';
/** The answer, holds and pause kinds are the domain's (src/domain/answers.ts, holds.ts). */
export type { BorrowerAnswer, Hold, PauseKind };

export interface SentMessage {
  key: string;
  stage: string;
  template: TemplateId;
  variant: Variant;
  locale: Locale;
  requestedAt: string;
  scheduledFor: string;
  sentAt: string;
  /** When the loan heard the provider had taken it (server time): the caps count from here. */
  recordedAt?: string;
  segments: number;
  encoding: 'GSM-7' | 'UCS-2';
}

export interface LoanStatus {
  loanId: string;
  policyId: string;
  status: LoanStatusName;
  /** The stage of the last reminder sent, or "none". */
  stage: string;
  currency: string;
  amountDue: number;
  outstanding: number;
  overpaid: number;
  dueDate: string;
  timezone: string;
  locale: Locale;
  startedAt: string;
  variant: Variant;
  optedOut: boolean;
  /** The number on file must not be texted (reported wrong, or undeliverable) until it changes. */
  numberBlocked: boolean;
  /** The strongest hold in force (see HOLD_RANK in src/domain/holds.ts), or none. */
  pause: Hold | null;
  nextReminder: { stage: string; template: TemplateId; at: string; why: string[] } | null;
  /** When the loan stops waiting for payment after its last reminder. */
  horizon: string;
  messagesSent: SentMessage[];
  skipped: Array<{ key: string; stage: string; reason: string }>;
  failed: Array<{ key: string; stage: string; reason: string; at: string }>;
  payments: Payment[];
  /** Reports under a known payment id with another amount or time: not counted, handed to operations. */
  conflictingPayments?: Payment[];
  answers: Array<BorrowerAnswer & { receivedAt: string }>;
  promises: Array<{ date: string; madeAt: string; kept?: boolean }>;
  handedOver: Array<{ kind: string; at: string }>;
  closedReason?: CloseLoan['reason'];
  completedAt?: string;
  /** SHA-256 of the request that started the loan, so a repeated start can be told from a conflicting one. */
  requestFingerprint?: string;
}

export interface LoanReminderInput {
  loan: Loan;
  lender: Lender;
  policy: Policy;
  /** SHA-256 of the start request (see LoanStatus.requestFingerprint). */
  requestFingerprint?: string;
  /** State carried through continue-as-new; absent on a loan's first run. */
  carried?: {
    state: LoanStatus;
    loan: Loan;
    doneKeys: string[];
    opsSeq: number;
    eventSeq?: number;
    holds?: Hold[];
    cadence?: Cadence;
    /** Whether this loan keeps its search attributes current: its worker's answer, asked once. */
    searchAttributes?: boolean;
  };
  /** Continue as new past this many history events even if the server has not suggested it. */
  continueAsNewAfterEvents?: number;
}

/** How the plan has moved: shifts made when an overdue loan could be reminded again after a pause. */
export interface Cadence {
  shifts: PlanShift[];
  /** Since when the loan could not be reminded (a hold, a blocked number), while it cannot. */
  blockedSince?: number;
}

/** SMS go through a task queue of their own, rate-limited to the provider's pace across all workers. */
export function smsTaskQueue(workflowTaskQueue: string): string {
  return `${workflowTaskQueue}-sms`;
}
