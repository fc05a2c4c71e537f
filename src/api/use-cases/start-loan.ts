// Starting a loan: its policy, its request fingerprint (a repeated start with the same body answers
// the running loan; another body is refused), the refusal of a loan that would be over at once, and
// the answer: the schedule it will follow and the points it skips.
import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { workflowIdForLoan } from '../../domain/loan';
import type { Policy, TemplateId } from '../../domain/policy';
import {
  decideNext,
  expandPolicy,
  forecast,
  horizonOf,
  overdueFromFor,
  sentReminders,
  SKIP_REASONS,
  type PlannedPoint,
  type SentReminder,
} from '../../domain/schedule';
import { DEFAULT_POLICY_ID } from '../../policies/registry';
import {
  LOAN_WORKFLOW_TYPE,
  type LoanReminderInput,
  type LoanReminderWorkflow,
  type LoanStatus,
  type LoanWorkflows,
} from '../loan-workflow';
import { ProblemError } from '../problem';
import { canonical, type RouteDeps } from '../route-spec';
import type { CreateLoan } from '../schemas';

/** A reminder point not sent because its time had passed, as the start's answer shows it. */
interface SkippedPoint {
  stage: string;
  template: string;
  plannedFor: string | null;
  reason: string;
}

export interface StartAnswer {
  loanId: string;
  workflowId: string;
  runId: string;
  status: LoanStatus['status'];
  policyId: string;
  outstanding: number;
  schedule: Array<{ stage: string; template: TemplateId; at: string }>;
  skipped: SkippedPoint[];
}

export interface Started {
  code: 200 | 201;
  body: StartAnswer;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The points a loan skips at `at` (its start) because their time has passed: the decision the
 * workflow itself makes first (decideNext), so the answer says what the loan will do.
 */
function skippedAtStart(
  policy: Policy,
  plan: readonly PlannedPoint[],
  at: number,
  timezone: string,
  dueDate: string,
): Array<SkippedPoint & { plannedFor: string }> {
  const overdueFrom = overdueFromFor(policy, dueDate, timezone);
  const { skip, next } = decideNext(policy, plan, { done: new Set(), sent: [], overdueFrom }, at, timezone);
  return skip.map((p) => ({
    stage: p.stage,
    template: p.template,
    plannedFor: new Date(p.requestedAt).toISOString(),
    reason:
      p.reason === 'due-date-passed'
        ? SKIP_REASONS[p.reason]
        : next?.point.requestedAt !== undefined && next.point.requestedAt <= at
          ? `passed before the loan started; only the latest passed reminder (${next.point.stage}) is sent`
          : `passed more than ${policy.maxLateness} before the loan started`,
  }));
}

/**
 * The reminders a running loan will get if nothing more happens to it, from what it has sent and
 * skipped and any pause: forecast's loop (decideNext, each placed after the ones before it) from
 * the loan's own state instead of a fresh one.
 */
function remainingSchedule(policy: Policy, plan: readonly PlannedPoint[], s: LoanStatus, now: number) {
  const finished = !['active', 'paused'].includes(s.status);
  const canText = !s.optedOut && !s.numberBlocked && (s.pause === null || s.pause.kind === 'promise-to-pay');
  if (finished || !canText) return [];
  const done = new Set([...s.messagesSent.map((m) => m.key), ...s.skipped.map((k) => k.key)]);
  // As the loan counts them: from when each went out, overdue by the loan's state then.
  const overdueFrom = overdueFromFor(policy, s.dueDate, s.timezone);
  const sent: SentReminder[] = sentReminders(s.messagesSent, overdueFrom);
  const pausedUntil = s.pause?.until ? Date.parse(s.pause.until) : undefined;
  return forecast(policy, plan, now, s.timezone, overdueFrom, undefined, { done, sent, pausedUntil }).map(
    ({ stage, template, at }) => ({ stage, template, at: new Date(at).toISOString() }),
  );
}

/** The answer to a repeated start: the first answer's shape, computed from the running loan. */
async function startAnswer(d: RouteDeps, loans: LoanWorkflows, s: LoanStatus): Promise<StartAnswer> {
  const description = await loans.handle(s.loanId).describe();
  const policy = d.policies.get(s.policyId);
  const startedAt = Date.parse(s.startedAt);
  const plan = policy ? expandPolicy(policy, { dueDate: s.dueDate, timezone: s.timezone, startedAt }) : [];
  const atStart = policy ? skippedAtStart(policy, plan, startedAt, s.timezone, s.dueDate) : [];
  // Points the loan skipped since (a pause, a late worker), as it recorded them.
  const later = s.skipped
    .map((k) => ({ k, p: plan.find((p) => p.key === k.key) }))
    .filter(({ k, p }) => !p || !atStart.some((a) => a.stage === k.stage && a.plannedFor === iso(p.requestedAt)))
    .map(({ k, p }) => ({
      stage: k.stage,
      template: p?.template ?? k.stage,
      plannedFor: p ? iso(p.requestedAt) : null,
      reason: k.reason,
    }));
  return {
    loanId: s.loanId,
    workflowId: workflowIdForLoan(s.loanId),
    runId: description.raw.workflowExecutionInfo?.firstRunId || description.runId,
    status: s.status,
    policyId: s.policyId,
    outstanding: s.outstanding,
    schedule: policy ? remainingSchedule(policy, plan, s, Date.now()) : [],
    skipped: [...atStart, ...later],
  };
}

/** Starts loans; one per API process, so the plans of a batch's shared due dates are worked out once. */
export function loanStarter(d: RouteDeps, loans: LoanWorkflows): (body: CreateLoan) => Promise<Started> {
  // A due-date policy's points depend only on the due date and the time zone, which many loans of a
  // batch share: worked out once each (calendar arithmetic is the dearest part of a start).
  const plans = new Map<string, PlannedPoint[]>();
  function planOf(policy: Policy, dueDate: string, timezone: string, now: number): PlannedPoint[] {
    if (policy.anchor !== 'due-date') return expandPolicy(policy, { dueDate, timezone, startedAt: now });
    const key = `${policy.id}|${dueDate}|${timezone}`;
    let plan = plans.get(key);
    if (!plan) {
      if (plans.size >= 10_000) plans.clear();
      plan = expandPolicy(policy, { dueDate, timezone, startedAt: now });
      plans.set(key, plan);
    }
    return plan;
  }

  function policyOf(policyId: string): Policy {
    const policy = d.policies.get(policyId);
    if (policy) return policy;
    throw new ProblemError(
      400,
      'Invalid request',
      'invalid policyId',
      [{ field: 'policyId', message: `unknown policy; known: ${d.policies.ids().join(', ')}` }],
      'urn:loan-reminders:problem:validation',
    );
  }

  /** A loan whose reminders and listening for payment would already be over would end at once, its id used up: refused, nothing started. */
  function refuseIfOver(policy: Policy, loan: CreateLoan): void {
    const now = Date.now();
    const terms = { dueDate: loan.dueDate, timezone: loan.borrower.timezone, startedAt: now };
    const horizon = horizonOf(policy, planOf(policy, loan.dueDate, loan.borrower.timezone, now), terms);
    if (horizon > now) return;
    const message = `too far in the past for policy ${policy.id}: its reminders and listening for payment would have ended on ${new Date(horizon).toISOString()}`;
    throw new ProblemError(422, 'Loan refused', `dueDate ${loan.dueDate} is ${message}`, [
      { field: 'dueDate', message },
    ]);
  }

  return async function startLoan(body: CreateLoan): Promise<Started> {
    const { policyId = DEFAULT_POLICY_ID, lender = d.lender, ...loan } = body;
    const policy = policyOf(policyId);
    const requestFingerprint = createHash('sha256')
      .update(canonical({ ...body, policyId }))
      .digest('hex');
    const workflowId = workflowIdForLoan(loan.loanId);
    const input: LoanReminderInput = { loan, lender, policy, requestFingerprint };
    refuseIfOver(policy, body);
    const indexPhone = () => d.sms?.phoneIndex?.set(loan.loanId, loan.borrower.phone);
    try {
      const started = await d.client.workflow.start<LoanReminderWorkflow>(LOAN_WORKFLOW_TYPE, {
        workflowId,
        taskQueue: d.taskQueue,
        args: [input],
        // A loan id names one loan for ever: it cannot be started again, even after it ended.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
      d.metrics.loansStarted.inc();
      await indexPhone();
      d.log.info({ loanId: loan.loanId, workflowId, policyId }, 'loan started');
      const now = Date.now();
      const tz = loan.borrower.timezone;
      const plan = planOf(policy, loan.dueDate, tz, now);
      return {
        code: 201,
        body: {
          loanId: loan.loanId,
          workflowId,
          runId: started.firstExecutionRunId,
          status: 'active',
          policyId,
          outstanding: loan.amountDue,
          // What the loan will get if nothing happens to it; payments and answers change it.
          schedule: forecast(policy, plan, now, tz, overdueFromFor(policy, loan.dueDate, tz)).map(
            ({ stage, template, at }) => ({ stage, template, at: new Date(at).toISOString() }),
          ),
          skipped: skippedAtStart(policy, plan, now, tz, loan.dueDate),
        },
      };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const existing = await loans.readLoan(loan.loanId);
      if (existing.requestFingerprint !== requestFingerprint) {
        throw new ProblemError(409, 'Loan already exists', `loan ${loan.loanId} was started with a different body`);
      }
      await indexPhone(); // again, in case the first attempt stopped between the start and the index
      return { code: 200, body: await startAnswer(d, loans, existing) };
    }
  };
}
