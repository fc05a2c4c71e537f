// When a loan may text its borrower. Never after an opt-out, never a number reported wrong or
// found undeliverable; reminders also wait out every hold but a promise to pay (which only moves
// when the next reminder goes); a thank-you for a paid loan needs no more than consent and a number.
import type { Hold } from './holds';

export interface TextingFacts {
  optedOut: boolean;
  /** The number on file must not be texted until the loan system gives a new one. */
  numberBlocked: boolean;
  /** The strongest hold in force, or null. */
  pause: Hold | null;
}

/** A reminder may be planned and sent. */
export function mayRemind(loan: TextingFacts): boolean {
  return !loan.optedOut && !loan.numberBlocked && (loan.pause === null || loan.pause.kind === 'promise-to-pay');
}

/** The thank-you for a paid loan may be sent. */
export function mayThank(loan: Pick<TextingFacts, 'optedOut' | 'numberBlocked'>): boolean {
  return !loan.optedOut && !loan.numberBlocked;
}

/** No reminder can go out at `now`: the loan may not remind, or a promise's hold is still ahead. */
export function remindersBlocked(loan: TextingFacts, now: number): boolean {
  return !mayRemind(loan) || (loan.pause?.until !== undefined && Date.parse(loan.pause.until) > now);
}
