// When the next reminder goes out: the policy's points expanded for one loan, then moved as the
// law and the policy require (sending window, frequency caps, pauses), never earlier than planned.
// Pure functions; the workflow, the API and the tests all ask these.
import { Duration } from 'luxon';
import { addCalendar, clockMs, formatLocal, localDateOf, localInstantMs, nextWindowOpening } from './calendar';
import { OVERDUE_TEMPLATES, type Policy, type TemplateId } from './policy';

export interface PlannedPoint {
  /** Unique and stable for this point of this loan's plan; part of the SMS idempotency key. */
  key: string;
  stage: string;
  template: TemplateId;
  /** The instant the policy asks for, before any moving (epoch ms). */
  requestedAt: number;
  overdue: boolean;
}

export interface PlanFacts {
  dueDate: string;
  timezone: string;
  /** When the loan's workflow started (epoch ms); the anchor of "loan-start" policies. */
  startedAt: number;
}

const ms = (iso: string) => Duration.fromISO(iso).as('milliseconds');

/** Every reminder point the policy asks for, in time order. */
export function expandPolicy(policy: Policy, facts: PlanFacts): PlannedPoint[] {
  const points: PlannedPoint[] = [];
  const at = (offset: Duration, from: { date: string } | { ms: number }): { ms: number; date: string } => {
    if ('ms' in from) {
      const t = from.ms + offset.as('milliseconds');
      return { ms: t, date: localDateOf(t, facts.timezone) };
    }
    const date = addCalendar(from.date, offset, facts.timezone);
    return { ms: localInstantMs(date, policy.sendTime, facts.timezone) + clockMs(offset), date };
  };
  const anchor = policy.anchor === 'due-date' ? { date: facts.dueDate } : { ms: facts.startedAt };
  const push = (stage: string, template: TemplateId, t: { ms: number; date: string }, n?: number) =>
    points.push({
      key: `${stage}${n === undefined ? '' : `-${n}`}@${policy.anchor === 'due-date' ? t.date : new Date(t.ms).toISOString()}`,
      stage,
      template,
      requestedAt: t.ms,
      overdue: OVERDUE_TEMPLATES.has(template),
    });

  for (const p of policy.points) push(p.stage, p.template, at(Duration.fromISO(p.offset), anchor));
  points.sort((a, b) => a.requestedAt - b.requestedAt);
  // Repeats and the final notice count on from the latest point before them (the schema asks for one).
  const latest = points[points.length - 1].requestedAt;
  let last = { ms: latest, date: localDateOf(latest, facts.timezone) };
  const after = (t: { ms: number; date: string }) => ('ms' in anchor ? { ms: t.ms } : { date: t.date });
  if (policy.overdueRepeat) {
    const r = policy.overdueRepeat;
    for (let n = 1; n <= r.maxCount; n++) {
      last = at(Duration.fromISO(r.every), after(last));
      push(r.stage, r.template, last, n);
    }
  }
  if (policy.finalNotice) {
    const f = policy.finalNotice;
    push(f.stage, f.template, at(Duration.fromISO(f.after), after(last)));
  }
  return points;
}

/** When the loan stops waiting for payment after its last reminder point. */
export function horizonOf(policy: Policy, plan: PlannedPoint[], facts: PlanFacts): number {
  // A due-date policy listens at least until the due date has passed; a loan-start one (demos,
  // tests) only from its own points.
  const floor = policy.anchor === 'due-date' ? localInstantMs(facts.dueDate, '23:59', facts.timezone) : facts.startedAt;
  const lastMs = plan.reduce((m, p) => Math.max(m, p.requestedAt), floor);
  return lastMs + ms(policy.afterLastPoint.listenFor);
}

export interface SentReminder {
  key: string;
  /** When it went out (epoch ms): the caps count from here. */
  at: number;
  /** Sent while the loan was overdue (see ScheduleState.overdueFrom; without it, of an overdue template). */
  overdue: boolean;
}

/** A message as the loan records it, for the caps. */
export interface SentMessageFacts {
  key: string;
  template: TemplateId;
  scheduledFor: string;
  /** When the loan heard the provider had taken it; absent on messages recorded before it was kept. */
  recordedAt?: string;
}

/**
 * The reminders a loan has sent, as the caps count them: from when each went out (never before
 * its planned time), overdue by the loan's state then (see ScheduleState.overdueFrom; without it,
 * by the template). Thank-you messages are not reminders.
 */
export function sentReminders(messages: readonly SentMessageFacts[], overdueFrom?: number): SentReminder[] {
  return messages
    .filter((m) => m.template !== 'thank-you')
    .map((m) => {
      const at = Math.max(Date.parse(m.scheduledFor), m.recordedAt ? Date.parse(m.recordedAt) : 0);
      const overdue = overdueFrom === undefined ? OVERDUE_TEMPLATES.has(m.template) : at >= overdueFrom;
      return { key: m.key, at, overdue };
    });
}

export interface ScheduleState {
  /** Keys of points already sent or skipped. */
  done: ReadonlySet<string>;
  /** Reminders sent so far, for the caps. */
  sent: readonly SentReminder[];
  /** No reminder before this instant (a promise to pay and its grace period). */
  pausedUntil?: number;
  /**
   * When the loan falls overdue (see overdueFromMs): given, the loan's state at the moment a text
   * goes out decides, not the template's. A cap scoped "overdue" applies to every text going out
   * from then on and counts every text sent from then on, and a reminder meant for a loan not yet
   * overdue (pre-due, due) is never sent from then on: the overdue point goes instead. Without it,
   * a text counts as overdue by its template (policies anchored on the loan's start: demos, tests).
   */
  overdueFrom?: number;
}

/** The instant a loan falls overdue: the start of the day after its due date, in the borrower's zone. */
export function overdueFromMs(dueDate: string, timezone: string): number {
  return localInstantMs(addCalendar(dueDate, Duration.fromObject({ days: 1 }), timezone), '00:00', timezone);
}

/** When a loan on this policy falls overdue, as the send-time rules use it: due-date policies only. */
export function overdueFromFor(policy: Policy, dueDate: string, timezone: string): number | undefined {
  return policy.anchor === 'due-date' ? overdueFromMs(dueDate, timezone) : undefined;
}

export interface NextSend {
  point: PlannedPoint;
  at: number;
  /** Why `at` is what it is, for people: planned time, then each rule that moved it. */
  why: string[];
  /**
   * The same as rule ids, for the record: `point` (the policy's point as planned), then `pause`,
   * `late`, `cap:<max>/<per>` (`:overdue` for an overdue-only cap) or `window:<start>-<end>` for
   * each rule that moved it.
   */
  rules: string[];
}

export type SkipReason = 'passed' | 'due-date-passed';
export type SkippedPoint = PlannedPoint & { reason: SkipReason };

export interface Decision {
  /**
   * Points that will not be sent: their time passed (too late, or overtaken by a later one), or
   * the due date had passed by the time they could go out (a pre-due or due text).
   */
  skip: SkippedPoint[];
  next: NextSend | null;
}

/** For people: why a point was skipped. */
export const SKIP_REASONS: Record<SkipReason, string> = {
  passed: 'its time passed while the loan could not be reminded',
  'due-date-passed': 'the due date had passed by the time it could go out; the overdue reminder goes instead',
};

/**
 * The next reminder to send for a plan at `now`. A point whose time has passed is sent late only
 * if it is the latest such point and no later than the policy's maxLateness; earlier ones are
 * skipped, so a borrower never gets a burst of stale reminders after a pause.
 */
export function decideNext(
  policy: Policy,
  plan: readonly PlannedPoint[],
  state: ScheduleState,
  now: number,
  timezone: string,
): Decision {
  const open = plan.filter((p) => !state.done.has(p.key));
  const notBefore = Math.max(now, state.pausedUntil ?? 0);
  const past = open.filter((p) => p.requestedAt <= notBefore);
  const skip: SkippedPoint[] = past.slice(0, -1).map((p) => ({ ...p, reason: 'passed' }));
  let candidate: PlannedPoint | undefined = past[past.length - 1];
  if (candidate && notBefore - candidate.requestedAt > ms(policy.maxLateness)) {
    skip.push({ ...candidate, reason: 'passed' });
    candidate = undefined;
  }
  candidate ??= open.find((p) => p.requestedAt > notBefore);
  while (candidate) {
    const next = placeSend(policy, candidate, state, now, timezone);
    if (state.overdueFrom === undefined || candidate.overdue || next.at < state.overdueFrom) return { skip, next };
    // A "due" text the day after: the loan is overdue by then, and its overdue point says so.
    skip.push({ ...candidate, reason: 'due-date-passed' });
    candidate = open[open.indexOf(candidate) + 1];
  }
  return { skip, next: null };
}

/** A stretch of a plan moved later: every point planned at or after `from` moves by `by` (ms). */
export interface PlanShift {
  from: number;
  by: number;
}

/** The plan with its shifts applied, in the order they were made. */
export function shiftPlan(plan: readonly PlannedPoint[], shifts: readonly PlanShift[]): PlannedPoint[] {
  if (!shifts.length) return plan as PlannedPoint[];
  return plan.map((p) => {
    let t = p.requestedAt;
    for (const s of shifts) if (t >= s.from) t += s.by;
    return t === p.requestedAt ? p : { ...p, requestedAt: t };
  });
}

/**
 * The shift that restarts an overdue loan's cadence when it can be reminded again at `at` (a
 * dispute or hardship resumed, a promise broken, a new number): the latest reminder missed
 * meanwhile is due at once (the window and caps still place it; a missed due text's place is taken
 * by the next overdue point) and the points after it count on from there, so a pause never leaves
 * a borrower weeks of silence after it, nor a burst (older missed points are skipped as before).
 * None when nothing was missed. A shift may move points earlier than first planned: never earlier
 * than the moment the loan could be reminded again.
 */
export function cadenceRestart(
  plan: readonly PlannedPoint[],
  done: ReadonlySet<string>,
  at: number,
  overdueFrom: number,
): PlanShift | undefined {
  if (at < overdueFrom) return undefined;
  const open = plan.filter((p) => !done.has(p.key));
  const missed = open.filter((p) => p.requestedAt < at);
  const last = missed[missed.length - 1];
  if (!last) return undefined;
  // A due text missed is not sent once overdue: the next overdue point comes forward in its place.
  const restart = last.overdue ? last : open.find((p) => p.overdue && p.requestedAt >= at);
  if (!restart) return undefined;
  return { from: restart.requestedAt, by: at - restart.requestedAt };
}

/** Moves a point's requested instant to the first moment that respects the window, the caps and any pause. */
export function placeSend(
  policy: Policy,
  point: PlannedPoint,
  state: Pick<ScheduleState, 'sent' | 'pausedUntil' | 'overdueFrom'>,
  now: number,
  timezone: string,
): NextSend {
  // The loan's state when the text would go out, not its template, when the due date is known.
  const overdueAt = (t: number) => (state.overdueFrom === undefined ? point.overdue : t >= state.overdueFrom);
  const why = [`planned for ${formatLocal(point.requestedAt, timezone)}`];
  const rules = ['point'];
  let at = point.requestedAt;
  if (state.pausedUntil !== undefined && state.pausedUntil > at) {
    at = state.pausedUntil;
    why.push(`paused until ${formatLocal(at, timezone)}`);
    rules.push('pause');
  }
  if (now > at) {
    at = now;
    why.push('late: sent as soon as allowed');
    rules.push('late');
  }
  for (let i = 0; i < 1000; i++) {
    const before = at;
    for (const cap of policy.caps) {
      if (cap.scope === 'overdue' && !overdueAt(at)) continue;
      const counted = state.sent
        .filter((s) => (cap.scope === 'any' || s.overdue) && s.at > at - ms(cap.per))
        .map((s) => s.at)
        .sort((a, b) => a - b);
      if (counted.length >= cap.max) {
        at = counted[counted.length - cap.max] + ms(cap.per);
        why.push(
          `cap of ${cap.max} per ${cap.per}${cap.scope === 'overdue' ? ' while overdue' : ''}: moved to ${formatLocal(at, timezone)}`,
        );
        rules.push(`cap:${cap.max}/${cap.per}${cap.scope === 'overdue' ? ':overdue' : ''}`);
      }
    }
    const opening = nextWindowOpening(at, policy.window, timezone);
    if (opening !== at) {
      at = opening;
      why.push(`outside ${policy.window.start}-${policy.window.end}: moved to ${formatLocal(at, timezone)}`);
      rules.push(`window:${policy.window.start}-${policy.window.end}`);
    }
    if (at === before) return { point, at, why, rules };
  }
  throw new Error('could not place a reminder inside the window and caps'); // unreachable: `at` only grows
}

export interface ForecastItem {
  stage: string;
  template: TemplateId;
  key: string;
  requestedAt: number;
  at: number;
}

/**
 * The reminders a loan will get if nothing happens to it: each placed after the ones before it.
 * With `skipped`, the points that will not be sent are added to it, with why.
 */
export function forecast(
  policy: Policy,
  plan: readonly PlannedPoint[],
  now: number,
  timezone: string,
  overdueFrom?: number,
  skipped?: SkippedPoint[],
  /** What the loan has done so far (a running loan's sends, skips and pause); a new loan's nothing. */
  from: Pick<ScheduleState, 'done' | 'sent' | 'pausedUntil'> = { done: new Set(), sent: [] },
): ForecastItem[] {
  const done = new Set(from.done);
  const sent: SentReminder[] = [...from.sent];
  const { pausedUntil } = from;
  const items: ForecastItem[] = [];
  let clock = now;
  for (let guard = 0; guard <= plan.length; guard++) {
    const { skip, next } = decideNext(policy, plan, { done, sent, pausedUntil, overdueFrom }, clock, timezone);
    for (const p of skip) done.add(p.key);
    skipped?.push(...skip);
    if (!next) break;
    items.push({
      stage: next.point.stage,
      template: next.point.template,
      key: next.point.key,
      requestedAt: next.point.requestedAt,
      at: next.at,
    });
    done.add(next.point.key);
    const overdue = overdueFrom === undefined ? next.point.overdue : next.at >= overdueFrom;
    sent.push({ key: next.point.key, at: next.at, overdue });
    clock = next.at;
  }
  return items;
}
