// Recording a payment, from the API or the signed webhook. The loan counts each payment id once; a
// payment id reported again with another amount or time is refused (409); and a payment for a loan
// that has ended (paid, closed, unresolved) is never refused: it is kept in the event store,
// acknowledged, and counted in the analytics.
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { samePayment, workflowIdForLoan, type Payment } from '../../domain/loan';
import type { Logger } from '../../log';
import type { EventStore, LoanEvent } from '../../store/events';
import { loanStatusQuery, type LoanReminderWorkflow, paymentReceivedSignal, type LoanStatus } from '../loan-workflow';
import type { Metrics } from '../metrics';
import { ProblemError } from '../problem';

export interface PaymentDeps {
  client: Client;
  events?: EventStore;
  log: Logger;
  metrics: Metrics;
}

export interface PaymentAnswer {
  loanId: string;
  paymentId: string;
  accepted: true;
  /** `counted` by the running loan; `already-counted` a repeat; `after-end` kept for an ended loan. */
  recordedAs: 'counted' | 'already-counted' | 'after-end';
}

/** How long the API waits to read the loan before it signals unread (a busy or absent worker). */
const LOOK_MS = 3_000;

const ENDED: ReadonlySet<LoanStatus['status']> = new Set(['paid', 'closed', 'unresolved']);

function conflict(loanId: string, known: Payment): ProblemError {
  return new ProblemError(
    409,
    'Payment conflict',
    `payment ${known.paymentId} of loan ${loanId} was reported before with amount ${known.amount} at ${known.paidAt}`,
    [{ field: 'paymentId', message: 'already used for a payment with another amount or time' }],
    'urn:loan-reminders:problem:payment-conflict',
  );
}

export async function recordPayment(
  d: PaymentDeps,
  loanId: string,
  payment: Payment,
  via: string,
): Promise<PaymentAnswer> {
  const h = d.client.workflow.getHandle<LoanReminderWorkflow>(workflowIdForLoan(loanId));
  const answer = (recordedAs: PaymentAnswer['recordedAs']): PaymentAnswer => {
    d.log.info({ loanId, paymentId: payment.paymentId, via, recordedAs }, 'payment recorded');
    return { loanId, paymentId: payment.paymentId, accepted: true, recordedAs };
  };

  // Read the loan first, briefly: a repeat is answered as one, a conflict refused, an ended loan's
  // payment kept aside. If the loan cannot be read in time the signal goes anyway: the loan
  // itself counts a repeat once and hands a conflict to operations.
  const state = await read(d.client, h);
  if (state === 'not-found') throw new ProblemError(404, 'Not found', 'no such loan');
  if (state && ENDED.has(state.status)) return answer(await afterEnd(d, loanId, payment, h, state));
  const known = state ? state.payments.find((p) => p.paymentId === payment.paymentId) : undefined;
  if (known && !samePayment(known, payment)) throw conflict(loanId, known);
  if (known) return answer('already-counted');
  try {
    await h.signal(paymentReceivedSignal, payment);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    // Ended between the read and the signal, or never started.
    const final = await read(d.client, h);
    if (final === 'not-found') throw new ProblemError(404, 'Not found', 'no such loan');
    return answer(await afterEnd(d, loanId, payment, h, final));
  }
  d.metrics.signals.inc({ kind: via });
  return answer('counted');
}

/** The loan's status; undefined when it cannot be read in time; `not-found` when there is no such loan. */
async function read(
  client: Client,
  h: WorkflowHandle<LoanReminderWorkflow>,
): Promise<LoanStatus | 'not-found' | undefined> {
  try {
    return await client.connection.withDeadline(Date.now() + LOOK_MS, () => h.query(loanStatusQuery));
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) return undefined;
    const exists = await h.describe().then(
      () => true,
      () => false,
    );
    return exists ? undefined : 'not-found';
  }
}

/**
 * A payment for a loan that has ended. Counted before it ended: a repeat. Otherwise stored as a
 * payment event of its own (id from the loan and payment id, so a retried delivery is stored once),
 * which the analytics count like any other.
 */
async function afterEnd(
  d: PaymentDeps,
  loanId: string,
  payment: Payment,
  h: WorkflowHandle<LoanReminderWorkflow>,
  read: LoanStatus | undefined,
): Promise<PaymentAnswer['recordedAs']> {
  // An ended loan's result is in its history: readable without a worker.
  const final =
    read ?? (await d.client.connection.withDeadline(Date.now() + LOOK_MS, () => h.result()).catch(() => undefined));
  const known = final?.payments.find((p) => p.paymentId === payment.paymentId);
  if (known && !samePayment(known, payment)) throw conflict(loanId, known);
  if (known) return 'already-counted';
  if (!d.events) throw new ProblemError(503, 'Not configured', 'no event store to keep a payment for an ended loan');
  const eventId = `${loanId}:after-end:${payment.paymentId}`;
  const stored = (await d.events.forLoan(loanId)).find((e) => e.eventId === eventId);
  if (stored) {
    const before = { paymentId: payment.paymentId, amount: stored.amount ?? 0, paidAt: String(stored.detail?.paidAt) };
    if (!samePayment(before, payment)) throw conflict(loanId, before);
    return 'after-end';
  }
  // A loan stopped from outside (terminated in the Web UI) has no final status of its own.
  const status = final && ENDED.has(final.status) ? final.status : (await h.describe()).status.name.toLowerCase();
  const event: LoanEvent = {
    eventId,
    loanId,
    kind: 'payment',
    at: new Date().toISOString(),
    amount: payment.amount,
    ...(final
      ? {
          policyId: final.policyId,
          currency: final.currency,
          outstanding: Math.max(0, final.outstanding - payment.amount),
        }
      : {}),
    detail: {
      paymentId: payment.paymentId,
      paidAt: payment.paidAt,
      afterEnd: true,
      loanStatus: status,
      // A loan already paid in full: all of it is over what was owed.
      overpayment: final?.status === 'paid',
    },
  };
  await d.events.append([event]);
  d.metrics.signals.inc({ kind: 'payment-after-end' });
  return 'after-end';
}
