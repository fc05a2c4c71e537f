// The loan's state and what each message does to it. The workflow's handlers are one line each and
// call in here; each update's validator sits beside it (refusing before anything is recorded).
// Deterministic: the rules come from src/domain, the clock is the workflow's.
import { ApplicationFailure, patched, type ActivityInterfaceFor } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { answerEffect, answerEventDetail, isRepeatedAnswer, type BorrowerAnswer } from '../domain/answers';
import { isCalendarDate, isValidTimeZone, iso } from '../domain/calendar';
import { Failure } from '../domain/failures';
import { liftHolds, resumeLifts, resumeRefusal, stackHold } from '../domain/holds';
import { isE164, SUPPORTED_LOCALES, type Lender, type Loan, type Payment } from '../domain/loan';
import { mayRemind } from '../domain/may-text';
import type { Policy } from '../domain/policy';
import { promiseBroken, promiseDateRefusal, promiseEndsAt } from '../domain/promise-to-pay';
import { expandPolicy, horizonOf, type PlannedPoint } from '../domain/schedule';
import { applyPayment, balanceFor, classifyPayment, totalPaid } from '../domain/settlement';
import { abVariant } from '../domain/variants';
import type { DeliveryContext, EarlyPatches } from './delivery';
import { EventBuffer } from './event-buffer';
import type {
  Cadence,
  CloseLoan,
  ContactChange,
  DeliveryFailure,
  Hold,
  LoanReminderInput,
  LoanStatus,
  PauseKind,
  PromiseToPay,
  TermsChange,
} from './messages';

/** A refused change, naming the field the API reports it under. */
function refuse(field: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: Failure.ChangeRefused, message, details: [{ field }], nonRetryable: true });
}

export class LoanState implements DeliveryContext {
  readonly policy: Policy;
  readonly lender: Lender;
  /** The loan as the loan system last stated it (contact and terms change it). */
  loan: Loan;
  readonly s: LoanStatus;
  readonly doneKeys: Set<string>;
  opsSeq: number;
  readonly cadence: Cadence;
  readonly events: EventBuffer;
  /**
   * Every hold in force, strongest first, while more than one is; `s.pause` is the first. Undefined
   * while at most one is (then `s.pause` alone says which).
   */
  holds: Hold[] | undefined;
  /** Every change that can alter the plan bumps this; the main loop wakes and re-plans. */
  version = 0;
  /** Hand-overs to operations not yet sent. */
  readonly pendingOps: Array<{ kind: string; detail: Record<string, unknown> }> = [];
  /** Patches asked at the start and kept (see loanReminder); unset for loans started before that. */
  earlyPatches?: EarlyPatches;
  /** The plan for the terms it was worked out for (see planOf in planning.ts). */
  planMemo: { key: string; plan: PlannedPoint[]; horizon: number } | undefined;

  constructor(
    input: LoanReminderInput,
    readonly sms: ActivityInterfaceFor<Activities>,
    /** False for loans started before the event store (they replay without recording). */
    readonly recording: boolean,
  ) {
    this.policy = input.policy;
    this.lender = input.lender;
    const loan = input.carried?.loan ?? input.loan;
    this.loan = loan;
    this.doneKeys = new Set(input.carried?.doneKeys ?? []);
    this.opsSeq = input.carried?.opsSeq ?? 0;
    this.cadence = input.carried?.cadence ?? { shifts: [] };
    const s: LoanStatus = input.carried?.state ?? {
      loanId: loan.loanId,
      policyId: this.policy.id,
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
    this.s = s;
    this.events = new EventBuffer(
      loan.loanId,
      this.policy.id,
      () => s.currency,
      recording,
      input.carried?.eventSeq ?? 0,
    );
    this.holds = input.carried?.holds;
    if (!input.carried) {
      this.events.record('loan-started', {
        amount: s.amountDue,
        outstanding: s.outstanding,
        locale: s.locale,
        variant: s.variant,
        detail: { dueDate: s.dueDate, timezone: s.timezone },
      });
    }
  }

  // ---- What the loop and delivery ask ----

  changed(): void {
    this.version++;
  }

  finished(): boolean {
    const { status } = this.s;
    return status === 'paid' || status === 'closed' || status === 'unresolved';
  }

  /** Reminders may go out (src/domain/may-text.ts). */
  canText(): boolean {
    return mayRemind(this.s);
  }

  handOver(kind: string, detail: Record<string, unknown> = {}): void {
    this.pendingOps.push({ kind, detail });
    this.s.handedOver.push({ kind, at: iso(Date.now()) });
    this.changed();
  }

  pause(kind: PauseKind, until?: number): void {
    const s = this.s;
    const hold: Hold = { kind, since: iso(Date.now()), ...(until !== undefined ? { until: iso(until) } : {}) };
    const inForce = this.holds ?? (s.pause ? [s.pause] : []);
    // Added after v4: a hold arriving on another used to replace it, so a promise to pay or a wrong
    // number ended a dispute only operations may end, and reminders resumed without them. Asked
    // only when two holds meet, so loans whose history never had two replay as they ran.
    if (inForce.length && patched('stacked-holds')) {
      this.holds = stackHold(inForce, hold);
      s.pause = this.holds[0];
    } else {
      s.pause = hold;
    }
    if (s.status === 'active') s.status = 'paused';
    if (until === undefined) s.nextReminder = null; // re-planned at once by the loop; no stale answer meanwhile
    this.events.record('paused', { detail: { pause: kind, until: until !== undefined ? iso(until) : null } });
    this.changed();
  }

  private unpause(): void {
    const s = this.s;
    if (s.pause) this.events.record('resumed', { detail: { pause: s.pause.kind } });
    s.pause = null;
    if (s.status === 'paused') s.status = 'active';
    this.changed();
  }

  /** Lifts the holds of these kinds; the strongest left, if any, holds the loan from now on. */
  private lift(kinds: readonly PauseKind[]): void {
    const s = this.s;
    if (!this.holds) {
      if (s.pause && kinds.includes(s.pause.kind)) this.unpause();
      return;
    }
    const { lifted, rest } = liftHolds(this.holds, kinds);
    for (const h of lifted) this.events.record('resumed', { detail: { pause: h.kind } });
    this.holds = rest.length > 1 ? rest : undefined;
    s.pause = rest[0] ?? null;
    if (!s.pause && s.status === 'paused') s.status = 'active';
    this.changed();
  }

  private settleIfPaid(): void {
    const s = this.s;
    if (s.outstanding === 0 && !this.finished()) {
      s.status = 'paid';
      s.pause = null;
      this.holds = undefined;
      s.nextReminder = null;
      for (const p of s.promises) p.kept ??= true;
    }
  }

  /** A promise to pay whose date and grace have passed unpaid: the schedule resumes. */
  breakPromiseIfDue(now: number): void {
    const s = this.s;
    if (!promiseBroken(s.pause, now)) return;
    const promise = s.promises[s.promises.length - 1];
    if (promise) promise.kept = false;
    // Added after v1: a broken promise is worth a person's attention. Loans that were already
    // past this point when the change shipped replay without it.
    if (patched('handover-on-broken-promise')) this.handOver('promise-broken', { date: promise?.date ?? null });
    this.lift(['promise-to-pay']);
  }

  // ---- Signals ----

  receivePayment(payment: Payment): void {
    const s = this.s;
    const conflicting = s.conflictingPayments ?? [];
    const report = classifyPayment(s.payments, conflicting, payment);
    if (report !== 'new') {
      // A webhook's retry counts once. The same id with another amount or time is not a retry: the
      // API refuses it when it can tell, and one that reaches the loan all the same (a race, the
      // loan unreadable then) is kept aside for a person, never silently dropped. Added after v4.
      if (report === 'conflict' && patched('payment-conflict')) {
        s.conflictingPayments = [...conflicting, payment];
        this.handOver('payment-conflict', { paymentId: payment.paymentId });
      }
      return;
    }
    s.payments.push(payment);
    const balance = applyPayment(s, payment.amount);
    s.outstanding = balance.outstanding;
    s.overpaid = balance.overpaid;
    this.settleIfPaid();
    this.events.record('payment', {
      amount: payment.amount,
      outstanding: s.outstanding,
      detail: { paymentId: payment.paymentId, settled: s.outstanding === 0 },
    });
    this.changed();
  }

  deliveryFailed(f: DeliveryFailure): void {
    const s = this.s;
    const sent = s.messagesSent.find((m) => `${this.loan.loanId}:${m.key}` === f.idempotencyKey);
    if (!sent || s.failed.some((x) => x.key === sent.key)) return; // unknown, or a repeated receipt
    s.failed.push({ key: sent.key, stage: sent.stage, reason: `not delivered: ${f.reason}`, at: iso(Date.now()) });
    this.events.record('message-failed', {
      messageKey: f.idempotencyKey,
      stage: sent.stage,
      template: sent.template,
      variant: sent.variant,
      locale: sent.locale,
      detail: { permanent: f.permanent },
    });
    if (f.permanent && !s.numberBlocked) {
      s.numberBlocked = true;
      if (!this.finished()) this.pause('undeliverable');
      this.handOver('undeliverable', { reason: f.reason });
    }
    this.changed();
  }

  answer(answer: BorrowerAnswer): void {
    const s = this.s;
    if (isRepeatedAnswer(s.answers, answer)) return;
    s.answers.push({ ...answer, receivedAt: iso(Date.now()) });
    this.events.record('answer', {
      stage: s.stage,
      variant: s.variant,
      locale: s.locale,
      detail: answerEventDetail(answer),
    });
    // What the answer does (src/domain/answers.ts), in that order: opt out, block, hold, hand over, soften.
    const effect = answerEffect(answer, {
      finished: this.finished(),
      optedOut: s.optedOut,
      gentleAfterHarshRating: this.policy.gentleAfterHarshRating,
    });
    if (effect.optOut) s.optedOut = true;
    if (effect.blockNumber) s.numberBlocked = true;
    if (effect.hold) this.pause(effect.hold);
    if (effect.handOver) this.handOver(effect.handOver.kind, effect.handOver.detail);
    if (effect.gentle) s.variant = 'gentle';
    this.changed();
  }

  // ---- Updates, each with its validator ----

  promiseToPay({ date }: PromiseToPay): { pausedUntil: string } {
    // Resume the morning after the promised date plus the grace period, if still unpaid.
    const until = promiseEndsAt(date, this.policy, this.s.timezone);
    this.s.promises.push({ date, madeAt: iso(Date.now()) });
    this.pause('promise-to-pay', until);
    return { pausedUntil: iso(until) };
  }

  validatePromiseToPay({ date }: PromiseToPay): void {
    if (this.finished()) throw new Error(`the loan is ${this.s.status}`);
    const refusal = promiseDateRefusal(date, Date.now(), this.policy, this.s.timezone);
    if (refusal) throw new Error(refusal);
  }

  resume(): { resumed: true } {
    // Operations end a dispute or hardship (a promise to pay under it holds on to its date); with
    // neither, the promise itself.
    // One hold alone is lifted whatever it is, as before holds stacked (so loans replay unchanged).
    if (!this.holds) this.unpause();
    else this.lift(resumeLifts(this.s.pause));
    return { resumed: true as const };
  }

  validateResume(): void {
    const refusal = resumeRefusal(this.s.pause);
    if (refusal) throw new Error(refusal);
  }

  changeContact(change: ContactChange): { changed: string[] } {
    const s = this.s;
    const before = this.loan.borrower;
    this.loan = { ...this.loan, borrower: { ...before, ...change } };
    s.timezone = this.loan.borrower.timezone;
    s.locale = this.loan.borrower.locale;
    const changedFields = Object.keys(change).filter((k) => change[k as keyof ContactChange] !== undefined);
    if (change.phone && change.phone !== before.phone) {
      s.numberBlocked = false;
      this.lift(['wrong-number', 'undeliverable']);
    }
    this.changed();
    return { changed: changedFields };
  }

  validateChangeContact(change: ContactChange): void {
    if (this.finished()) throw new Error(`the loan is ${this.s.status}`);
    if (change.phone !== undefined && !isE164(change.phone)) throw new Error('phone must be an E.164 number');
    if (change.locale !== undefined && !SUPPORTED_LOCALES.includes(change.locale)) {
      throw new Error(`locale must be one of ${SUPPORTED_LOCALES.join(', ')}`);
    }
    if (change.timezone !== undefined && !isValidTimeZone(change.timezone))
      throw new Error('timezone is not a valid IANA time zone');
    if (change.phone === undefined && change.locale === undefined && change.timezone === undefined) {
      throw new Error('nothing to change');
    }
  }

  changeTerms(change: TermsChange): { outstanding: number; dueDate: string } {
    const s = this.s;
    if (change.amountDue !== undefined) {
      s.amountDue = change.amountDue;
      const balance = balanceFor(change.amountDue, totalPaid(s.payments));
      s.outstanding = balance.outstanding;
      s.overpaid = balance.overpaid;
    }
    if (change.dueDate !== undefined && change.dueDate !== s.dueDate) {
      s.dueDate = change.dueDate;
      this.cadence.shifts = []; // a new due date is a new plan: earlier restarts do not apply to it
    }
    this.loan = { ...this.loan, amountDue: s.amountDue, dueDate: s.dueDate };
    this.settleIfPaid();
    this.changed();
    return { outstanding: s.outstanding, dueDate: s.dueDate };
  }

  validateChangeTerms(change: TermsChange): void {
    const { s, policy } = this;
    if (this.finished()) throw new Error(`the loan is ${s.status}`);
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
  }

  close({ reason }: CloseLoan): { status: 'closed' } {
    const s = this.s;
    s.status = 'closed';
    s.closedReason = reason;
    s.pause = null;
    this.holds = undefined;
    s.nextReminder = null;
    this.changed();
    return { status: 'closed' as const };
  }

  validateClose(): void {
    if (this.finished()) throw new Error(`the loan is already ${this.s.status}`);
  }
}
