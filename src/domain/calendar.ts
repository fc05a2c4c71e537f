// Local time for the borrower: wall-clock instants in their time zone and the sending window.
import { DateTime, Duration } from 'luxon';

export interface SendingWindow {
  /** HH:mm local time the window opens. */
  start: string;
  /** HH:mm local time it closes (exclusive); "24:00" for midnight. */
  end: string;
}

/** An instant (ms since the epoch) as ISO 8601 in UTC, as loans record their instants. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

const zoneVerdicts = new Map<string, boolean>();

/**
 * A zone of the IANA time zone database (aliases such as Asia/Calcutta included; UTC and Etc/...
 * too), as the platform's Intl knows it. Luxon alone would also take "system", "default", "local"
 * (the host's own zone) and fixed offsets such as "UTC+8": none of them is a borrower's zone.
 */
export function isValidTimeZone(timezone: string): boolean {
  let verdict = zoneVerdicts.get(timezone);
  if (verdict === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: timezone });
      verdict = DateTime.now().setZone(timezone).isValid;
    } catch {
      verdict = false; // Intl refuses every name that is not an IANA zone
    }
    if (zoneVerdicts.size >= 1000) zoneVerdicts.clear();
    zoneVerdicts.set(timezone, verdict);
  }
  return verdict;
}

function setHm(day: DateTime, hm: string): DateTime {
  if (hm === '24:00') return day.startOf('day').plus({ days: 1 });
  // A wall-clock time skipped by a daylight-saving change resolves to the first moment after it.
  return day.set({ hour: Number(hm.slice(0, 2)), minute: Number(hm.slice(3)), second: 0, millisecond: 0 });
}

/** `hm` on the borrower's calendar day `localDate`, as epoch milliseconds. */
export function localInstantMs(localDate: string, hm: string, timezone: string): number {
  const day = DateTime.fromISO(localDate, { zone: timezone });
  if (!day.isValid) throw new RangeError(`invalid date "${localDate}" or time zone "${timezone}"`);
  return setHm(day, hm).toMillis();
}

/** The borrower's calendar date at an instant. */
export function localDateOf(ms: number, timezone: string): string {
  return DateTime.fromMillis(ms, { zone: timezone }).toISODate() as string;
}

/** Adds the calendar part of a duration (years, months, weeks, days) to a local date. */
export function addCalendar(localDate: string, duration: Duration, timezone: string): string {
  const { years = 0, months = 0, weeks = 0, days = 0 } = duration.toObject();
  return DateTime.fromISO(localDate, { zone: timezone }).plus({ years, months, weeks, days }).toISODate() as string;
}

/** The clock part of a duration (hours, minutes, seconds) in milliseconds. */
export function clockMs(duration: Duration): number {
  const { hours = 0, minutes = 0, seconds = 0, milliseconds = 0 } = duration.toObject();
  return ((hours * 60 + minutes) * 60 + seconds) * 1000 + milliseconds;
}

/** Minutes since midnight of an HH:mm time ("24:00" is 1440). */
export function minutesOfDay(hm: string): number {
  return hm === '24:00' ? 1440 : Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3));
}

/** A real date of the calendar written YYYY-MM-DD (not 2024-02-30). */
export function isCalendarDate(date: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(date) && DateTime.fromISO(date).isValid;
}

/** Inside the window by the borrower's wall clock (on a daylight-saving day, 03:00 is 03:00). */
export function isInWindow(ms: number, window: SendingWindow, timezone: string): boolean {
  const local = DateTime.fromMillis(ms, { zone: timezone });
  const minute = local.hour * 60 + local.minute;
  return minute >= minutesOfDay(window.start) && minute < minutesOfDay(window.end);
}

/** The first instant at or after `ms` inside the sending window, in the borrower's time zone. */
export function nextWindowOpening(ms: number, window: SendingWindow, timezone: string): number {
  if (isInWindow(ms, window, timezone)) return ms;
  let day = DateTime.fromMillis(ms, { zone: timezone }).startOf('day');
  // Today's opening if it is still ahead, else a later day's. A day whose whole window falls in a
  // daylight-saving gap has no opening; the loop moves on to the next.
  for (let i = 0; i < 4; i++) {
    let opens = setHm(day, window.start).toMillis();
    if (opens >= ms && isInWindow(opens, window, timezone)) {
      // If the opening fell in a daylight-saving gap it was pushed past the gap by a whole offset
      // change; the window really opens where the gap ends, a few minutes earlier.
      while (opens - 60_000 >= ms && isInWindow(opens - 60_000, window, timezone)) opens -= 60_000;
      return opens;
    }
    day = day.plus({ days: 1 });
  }
  throw new RangeError(
    `no opening of the window ${window.start}-${window.end} in ${timezone} after ${new Date(ms).toISOString()}`,
  );
}

/**
 * When the sending window that `ms` lies in closes: a send still pending then must wait for the
 * next opening. (On a daylight-saving day the wall clock decides, to the minute.)
 */
export function windowClosesAfter(ms: number, window: SendingWindow, timezone: string): number {
  let end = setHm(DateTime.fromMillis(ms, { zone: timezone }).startOf('day'), window.end).toMillis();
  while (end - 60_000 > ms && !isInWindow(end - 60_000, window, timezone)) end -= 60_000;
  return end;
}

export function formatLocal(ms: number, timezone: string): string {
  return DateTime.fromMillis(ms, { zone: timezone }).toFormat('yyyy-MM-dd HH:mm ZZZZ');
}
