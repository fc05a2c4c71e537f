// Delivery of one text: render it, send it through the SMS activity, withdraw it if it becomes moot
// while the provider is being retried, and record what came of it (sent, withdrawn, the window
// closed, failed; a number that cannot receive texts stops the loan's texting until it changes).
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  workflowInfo,
  type ActivityInterfaceFor,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { LoanEvent } from '../domain/events';
import { iso, nextWindowOpening, windowClosesAfter } from '../domain/calendar';
import { deliveredEventOf } from '../domain/events';
import { Failure } from '../domain/failures';
import type { Lender, Loan } from '../domain/loan';
import { mayThank } from '../domain/may-text';
import type { Policy } from '../domain/policy';
import { promiseHolds } from '../domain/promise-to-pay';
import type { PlannedPoint } from '../domain/schedule';
import { totalPaid } from '../domain/settlement';
import { renderMessage } from '../domain/templates';
import type { EventBuffer, EventFields } from './event-buffer';
import { smsTaskQueue, type LoanStatus, type PauseKind } from './messages';

const SMS_SEND_OPTIONS: ActivityOptions = {
  // A provider call takes seconds. Retries ride out an outage for as long as the borrower's sending
  // window stays open (the activity refuses past it), and stop at once if the send becomes moot.
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    nonRetryableErrorTypes: [Failure.InvalidPhoneNumber, Failure.WindowClosed],
  },
};

/**
 * Whether a withdrawn send went out: a read of the ledger (and of a provider that knows messages
 * by key), on the loan's own task queue, not the rate-limited SMS queue; a few tries, then taken
 * as withdrawn (see settleWithdrawn).
 */
const { settleWithdrawnSms } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
});

/** The SMS activity as this loan calls it; asked once, at the loan's start, before anything else. */
export function smsActivities(): ActivityInterfaceFor<Activities> {
  // Built here, not at module scope: its task queue follows the one this loan runs on. Loans
  // started before SMS had their own queue keep sending from the workflow's queue.
  const smsOptions: ActivityOptions = patched('sms-task-queue')
    ? { ...SMS_SEND_OPTIONS, taskQueue: smsTaskQueue(workflowInfo().taskQueue) }
    : SMS_SEND_OPTIONS;
  // Added after v3. A send withdrawn (by a payment, an opt-out, a pause) while a worker already runs
  // it is withdrawn only if the activity hears of it before calling the provider; otherwise the
  // message went out, and the loan must say so. So the loan waits for the activity's own answer
  // rather than taking the withdrawal for done. Loans started before keep the old way on replay.
  return proxyActivities<Activities>(
    patched('send-withdrawal-confirmed')
      ? { ...smsOptions, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED }
      : smsOptions,
  );
}

/** The provider's answer to a send, as the SMS activity returns it. */
type SmsReceipt = Awaited<ReturnType<Activities['sendSms']>>;

/** What a delivery reads and changes of its loan. */
/** The patches a loan asks at its start, before its first await, and keeps (see loanReminder). */
export interface EarlyPatches {
  sendTimeRules: boolean;
  reminderRules: boolean;
}

export interface DeliveryContext {
  readonly s: LoanStatus;
  /** The loan as it stands now: its contact may change while a send is under way. */
  readonly loan: Loan;
  readonly lender: Lender;
  readonly policy: Policy;
  readonly sms: ActivityInterfaceFor<Activities>;
  readonly events: EventBuffer;
  /** False for loans started before the event store. */
  readonly recording: boolean;
  /** Points sent, skipped or under way: a point withdrawn or not sent is taken out again. */
  readonly doneKeys: Set<string>;
  finished(): boolean;
  /** Reminders may go out (no opt-out, no blocked number, no hold but a promise). */
  canText(): boolean;
  pause(kind: PauseKind): void;
  handOver(kind: string, detail?: Record<string, unknown>): void;
  /** Patches asked at the loan's start (see loanReminder). */
  readonly earlyPatches?: EarlyPatches;
}

export type DeliveryOutcome = 'sent' | 'withdrawn' | 'window-closed' | 'failed';

/** Sends one text for `point` at `at`, asking for `amount`. */
export async function deliver(
  ctx: DeliveryContext,
  point: PlannedPoint,
  at: number,
  amount: number,
  rule?: string,
): Promise<DeliveryOutcome> {
  const { s, lender, policy, events } = ctx;
  const variant = s.variant;
  const message = renderMessage({
    template: point.template,
    variant,
    locale: ctx.loan.borrower.locale,
    borrowerName: ctx.loan.borrower.name,
    honorific: ctx.loan.borrower.honorific,
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
  const promiseWithdraws = !isThanks && (ctx.earlyPatches?.sendTimeRules ?? patched('send-time-rules'));
  const moot = () =>
    isThanks
      ? !mayThank(s)
      : ctx.finished() || !ctx.canText() || (promiseWithdraws && promiseHolds(s.pause, Date.now()));
  const loanId = ctx.loan.loanId;
  const facts = {
    messageKey: `${loanId}:${point.key}`,
    stage: point.stage,
    template: point.template,
    variant,
    locale: ctx.loan.borrower.locale,
  };
  const carried = ctx.recording
    ? {
        before: events.carry(),
        sent: events.event('message-sent', {
          ...facts,
          amount,
          outstanding: s.outstanding,
          segments: message.segments,
          detail: { scheduledFor: iso(at), encoding: message.encoding, ...(rule ? { rule } : {}) },
        }),
      }
    : undefined;
  const scope = new CancellationScope();
  let settled = false;
  let withdrawing = false;
  void condition(() => settled || moot()).then(() => {
    if (settled) return;
    withdrawing = true;
    scope.cancel();
  });
  const sms = {
    to: ctx.loan.borrower.phone,
    body: message.body,
    loanId,
    stage: point.stage,
    // From the loan and the plan, never the run: the same reminder always has the same key.
    idempotencyKey: `${loanId}:${point.key}`,
    scheduledFor: iso(at),
    notAfter: iso(windowClosesAfter(at, policy.window, s.timezone)),
    template: point.template,
    params: { ...message.params },
    ...(carried ? { events: carried } : {}),
  };
  let receipt: SmsReceipt;
  try {
    receipt = await scope.run(() => ctx.sms.sendSms(sms));
    settled = true;
  } catch (err) {
    settled = true;
    // Added after v6. A send withdrawn whose worker died with it after the provider took it gets
    // no retry (the server retries no attempt the loan asked to cancel): the loan asks whether it
    // went out, and says so if it did. Loans started before take every withdrawal as done.
    const wentOut = withdrawing && patched('withdrawn-send-settled') ? await settleWithdrawn(ctx, sms) : null;
    if (!wentOut) return notSent(ctx, point, facts, carried?.before, err);
    receipt = wentOut;
  }
  recordSent(ctx, { point, at, variant, message, carried }, receipt);
  return 'sent';
}

/** Asks whether a withdrawn send went out after all; taken as not, should even that fail. */
async function settleWithdrawn(
  ctx: DeliveryContext,
  sms: Parameters<Activities['settleWithdrawnSms']>[0],
): Promise<SmsReceipt | null> {
  try {
    return await CancellationScope.nonCancellable(() => settleWithdrawnSms(sms));
  } catch (err) {
    log.warn('Could not tell whether a withdrawn send went out; taken as withdrawn', {
      loanId: ctx.loan.loanId,
      stage: sms.stage,
      reason: err instanceof Error ? err.message : String(err),
    });
    return null;
  }
}

/** What the loan keeps of a text the provider took. */
function recordSent(
  ctx: DeliveryContext,
  text: {
    point: PlannedPoint;
    at: number;
    variant: LoanStatus['variant'];
    message: ReturnType<typeof renderMessage>;
    carried: { before: LoanEvent[] | undefined; sent: LoanEvent } | undefined;
  },
  receipt: SmsReceipt,
): void {
  const { s, events } = ctx;
  const { point, carried, message } = text;
  if (carried && receipt.eventsRecorded === false) {
    // Stored again (same ids) with the next activity; the sent event at this workflow instant.
    events.putBack(carried.before);
    const sent = { ...carried.sent, at: iso(Date.now()) };
    events.push(sent, ...(receipt.delivered ? [deliveredEventOf(sent)] : []));
  }
  s.messagesSent.push({
    key: point.key,
    stage: point.stage,
    template: point.template,
    variant: text.variant,
    locale: ctx.loan.borrower.locale,
    requestedAt: iso(point.requestedAt),
    scheduledFor: iso(text.at),
    sentAt: receipt.sentAt,
    recordedAt: iso(Date.now()),
    segments: message.segments,
    encoding: message.encoding,
  });
  if (point.template !== 'thank-you') s.stage = point.stage;
}

/** A send that did not go out: withdrawn (its point may come again), or failed. */
function notSent(
  ctx: DeliveryContext,
  point: PlannedPoint,
  facts: EventFields,
  before: LoanEvent[] | undefined,
  err: unknown,
): DeliveryOutcome {
  ctx.events.putBack(before);
  if (isCancellation(err)) {
    // Whatever made it moot (payment, opt-out, pause) has already re-planned the loan.
    log.info('Message withdrawn before the provider took it', { loanId: ctx.loan.loanId, stage: point.stage });
    if (point.template !== 'thank-you') ctx.doneKeys.delete(point.key);
    return 'withdrawn';
  }
  return failed(ctx, point, facts, err);
}

/** A send the provider refused or that failed for good: re-planned if the window closed, else recorded. */
function failed(
  ctx: DeliveryContext,
  point: PlannedPoint,
  facts: EventFields,
  err: unknown,
): 'window-closed' | 'failed' {
  const { s, doneKeys } = ctx;
  const loanId = ctx.loan.loanId;
  if (!(err instanceof ActivityFailure)) throw err;
  const cause = err.cause;
  const reason = cause?.message ?? err.message;
  if (cause instanceof ApplicationFailure && cause.type === Failure.WindowClosed) {
    // Not a failure of the message: it goes at the next opening, re-planned like any late point.
    log.info('Sending window closed during retries; re-planning', { loanId, stage: point.stage });
    doneKeys.delete(point.key);
    return 'window-closed';
  }
  s.failed.push({ key: point.key, stage: point.stage, reason, at: iso(Date.now()) });
  ctx.events.record('message-failed', {
    ...facts,
    detail: { reason: cause instanceof ApplicationFailure ? (cause.type ?? 'failed') : 'failed' },
  });
  log.warn('Message could not be sent', { loanId, stage: point.stage, reason });
  if (cause instanceof ApplicationFailure && cause.type === Failure.InvalidPhoneNumber) {
    // Retrying cannot help: stop texting this number until the loan system gives a new one.
    s.numberBlocked = true;
    doneKeys.delete(point.key); // may still go out, to a corrected number, while it is not stale
    if (!ctx.finished()) ctx.pause('undeliverable');
    ctx.handOver('undeliverable', { reason });
  }
  return 'failed';
}

/** The reminder planned for `point`, due at `at`: taken as done before it goes (see DeliveryContext.doneKeys). */
/** A reminder at its time; `rule` (recorded with the send when given) is what decided that time. */
export async function sendReminder(
  ctx: DeliveryContext,
  point: PlannedPoint,
  at: number,
  rule?: string,
): Promise<void> {
  ctx.doneKeys.add(point.key);
  await deliver(ctx, point, at, ctx.s.outstanding, rule);
}

/** The thank-you for a paid loan, in the sending window; given up if the borrower opts out meanwhile. */
export async function sendThanks(ctx: DeliveryContext): Promise<void> {
  const { s, policy } = ctx;
  const mayText = () => mayThank(s);
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
    if ((await deliver(ctx, point, Date.now(), totalPaid(s.payments))) !== 'window-closed') return;
  }
}
