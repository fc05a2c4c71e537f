// What the messages achieve, from the event store: per stage, variant, locale or policy, how many
// messages went out and arrived, how many loans paid after them and how much, how fast, and what
// borrowers said. Computed in one place from the stored events, so SQLite and PostgreSQL give the
// same figures.
//
// Attribution (last touch): a payment counts for the most recent reminder sent to the same loan
// before it, if that reminder went out at most 7 days before the payment; otherwise it counts for
// none. Opt-outs and disputes are attributed the same way. A rating counts for the message it
// names. Thank-you messages are not reminders and are left out.
import type { EventStore, LoanEvent } from '../store/events';
import { compareProportions, median, type ProportionComparison } from './stats';

export const GROUP_BY = ['stage', 'variant', 'locale', 'policy'] as const;
export type GroupBy = (typeof GROUP_BY)[number];

const DAY = 86_400_000;
export const ATTRIBUTION_DAYS = 7;
/** The windows "paid within N days of a message" is reported for. */
export const WINDOWS = [1, 3, 7] as const;
export const ATTRIBUTION_RULE =
  'A payment counts for the most recent reminder sent to the same loan before it, within 7 days; ' +
  'otherwise for none. Opt-outs and disputes are attributed the same way; a rating counts for the message it names. ' +
  'Thank-you messages are not counted.';

type PerWindow = { d1: number; d3: number; d7: number };

export interface Figures {
  group: string;
  messagesSent: number;
  messagesDelivered: number;
  /** Delivered / sent; null without messages. */
  deliveryRate: number | null;
  /** Distinct loans that got at least one of the messages. */
  loansMessaged: number;
  /** Loans whose attributed payments within N days settled them. */
  paidInFull: PerWindow;
  /** Loans with an attributed payment within N days that did not settle them. */
  paidInPart: PerWindow;
  /** (paid in full + in part) / loans messaged. */
  repaymentRate: { d1: number | null; d3: number | null; d7: number | null };
  /** Attributed payments, minor units, per currency. */
  amountRecovered: Record<string, number>;
  /** Median hours from a message to a payment attributed to it. */
  medianHoursToPay: number | null;
  optOuts: number;
  /** Opt-outs / messages sent. */
  optOutRate: number | null;
  /** Disputes attributed to the messages. */
  complaints: number;
  complaintRate: number | null;
  ratings: { count: number; clarity: number | null; tone: number | null };
  /** Share of loans messaged with an attributed payment within `day` days, day 0..7. */
  curve: Array<{ day: number; share: number | null }>;
}

export interface VariantComparison extends ProportionComparison {
  measure: string;
  /** Plain words for the dashboard and the CSV. */
  verdict: string;
}

export interface EffectivenessReport {
  from: string;
  to: string;
  groupBy: GroupBy;
  attribution: string;
  totals: Figures;
  groups: Figures[];
  /** Variant B against variant A: loans repaying within 7 days of a message. */
  comparison: VariantComparison;
  /**
   * Payments reported in the range for loans that had already ended (paid, closed, unresolved):
   * kept and counted, never refused. Also attributed above when a message came within the window.
   */
  afterEnd: { payments: number; amount: Record<string, number> };
}

interface Message {
  event: LoanEvent;
  atMs: number;
  key: string;
  delivered: boolean;
  payments: Array<{ delayMs: number; amount: number; currency: string; settled: boolean }>;
  optOuts: number;
  complaints: number;
  ratings: Array<{ clarity: number; tone: number }>;
}

const groupKey = (m: LoanEvent, by: GroupBy): string =>
  (by === 'stage' ? m.stage : by === 'variant' ? m.variant : by === 'locale' ? m.locale : m.policyId) ?? '(none)';

const ratio = (n: number, d: number) => (d > 0 ? n / d : null);

/** The loan's reminder most recently sent at or before `atMs`, within the attribution window. */
function lastTouch(messages: readonly Message[] | undefined, atMs: number): Message | undefined {
  if (!messages) return undefined;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.atMs <= atMs) return atMs - m.atMs <= ATTRIBUTION_DAYS * DAY ? m : undefined;
  }
  return undefined;
}

export async function effectiveness(
  store: EventStore,
  q: { fromMs: number; toMs: number; groupBy: GroupBy },
): Promise<EffectivenessReport> {
  // Messages up to a window before the range can take a payment in it from an in-range message;
  // payments up to a window after the range still count for messages in it.
  const window = ATTRIBUTION_DAYS * DAY;
  const events = await store.between(q.fromMs - window, q.toMs + window, [
    'message-sent',
    'message-delivered',
    'payment',
    'answer',
  ]);

  const afterEnd: EffectivenessReport['afterEnd'] = { payments: 0, amount: {} };
  for (const e of events) {
    const atMs = Date.parse(e.at);
    if (e.kind !== 'payment' || e.detail?.afterEnd !== true || atMs < q.fromMs || atMs >= q.toMs) continue;
    afterEnd.payments++;
    const currency = e.currency ?? '';
    afterEnd.amount[currency] = (afterEnd.amount[currency] ?? 0) + (e.amount ?? 0);
  }

  const byLoan = new Map<string, Message[]>();
  const byKey = new Map<string, Message>();
  for (const e of events) {
    if (e.kind !== 'message-sent' || e.template === 'thank-you' || !e.messageKey) continue;
    if (byKey.has(e.messageKey)) continue;
    const m: Message = {
      event: e,
      atMs: Date.parse(e.at),
      key: e.messageKey,
      delivered: false,
      payments: [],
      optOuts: 0,
      complaints: 0,
      ratings: [],
    };
    byKey.set(m.key, m);
    const list = byLoan.get(e.loanId);
    if (list) list.push(m);
    else byLoan.set(e.loanId, [m]);
  }
  for (const e of events) {
    const atMs = Date.parse(e.at);
    if (e.kind === 'message-delivered') {
      const m = e.messageKey ? byKey.get(e.messageKey) : undefined;
      if (m) m.delivered = true;
    } else if (e.kind === 'payment') {
      const m = lastTouch(byLoan.get(e.loanId), atMs);
      m?.payments.push({
        delayMs: atMs - m.atMs,
        amount: e.amount ?? 0,
        currency: e.currency ?? '',
        settled: e.outstanding === 0,
      });
    } else if (e.kind === 'answer') {
      const kind = e.detail?.kind;
      if (kind === 'rating') {
        const named = String(e.detail?.messageKey ?? '');
        const m = byKey.get(named) ?? byKey.get(`${e.loanId}:${named}`) ?? lastTouch(byLoan.get(e.loanId), atMs);
        const clarity = Number(e.detail?.clarity);
        const tone = Number(e.detail?.tone);
        if (m && Number.isFinite(clarity) && Number.isFinite(tone)) m.ratings.push({ clarity, tone });
      } else if (kind === 'opt-out' || kind === 'dispute') {
        const m = lastTouch(byLoan.get(e.loanId), atMs);
        if (m && kind === 'opt-out') m.optOuts++;
        if (m && kind === 'dispute') m.complaints++;
      }
    }
  }

  const inRange = [...byKey.values()].filter((m) => m.atMs >= q.fromMs && m.atMs < q.toMs);
  const groups = groupBy(inRange, (m) => groupKey(m.event, q.groupBy));
  const variants = groupBy(inRange, (m) => groupKey(m.event, 'variant'));

  const a = figures('A', variants.get('A') ?? []);
  const b = figures('B', variants.get('B') ?? []);
  const test = compareProportions(
    { successes: a.paidInFull.d7 + a.paidInPart.d7, trials: a.loansMessaged },
    { successes: b.paidInFull.d7 + b.paidInPart.d7, trials: b.loansMessaged },
  );
  return {
    from: new Date(q.fromMs).toISOString(),
    to: new Date(q.toMs).toISOString(),
    groupBy: q.groupBy,
    attribution: ATTRIBUTION_RULE,
    totals: figures('all', inRange),
    groups: [...groups.entries()].sort(([x], [y]) => x.localeCompare(y)).map(([g, ms]) => figures(g, ms)),
    comparison: { ...test, measure: 'loans paying within 7 days of a message', verdict: verdict(test) },
    afterEnd,
  };
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    const list = out.get(k);
    if (list) list.push(t);
    else out.set(k, [t]);
  }
  return out;
}

function figures(group: string, messages: readonly Message[]): Figures {
  const loans = groupBy(messages, (m) => m.event.loanId);
  const paidWithin = (days: number) => {
    let full = 0;
    let part = 0;
    for (const ms of loans.values()) {
      const paid = ms.flatMap((m) => m.payments).filter((p) => p.delayMs <= days * DAY);
      if (paid.some((p) => p.settled)) full++;
      else if (paid.length) part++;
    }
    return { full, part };
  };
  const w = Object.fromEntries(WINDOWS.map((d) => [`d${d}`, paidWithin(d)])) as Record<
    keyof PerWindow,
    { full: number; part: number }
  >;
  const payments = messages.flatMap((m) => m.payments);
  const amountRecovered: Record<string, number> = {};
  for (const p of payments) amountRecovered[p.currency] = (amountRecovered[p.currency] ?? 0) + p.amount;
  const ratings = messages.flatMap((m) => m.ratings);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null);
  const sent = messages.length;
  const delivered = messages.filter((m) => m.delivered).length;
  const optOuts = messages.reduce((s, m) => s + m.optOuts, 0);
  const complaints = messages.reduce((s, m) => s + m.complaints, 0);
  return {
    group,
    messagesSent: sent,
    messagesDelivered: delivered,
    deliveryRate: ratio(delivered, sent),
    loansMessaged: loans.size,
    paidInFull: { d1: w.d1.full, d3: w.d3.full, d7: w.d7.full },
    paidInPart: { d1: w.d1.part, d3: w.d3.part, d7: w.d7.part },
    repaymentRate: {
      d1: ratio(w.d1.full + w.d1.part, loans.size),
      d3: ratio(w.d3.full + w.d3.part, loans.size),
      d7: ratio(w.d7.full + w.d7.part, loans.size),
    },
    amountRecovered,
    medianHoursToPay: median(payments.map((p) => p.delayMs / 3_600_000)),
    optOuts,
    optOutRate: ratio(optOuts, sent),
    complaints,
    complaintRate: ratio(complaints, sent),
    ratings: {
      count: ratings.length,
      clarity: mean(ratings.map((r) => r.clarity)),
      tone: mean(ratings.map((r) => r.tone)),
    },
    curve: Array.from({ length: ATTRIBUTION_DAYS + 1 }, (_, day) => {
      const paid = [...loans.values()].filter((ms) => ms.some((m) => m.payments.some((p) => p.delayMs <= day * DAY)));
      return { day, share: ratio(paid.length, loans.size) };
    }),
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)} points`;

function verdict(t: ProportionComparison): string {
  if (t.difference === null || t.ci95 === null || t.pValue === null)
    return 'No messages of variant A or B in this range.';
  if (!t.enoughData)
    return `Too few loans to tell: each variant needs at least 5 loans that paid and 5 that did not (A: ${t.a.trials} loans, B: ${t.b.trials}).`;
  const range = `95% CI ${pct(t.ci95[0])} to ${pct(t.ci95[1])}, p = ${t.pValue.toFixed(3)}`;
  if (t.pValue >= 0.05) return `No clear difference between B and A (${pct(t.difference)}; ${range}).`;
  return `B repays ${t.difference > 0 ? 'more' : 'less'} than A by ${pct(Math.abs(t.difference))} (${range}).`;
}
