// An independent judge of what the reminder engine sent. It shares no code with the engine's
// schedule, window, cap, template or policy rules (src/domain/*): it re-derives each rule from the
// policy's JSON and the product brief (quiet hours, caps, opt-out, third parties, what every text
// carries) with luxon, and reads only what the system left behind: the SMS outbox (one JSON line
// per message, src/sms/outbox.ts), the event store's events (src/store/events.ts, for the instant
// each message went out and each answer and payment took effect), and the loans' inputs with what
// the test did to each loan and when.
//
// Where the brief leaves a reading open, the checker takes the policy format's (README, "Policy
// format"): caps count reminders, not the thank-you, and a cap scoped "overdue" counts the overdue
// templates; a dispute or hardship holds a loan until operations resume it, a promise to pay until
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
  sendTime?: string;
  window?: { start: string; end: string };
  points: unknown[];
  overdueRepeat?: { maxCount: number };
  finalNotice?: unknown;
  caps?: Array<{ max: number; per: string; scope?: 'any' | 'overdue' }>;
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
  /** More reminders inside one of the policy's rolling cap windows than it allows. */
  'cap',
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
}

export interface CheckOptions {
  /**
   * How much shorter than a cap's window two sends may be apart before they count in one window.
   * A reminder is sent slightly after its planned instant (the time-skipping server's clock runs
   * on while the workers catch up after a jump), so two sends planned exactly one window apart can
   * be a few seconds closer. Capped at a tenth of the window. Default 60 s.
   */
  capSlackMs?: number;
}

/** Templates that count for caps scoped to "overdue", as the policy format defines them. */
const OVERDUE_TEMPLATES = new Set(['overdue', 'overdue-followup', 'final-notice']);
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

interface Stop {
  /** Effective instant: the engine's record of the answer or payment, else the test's request time. */
  at: number;
  action: LoanAction;
}

/** Checks every message in the outbox against the rules. */
export function checkCompliance(
  input: { loans: readonly CheckedLoan[]; outbox: readonly OutboxLine[]; events: readonly LoanEvent[] },
  options: CheckOptions = {},
): ComplianceReport {
  const capSlack = options.capSlackMs ?? 60_000;
  const violations: Violation[] = [];
  const lost: string[] = [];
  let duplicated = 0;
  let maxDelayMs = 0;
  let dstDayMessages = 0;
  let loansAcrossDst = 0;
  let reminders = 0;
  let thankYous = 0;
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
    for (const e of events) {
      if (e.kind === 'message-sent' && e.messageKey && !sentAt.has(e.messageKey)) sentAt.set(e.messageKey, at(e));
      const id = e.detail?.answerId ?? e.detail?.paymentId;
      if (e.kind === 'answer' && typeof id === 'string' && !answerAt.has(id)) answerAt.set(id, at(e));
      if (e.kind === 'payment' && typeof id === 'string' && !paymentAt.has(id)) paymentAt.set(id, at(e));
      if (e.kind === 'completed') completedAt = Math.min(completedAt ?? Infinity, at(e));
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
    }

    // Caps over rolling windows, reminders only (a thank-you is not a reminder), by actual sending instants.
    const remindersSent = sent.filter((s) => s.line.template !== 'thank-you').sort((a, b) => a.t - b.t);
    for (const cap of loan.policy.caps ?? []) {
      const per = durationMs(cap.per);
      const span = per - Math.min(capSlack, per / 10);
      const inScope = remindersSent.filter(
        (s) => cap.scope !== 'overdue' || OVERDUE_TEMPLATES.has(s.line.template ?? ''),
      );
      for (let i = 0; i < inScope.length; i++) {
        const within = inScope.filter((s, j) => j <= i && inScope[i].t - s.t < span).length;
        if (within > cap.max) {
          flag(
            'cap',
            loan.loanId,
            inScope[i].line.idempotencyKey,
            `${within} reminders${cap.scope === 'overdue' ? ' while overdue' : ''} within ${cap.per} (max ${cap.max}), the last ${localLabel(inScope[i].t, zone)}`,
          );
        }
      }
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
  };
}
