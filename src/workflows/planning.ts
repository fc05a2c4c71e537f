// One planning step of the loop: break a promise whose time is up, restart an overdue cadence after
// a pause, skip what went stale, and choose the next reminder (src/domain/schedule.ts decides).
import { patched } from '@temporalio/workflow';
import { iso } from '../domain/calendar';
import { remindersBlocked } from '../domain/may-text';
import { OVERDUE_TEMPLATES } from '../domain/policy';
import {
  cadenceRestart,
  decideNext,
  expandPolicy,
  horizonOf,
  overdueFromFor,
  sentReminders,
  shiftPlan,
  SKIP_REASONS,
  type PlannedPoint,
} from '../domain/schedule';
import type { LoanState } from './loan-state';

export interface NextReminder {
  point: PlannedPoint;
  at: number;
  why: string[];
  rules: string[];
}

export interface PlanStep {
  next: NextReminder | null;
  plan: PlannedPoint[];
  /** When the loan stops waiting for payment after its last reminder. */
  horizon: number;
  /** A promise holds the loan: the next reminder is shown, but neither sent nor allowed to skip. */
  promiseHeld: boolean;
  /** Whether the loan records the rule that decided each reminder (see planNext). */
  recordsRules: boolean;
}

/**
 * The policy's points for the loan's terms, worked out again only when the terms change (a new
 * due date or time zone): the loop runs on every signal, and calendar arithmetic is its dearest part.
 */
export function planOf(state: LoanState): { plan: PlannedPoint[]; horizon: number } {
  const { s, policy, cadence } = state;
  const key = `${s.dueDate}|${s.timezone}|${s.startedAt}|${cadence.shifts.length}`;
  if (state.planMemo?.key !== key) {
    const terms = { dueDate: s.dueDate, timezone: s.timezone, startedAt: Date.parse(s.startedAt) };
    const plan = shiftPlan(expandPolicy(policy, terms), cadence.shifts);
    state.planMemo = { key, plan, horizon: horizonOf(policy, plan, terms) };
  }
  return state.planMemo;
}

export function planNext(state: LoanState, now: number): PlanStep {
  const { s, policy, cadence, doneKeys } = state;
  // Added after v4: the caps count from when texts went out and by the loan's state then (overdue
  // or not), a pre-due or due text never goes out once the due date has passed, and an overdue
  // loan that can be reminded again after a pause restarts its cadence from the pause's end
  // (src/domain/schedule.ts). Loans replay what they did before it as they did it.
  const rules = state.earlyPatches?.sendTimeRules ?? patched('send-time-rules');
  // Added after v6: each reminder planned, moved, skipped or sent records the rules that decided
  // it (event detail `rule`, and a reminder-skipped event per point skipped), for the audit trail.
  // Loans replay what they recorded before it: the new events would renumber later ones.
  const recordsRules = state.earlyPatches?.reminderRules ?? patched('reminder-rules-recorded');
  const overdueFrom = rules ? overdueFromFor(policy, s.dueDate, s.timezone) : undefined;
  if (rules) {
    if (state.canText()) state.breakPromiseIfDue(now); // first: the restart below counts from the promise's end
    if (remindersBlocked(s, now)) cadence.blockedSince ??= now;
    else if (cadence.blockedSince !== undefined) {
      cadence.blockedSince = undefined;
      const shift =
        overdueFrom === undefined ? undefined : cadenceRestart(planOf(state).plan, doneKeys, now, overdueFrom);
      if (shift) cadence.shifts = [...cadence.shifts, shift];
    }
  }
  const { plan, horizon } = planOf(state);
  s.horizon = iso(horizon);

  let next: NextReminder | null = null;
  // While a promise holds the loan, the reminder after it is shown but neither sent nor allowed to
  // skip what it passes: the promise's end re-plans (and restarts the cadence) first.
  let promiseHeld = false;
  if (state.canText()) {
    const pausedUntil = s.pause?.until ? Date.parse(s.pause.until) : undefined;
    promiseHeld = rules && pausedUntil !== undefined && pausedUntil > now;
    const restartAtEnd =
      promiseHeld && overdueFrom !== undefined ? cadenceRestart(plan, doneKeys, pausedUntil!, overdueFrom) : undefined;
    const planned = restartAtEnd ? shiftPlan(plan, [restartAtEnd]) : plan;
    const sent = rules
      ? sentReminders(s.messagesSent, overdueFrom)
      : s.messagesSent
          .filter((m) => m.template !== 'thank-you')
          .map((m) => ({ key: m.key, at: Date.parse(m.scheduledFor), overdue: OVERDUE_TEMPLATES.has(m.template) }));
    const decision = decideNext(policy, planned, { done: doneKeys, sent, pausedUntil, overdueFrom }, now, s.timezone);
    for (const p of promiseHeld ? [] : decision.skip) {
      doneKeys.add(p.key);
      s.skipped.push({ key: p.key, stage: p.stage, reason: SKIP_REASONS[p.reason] });
      if (recordsRules)
        state.events.record('reminder-skipped', {
          messageKey: `${state.loan.loanId}:${p.key}`,
          stage: p.stage,
          template: p.template,
          detail: { plannedFor: iso(p.requestedAt), rule: `skip:${p.reason}` },
        });
    }
    next = decision.next;
    if (!rules) state.breakPromiseIfDue(now);
  }
  const planned = s.nextReminder;
  // A reminder planned that no longer goes out because the loan may not be texted: why not.
  if (recordsRules && planned && !next && !state.finished() && !state.canText())
    state.events.record('reminder-skipped', {
      stage: planned.stage,
      template: planned.template,
      detail: { plannedFor: planned.at, rule: blockedRule(s) },
    });
  s.nextReminder = next
    ? { stage: next.point.stage, template: next.point.template, at: iso(next.at), why: next.why }
    : null;
  if (next && (planned?.at !== s.nextReminder?.at || planned?.stage !== s.nextReminder?.stage)) {
    state.events.record('reminder-planned', {
      messageKey: `${state.loan.loanId}:${next.point.key}`,
      stage: next.point.stage,
      template: next.point.template,
      detail: { plannedFor: iso(next.at), ...(recordsRules ? { rule: next.rules.join(' ') } : {}) },
    });
  }
  return { next, plan, horizon, promiseHeld, recordsRules };
}

/** What keeps the loan from being texted, as a rule id: an opt-out, a wrong number, a hold. */
function blockedRule(s: LoanState['s']): string {
  if (s.optedOut) return 'opt-out';
  if (s.numberBlocked) return 'number-blocked';
  if (s.pause) return `hold:${s.pause.kind}`;
  return 'blocked';
}
