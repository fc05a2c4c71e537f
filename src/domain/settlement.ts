// How payments settle a loan: what is still owed, what was paid beyond it, and whether a reported
// payment is new, a webhook's retry, or a conflicting report under a known payment id.
import { samePayment, type Payment } from './loan';

/** Minor units: still owed, and paid beyond the amount due. At most one of them is above zero. */
export interface Balance {
  outstanding: number;
  overpaid: number;
}

export function totalPaid(payments: readonly Pick<Payment, 'amount'>[]): number {
  return payments.reduce((sum, p) => sum + p.amount, 0);
}

/** The balance after a payment: it pays off what is owed first, and the rest counts as overpaid. */
export function applyPayment(balance: Balance, amount: number): Balance {
  const left = balance.outstanding - amount;
  return { outstanding: Math.max(0, left), overpaid: balance.overpaid + Math.max(0, -left) };
}

/** The balance of a loan whose amount due is (now) `amountDue`, with `paid` repaid so far. */
export function balanceFor(amountDue: number, paid: number): Balance {
  return { outstanding: Math.max(0, amountDue - paid), overpaid: Math.max(0, paid - amountDue) };
}

/**
 * A reported payment: `new` if its id is unknown; `repeat` if it is one already counted or already
 * set aside (a webhook's retry counts once); `conflict` if a known id comes with another amount or
 * time, which is not a retry and goes to a person, never counted nor silently dropped.
 */
export function classifyPayment(
  counted: readonly Payment[],
  setAside: readonly Payment[],
  payment: Payment,
): 'new' | 'repeat' | 'conflict' {
  const known = counted.find((p) => p.paymentId === payment.paymentId);
  if (!known) return 'new';
  return !samePayment(known, payment) && !setAside.some((p) => samePayment(p, payment)) ? 'conflict' : 'repeat';
}
