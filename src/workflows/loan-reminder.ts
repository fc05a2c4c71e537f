// One durable workflow per loan. It sleeps until the next reminder the policy allows, sends it
// through an activity, and re-plans the moment anything happens: a payment, a borrower's answer,
// a change from the loan system. Deterministic code only: the rules live in src/domain.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { Duration } from 'luxon';
import type { Activities } from '../activities';
import {
  isCalendarDate,
  isValidTimeZone,
  localDateOf,
  localInstantMs,
  nextWindowOpening,
  windowClosesAfter,
} from '../domain/calendar';
import { isInstantMsInRange } from '../domain/limits';
import {
  isE164,
  samePayment,
  SUPPORTED_LOCALES,
  type Lender,
  type Loan,
  type Locale,
  type Payment,
} from '../domain/loan';
import { OVERDUE_TEMPLATES, type Policy, type TemplateId } from '../domain/policy';
import {
  cadenceRestart,
  decideNext,
  expandPolicy,
  horizonOf,
  overdueFromFor,
  sentReminders,
  shiftPlan,
  SKIP_REASONS,
  type PlanShift,
  type PlannedPoint,
} from '../domain/schedule';
import { renderMessage } from '../domain/templates';
import { abVariant, HARSH_TONE_AT_MOST, type Variant } from '../domain/variants';
import { deliveredEventOf, type EventDetail, type EventKind, type LoanEvent } from '../store/events';
import {
  DUE_DATE,
  LOAN_CURRENCY,
  LOAN_STAGE,
  LOAN_STATUS,
  NEXT_REMINDER_AT,
  OUTSTANDING_AMOUNT,
  PAUSE_REASON,
  POLICY_ID,
} from './search-attributes';

// ---- Messages: the API and tests use these constants, never raw names. ----

export type BorrowerAnswer =
  | { kind: 'opt-out'; answerId?: string; at?: string }
  | { kind: 'dispute'; answerId?: string; at?: string; reason?: string }
  | { kind: 'hardship'; answerId?: string; at?: string; note?: string }
  | { kind: 'callback'; answerId?: string; at?: string; note?: string }
  | { kind: 'wrong-number'; answerId?: string; at?: string }
  /** A reply that may mean "stop" but not clearly: no text until operations have read it. */
  | { kind: 'unclear-reply'; answerId?: string; at?: string; note?: string }
  | { kind: 'rating'; answerId?: string; at?: string; messageKey: string; clarity: number; tone: number };

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
export type PauseKind = 'dispute' | 'promise-to-pay' | 'hardship' | 'review' | 'wrong-number' | 'undeliverable';
/** Holds only operations lift (the resume update). */
const OPERATIONS_HOLDS: readonly PauseKind[] = ['dispute', 'hardship', 'review'];
export type Hold = { kind: PauseKind; since: string; until?: string };

/**
 * How holds on one loan stack: one only operations may lift (a dispute, hardship) outranks one a
 * new number lifts (wrong number, undeliverable), which outranks a promise to pay, which lifts
 * itself on its date. A new hold never ends another of a different rank; lifting one uncovers the
 * next, and the loan texts only when none is left.
 */
const HOLD_RANK: Record<PauseKind, number> = {
  dispute: 0,
  hardship: 0,
  review: 0,
  'wrong-number': 1,
  undeliverable: 1,
  'promise-to-pay': 2,
};

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
  /** The strongest hold in force (see HOLD_RANK), or none. */
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

/** Input as loans started before v6 may have it: tests then said here whether to publish search attributes. */
type LegacyInput = LoanReminderInput & { publishSearchAttributes?: boolean };

/** How the plan has moved: shifts made when an overdue loan could be reminded again after a pause. */
interface Cadence {
  shifts: PlanShift[];
  /** Since when the loan could not be reminded (a hold, a blocked number), while it cannot. */
  blockedSince?: number;
}

/** A refused change, naming the field the API reports it under. */
function refuse(field: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'ChangeRefused', message, details: [{ field }], nonRetryable: true });
}

const SMS_SEND_OPTIONS: ActivityOptions = {
  // A provider call takes seconds. Retries ride out an outage for as long as the borrower's sending
  // window stays open (the activity refuses past it), and stop at once if the send becomes moot.
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    nonRetryableErrorTypes: ['InvalidPhoneNumber', 'WindowClosed'],
  },
};

/** SMS go through a task queue of their own, rate-limited to the provider's pace across all workers. */
export function smsTaskQueue(workflowTaskQueue: string): string {
  return `${workflowTaskQueue}-sms`;
}

const operations = proxyActivities<Activities>({
  // Telling operations must not be lost: retry for about a day of attempts (not a deadline that a
  // worker outage would use up without a single try).
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '10 seconds', maximumInterval: '10 minutes', maximumAttempts: 150 },
});

// Events go with the next activity the loan calls anyway; this one carries those that should not
// wait for it (see CAN_WAIT).
// Bounded: a store that stays down must not hold the loan up; what failed goes again later.
// Limited by attempts, not by a schedule-to-close deadline, which would also expire while the
// worker is down or busy (and, on the time-skipping test server, during a skip).
/** What the worker running the loan says of itself: answered at once, in its own process. */
const workerSettings = proxyLocalActivities<Activities>({ startToCloseTimeout: '10 seconds' });

const events = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 10 },
});

/**
 * Events that may wait for the loan's next activity (a send, a hand-over) rather than cost one of
 * their own (six history events): their instants are kept, only their arrival in the store waits.
 * Payments, failures and the end of a loan are recorded at once.
 */
const CAN_WAIT: ReadonlySet<EventKind> = new Set(['loan-started', 'reminder-planned', 'answer', 'paused', 'resumed']);

const dueDateAttr = (ms: number) => (isInstantMsInRange(ms) ? new Date(ms) : null);
const durationMs = (iso: string) => Duration.fromISO(iso).as('milliseconds');
const iso = (ms: number) => new Date(ms).toISOString();

export async function loanReminder(input: LoanReminderInput): Promise<LoanStatus> {
  const { policy, lender } = input;
  // Built here, not at module scope: its task queue follows the one this loan runs on. Loans
  // started before SMS had their own queue keep sending from the workflow's queue.
  const smsOptions: ActivityOptions = patched('sms-task-queue')
    ? { ...SMS_SEND_OPTIONS, taskQueue: smsTaskQueue(workflowInfo().taskQueue) }
    : SMS_SEND_OPTIONS;
  // Added after v3. A send withdrawn (by a payment, an opt-out, a pause) while a worker already runs
  // it is withdrawn only if the activity hears of it before calling the provider; otherwise the
  // message went out, and the loan must say so. So the loan waits for the activity's own answer
  // rather than taking the withdrawal for done. Loans started before keep the old way on replay.
  const sms = proxyActivities<Activities>(
    patched('send-withdrawal-confirmed')
      ? { ...smsOptions, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED }
      : smsOptions,
  );
  let loan: Loan = input.carried?.loan ?? input.loan;
  const doneKeys = new Set(input.carried?.doneKeys ?? []);
  let opsSeq = input.carried?.opsSeq ?? 0;
  // Added after v2: loans already running when it shipped replay without recording events.
  const recording = patched('event-store');
  let eventSeq = input.carried?.eventSeq ?? 0;
  const cadence: Cadence = input.carried?.cadence ?? { shifts: [] };
  const s: LoanStatus = input.carried?.state ?? {
    loanId: loan.loanId,
    policyId: policy.id,
    status: 'active',
    stage: 'none',
    currency: loan.currency,
    amountDue: loan.amountDue,
    outstanding: loan.amountDue,
    overpaid: 0,
    dueDate: loan.dueDate,
    timezone: loan.borrower.timezone,
    locale: loan.borrower.locale,
    startedAt: iso(Date.now()),
    variant: abVariant(loan.loanId),
    optedOut: false,
    numberBlocked: false,
    pause: null,
    nextReminder: null,
    horizon: '',
    messagesSent: [],
    skipped: [],
    failed: [],
    payments: [],
    answers: [],
    promises: [],
    handedOver: [],
    requestFingerprint: input.requestFingerprint,
  };

  const pendingEvents: LoanEvent[] = [];
  const event = (kind: EventKind, fields: Omit<LoanEvent, 'eventId' | 'loanId' | 'kind' | 'at'> = {}): LoanEvent => {
    eventSeq++;
    return {
      // From the loan and a counter carried through continue-as-new: a retried write has the same id.
      eventId: `${loan.loanId}:${eventSeq}`,
      loanId: loan.loanId,
      kind,
      at: iso(Date.now()),
      policyId: policy.id,
      currency: s.currency,
      ...fields,
    };
  };
  const record: (...args: Parameters<typeof event>) => void = (kind, fields) => {
    if (recording) pendingEvents.push(event(kind, fields));
  };
  /** The events for the activity about to run; put back if it fails (ids make a second write harmless). */
  const carry = (): LoanEvent[] | undefined => (pendingEvents.length ? pendingEvents.splice(0) : undefined);
  const putBack = (carried: LoanEvent[] | undefined) => {
    if (carried) pendingEvents.unshift(...carried);
  };
  /** Records what should not wait for the next send; a loan's start and its next reminder can. */
  const flushEvents = async (all = false) => {
    if (!pendingEvents.length || (!all && pendingEvents.every((e) => CAN_WAIT.has(e.kind)))) return;
    const batch = carry();
    try {
      await events.recordEvents(batch!);
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      // The analytics lose nothing and the loan goes on: the events ride on its next activity.
      log.warn('Events not recorded yet; they go with the next activity', { loanId: loan.loanId });
      putBack(batch);
    }
  };
  if (!input.carried) {
    record('loan-started', {
      amount: s.amountDue,
      outstanding: s.outstanding,
      locale: s.locale,
      variant: s.variant,
      detail: { dueDate: s.dueDate, timezone: s.timezone },
    });
  }

  // Every change that can alter the plan bumps this; the main loop wakes and re-plans.
  let version = 0;
  const changed = () => {
    version++;
  };
  const totalPaid = () => s.payments.reduce((sum, p) => sum + p.amount, 0);
  const finished = () => s.status === 'paid' || s.status === 'closed' || s.status === 'unresolved';
  const pendingOps: Array<{ kind: string; detail: Record<string, unknown> }> = [];
  const handOver = (kind: string, detail: Record<string, unknown> = {}) => {
    pendingOps.push({ kind, detail });
    s.handedOver.push({ kind, at: iso(Date.now()) });
    changed();
  };
  // Every hold in force, strongest first, while more than one is; `s.pause` is the first. Undefined
  // while at most one is (then `s.pause` alone says which).
  let holds: Hold[] | undefined = input.carried?.holds;
  const pause = (kind: PauseKind, until?: number) => {
    const hold: Hold = { kind, since: iso(Date.now()), ...(until !== undefined ? { until: iso(until) } : {}) };
    const inForce = holds ?? (s.pause ? [s.pause] : []);
    // Added after v4: a hold arriving on another used to replace it, so a promise to pay or a wrong
    // number ended a dispute only operations may end, and reminders resumed without them. Asked
    // only when two holds meet, so loans whose history never had two replay as they ran.
    if (inForce.length && patched('stacked-holds')) {
      holds = [...inForce.filter((h) => HOLD_RANK[h.kind] !== HOLD_RANK[kind]), hold].sort(
        (a, b) => HOLD_RANK[a.kind] - HOLD_RANK[b.kind],
      );
      s.pause = holds[0];
    } else {
      s.pause = hold;
    }
    if (s.status === 'active') s.status = 'paused';
    if (until === undefined) s.nextReminder = null; // re-planned at once by the loop; no stale answer meanwhile
    record('paused', { detail: { pause: kind, until: until !== undefined ? iso(until) : null } });
    changed();
  };
  const unpause = () => {
    if (s.pause) record('resumed', { detail: { pause: s.pause.kind } });
    s.pause = null;
    if (s.status === 'paused') s.status = 'active';
    changed();
  };
  /** Lifts the holds of these kinds; the strongest left, if any, holds the loan from now on. */
  const lift = (kinds: readonly PauseKind[]) => {
    if (!holds) {
      if (s.pause && kinds.includes(s.pause.kind)) unpause();
      return;
    }
    for (const h of holds) if (kinds.includes(h.kind)) record('resumed', { detail: { pause: h.kind } });
    const rest = holds.filter((h) => !kinds.includes(h.kind));
    holds = rest.length > 1 ? rest : undefined;
    s.pause = rest[0] ?? null;
    if (!s.pause && s.status === 'paused') s.status = 'active';
    changed();
  };
  const settleIfPaid = () => {
    if (s.outstanding === 0 && !finished()) {
      s.status = 'paid';
      s.pause = null;
      holds = undefined;
      s.nextReminder = null;
      for (const p of s.promises) p.kept ??= true;
    }
  };

  // ---- Handlers, all registered before the first await ----

  setHandler(paymentReceivedSignal, (payment) => {
    const known = s.payments.find((p) => p.paymentId === payment.paymentId);
    if (known) {
      // A webhook's retry counts once. The same id with another amount or time is not a retry: the
      // API refuses it when it can tell, and one that reaches the loan all the same (a race, the
      // loan unreadable then) is kept aside for a person, never silently dropped. Added after v4.
      const conflicting = s.conflictingPayments ?? [];
      if (
        !samePayment(known, payment) &&
        !conflicting.some((p) => samePayment(p, payment)) &&
        patched('payment-conflict')
      ) {
        s.conflictingPayments = [...conflicting, payment];
        handOver('payment-conflict', { paymentId: payment.paymentId });
      }
      return;
    }
    s.payments.push(payment);
    const left = s.outstanding - payment.amount;
    s.outstanding = Math.max(0, left);
    s.overpaid += Math.max(0, -left);
    settleIfPaid();
    record('payment', {
      amount: payment.amount,
      outstanding: s.outstanding,
      detail: { paymentId: payment.paymentId, settled: s.outstanding === 0 },
    });
    changed();
  });

  setHandler(deliveryFailedSignal, (f) => {
    const sent = s.messagesSent.find((m) => `${loan.loanId}:${m.key}` === f.idempotencyKey);
    if (!sent || s.failed.some((x) => x.key === sent.key)) return; // unknown, or a repeated receipt
    s.failed.push({ key: sent.key, stage: sent.stage, reason: `not delivered: ${f.reason}`, at: iso(Date.now()) });
    record('message-failed', {
      messageKey: f.idempotencyKey,
      stage: sent.stage,
      template: sent.template,
      variant: sent.variant,
      locale: sent.locale,
      detail: { permanent: f.permanent },
    });
    if (f.permanent && !s.numberBlocked) {
      s.numberBlocked = true;
      if (!finished()) pause('undeliverable');
      handOver('undeliverable', { reason: f.reason });
    }
    changed();
  });

  setHandler(borrowerAnswerSignal, (answer) => {
    if (answer.answerId && s.answers.some((a) => a.answerId === answer.answerId)) return;
    s.answers.push({ ...answer, receivedAt: iso(Date.now()) });
    // The kind and ratings only: notes and reasons are the borrower's own words.
    const detail: EventDetail = { kind: answer.kind, answerId: answer.answerId ?? null };
    if (answer.kind === 'rating')
      Object.assign(detail, { messageKey: answer.messageKey, clarity: answer.clarity, tone: answer.tone });
    record('answer', { stage: s.stage, variant: s.variant, locale: s.locale, detail });
    switch (answer.kind) {
      case 'opt-out':
        if (!s.optedOut) {
          s.optedOut = true;
          if (!finished()) handOver('opt-out');
        }
        break;
      case 'dispute':
        if (!finished()) pause('dispute');
        handOver('dispute', { reason: answer.reason ?? null });
        break;
      case 'hardship':
        if (!finished()) pause('hardship');
        handOver('hardship', { note: answer.note ?? null });
        break;
      case 'callback':
        handOver('callback', { note: answer.note ?? null });
        break;
      case 'wrong-number':
        s.numberBlocked = true;
        if (!finished()) pause('wrong-number');
        handOver('wrong-number');
        break;
      case 'unclear-reply':
        if (!finished()) pause('review');
        handOver('unclear-reply', { note: answer.note ?? null });
        break;
      case 'rating':
        if (policy.gentleAfterHarshRating && answer.tone <= HARSH_TONE_AT_MOST) s.variant = 'gentle';
        break;
    }
    changed();
  });

  setHandler(
    promiseToPayUpdate,
    ({ date }) => {
      // Resume the morning after the promised date plus the grace period, if still unpaid.
      const until = localInstantMs(date, policy.sendTime, s.timezone) + durationMs(policy.promiseToPay.grace);
      s.promises.push({ date, madeAt: iso(Date.now()) });
      pause('promise-to-pay', until);
      return { pausedUntil: iso(until) };
    },
    {
      validator: ({ date }) => {
        if (finished()) throw new Error(`the loan is ${s.status}`);
        if (!isCalendarDate(date)) throw new Error('date must be a real date YYYY-MM-DD');
        const today = localDateOf(Date.now(), s.timezone);
        const latest = localDateOf(Date.now() + durationMs(policy.promiseToPay.maxAhead), s.timezone);
        if (date < today) throw new Error(`date ${date} is in the past`);
        if (date > latest)
          throw new Error(`date ${date} is further ahead than the policy allows (${policy.promiseToPay.maxAhead})`);
      },
    },
  );

  setHandler(
    resumeUpdate,
    (_request) => {
      // Operations end a dispute or hardship (a promise to pay under it holds on to its date); with
      // neither, the promise itself.
      // One hold alone is lifted whatever it is, as before holds stacked (so loans replay unchanged).
      const ops = s.pause !== null && OPERATIONS_HOLDS.includes(s.pause.kind);
      if (!holds) unpause();
      else lift(ops ? OPERATIONS_HOLDS : ['promise-to-pay']);
      return { resumed: true as const };
    },
    {
      validator: (_request) => {
        if (!s.pause) throw new Error('the loan is not paused');
        if (s.pause.kind === 'wrong-number' || s.pause.kind === 'undeliverable') {
          throw new Error('the loan waits for a new phone number: change the contact instead');
        }
      },
    },
  );

  setHandler(
    changeContactUpdate,
    (change) => {
      const before = loan.borrower;
      loan = { ...loan, borrower: { ...before, ...change } };
      s.timezone = loan.borrower.timezone;
      s.locale = loan.borrower.locale;
      const changedFields = Object.keys(change).filter((k) => change[k as keyof ContactChange] !== undefined);
      if (change.phone && change.phone !== before.phone) {
        s.numberBlocked = false;
        lift(['wrong-number', 'undeliverable']);
      }
      changed();
      return { changed: changedFields };
    },
    {
      validator: (change) => {
        if (finished()) throw new Error(`the loan is ${s.status}`);
        if (change.phone !== undefined && !isE164(change.phone)) throw new Error('phone must be an E.164 number');
        if (change.locale !== undefined && !SUPPORTED_LOCALES.includes(change.locale)) {
          throw new Error(`locale must be one of ${SUPPORTED_LOCALES.join(', ')}`);
        }
        if (change.timezone !== undefined && !isValidTimeZone(change.timezone))
          throw new Error('timezone is not a valid IANA time zone');
        if (change.phone === undefined && change.locale === undefined && change.timezone === undefined) {
          throw new Error('nothing to change');
        }
      },
    },
  );

  setHandler(
    changeTermsUpdate,
    (change) => {
      const paid = totalPaid();
      if (change.amountDue !== undefined) {
        s.amountDue = change.amountDue;
        s.outstanding = Math.max(0, change.amountDue - paid);
        s.overpaid = Math.max(0, paid - change.amountDue);
      }
      if (change.dueDate !== undefined && change.dueDate !== s.dueDate) {
        s.dueDate = change.dueDate;
        cadence.shifts = []; // a new due date is a new plan: earlier restarts do not apply to it
      }
      loan = { ...loan, amountDue: s.amountDue, dueDate: s.dueDate };
      settleIfPaid();
      changed();
      return { outstanding: s.outstanding, dueDate: s.dueDate };
    },
    {
      validator: (change) => {
        if (finished()) throw new Error(`the loan is ${s.status}`);
        if (change.dueDate === undefined && change.amountDue === undefined) throw new Error('nothing to change');
        if (change.dueDate !== undefined) {
          if (!isCalendarDate(change.dueDate)) throw refuse('dueDate', 'dueDate must be a real date YYYY-MM-DD');
          // A due date so far back that the loan's last reminder and its listening for payment are
          // over would end the loan at once: refused, the loan goes on as it was.
          const terms = { dueDate: change.dueDate, timezone: s.timezone, startedAt: Date.parse(s.startedAt) };
          const horizon = horizonOf(policy, expandPolicy(policy, terms), terms);
          if (horizon <= Date.now())
            throw refuse(
              'dueDate',
              `dueDate ${change.dueDate} is too far in the past: this loan's reminders and its listening for payment would have ended on ${iso(horizon)}`,
            );
        }
        if (change.amountDue !== undefined && (!Number.isSafeInteger(change.amountDue) || change.amountDue <= 0)) {
          throw new Error('amountDue must be a positive integer in minor units');
        }
      },
    },
  );

  setHandler(
    closeLoanUpdate,
    ({ reason }) => {
      s.status = 'closed';
      s.closedReason = reason;
      s.pause = null;
      holds = undefined;
      s.nextReminder = null;
      changed();
      return { status: 'closed' as const };
    },
    {
      validator: (_request) => {
        if (finished()) throw new Error(`the loan is already ${s.status}`);
      },
    },
  );

  setHandler(loanStatusQuery, () => s);

  // ---- Search attributes: kept current, written only when they change ----

  let lastAttrs = '';
  const publish = () => {
    if (!publishing) return;
    const attrs = [
      { key: LOAN_STATUS, value: s.status },
      { key: LOAN_STAGE, value: s.stage },
      { key: OUTSTANDING_AMOUNT, value: s.outstanding },
      { key: LOAN_CURRENCY, value: s.currency },
      // A date the server cannot index (a year 0000 from a client that skipped the API's checks)
      // is left out rather than failing every workflow task of the loan.
      { key: DUE_DATE, value: dueDateAttr(localInstantMs(s.dueDate, '00:00', s.timezone)) },
      { key: NEXT_REMINDER_AT, value: s.nextReminder ? new Date(s.nextReminder.at) : null },
      { key: POLICY_ID, value: s.policyId },
      { key: PAUSE_REASON, value: s.pause?.kind ?? 'none' },
    ];
    const values = JSON.stringify(attrs.map((a) => a.value));
    if (values === lastAttrs) return;
    lastAttrs = values;
    upsertSearchAttributes(attrs);
  };

  const flushOps = async () => {
    while (pendingOps.length) {
      const { kind, detail } = pendingOps.shift()!;
      opsSeq++;
      const carried = carry();
      await operations
        .notifyOperations({
          loanId: loan.loanId,
          kind,
          detail: { ...detail, outstanding: s.outstanding, currency: s.currency, status: s.status },
          idempotencyKey: `${loan.loanId}:ops:${opsSeq}`,
          ...(carried ? { events: { before: carried } } : {}),
        })
        .then(
          ({ eventsRecorded }) => {
            if (eventsRecorded === false) putBack(carried);
          },
          (err: unknown) => {
            putBack(carried);
            throw err;
          },
        );
    }
  };

  // The policy's points for the loan's terms, worked out again only when the terms change (a new
  // due date or time zone): the loop runs on every signal, and calendar arithmetic is its dearest part.
  let planMemo: { key: string; plan: PlannedPoint[]; horizon: number } | undefined;
  const planOf = () => {
    const key = `${s.dueDate}|${s.timezone}|${s.startedAt}|${cadence.shifts.length}`;
    if (planMemo?.key !== key) {
      const terms = { dueDate: s.dueDate, timezone: s.timezone, startedAt: Date.parse(s.startedAt) };
      const plan = shiftPlan(expandPolicy(policy, terms), cadence.shifts);
      planMemo = { key, plan, horizon: horizonOf(policy, plan, terms) };
    }
    return planMemo;
  };

  /** A promise to pay whose date and grace have passed unpaid: the schedule resumes. */
  const breakPromiseIfDue = (now: number) => {
    const pausedUntil = s.pause?.until ? Date.parse(s.pause.until) : undefined;
    if (s.pause?.kind !== 'promise-to-pay' || pausedUntil === undefined || now < pausedUntil) return;
    const promise = s.promises[s.promises.length - 1];
    if (promise) promise.kept = false;
    // Added after v1: a broken promise is worth a person's attention. Loans that were already
    // past this point when the change shipped replay without it.
    if (patched('handover-on-broken-promise')) handOver('promise-broken', { date: promise?.date ?? null });
    lift(['promise-to-pay']);
  };

  const canText = () => !s.optedOut && !s.numberBlocked && (s.pause === null || s.pause.kind === 'promise-to-pay');

  // Added after v5: whether search attributes are kept current is the worker's to say (its
  // configuration, or what its Temporal server supports), asked once per loan and carried on.
  // Loans started before read it from their input, where only tests ever set it.
  // The loan's terms are worked out before the first wait: terms no calendar can place (a zone
  // that does not exist, from a client that skipped the API's checks) fail the first workflow task
  // before it has anything to answer from, so readers get "unreadable", not a loan that never moves.
  planOf();
  const byWorker = patched('search-attributes-by-worker');
  const publishing = byWorker
    ? (input.carried?.searchAttributes ?? (await workerSettings.searchAttributesPublished()))
    : (input as LegacyInput).publishSearchAttributes !== false;

  // ---- The loop: plan, sleep until the next reminder or a change, send ----

  for (;;) {
    await flushOps();
    if (finished()) break;

    const now = Date.now();
    // Added after v4: the caps count from when texts went out and by the loan's state then (overdue
    // or not), a pre-due or due text never goes out once the due date has passed, and an overdue
    // loan that can be reminded again after a pause restarts its cadence from the pause's end
    // (src/domain/schedule.ts). Loans replay what they did before it as they did it.
    const rules = patched('send-time-rules');
    const overdueFrom = rules ? overdueFromFor(policy, s.dueDate, s.timezone) : undefined;
    if (rules) {
      if (canText()) breakPromiseIfDue(now); // first: the restart below counts from the promise's end
      const blocked = !canText() || (s.pause?.until !== undefined && Date.parse(s.pause.until) > now);
      if (blocked) cadence.blockedSince ??= now;
      else if (cadence.blockedSince !== undefined) {
        cadence.blockedSince = undefined;
        const shift = overdueFrom === undefined ? undefined : cadenceRestart(planOf().plan, doneKeys, now, overdueFrom);
        if (shift) cadence.shifts = [...cadence.shifts, shift];
      }
    }
    const { plan, horizon } = planOf();
    s.horizon = iso(horizon);

    let next: { point: PlannedPoint; at: number; why: string[] } | null = null;
    // While a promise holds the loan, the reminder after it is shown but neither sent nor allowed to
    // skip what it passes: the promise's end re-plans (and restarts the cadence) first.
    let promiseHeld = false;
    if (canText()) {
      const pausedUntil = s.pause?.until ? Date.parse(s.pause.until) : undefined;
      promiseHeld = rules && pausedUntil !== undefined && pausedUntil > now;
      const restartAtEnd =
        promiseHeld && overdueFrom !== undefined
          ? cadenceRestart(plan, doneKeys, pausedUntil!, overdueFrom)
          : undefined;
      const planned = restartAtEnd ? shiftPlan(plan, [restartAtEnd]) : plan;
      const sent = rules
        ? sentReminders(s.messagesSent, overdueFrom)
        : s.messagesSent
            .filter((m) => m.template !== 'thank-you')
            .map((m) => ({ key: m.key, at: Date.parse(m.scheduledFor), overdue: OVERDUE_TEMPLATES.has(m.template) }));
      const decision = decideNext(policy, planned, { done: doneKeys, sent, pausedUntil, overdueFrom }, now, s.timezone);
      for (const p of promiseHeld ? [] : decision.skip) {
        doneKeys.add(p.key);
        s.skipped.push({ key: p.key, stage: p.stage, reason: SKIP_REASONS[p.reason] });
      }
      next = decision.next;
      if (!rules) breakPromiseIfDue(now);
    }
    const planned = s.nextReminder;
    s.nextReminder = next
      ? { stage: next.point.stage, template: next.point.template, at: iso(next.at), why: next.why }
      : null;
    if (next && (planned?.at !== s.nextReminder?.at || planned?.stage !== s.nextReminder?.stage)) {
      record('reminder-planned', {
        messageKey: `${loan.loanId}:${next.point.key}`,
        stage: next.point.stage,
        template: next.point.template,
        detail: { plannedFor: iso(next.at) },
      });
    }

    const allPointsDone = plan.every((p) => doneKeys.has(p.key));
    if (allPointsDone && policy.afterLastPoint.handOver && !s.handedOver.some((h) => h.kind === 'schedule-exhausted')) {
      handOver('schedule-exhausted');
      continue;
    }
    // Hand-overs asked for while an activity ran go out before the loan sleeps again.
    if (pendingOps.length) continue;
    publish();
    // Before the loan sleeps, so the store is current while it waits. Whatever arrives meanwhile
    // (a payment, an answer) must wake this loop, not wait for the next timer: plan again.
    const seen = version;
    await flushEvents();
    if (version !== seen) continue;

    if (shouldContinueAsNew(input)) {
      await condition(allHandlersFinished);
      await flushEvents(true);
      return continueAsNew<typeof loanReminder>({
        ...input,
        carried: {
          state: s,
          loan,
          doneKeys: [...doneKeys],
          opsSeq,
          eventSeq,
          ...(holds ? { holds } : {}),
          ...(cadence.shifts.length || cadence.blockedSince !== undefined ? { cadence } : {}),
          ...(byWorker ? { searchAttributes: publishing } : {}),
        },
      });
    }

    // Waiting on a person (dispute, hardship, new number): no deadline but theirs.
    const waitingOnPeople = s.pause !== null && s.pause.kind !== 'promise-to-pay';
    // Wake for the next reminder, the end of a promise's pause, or the horizon, whichever is first.
    const pauseEnds = s.pause?.until && Date.parse(s.pause.until) > now ? Date.parse(s.pause.until) : Infinity;
    const wakeAt = Math.min(next ? next.at : horizon, pauseEnds);
    if (!waitingOnPeople && !next && now >= horizon) {
      s.status = 'unresolved';
      break;
    }
    const somethingChanged = () => version !== seen;
    if (waitingOnPeople) {
      await condition(somethingChanged); // nothing is planned while a person decides
      continue;
    }
    const woke = await condition(somethingChanged, Math.max(1, wakeAt - now));
    if (woke || !next || promiseHeld || Date.now() < next.at) continue;
    // The reminder's time has come and nothing changed since it was planned.
    if (finished() || !canText()) continue;
    await sendReminder(next.point, next.at);
  }

  s.nextReminder = null;
  s.completedAt = iso(Date.now());
  publish();
  record('completed', { outstanding: s.outstanding, detail: { status: s.status } });
  if (s.status === 'paid' && policy.thankYou) await sendThanks();
  await flushOps();
  await condition(allHandlersFinished);
  await flushEvents(true);
  log.info('Loan finished', { loanId: loan.loanId, status: s.status });
  return s;

  async function sendThanks(): Promise<void> {
    const mayText = () => !s.optedOut && !s.numberBlocked;
    // Never at night: wait for the window (again, if a provider outage outlasts it), and give up
    // if the borrower opts out meanwhile.
    for (let attempt = 0; attempt < 7 && mayText(); attempt++) {
      const at = nextWindowOpening(Date.now(), policy.window, s.timezone);
      if (at > Date.now()) await condition(() => !mayText(), at - Date.now());
      if (!mayText()) return;
      const point: PlannedPoint = {
        key: `thank-you@${s.dueDate}`,
        stage: 'thank-you',
        template: 'thank-you',
        requestedAt: at,
        overdue: false,
      };
      // The total repaid as it stands now: a payment may have come while it waited for the morning.
      if ((await deliver(point, Date.now(), totalPaid())) !== 'window-closed') return;
    }
  }

  async function sendReminder(point: PlannedPoint, at: number): Promise<void> {
    doneKeys.add(point.key);
    await deliver(point, at, s.outstanding);
  }

  async function deliver(
    point: PlannedPoint,
    at: number,
    amount: number,
  ): Promise<'sent' | 'withdrawn' | 'window-closed' | 'failed'> {
    const variant = s.variant;
    const message = renderMessage({
      template: point.template,
      variant,
      locale: loan.borrower.locale,
      borrowerName: loan.borrower.name,
      honorific: loan.borrower.honorific,
      amount,
      partlyPaid: point.template !== 'thank-you' && s.outstanding < s.amountDue,
      currency: s.currency,
      dueDate: s.dueDate,
      lender,
    });
    // A payment, an opt-out or a pause that arrives while the provider is being retried makes the
    // send moot: cancel it, so no retry goes out after it.
    const isThanks = point.template === 'thank-you';
    // Added after v4, with the send-time rules: a promise to pay made while the send is under way
    // withdraws it too (before, a send already started went out during the promise).
    const promiseWithdraws = !isThanks && patched('send-time-rules');
    const promiseHolds = () =>
      s.pause?.kind === 'promise-to-pay' && s.pause.until !== undefined && Date.parse(s.pause.until) > Date.now();
    const moot = () =>
      isThanks ? s.optedOut || s.numberBlocked : finished() || !canText() || (promiseWithdraws && promiseHolds());
    const facts = {
      messageKey: `${loan.loanId}:${point.key}`,
      stage: point.stage,
      template: point.template,
      variant,
      locale: loan.borrower.locale,
    };
    const carried = recording
      ? {
          before: carry(),
          sent: event('message-sent', {
            ...facts,
            amount,
            outstanding: s.outstanding,
            segments: message.segments,
            detail: { scheduledFor: iso(at), encoding: message.encoding },
          }),
        }
      : undefined;
    const scope = new CancellationScope();
    let settled = false;
    void condition(() => settled || moot()).then(() => {
      if (!settled) scope.cancel();
    });
    try {
      const receipt = await scope.run(() =>
        sms.sendSms({
          to: loan.borrower.phone,
          body: message.body,
          loanId: loan.loanId,
          stage: point.stage,
          // From the loan and the plan, never the run: the same reminder always has the same key.
          idempotencyKey: `${loan.loanId}:${point.key}`,
          scheduledFor: iso(at),
          notAfter: iso(windowClosesAfter(at, policy.window, s.timezone)),
          template: point.template,
          params: { ...message.params },
          ...(carried ? { events: carried } : {}),
        }),
      );
      settled = true;
      if (carried && receipt.eventsRecorded === false) {
        // Stored again (same ids) with the next activity; the sent event at this workflow instant.
        putBack(carried.before);
        const sent = { ...carried.sent, at: iso(Date.now()) };
        pendingEvents.push(sent, ...(receipt.delivered ? [deliveredEventOf(sent)] : []));
      }
      s.messagesSent.push({
        key: point.key,
        stage: point.stage,
        template: point.template,
        variant,
        locale: loan.borrower.locale,
        requestedAt: iso(point.requestedAt),
        scheduledFor: iso(at),
        sentAt: receipt.sentAt,
        recordedAt: iso(Date.now()),
        segments: message.segments,
        encoding: message.encoding,
      });
      if (point.template !== 'thank-you') s.stage = point.stage;
      return 'sent';
    } catch (err) {
      settled = true;
      putBack(carried?.before);
      if (isCancellation(err)) {
        // Whatever made it moot (payment, opt-out, pause) has already re-planned the loan.
        log.info('Message withdrawn before the provider took it', { loanId: loan.loanId, stage: point.stage });
        if (!isThanks) doneKeys.delete(point.key);
        return 'withdrawn';
      }
      if (!(err instanceof ActivityFailure)) throw err;
      const cause = err.cause;
      const reason = cause?.message ?? err.message;
      if (cause instanceof ApplicationFailure && cause.type === 'WindowClosed') {
        // Not a failure of the message: it goes at the next opening, re-planned like any late point.
        log.info('Sending window closed during retries; re-planning', { loanId: loan.loanId, stage: point.stage });
        doneKeys.delete(point.key);
        return 'window-closed';
      }
      s.failed.push({ key: point.key, stage: point.stage, reason, at: iso(Date.now()) });
      record('message-failed', {
        ...facts,
        detail: { reason: cause instanceof ApplicationFailure ? (cause.type ?? 'failed') : 'failed' },
      });
      log.warn('Message could not be sent', { loanId: loan.loanId, stage: point.stage, reason });
      if (cause instanceof ApplicationFailure && cause.type === 'InvalidPhoneNumber') {
        // Retrying cannot help: stop texting this number until the loan system gives a new one.
        s.numberBlocked = true;
        doneKeys.delete(point.key); // may still go out, to a corrected number, while it is not stale
        if (!finished()) pause('undeliverable');
        handOver('undeliverable', { reason });
      }
      return 'failed';
    }
  }
}

function shouldContinueAsNew(input: LoanReminderInput): boolean {
  const info = workflowInfo();
  if (info.continueAsNewSuggested) return true;
  return input.continueAsNewAfterEvents !== undefined && info.historyLength > input.continueAsNewAfterEvents;
}
