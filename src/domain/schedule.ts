// When each reminder is due: pure calendar rules in the borrower's own time zone.
// The workflow sleeps until these instants; tests and the API ask the same functions.
import { DateTime } from 'luxon';

export type Stage = 'pre-due' | 'due' | 'overdue';

export interface ReminderPoint {
  stage: Stage;
  /** The borrower's calendar day this point belongs to, YYYY-MM-DD. */
  localDate: string;
  /** The instant to send, ISO 8601 UTC. */
  at: string;
  /** After this instant the point is stale: sending it would fall outside that day's window. */
  latest: string;
}

export interface SendingWindow {
  /** Local time the window opens, HH:mm. */
  opens: string;
  /** Local time the window closes, HH:mm. */
  closes: string;
}

/** 08:00-21:00: the stricter of Regulation F's hours and China's GB/T 45251-2025. */
export const DEFAULT_WINDOW: SendingWindow = { opens: '08:00', closes: '21:00' };
/** Mid-morning: inside every window we allow, and a time people read messages. */
export const DEFAULT_SEND_TIME = '10:00';

const OFFSETS: ReadonlyArray<{ stage: Stage; days: number }> = [
  { stage: 'pre-due', days: -7 },
  { stage: 'due', days: 0 },
  { stage: 'overdue', days: 1 },
];

function parseHm(hm: string): { hour: number; minute: number } {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hm);
  if (!m) throw new RangeError(`time of day must be HH:mm, got "${hm}"`);
  return { hour: Number(m[1]), minute: Number(m[2]) };
}

/** A local wall-clock time on a local date, as a UTC instant. A time skipped by a DST change moves forward. */
export function localInstant(localDate: string, hm: string, timezone: string): DateTime {
  const day = DateTime.fromISO(localDate, { zone: timezone });
  if (!day.isValid) throw new RangeError(`invalid date "${localDate}" or time zone "${timezone}"`);
  return day.set(parseHm(hm)).toUTC();
}

export function isValidTimeZone(timezone: string): boolean {
  return DateTime.now().setZone(timezone).isValid;
}

export function planReminders(
  dueDate: string,
  timezone: string,
  sendTime: string = DEFAULT_SEND_TIME,
  window: SendingWindow = DEFAULT_WINDOW,
): ReminderPoint[] {
  const due = DateTime.fromISO(dueDate, { zone: timezone });
  if (!due.isValid) throw new RangeError(`invalid due date "${dueDate}" or time zone "${timezone}"`);
  if (!isInWindow(sendTime, window)) {
    throw new RangeError(`send time ${sendTime} is outside the sending window ${window.opens}-${window.closes}`);
  }
  return OFFSETS.map(({ stage, days }) => {
    const localDate = due.plus({ days }).toISODate() as string;
    return {
      stage,
      localDate,
      at: localInstant(localDate, sendTime, timezone).toISO() as string,
      latest: localInstant(localDate, window.closes, timezone).toISO() as string,
    };
  });
}

function isInWindow(hm: string, window: SendingWindow): boolean {
  const t = parseHm(hm);
  const o = parseHm(window.opens);
  const c = parseHm(window.closes);
  const minutes = t.hour * 60 + t.minute;
  return minutes >= o.hour * 60 + o.minute && minutes < c.hour * 60 + c.minute;
}

/**
 * What to do with a point at `nowMs`: wait for it, send it now (it fell due while the loan was
 * being started, and its day's window is still open), or skip it (its day's window has closed).
 */
export function pointAction(point: ReminderPoint, nowMs: number): 'wait' | 'send' | 'skip' {
  if (nowMs < Date.parse(point.at)) return 'wait';
  return nowMs < Date.parse(point.latest) ? 'send' : 'skip';
}
