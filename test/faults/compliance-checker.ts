// An independent judge of what the reminder engine sent. It shares no code with the engine's
// schedule, window, cap, template or policy rules (src/domain/*): it re-derives each rule from the
// policy's JSON and the product brief (quiet hours, caps, opt-out, third parties, what every text
// carries, the overdue cadence) with luxon, and reads only what the system left behind: the SMS
// outbox (one JSON line per message, src/sms/outbox.ts), the event store's events
// (src/store/events.ts, for the instant each message went out, the loan's start, and each answer
// and payment took effect), and the loans' inputs with what the test did to each loan and when.
//
// Where the brief leaves a reading open, the checker takes the policy format's (README, "Policy
// format") and issue 14's: caps count reminders, not the thank-you, measured from the instants the
// texts actually went out; a cap scoped "overdue" counts every reminder sent while the loan was
// overdue (from local midnight after its due date), whatever its template, and binds every text
// sent then; a dispute or hardship holds a loan until operations resume it, a promise to pay until
// its date's send time plus the grace period (or a resume), whatever else arrives meanwhile.
//
// It never reports a name or a phone number: a violation names the loan, the message's key and
// the rule, nothing the borrower wrote or is.
import { readFileSync } from 'node:fs';
import { DateTime, Duration } from 'luxon';
import type { OutboxLine } from '../../src/sms/outbox';
import type { LoanEvent } from '../../src/store/events';

/** The parts of a policy file (policies/*.json) the rules need; defaults as the policy format documents them. */
export interface PolicyJson {
  id: string;
  /** Default "due-date"; "loan-start" policies (demos) have no calendar overdue phase. */
  anchor?: 'due-date' | 'loan-start';
  sendTime?: string;
  window?: { start: string; end: string };
  points: Array<{ offset: string; template: string }>;
  overdueRepeat?: { every: string; maxCount: number; template: string };
  finalNotice?: { after: string; template: string };
  caps?: Array<{ max: number; per: string; scope?: 'any' | 'overdue' }>;
  /** Default P3D. */
  maxLateness?: string;
  promiseToPay?: { grace?: string };
  thankYou?: boolean;
}

export type AnswerKind = 'opt-out' | 'dispute' | 'hardship' | 'callback' | 'wrong-number' | 'rating';

/**
 * What the test did to a loan and the system accepted, each with the server time read just
 * before the request (epoch ms). Answers and payments are matched to the engine's own record of
 * them by id, for the instant they took effect; the others take effect at or after `at`.
 */
export type LoanAction =
  | { kind: 'payment'; at: number; paymentId: string; amount: number }
  | { kind: 'answer'; at: number; answerId: string; answer: AnswerKind }
  | { kind: 'promise'; at: number; date: string }
  | { kind: 'resume'; at: number }
  | { kind: 'new-phone'; at: number; phone: string }
  | { kind: 'close'; at: number };

export interface CheckedLoan {
  loanId: string;
  policy: PolicyJson;
  borrower: { name: string; phone: string; locale: string; timezone: string };
  /** Minor units of `currency`. */
  amountDue: number;
  currency: string;
  /** YYYY-MM-DD in the borrower's calendar. */
  dueDate: string;
  /** The lender's number for questions: every message must carry it. */
  contactPhone: string;
  actions: LoanAction[];
}

export const RULES = [
  /** Sent outside the policy's window, by the borrower's own clock at the moment of sending. */
  'quiet-hours',
  /**
   * More reminders inside one of the policy's rolling cap windows than it allows, by the instants
   * they went out; for a cap scoped "overdue", the reminders sent while the loan was overdue.
   */
  'cap',
  /** A "due" or "pre-due" text sent once the due date had passed in the borrower's zone (due-date policies). */
  'due-after-due-date',
  /**
   * An overdue loan that could be reminded (active, unpaid, not held, not opted out, points left)
   * left silent longer than the policy's overdue cadence allows, window and caps included.
   */
  'overdue-silence',
  /**
   * A hold that held back a reminder ended on an overdue loan, and the next reminder did not go
   * out at the next opening of the window (or, if a cap forbade that, at the opening after the
   * cap allowed it).
   */
  'late-after-pause',
  'after-opt-out',
  /** A reminder after the loan was paid in full (a single thank-you is the one message allowed). */
  'after-paid',
  /** A reminder while a dispute, hardship or promise to pay holds the loan (until operations resume it). */
  'paused',
  /** To a number the borrower reported wrong, replaced, or never had. */
  'third-party',
  /** After the loan was closed, or (other than the thank-you) after it completed. */
  'after-end',
  /** A thank-you without full payment, a second one, or one the policy does not send. */
  'thank-you-unearned',
  'missing-name',
  'missing-amount',
  'missing-due-date',
  'missing-contact',
  'missing-opt-out-hint',
  /** A message for a loan nobody started. */
  'unknown-loan',
  /** A message the event store never recorded as sent, so its instant cannot be checked. */
  'untraceable',
] as const;
export type Rule = (typeof RULES)[number];

export interface Violation {
  rule: Rule;
  loanId: string;
  messageKey?: string;
  /** Times and counts only; never personal data. */
  detail: string;
}

export interface ComplianceReport {
  loans: number;
  messages: number;
  reminders: number;
  thankYous: number;
  violations: Violation[];
  byRule: Record<Rule, number>;
  /** Promised outcomes missing: an action the engine has no record of, a loan that never completed. */
  lost: string[];
  /** Repeated idempotency keys, more reminders than the policy has points, more than one thank-you. */
  duplicated: number;
  /** Largest delay from a message's planned instant to its sending, ms (the server's clock moving meanwhile). */
  maxDelayMs: number;
  /** Messages sent on a day whose UTC offset changed in the borrower's zone. */
  dstDayMessages: number;
  /** Loans texted at two or more UTC offsets of their zone (their texts straddle a daylight-saving change). */
  loansAcrossDst: number;
  /** Reminders sent while their loan was overdue: those the overdue caps and the due-date rule judged. */
  overdueReminders: number;
  /** Ends of holds on overdue loans that held back a reminder: those late-after-pause judged. */
  pauseEndsChecked: number;
  /** Stretches of time an overdue loan could be reminded, each judged by overdue-silence. */
  silencesChecked: number;
}

export interface CheckOptions {
  /**
   * How much shorter than a cap's window two sends may be apart before they count in one window:
   * the resolution of the record, not a licence to plan from planned instants. Caps are measured
   * from the instants texts went out (the event store's record of each send: the server's clock
   * when its attempt was scheduled), and the provider is called a moment later, up to a few
   * seconds on the time-skipping server while workers catch up after a jump (maxDelayMs). Two
   * such records cannot tell a gap of a few seconds less than the window from the window itself;
   * a text sent late by a provider outage is minutes or hours early for the next. Capped at a
   * tenth of the window. Default 60 s.
   */
  capSlackMs?: number;
  /**
   * How long after the instant a reminder becomes due (a pause's end, a window's opening, a cap's
   * release) the engine may take to send it: the workflow must wake, plan and run its activity
   * while the time-skipping server's clock runs on. Default 5 minutes (sends lag their planned
   * instant by about 3 s in the quick run).
   */
  wakeSlackMs?: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Templates of the texts sent before a loan falls due: never once it is overdue. */
const BEFORE_DUE_TEMPLATES = new Set(['pre-due', 'due']);
/** Digits after the decimal point of each currency's minor unit (ISO 4217). */
const MINOR_DIGITS: Record<string, number> = { CNY: 2, USD: 2, EUR: 2, GBP: 2, JPY: 0, KRW: 0 };
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
/** How a text tells the borrower they can opt out (Reg F 1006.6(e); STOP, or 回复TD退订). */
const OPT_OUT_HINT = /\bSTOP\b|退订/;

/** Reads an outbox file: one JSON object per line. */
export function readOutboxFile(path: string): OutboxLine[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as OutboxLine);
}

const durationMs = (iso: string) => Duration.fromISO(iso).as('milliseconds');
const minutes = (hm: string) => (hm === '24:00' ? 1440 : Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3, 5)));
/** A length of time for people: "8 d 4 h 30 min", "3 s". */
function spanLabel(ms: number): string {
  if (ms < MINUTE) return `${Math.round(ms / 1000)} s`;
  const d = Math.floor(ms / (24 * HOUR));
  const h = Math.floor((ms % (24 * HOUR)) / HOUR);
  const m = Math.floor((ms % HOUR) / MINUTE);
  return [d && `${d} d`, h && `${h} h`, m && `${m} min`].filter(Boolean).join(' ');
}
const localLabel = (ms: number, zone: string) => DateTime.fromMillis(ms, { zone }).toFormat("yyyy-MM-dd HH:mm 'UTC'ZZ");

/** The ways a text may write an amount of minor units: 5000, 5,000, 5000.00, 5,000.00. */
function amountPattern(minor: number, currency: string): RegExp {
  const digits = MINOR_DIGITS[currency] ?? 2;
  const major = minor / 10 ** digits;
  const fixed = major.toFixed(digits);
  const group = (s: string) => s.replace(/^(\d+)/, (int) => int.replace(/\B(?=(\d{3})+(?!\d))/g, ','));
  const forms = new Set([fixed, group(fixed)]);
  if (minor % 10 ** digits === 0) forms.add(String(major)).add(group(String(major)));
  const escaped = [...forms].map((f) => f.replace(/[.,]/g, (c) => `\\${c}`));
  // Not part of a longer number: 5000 must not pass for 50000 or 5000.50.
  return new RegExp(`(?<![\\d.,])(?:${escaped.join('|')})(?![\\d]|[.,]\\d)`);
}

/** The ways a text may write a calendar date: 2027-03-14, 2027年3月14日, March 14, 2027. */
function datePattern(date: string): RegExp {
  const [y, m, d] = date.split('-').map(Number);
  return new RegExp(
    [date, `${y}年${m}月${d}日`, `${MONTHS[m - 1]} ${d}, ${y}`].map((f) => `(?<!\\d)${f}(?!\\d)`).join('|'),
  );
}

type SendingWindow = { start: string; end: string };

/** Inside the window by the borrower's wall clock at that instant. */
function inWindow(ms: number, window: SendingWindow, zone: string): boolean {
  const local = DateTime.fromMillis(ms, { zone });
  const minute = local.hour * 60 + local.minute;
  return minute >= minutes(window.start) && minute < minutes(window.end);
}

/**
 * The first instant at or after `ms` inside the window: the window's opening time on that day or
 * a later one, by the wall clock. Where a daylight-saving change skips the opening time, luxon
 * puts it after the gap by the gap's length, so it is walked back to the first minute inside.
 */
function nextOpening(ms: number, window: SendingWindow, zone: string): number {
  if (inWindow(ms, window, zone)) return ms;
  const opens = minutes(window.start);
  let day = DateTime.fromMillis(ms, { zone }).startOf('day');
  for (let i = 0; i < 3; i++, day = day.plus({ days: 1 })) {
    let t = day.set({ hour: Math.floor(opens / 60), minute: opens % 60 }).toMillis();
    if (t < ms || !inWindow(t, window, zone)) continue;
    while (t - MINUTE >= ms && inWindow(t - MINUTE, window, zone)) t -= MINUTE;
    return t;
  }
  throw new RangeError(`no opening of ${window.start}-${window.end} in ${zone} after ${new Date(ms).toISOString()}`);
}

/**
 * The instants a due-date policy asks for, before any window or cap moves them, as the policy
 * format states them: each point's days counted in the borrower's calendar from the due date and
 * its hours after the send time; the repeats and the final notice counted on in days from the date
 * of the latest point before them.
 */
function plannedInstants(policy: PolicyJson, dueDate: string, zone: string): number[] {
  const [h, m] = (policy.sendTime ?? '10:00').split(':').map(Number);
  const on = (day: DateTime, offset: string) => {
    const d = Duration.fromISO(offset).toObject();
    return day
      .plus({ years: d.years ?? 0, months: d.months ?? 0, weeks: d.weeks ?? 0, days: d.days ?? 0 })
      .set({ hour: h, minute: m, second: 0, millisecond: 0 })
      .plus({ hours: d.hours ?? 0, minutes: d.minutes ?? 0, seconds: d.seconds ?? 0 });
  };
  const due = DateTime.fromISO(dueDate, { zone });
  const points = policy.points.map((p) => on(due, p.offset)).sort((a, b) => a.toMillis() - b.toMillis());
  let last = points[points.length - 1];
  for (let n = 1; n <= (policy.overdueRepeat?.maxCount ?? 0); n++) {
    last = on(last.startOf('day'), policy.overdueRepeat!.every);
    points.push(last);
  }
  if (policy.finalNotice) points.push(on(last.startOf('day'), policy.finalNotice.after));
  return points.map((p) => p.toMillis());
}

/**
 * Every stretch of time a hold may have stopped a loan's texts, as generously as the holds' rules
 * allow (so silence is never blamed on the engine while it may lawfully be held): a dispute or
 * hardship from its answer until operations resume the loan; a wrong number until a new number; a
 * promise from when it was made until its date's send time plus the grace period, or until a
 * resume that found no dispute or hardship to end (one that did leaves the promise standing).
 */
function holdSpans(
  stops: readonly Stop[],
  policy: PolicyJson,
  zone: string,
): Array<{ from: number; to: number; kinds: string[] }> {
  const [h, m] = (policy.sendTime ?? '10:00').split(':').map(Number);
  const grace = durationMs(policy.promiseToPay?.grace ?? 'P1D');
  const spans: Array<{ from: number; to: number; kinds: string[] }> = [];
  let kinds = new Set<string>();
  let ops = false;
  let wrong = false;
  let promiseUntil = -Infinity;
  let since: number | undefined;
  const mark = (t: number) => {
    const held = ops || wrong || t < promiseUntil;
    if (held && since === undefined) since = t;
    if (!held && since !== undefined) {
      spans.push({ from: since, to: t, kinds: [...kinds] });
      since = undefined;
      kinds = new Set();
    }
  };
  for (const { at, action: a } of stops) {
    if (since !== undefined && !ops && !wrong && promiseUntil <= at) mark(promiseUntil);
    if (a.kind === 'answer' && (a.answer === 'dispute' || a.answer === 'hardship')) {
      ops = true;
      kinds.add(a.answer);
    } else if (a.kind === 'answer' && a.answer === 'wrong-number') {
      wrong = true;
      kinds.add('wrong number');
    } else if (a.kind === 'new-phone') wrong = false;
    else if (a.kind === 'promise') {
      promiseUntil =
        DateTime.fromISO(a.date, { zone }).set({ hour: h, minute: m, second: 0, millisecond: 0 }).toMillis() + grace;
      kinds.add('promise to pay');
    } else if (a.kind === 'resume') {
      if (ops) ops = false;
      else promiseUntil = -Infinity;
    }
    mark(at);
  }
  if (since !== undefined)
    spans.push({ from: since, to: ops || wrong ? Infinity : Math.max(since, promiseUntil), kinds: [...kinds] });
  return spans;
}

interface Stop {
  /** Effective instant: the engine's record of the answer or payment, else the test's request time. */
  at: number;
  action: LoanAction;
}

/**
 * The overdue cadence of one loan on a due-date policy (issue 14): while it is overdue and could
 * be reminded, it is never left silent for long, and a hold that held a reminder back is followed
 * at once by the next one. "Could be reminded": started, overdue, not paid in full, not opted out,
 * not closed or completed, not held (holdSpans, generously), and with points left in its policy:
 * before the last planned point's instant plus maxLateness, before the final notice went out, and
 * before as many reminders went out as the policy has points.
 *
 * late-after-pause. A hold ends at an instant `e` on such a loan, and one of the policy's planned
 * points fell due while it held (after the loan's start; the plan as earlier restarts moved it,
 * see restartCadence): the next reminder must go out by the
 * first instant at or after `e` that is inside the window and allowed by every cap (counted from
 * the reminders actually sent before `e`, an "overdue" cap from those sent while overdue), plus
 * wakeSlack. Judged only if the loan can still be reminded through that instant; a restart owed
 * when the loan is held again stays owed at the next hold's end.
 *
 * overdue-silence. Otherwise the time the loan could be reminded, summed since its last reminder
 * (or since it fell overdue or started), never exceeds
 *
 *     B = max(I, C) + W + 1 h + wakeSlack,
 *
 * where I is the longest stretch between consecutive planned instants from the start of the
 * overdue day on (this loan's own calendar, so DST is in it), C the longest cap window (a cap of
 * max n in `per` releases the next text at most `per` after the previous one), W the longest
 * stretch the window is shut (24 h less its length, plus an hour for a DST night), which a planned
 * or capped instant may have to wait through, and the hour a planned time inside a DST gap can
 * move. A send is never before its planned instant, so the next planned instant after the last
 * send is at most I ahead, or a cap holds it at most C; then it waits at most W for the window.
 * Each end of a hold that held back no planned point adds W: a text the engine had placed inside
 * that hold (moved there by a cap or the window) goes at the next opening after it.
 */
function checkOverdueCadence(a: {
  loan: CheckedLoan;
  zone: string;
  window: SendingWindow;
  overdueFrom: number;
  startedAt: number;
  reminders: ReadonlyArray<{ t: number; template: string; key: string }>;
  stops: readonly Stop[];
  ends: ReadonlyArray<number | undefined>;
  pointCount: number;
  wakeSlack: number;
  flag: (rule: Rule, messageKey: string | undefined, detail: string) => void;
}): { pauseEnds: number; stretches: number } {
  const { loan, zone, window, overdueFrom, reminders } = a;
  const policy = loan.policy;
  const plan = plannedInstants(policy, loan.dueDate, zone);
  const finalTemplate = policy.finalNotice?.template;
  const start = Math.max(overdueFrom, a.startedAt);
  const end = Math.min(
    ...a.ends.map((t) => t ?? Infinity),
    Math.max(...plan) + durationMs(policy.maxLateness ?? 'P3D'),
    reminders.find((r) => r.template === finalTemplate)?.t ?? Infinity,
    reminders[a.pointCount - 1]?.t ?? Infinity,
  );
  const result = { pauseEnds: 0, stretches: 0 };
  if (!(start < end)) return result;

  let I = 0;
  let previous = overdueFrom;
  for (const t of plan.filter((p) => p >= overdueFrom)) {
    I = Math.max(I, t - previous);
    previous = t;
  }
  const caps = policy.caps ?? [];
  const C = Math.max(0, ...caps.map((c) => durationMs(c.per)));
  const W = (1440 - (minutes(window.end) - minutes(window.start))) * MINUTE + HOUR;
  const B = Math.max(I, C) + W + HOUR + a.wakeSlack;

  // The stretches the loan could be reminded: [start, end) less the holds; each notes the start of
  // the hold it follows, if any.
  const free: Array<{ from: number; to: number; after?: { from: number; kinds: string[] } }> = [];
  let cursor = start;
  let after: { from: number; kinds: string[] } | undefined;
  for (const h of holdSpans(a.stops, policy, zone)) {
    if (h.to <= cursor || h.from >= end) continue;
    if (h.from > cursor) free.push({ from: cursor, to: h.from, after });
    after = h;
    cursor = Math.min(end, h.to);
  }
  if (cursor < end) free.push({ from: cursor, to: end, after });

  /** The first instant at or after `e` inside the window and allowed by every cap, by the sends before `e`. */
  const allowedFrom = (e: number) => {
    const before = reminders.filter((r) => r.t < e).map((r) => r.t);
    let x = nextOpening(e, window, zone);
    for (let guard = 0; guard < 100; guard++) {
      let y = x;
      for (const cap of caps) {
        const per = durationMs(cap.per);
        const counted = before.filter((t) => (cap.scope !== 'overdue' || t >= overdueFrom) && t > y - per);
        if (counted.length >= cap.max) y = Math.max(y, counted[counted.length - cap.max] + per);
      }
      y = nextOpening(y, window, zone);
      if (y === x) break;
      x = y;
    }
    return x;
  };

  let since = start; // the last reminder, or the start of the overdue time
  let silent = 0; // time it could be reminded since then
  let allowance = B;
  let owed = false; // a restart after a hold, judged by late-after-pause
  let flagged = false;
  const silence = (key: string | undefined, until: number) => {
    if (owed || flagged || silent <= allowance) return;
    flagged = true;
    a.flag(
      'overdue-silence',
      key,
      `${spanLabel(silent)} of time it could be reminded without a reminder (at most ${spanLabel(allowance)}), from ${localLabel(since, zone)} to ${localLabel(until, zone)}`,
    );
  };
  // The plan as the restarts after holds have moved it (each restart moves the points after it).
  const points = plan.map((t) => ({ t, overdue: t >= overdueFrom }));
  for (const f of free) {
    result.stretches++;
    // The text that used up the points (the final notice, the last of them) ends the last stretch, and is in it.
    const sends = reminders.filter((r) => r.t >= f.from && (r.t < f.to || (f.to === end && r.t === end)));
    if (f.after) {
      const heldBack = points.some((p) => p.t > Math.max(f.after!.from, a.startedAt) && p.t <= f.from);
      if (heldBack) restartCadence(points, f.from);
      if (heldBack || owed) {
        owed = true;
        result.pauseEnds++;
        const dueBy = allowedFrom(f.from) + a.wakeSlack;
        const next = sends[0];
        if (next ? next.t > dueBy : f.to > dueBy) {
          a.flag(
            'late-after-pause',
            next?.key,
            `hold (${f.after.kinds.join(', ')}) ended ${localLabel(f.from, zone)}; next reminder due by ${localLabel(dueBy - a.wakeSlack, zone)}, ${next ? `sent ${localLabel(next.t, zone)}` : `none before ${localLabel(f.to, zone)}`}`,
          );
        }
      } else {
        allowance += W;
      }
    }
    let cursorT = f.from;
    for (const r of sends) {
      silent += r.t - cursorT;
      silence(r.key, r.t);
      since = cursorT = r.t;
      silent = 0;
      allowance = B;
      owed = false;
      flagged = false;
    }
    silent += f.to - cursorT;
    silence(undefined, f.to);
  }
  return result;
}

/**
 * The product's restart after a hold that held a point back, ending at `e` (the brief's "a pause
 * never leaves weeks of silence, nor a burst"): the latest point it held back is due at `e` (a
 * due text's place is taken by the next overdue point) and every point after it moves by as much,
 * so the cadence counts on from the restart. Later holds are judged against the moved plan.
 */
function restartCadence(points: Array<{ t: number; overdue: boolean }>, e: number): void {
  const missed = points.filter((p) => p.t < e);
  const last = missed[missed.length - 1];
  const restart = last?.overdue ? last : points.find((p) => p.overdue && p.t >= e);
  if (!restart) return;
  const from = restart.t;
  const by = e - from;
  for (const p of points) if (p.t >= from) p.t += by;
}

/** Checks every message in the outbox against the rules. */
export function checkCompliance(
  input: { loans: readonly CheckedLoan[]; outbox: readonly OutboxLine[]; events: readonly LoanEvent[] },
  options: CheckOptions = {},
): ComplianceReport {
  const capSlack = options.capSlackMs ?? 60_000;
  const wakeSlack = options.wakeSlackMs ?? 5 * 60_000;
  const violations: Violation[] = [];
  const lost: string[] = [];
  let duplicated = 0;
  let maxDelayMs = 0;
  let dstDayMessages = 0;
  let loansAcrossDst = 0;
  let reminders = 0;
  let thankYous = 0;
  let overdueReminders = 0;
  let pauseEndsChecked = 0;
  let silencesChecked = 0;
  const flag = (rule: Rule, loanId: string, messageKey: string | undefined, detail: string) =>
    violations.push({ rule, loanId, ...(messageKey ? { messageKey } : {}), detail });

  const loansById = new Map(input.loans.map((l) => [l.loanId, l]));
  const linesByLoan = new Map<string, OutboxLine[]>();
  const seenKeys = new Set<string>();
  for (const line of input.outbox) {
    if (seenKeys.has(line.idempotencyKey)) duplicated++;
    seenKeys.add(line.idempotencyKey);
    if (!loansById.has(line.loanId)) {
      flag('unknown-loan', line.loanId, line.idempotencyKey, 'no such loan was started');
      continue;
    }
    const list = linesByLoan.get(line.loanId) ?? [];
    list.push(line);
    linesByLoan.set(line.loanId, list);
  }
  const eventsByLoan = new Map<string, LoanEvent[]>();
  for (const e of input.events) {
    const list = eventsByLoan.get(e.loanId) ?? [];
    list.push(e);
    eventsByLoan.set(e.loanId, list);
  }

  for (const loan of input.loans) {
    const zone = loan.borrower.timezone;
    const events = eventsByLoan.get(loan.loanId) ?? [];
    const at = (e: LoanEvent) => Date.parse(e.at);
    const sentAt = new Map<string, number>();
    const answerAt = new Map<string, number>();
    const paymentAt = new Map<string, number>();
    let completedAt: number | undefined;
    let startedAt = -Infinity;
    for (const e of events) {
      if (e.kind === 'message-sent' && e.messageKey && !sentAt.has(e.messageKey)) sentAt.set(e.messageKey, at(e));
      const id = e.detail?.answerId ?? e.detail?.paymentId;
      if (e.kind === 'answer' && typeof id === 'string' && !answerAt.has(id)) answerAt.set(id, at(e));
      if (e.kind === 'payment' && typeof id === 'string' && !paymentAt.has(id)) paymentAt.set(id, at(e));
      if (e.kind === 'completed') completedAt = Math.min(completedAt ?? Infinity, at(e));
      if (e.kind === 'loan-started') startedAt = at(e);
    }
    if (completedAt === undefined) lost.push(`${loan.loanId}: never completed`);

    // When each thing the test did took effect.
    const stops: Stop[] = loan.actions.map((action) => {
      if (action.kind === 'payment' || action.kind === 'answer') {
        const id = action.kind === 'payment' ? action.paymentId : action.answerId;
        const recorded = (action.kind === 'payment' ? paymentAt : answerAt).get(id);
        if (recorded === undefined) lost.push(`${loan.loanId}: ${action.kind} ${id} not recorded`);
        return { at: recorded ?? action.at, action };
      }
      return { at: action.at, action };
    });
    stops.sort((a, b) => a.at - b.at);

    // Money: each payment id counts once (webhooks retry); paid in full when the sum reaches the amount.
    const payments: Array<{ at: number; amount: number }> = [];
    const paidIds = new Set<string>();
    for (const s of stops) {
      if (s.action.kind !== 'payment' || paidIds.has(s.action.paymentId)) continue;
      paidIds.add(s.action.paymentId);
      payments.push({ at: s.at, amount: s.action.amount });
    }
    const paidBy = (t: number) => payments.filter((p) => p.at <= t).reduce((n, p) => n + p.amount, 0);
    let paidInFullAt: number | undefined;
    for (const p of payments) {
      if (paidBy(p.at) >= loan.amountDue) {
        paidInFullAt = p.at;
        break;
      }
    }
    const first = (pred: (s: Stop) => boolean) => stops.find(pred)?.at;
    const optedOutAt = first((s) => s.action.kind === 'answer' && s.action.answer === 'opt-out');
    const closedAt = first((s) => s.action.kind === 'close');

    // The borrower's numbers: each valid from when it was given until it is replaced or reported wrong.
    const numbers: Array<{ phone: string; from: number; to: number }> = [
      { phone: loan.borrower.phone, from: -Infinity, to: Infinity },
    ];
    const current = (t: number) => numbers.find((n) => n.from <= t && t <= n.to && n.to === Infinity);
    for (const s of stops) {
      if (s.action.kind === 'new-phone') {
        const was = current(s.at);
        if (was) was.to = s.at;
        numbers.push({ phone: s.action.phone, from: s.at, to: Infinity });
      } else if (s.action.kind === 'answer' && s.action.answer === 'wrong-number') {
        const was = current(s.at);
        if (was) was.to = s.at;
      }
    }
    const isBorrowers = (phone: string, t: number) =>
      numbers.some((n) => n.phone === phone && n.from <= t && t <= n.to);

    // Holds: a dispute or hardship until operations resume the loan; a promise until its date's
    // send time plus the grace period (or a resume). A hold starts strictly after its instant and
    // ends at its instant, so a send at the same millisecond is never blamed on the request.
    const sendTime = loan.policy.sendTime ?? '10:00';
    const grace = durationMs(loan.policy.promiseToPay?.grace ?? 'P1D');
    const heldAt = (t: number): string | undefined => {
      let dispute = false;
      let hardship = false;
      let promiseUntil = -Infinity;
      for (const s of stops) {
        const a = s.action;
        const starts = s.at < t;
        const ends = s.at <= t;
        if (a.kind === 'answer' && a.answer === 'dispute' && starts) dispute = true;
        if (a.kind === 'answer' && a.answer === 'hardship' && starts) hardship = true;
        if (a.kind === 'promise' && starts) {
          const [h, m] = sendTime.split(':').map(Number);
          promiseUntil =
            DateTime.fromISO(a.date, { zone }).set({ hour: h, minute: m, second: 0, millisecond: 0 }).toMillis() +
            grace;
        }
        if (a.kind === 'resume' && ends) {
          dispute = false;
          hardship = false;
          promiseUntil = -Infinity;
        }
      }
      if (dispute) return 'dispute';
      if (hardship) return 'hardship';
      if (t < promiseUntil) return 'promise to pay';
      return undefined;
    };

    const window = loan.policy.window ?? { start: '08:00', end: '21:00' };
    // Overdue from the end of the due date in the borrower's zone: local midnight that starts the
    // next day (or, where that midnight is skipped by a daylight-saving change, the moment after).
    const overdueFrom = DateTime.fromISO(loan.dueDate, { zone }).plus({ days: 1 }).startOf('day').toMillis();
    const dueAnchored = (loan.policy.anchor ?? 'due-date') === 'due-date';
    const pointCount =
      loan.policy.points.length + (loan.policy.overdueRepeat?.maxCount ?? 0) + (loan.policy.finalNotice ? 1 : 0);
    const sent: Array<{ line: OutboxLine; t: number }> = [];
    let loanThanks = 0;
    let loanReminders = 0;
    const offsets = new Set<number>();

    for (const line of linesByLoan.get(loan.loanId) ?? []) {
      const key = line.idempotencyKey;
      const isThanks = line.template === 'thank-you';
      if (isThanks) {
        thankYous++;
        loanThanks++;
      } else {
        reminders++;
        loanReminders++;
      }
      const t = sentAt.get(key);

      // Content: who it is for, what, by when, whom to call, how to stop (the brief's list).
      const body = line.body;
      if (!body.includes(loan.borrower.name)) flag('missing-name', loan.loanId, key, 'the borrower’s name is missing');
      if (!body.includes(loan.contactPhone)) flag('missing-contact', loan.loanId, key, 'the contact number is missing');
      if (!datePattern(loan.dueDate).test(body)) flag('missing-due-date', loan.loanId, key, 'the due date is missing');
      if (!OPT_OUT_HINT.test(body)) flag('missing-opt-out-hint', loan.loanId, key, 'no way to opt out is given');

      if (t === undefined) {
        flag('untraceable', loan.loanId, key, 'no message-sent event: its instant is unknown');
        continue;
      }
      sent.push({ line, t });
      maxDelayMs = Math.max(maxDelayMs, t - Date.parse(line.scheduledFor));
      const local = DateTime.fromMillis(t, { zone });
      offsets.add(local.offset);
      if (local.startOf('day').offset !== local.endOf('day').offset) dstDayMessages++;

      // The amount: what is still owed when it is sent (for a thank-you, what was repaid).
      const expected = isThanks ? paidBy(t) : Math.max(0, loan.amountDue - paidBy(t));
      if (!amountPattern(expected, loan.currency).test(body)) {
        flag('missing-amount', loan.loanId, key, `does not state ${expected} minor units ${loan.currency}`);
      }

      const minute = local.hour * 60 + local.minute;
      if (minute < minutes(window.start) || minute >= minutes(window.end)) {
        flag('quiet-hours', loan.loanId, key, `sent ${localLabel(t, zone)}, window ${window.start}-${window.end}`);
      }
      if (optedOutAt !== undefined && t > optedOutAt) {
        flag('after-opt-out', loan.loanId, key, `sent ${t - optedOutAt} ms after the opt-out`);
      }
      if (!isBorrowers(line.to, t)) {
        flag('third-party', loan.loanId, key, 'sent to a number that was not the borrower’s at the time');
      }
      if (closedAt !== undefined && t > closedAt) {
        flag('after-end', loan.loanId, key, `sent ${t - closedAt} ms after the loan was closed`);
      }
      if (isThanks) {
        if (paidInFullAt === undefined || t < paidInFullAt || loanThanks > 1 || loan.policy.thankYou === false) {
          flag(
            'thank-you-unearned',
            loan.loanId,
            key,
            'thank-you without full payment, repeated, or not in the policy',
          );
        }
        continue;
      }
      if (paidInFullAt !== undefined && t > paidInFullAt) {
        flag('after-paid', loan.loanId, key, `sent ${t - paidInFullAt} ms after payment in full`);
      }
      if (completedAt !== undefined && t > completedAt) {
        flag('after-end', loan.loanId, key, `sent ${t - completedAt} ms after the loan completed`);
      }
      const hold = heldAt(t);
      if (hold) flag('paused', loan.loanId, key, `sent while held by a ${hold}`);
      if (t >= overdueFrom) overdueReminders++;
      if (dueAnchored && t >= overdueFrom && BEFORE_DUE_TEMPLATES.has(line.template ?? '')) {
        flag(
          'due-after-due-date',
          loan.loanId,
          key,
          `"${line.template}" text sent ${localLabel(t, zone)}, after the due date ${loan.dueDate} had passed`,
        );
      }
    }

    // Caps over rolling windows, reminders only (a thank-you is not a reminder), by actual sending
    // instants. An "overdue" cap counts, and binds, the reminders sent while the loan was overdue.
    const remindersSent = sent.filter((s) => s.line.template !== 'thank-you').sort((a, b) => a.t - b.t);
    for (const cap of loan.policy.caps ?? []) {
      const per = durationMs(cap.per);
      const span = per - Math.min(capSlack, per / 10);
      const inScope = remindersSent.filter((s) => cap.scope !== 'overdue' || s.t >= overdueFrom);
      for (let i = 0; i < inScope.length; i++) {
        const counted = inScope.filter((s, j) => j <= i && inScope[i].t - s.t < span);
        if (counted.length > cap.max) {
          const first = counted[counted.length - cap.max - 1];
          flag(
            'cap',
            loan.loanId,
            inScope[i].line.idempotencyKey,
            `${counted.length} reminders${cap.scope === 'overdue' ? ' while overdue' : ''} within ${cap.per} (max ${cap.max}): ${counted.map((c) => `${c.line.template} ${localLabel(c.t, zone)}`).join(', ')}; ${spanLabel(per - (inScope[i].t - first.t))} too soon`,
          );
        }
      }
    }
    if (dueAnchored) {
      const r = checkOverdueCadence({
        loan,
        zone,
        window,
        overdueFrom,
        startedAt,
        reminders: remindersSent.map((x) => ({ t: x.t, template: x.line.template ?? '', key: x.line.idempotencyKey })),
        stops,
        ends: [paidInFullAt, optedOutAt, closedAt, completedAt],
        pointCount,
        wakeSlack,
        flag: (rule, key, detail) => flag(rule, loan.loanId, key, detail),
      });
      pauseEndsChecked += r.pauseEnds;
      silencesChecked += r.stretches;
    }
    if (loanReminders > pointCount) duplicated += loanReminders - pointCount;
    if (loanThanks > 1) duplicated += loanThanks - 1;
    if (offsets.size > 1) loansAcrossDst++;
  }

  const byRule = Object.fromEntries(RULES.map((r) => [r, 0])) as Record<Rule, number>;
  for (const v of violations) byRule[v.rule]++;
  return {
    loans: input.loans.length,
    messages: input.outbox.length,
    reminders,
    thankYous,
    violations,
    byRule,
    lost,
    duplicated,
    maxDelayMs,
    dstDayMessages,
    loansAcrossDst,
    overdueReminders,
    pauseEndsChecked,
    silencesChecked,
  };
}
