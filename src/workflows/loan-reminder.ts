// One durable workflow per loan: sleeps until each reminder point, sends the SMS through an
// activity, and stops the moment the loan is paid in full. Deterministic code only.
import {
  ActivityFailure,
  condition,
  defineQuery,
  defineSignal,
  log,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Lender, Loan, Payment } from '../domain/loan';
import { planReminders, pointAction, type ReminderPoint, type Stage } from '../domain/schedule';
import { renderReminder } from '../domain/templates';

export interface LoanReminderInput {
  loan: Loan;
  lender: Lender;
  /** Local time of day reminders go out, HH:mm. */
  sendTime?: string;
  /** Days after the due date the loan keeps listening for payment after its last reminder. */
  horizonDays?: number;
}

export type LoanStatusName = 'active' | 'paid' | 'unresolved';

export interface SentMessage {
  stage: Stage;
  scheduledFor: string;
  sentAt: string;
  idempotencyKey: string;
}

export interface LoanStatus {
  loanId: string;
  status: LoanStatusName;
  currency: string;
  amountDue: number;
  /** What is still owed, minor units; 0 once paid. */
  outstanding: number;
  /** Paid above what was due, minor units. */
  overpaid: number;
  dueDate: string;
  nextReminder: { stage: Stage; at: string } | null;
  messagesSent: SentMessage[];
  skipped: Array<{ stage: Stage; reason: string }>;
  failed: Array<{ stage: Stage; reason: string }>;
  payments: Payment[];
}

export const paymentReceivedSignal = defineSignal<[Payment]>('paymentReceived');
export const loanStatusQuery = defineQuery<LoanStatus>('loanStatus');

const DEFAULT_HORIZON_DAYS = 30;

const sms = proxyActivities<Activities>({
  // A provider call is seconds; the retries cover a brief outage of the gateway.
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: 5,
    nonRetryableErrorTypes: ['InvalidPhoneNumber'],
  },
});

export async function loanReminder(input: LoanReminderInput): Promise<LoanStatus> {
  const { loan } = input;
  const plan = planReminders(loan.dueDate, loan.borrower.timezone, input.sendTime);
  const state: LoanStatus = {
    loanId: loan.loanId,
    status: 'active',
    currency: loan.currency,
    amountDue: loan.amountDue,
    outstanding: loan.amountDue,
    overpaid: 0,
    dueDate: loan.dueDate,
    nextReminder: null,
    messagesSent: [],
    skipped: [],
    failed: [],
    payments: [],
  };

  setHandler(paymentReceivedSignal, (payment) => {
    if (state.payments.some((p) => p.paymentId === payment.paymentId)) return; // webhook retry
    state.payments.push(payment);
    const left = state.outstanding - payment.amount;
    state.outstanding = Math.max(0, left);
    state.overpaid += Math.max(0, -left);
    if (state.outstanding === 0 && state.status === 'active') {
      state.status = 'paid';
      state.nextReminder = null;
    }
  });
  setHandler(loanStatusQuery, () => state);

  const settled = () => state.status !== 'active';

  for (const point of plan) {
    if (settled()) break;
    const action = pointAction(point, Date.now());
    if (action === 'skip') {
      state.skipped.push({ stage: point.stage, reason: 'its day had passed when the loan was started' });
      continue;
    }
    state.nextReminder = { stage: point.stage, at: point.at };
    if (action === 'wait') {
      const paidBeforeIt = await condition(settled, Date.parse(point.at) - Date.now());
      if (paidBeforeIt) break;
    }
    await send(point, state, input);
  }
  state.nextReminder = null;

  if (!settled()) {
    const horizonMs = Date.parse(plan[plan.length - 1].at) + (input.horizonDays ?? DEFAULT_HORIZON_DAYS) * 86_400_000;
    const paidInTime = horizonMs > Date.now() && (await condition(settled, horizonMs - Date.now()));
    if (!paidInTime) state.status = 'unresolved';
  }
  log.info('Loan reminders finished', { loanId: loan.loanId, status: state.status });
  return state;
}

async function send(point: ReminderPoint, state: LoanStatus, input: LoanReminderInput): Promise<void> {
  const { loan, lender } = input;
  // Derived from the loan and the reminder, never the run: the same reminder always has the same key.
  const idempotencyKey = `${loan.loanId}:${point.stage}:${point.localDate}`;
  const body = renderReminder({
    stage: point.stage,
    locale: loan.borrower.locale,
    borrowerName: loan.borrower.name,
    outstanding: state.outstanding,
    currency: loan.currency,
    dueDate: loan.dueDate,
    lender,
  });
  try {
    const receipt = await sms.sendSms({
      to: loan.borrower.phone,
      body,
      loanId: loan.loanId,
      stage: point.stage,
      idempotencyKey,
      scheduledFor: point.at,
    });
    state.messagesSent.push({ stage: point.stage, scheduledFor: point.at, sentAt: receipt.sentAt, idempotencyKey });
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const reason = err.cause?.message ?? err.message;
    log.warn('Reminder could not be sent', { loanId: loan.loanId, stage: point.stage, reason });
    state.failed.push({ stage: point.stage, reason });
  }
}
