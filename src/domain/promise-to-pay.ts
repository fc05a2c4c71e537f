// A borrower's promise to pay by a date: which dates may be promised, until when the promise holds
// the loan's reminders (the policy's send time on the promised date, plus its grace period), and
// when an unpaid promise is broken.
import { Duration } from 'luxon';
import { isCalendarDate, localDateOf, localInstantMs } from './calendar';
import type { Hold } from './holds';
import type { Policy } from './policy';

export type PromisePolicy = Pick<Policy, 'sendTime' | 'promiseToPay'>;

const durationMs = (iso: string) => Duration.fromISO(iso).as('milliseconds');

/** When a promise to pay by `date` stops holding the loan: the morning after the date plus grace, if unpaid. */
export function promiseEndsAt(date: string, policy: PromisePolicy, timezone: string): number {
  return localInstantMs(date, policy.sendTime, timezone) + durationMs(policy.promiseToPay.grace);
}

/** Why a promise to pay by `date`, made at `now`, is refused; undefined when the policy allows it. */
export function promiseDateRefusal(
  date: string,
  now: number,
  policy: PromisePolicy,
  timezone: string,
): string | undefined {
  if (!isCalendarDate(date)) return 'date must be a real date YYYY-MM-DD';
  const today = localDateOf(now, timezone);
  const latest = localDateOf(now + durationMs(policy.promiseToPay.maxAhead), timezone);
  if (date < today) return `date ${date} is in the past`;
  if (date > latest) return `date ${date} is further ahead than the policy allows (${policy.promiseToPay.maxAhead})`;
  return undefined;
}

/** The loan's strongest hold is a promise to pay whose end is still ahead. */
export function promiseHolds(strongest: Hold | null, now: number): boolean {
  return strongest?.kind === 'promise-to-pay' && strongest.until !== undefined && Date.parse(strongest.until) > now;
}

/** The loan's strongest hold is a promise to pay whose date and grace have passed: it is broken. */
export function promiseBroken(strongest: Hold | null, now: number): boolean {
  const until = strongest?.until ? Date.parse(strongest.until) : undefined;
  return strongest?.kind === 'promise-to-pay' && until !== undefined && !(now < until);
}
