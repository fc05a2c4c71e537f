// The range of dates and instants the service takes: every due date, promise date, payment and
// answer time, and analytics range lies inside it. Checked at the edge before anything reaches
// Temporal (whose date-time search attributes refuse years such as 0000); the workflow leaves out
// a due-date attribute outside it rather than fail. Pure: no I/O, no clock.

/** The first calendar date the service takes (YYYY-MM-DD). */
export const MIN_DATE = '2000-01-01';
/** The last calendar date the service takes (YYYY-MM-DD). */
export const MAX_DATE = '2099-12-31';
/** The first instant the service takes: the start of MIN_DATE in UTC. */
export const MIN_INSTANT = '2000-01-01T00:00:00.000Z';
/** The last instant the service takes: the end of MAX_DATE in UTC. */
export const MAX_INSTANT = '2099-12-31T23:59:59.999Z';

export const MIN_INSTANT_MS = Date.parse(MIN_INSTANT);
export const MAX_INSTANT_MS = Date.parse(MAX_INSTANT);

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A YYYY-MM-DD date from MIN_DATE to MAX_DATE (as written; whether it is a real date is another check). */
export function isDateInRange(date: string): boolean {
  // Zero-padded dates of one shape compare as text in calendar order.
  return DATE.test(date) && date >= MIN_DATE && date <= MAX_DATE;
}

/** Epoch milliseconds from MIN_INSTANT to MAX_INSTANT. */
export function isInstantMsInRange(ms: number): boolean {
  return Number.isFinite(ms) && ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS;
}

/** An ISO 8601 instant (any offset) from MIN_INSTANT to MAX_INSTANT. */
export function isInstantInRange(iso: string): boolean {
  return isInstantMsInRange(Date.parse(iso));
}

/** Says what the range is, for error messages. */
export const DATE_RANGE_MESSAGE = `must lie from ${MIN_DATE} to ${MAX_DATE}`;
export const INSTANT_RANGE_MESSAGE = `must lie from ${MIN_INSTANT} to ${MAX_INSTANT}`;
