// Every route of the API as data: method, path, scope, schemas and handler. Express is wired from
// this table and so is the OpenAPI document, so the two cannot drift apart.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import type { z } from 'zod';
import { workflowIdForLoan, type Lender } from '../domain/loan';
import { replyMeaning } from '../domain/replies';
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
} from '../domain/schedule';
import type { Policy } from '../domain/policy';
import type { Logger } from '../log';
import { DEFAULT_POLICY_ID, type PolicyRegistry } from '../policies/registry';
import {
  borrowerAnswerSignal,
  changeContactUpdate,
  deliveryFailedSignal,
  changeTermsUpdate,
  closeLoanUpdate,
  loanReminder,
  loanStatusQuery,
  promiseToPayUpdate,
  resumeUpdate,
  type BorrowerAnswer,
  type LoanReminderInput,
  type LoanStatus,
} from '../workflows/loan-reminder';
import {
  DUE_DATE,
  LOAN_STAGE,
  LOAN_STATUS,
  NEXT_REMINDER_AT,
  OUTSTANDING_AMOUNT,
  LOAN_CURRENCY,
  PAUSE_REASON,
  POLICY_ID,
} from '../workflows/search-attributes';
import { effectivenessCsv } from '../analytics/csv';
import { effectiveness } from '../analytics/effectiveness';
import { receiptEventOf, type EventStore } from '../store/events';
import type { SendLedger } from '../store/send-ledger';
import type { PhoneIndex } from '../store/phone-index';
import type { Scope } from './auth';
import {
  acknowledgement,
  authenticateCallback,
  parseReceipts,
  parseReplies,
  PROVIDERS,
  type CallbackAuth,
  type Provider,
} from './sms-webhooks';
import type { Metrics } from './metrics';
import { recordPayment } from './payments';
import { loanUnreadable, ProblemError, temporalUnreachable, validationProblem } from './problem';
import {
  batchSchema,
  closeLoanSchema,
  createLoanSchema,
  effectivenessQuerySchema,
  feedbackSchema,
  listQuerySchema,
  loanIdSchema,
  patchLoanSchema,
  paymentSchema,
  resumeSchema,
  webhookPaymentSchema,
  type CreateLoan,
} from './schemas';

export interface RouteSpec {
  method: 'get' | 'post' | 'patch';
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  auth: Scope | 'webhook-signature' | 'provider-callback' | 'none';
  body?: z.ZodType;
  query?: z.ZodType;
  responses: Record<number, string>;
  handler: (req: Request, res: Response) => Promise<void> | void;
}

export interface SmsCallbackDeps {
  /** Where the worker records sends (shared file on one machine). */
  ledger?: SendLedger;
  phoneIndex?: PhoneIndex;
  auth: CallbackAuth;
}

export interface RouteDeps {
  sms?: SmsCallbackDeps;
  client: Client;
  taskQueue: string;
  lender: Lender;
  policies: PolicyRegistry;
  log: Logger;
  metrics: Metrics;
  /** The loans' events, for the analytics and the receipts. */
  events?: EventStore;
  /** Signs the list's page tokens (see pageTokens); the same on every instance of one configuration. */
  pageTokenKey: Buffer;
}

const CALLBACK_RESPONSES = {
  200: 'Acknowledged in the provider’s format',
  400: 'A body the provider’s format cannot read (problem+json; counted in sms_callbacks_rejected_total)',
  401: 'Not authentic',
  404: 'Unknown provider',
  503: 'Not configured',
};

const COMMON_ERRORS = {
  400: 'Invalid request (also: an API key in the query string)',
  401: 'No or unknown API key',
  403: 'Key lacks the scope',
  429: 'Rate limited',
};

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw validationProblem(r.error);
  return r.data;
}

function loanIdParam(req: Request): string {
  const r = loanIdSchema.safeParse(req.params.loanId);
  if (!r.success) throw new ProblemError(404, 'Not found', 'no such loan');
  return r.data;
}

/** JSON with keys sorted at every level: the same request always has the same fingerprint. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * A free-text reply as the loan hears it: a stop however worded opts out; a reply that may mean
 * stop holds the loan for operations to read; anything else is a call-back request for them.
 */
function replySignal(text: string, ids: { answerId?: string; at?: string }): BorrowerAnswer {
  const meaning = replyMeaning(text);
  if (meaning === 'opt-out') return { kind: 'opt-out', ...ids };
  if (meaning === 'unclear') return { kind: 'unclear-reply', note: text, ...ids };
  return { kind: 'callback', note: text, ...ids };
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/**
 * The due date from the DueDate search attribute, which holds local midnight of the due date in the
 * borrower's zone as an instant. Zones lie from UTC-12 to UTC+14, so local midnight falls at
 * `r` = -offset past UTC midnight of the same date (offsets 0 to -12) or at 24 h - offset before
 * UTC midnight of the next date (offsets +1 to +14). Up to 10:00 UTC it is read as the same date,
 * after it as the next one: exact for every zone but those whose midnight shares its UTC hour with
 * another's, UTC-11 and -12 (Niue, Pago Pago, Midway; read as +13 and +12) and Pacific/Kiritimati's
 * +14 (read as Hawaii's -10): for those the list is a day off; the loan's own status is exact.
 */
export function dueDateOfLocalMidnight(at: Date): string {
  const t = at.getTime();
  const r = ((t % DAY_MS) + DAY_MS) % DAY_MS;
  return new Date(t + (r > 10 * HOUR_MS ? DAY_MS - r : -r)).toISOString().slice(0, 10);
}

/** A reminder point not sent because its time had passed, as the start's answer shows it. */
interface SkippedPoint {
  stage: string;
  template: string;
  plannedFor: string;
  reason: string;
}

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
): SkippedPoint[] {
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

const iso = (ms: number) => new Date(ms).toISOString();

/** How long a reader waits for a loan's answer before it is told the loan cannot be read now. */
const READ_MS = 10_000;

const PAGE_TOKEN_MAC_BYTES = 16;

/**
 * The list's page tokens: Temporal's own token behind an HMAC of it and of the filters it pages,
 * so a token the API did not issue, one altered, or one used with other filters is refused at once,
 * without a call to Temporal (which answers some forged tokens only after the client's retries).
 */
export function pageTokens(key: Buffer) {
  const mac = (filters: string, token: Uint8Array) =>
    createHmac('sha256', key).update(filters).update('\n').update(token).digest().subarray(0, PAGE_TOKEN_MAC_BYTES);
  return {
    issue(filters: string, token: Uint8Array): string {
      return Buffer.concat([mac(filters, token), token]).toString('base64url');
    },
    /** Temporal's token inside `given`, or undefined if this API did not issue it for these filters. */
    open(filters: string, given: string): Buffer | undefined {
      const bytes = Buffer.from(given, 'base64url');
      if (bytes.length <= PAGE_TOKEN_MAC_BYTES || bytes.toString('base64url') !== given) return undefined;
      const token = bytes.subarray(PAGE_TOKEN_MAC_BYTES);
      return timingSafeEqual(bytes.subarray(0, PAGE_TOKEN_MAC_BYTES), mac(filters, token)) ? token : undefined;
    },
  };
}

const invalidPageToken = () =>
  new ProblemError(
    400,
    'Invalid request',
    'invalid pageToken',
    [{ field: 'pageToken', message: 'not a page token this API returned for these filters' }],
    'urn:loan-reminders:problem:validation',
  );

/** What the API shows of a loan: the workflow's status without internal fields. */
function loanView(s: LoanStatus) {
  const { requestFingerprint: _internal, ...rest } = s;
  return { ...rest, workflowId: workflowIdForLoan(s.loanId), nextReminderAt: s.nextReminder?.at ?? null };
}

export function buildRoutes(d: RouteDeps): RouteSpec[] {
  const tokens = pageTokens(d.pageTokenKey);
  const handle = (loanId: string) => d.client.workflow.getHandle<typeof loanReminder>(workflowIdForLoan(loanId));

  /**
   * The loan's status from its workflow. A loan that does not exist is a 404 and an unreachable
   * Temporal a 503 (the error middleware's); any other refusal (a workflow whose task keeps failing,
   * a failed query handler) is a loan that cannot be read right now: a 503 that says so.
   */
  async function readLoan(
    loanId: string,
    h: WorkflowHandle<typeof loanReminder> = handle(loanId),
  ): Promise<LoanStatus> {
    try {
      return await d.client.connection.withDeadline(Date.now() + READ_MS, () => h.query(loanStatusQuery));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw err;
      if (temporalUnreachable(err)) {
        // A loan whose first task keeps failing cannot answer in time either: the server answers a
        // description, and its workflow task is on a retry.
        const stuck = await h.describe().then(
          (x) => (x.raw.pendingWorkflowTask?.attempt ?? 0) > 1,
          () => false,
        );
        if (!stuck) throw err;
      }
      d.log.warn({ loanId, err }, 'loan cannot be read');
      throw loanUnreadable(loanId);
    }
  }

  /** Runs a signal or update; a loan whose workflow has ended answers 409, an unknown one 404. */
  async function onLoan<T>(h: WorkflowHandle, loanId: string, act: () => Promise<T>): Promise<T> {
    try {
      return await act();
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const cause = err.cause;
        // The loan names the field it refused when it can (ApplicationFailure "ChangeRefused").
        const field =
          cause instanceof ApplicationFailure && cause.type === 'ChangeRefused'
            ? (cause.details?.[0] as { field?: unknown } | undefined)?.field
            : undefined;
        const detail = cause?.message ?? err.message;
        throw new ProblemError(
          422,
          'Change refused',
          detail,
          typeof field === 'string' ? [{ field, message: detail }] : undefined,
        );
      }
      if (err instanceof WorkflowNotFoundError) {
        const exists = await h.describe().then(
          () => true,
          () => false,
        );
        if (exists) throw new ProblemError(409, 'Loan closed', `loan ${loanId} is no longer active`);
        throw new ProblemError(404, 'Not found', 'no such loan');
      }
      throw err;
    }
  }

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

  async function startLoan(body: CreateLoan): Promise<{ code: 200 | 201; body: Record<string, unknown> }> {
    const { policyId = DEFAULT_POLICY_ID, lender = d.lender, ...loan } = body;
    const policy = d.policies.get(policyId);
    if (!policy) {
      throw new ProblemError(
        400,
        'Invalid request',
        'invalid policyId',
        [{ field: 'policyId', message: `unknown policy; known: ${d.policies.ids().join(', ')}` }],
        'urn:loan-reminders:problem:validation',
      );
    }
    const requestFingerprint = createHash('sha256')
      .update(canonical({ ...body, policyId }))
      .digest('hex');
    const workflowId = workflowIdForLoan(loan.loanId);
    const input: LoanReminderInput = { loan, lender, policy, requestFingerprint };
    {
      // A loan whose reminders and listening for payment would already be over would end at once,
      // its id used up: refused, nothing started.
      const now = Date.now();
      const terms = { dueDate: loan.dueDate, timezone: loan.borrower.timezone, startedAt: now };
      const horizon = horizonOf(policy, planOf(policy, loan.dueDate, loan.borrower.timezone, now), terms);
      if (horizon <= now) {
        const message = `too far in the past for policy ${policy.id}: its reminders and listening for payment would have ended on ${new Date(horizon).toISOString()}`;
        throw new ProblemError(422, 'Loan refused', `dueDate ${loan.dueDate} is ${message}`, [
          { field: 'dueDate', message },
        ]);
      }
    }
    const indexPhone = () => d.sms?.phoneIndex?.set(loan.loanId, loan.borrower.phone);
    try {
      const started = await d.client.workflow.start(loanReminder, {
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
            ({ stage, template, at }) => ({
              stage,
              template,
              at: new Date(at).toISOString(),
            }),
          ),
          skipped: skippedAtStart(policy, plan, now, tz, loan.dueDate),
        },
      };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const existing = await readLoan(loan.loanId);
      if (existing.requestFingerprint !== requestFingerprint) {
        throw new ProblemError(409, 'Loan already exists', `loan ${loan.loanId} was started with a different body`);
      }
      await indexPhone(); // again, in case the first attempt stopped between the start and the index
      return { code: 200, body: await startAnswer(existing) };
    }
  }

  /** The answer to a repeated start: the first answer's shape, computed from the running loan. */
  async function startAnswer(s: LoanStatus): Promise<Record<string, unknown>> {
    const workflowId = workflowIdForLoan(s.loanId);
    const description = await handle(s.loanId).describe();
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
      workflowId,
      runId: description.raw.workflowExecutionInfo?.firstRunId || description.runId,
      status: s.status,
      policyId: s.policyId,
      outstanding: s.outstanding,
      schedule: policy ? remainingSchedule(policy, plan, s, Date.now()) : [],
      skipped: [...atStart, ...later],
    };
  }

  const routes: RouteSpec[] = [
    {
      method: 'post',
      path: '/v1/loans',
      operationId: 'startLoan',
      tag: 'loans',
      summary: 'Start reminders for a loan (idempotent on loanId)',
      auth: 'loans:write',
      body: createLoanSchema,
      responses: {
        201: 'Started: {loanId, workflowId, runId, status, policyId, outstanding, schedule, skipped}',
        200: 'Already started with the same body: the same shape, from the running loan',
        409: 'Loan id used with another body',
        413: 'Too large',
        415: 'Not JSON',
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        const r = await startLoan(parse(createLoanSchema, req.body));
        if (r.code === 201) res.location(`/v1/loans/${encodeURIComponent(String(r.body.loanId))}`);
        res.status(r.code).json(r.body);
      },
    },
    {
      method: 'post',
      path: '/v1/loans/batch',
      operationId: 'startLoans',
      tag: 'loans',
      summary: 'Start up to 1,000 loans; answers per item',
      auth: 'loans:write',
      body: batchSchema,
      responses: { 200: 'One result per item, in order', 413: 'Too large', 415: 'Not JSON', ...COMMON_ERRORS },
      handler: async (req, res) => {
        const { loans } = parse(batchSchema, req.body);
        const results: Array<Record<string, unknown>> = new Array(loans.length);
        let next = 0;
        const work = async () => {
          for (let i = next++; i < loans.length; i = next++) {
            try {
              const r = await startLoan(parse(createLoanSchema, loans[i]));
              results[i] = { index: i, httpStatus: r.code, loan: r.body };
            } catch (caught) {
              // One item's trouble is that item's answer; the others go on.
              const err =
                caught instanceof ProblemError
                  ? caught
                  : new ProblemError(503, 'Unavailable', 'could not reach Temporal; retry this item');
              if (!(caught instanceof ProblemError)) d.log.error({ err: caught }, 'batch item failed');
              const id = (loans[i] as { loanId?: unknown } | null)?.loanId;
              results[i] = {
                index: i,
                httpStatus: err.status,
                ...(typeof id === 'string' ? { loanId: id } : {}),
                problem: { title: err.title, detail: err.detail, errors: err.errors },
              };
            }
          }
        };
        await Promise.all(Array.from({ length: 16 }, work));
        const count = (f: (s: number) => boolean) => results.filter((r) => f(r.httpStatus as number)).length;
        res.json({
          started: count((s) => s === 201),
          existing: count((s) => s === 200),
          failed: count((s) => s >= 400),
          results,
        });
      },
    },
    {
      method: 'get',
      path: '/v1/loans',
      operationId: 'listLoans',
      tag: 'loans',
      summary: 'List loans by status, stage, overdue, amount range (Temporal visibility)',
      auth: 'loans:read',
      query: listQuerySchema,
      responses: {
        200: 'A page of loans; nextPageToken is signed and pages these filters only',
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        const q = parse(listQuerySchema, req.query);
        // Every value below passed the schema (enums, ids, integers): nothing free-form enters the query.
        const clauses = [`WorkflowType = 'loanReminder'`];
        if (q.status) clauses.push(`${LOAN_STATUS.name} = '${q.status}'`);
        if (q.stage) clauses.push(`${LOAN_STAGE.name} = '${q.stage}'`);
        if (q.policyId) clauses.push(`${POLICY_ID.name} = '${q.policyId}'`);
        if (q.minOutstanding !== undefined) clauses.push(`${OUTSTANDING_AMOUNT.name} >= ${q.minOutstanding}`);
        if (q.maxOutstanding !== undefined) clauses.push(`${OUTSTANDING_AMOUNT.name} <= ${q.maxOutstanding}`);
        const dayAgo = new Date(Date.now() - 86_400_000).toISOString();
        if (q.overdue === 'true')
          clauses.push(`${DUE_DATE.name} <= '${dayAgo}' AND ${LOAN_STATUS.name} IN ('active', 'paused')`);
        if (q.overdue === 'false')
          clauses.push(`(${DUE_DATE.name} > '${dayAgo}' OR ${LOAN_STATUS.name} NOT IN ('active', 'paused'))`);
        const list = (nextPageToken: Uint8Array | undefined, pageSize: number) =>
          d.client.workflowService.listWorkflowExecutions({
            namespace: d.client.options.namespace,
            query: clauses.join(' AND '),
            pageSize,
            nextPageToken,
          });
        // A token pages the filters it was issued for, and no others.
        const filters = canonical({ ...q, pageSize: undefined, pageToken: undefined });
        const given = q.pageToken === undefined ? undefined : tokens.open(filters, q.pageToken);
        if (q.pageToken !== undefined && given === undefined) throw invalidPageToken();
        const page = await list(given, q.pageSize).catch(async (err: unknown) => {
          // A token this API issued that Temporal no longer takes (a server reset, say; servers differ in
          // how they refuse it: INVALID_ARGUMENT, or UNKNOWN on the dev server): if the same query
          // without it answers, the token is stale, the caller's to drop; otherwise Temporal's trouble.
          const refusedOnlyTheToken =
            given !== undefined &&
            (await list(undefined, 1).then(
              () => true,
              () => false,
            ));
          if (!refusedOnlyTheToken) throw err;
          throw invalidPageToken();
        });
        const items = (page.executions ?? []).map((e) => {
          const sa = decodeTypedSearchAttributes(e.searchAttributes?.indexedFields);
          const workflowId = e.execution?.workflowId ?? '';
          return {
            loanId: workflowId.replace(/^loan-/, ''),
            workflowId,
            status: sa.get(LOAN_STATUS) ?? null,
            stage: sa.get(LOAN_STAGE) ?? null,
            outstanding: sa.get(OUTSTANDING_AMOUNT) ?? null,
            currency: sa.get(LOAN_CURRENCY) ?? null,
            dueDate: ((at) => (at ? dueDateOfLocalMidnight(at) : null))(sa.get(DUE_DATE)),
            nextReminderAt: sa.get(NEXT_REMINDER_AT)?.toISOString() ?? null,
            policyId: sa.get(POLICY_ID) ?? null,
            pause: sa.get(PAUSE_REASON) ?? null,
          };
        });
        const token = page.nextPageToken?.length ? tokens.issue(filters, page.nextPageToken) : null;
        res.json({ items, nextPageToken: token });
      },
    },
    {
      method: 'get',
      path: '/v1/loans/:loanId',
      operationId: 'getLoan',
      tag: 'loans',
      summary: 'A loan’s full status: stage, outstanding, next reminder and why, pauses, messages, payments, answers',
      auth: 'loans:read',
      responses: {
        200: 'The loan',
        404: 'Unknown loan',
        503: 'Temporal unreachable, or the loan cannot be read right now (urn:loan-reminders:problem:loan-unreadable)',
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        res.json(loanView(await readLoan(loanIdParam(req))));
      },
    },
    {
      method: 'patch',
      path: '/v1/loans/:loanId',
      operationId: 'changeLoan',
      tag: 'loans',
      summary: 'Change contact, due date or amount (a refused change is a 422 with the reason)',
      auth: 'loans:write',
      body: patchLoanSchema,
      responses: {
        200: 'Changed',
        404: 'Unknown loan',
        409: 'Loan closed',
        422: 'Refused by the loan',
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        const loanId = loanIdParam(req);
        const change = parse(patchLoanSchema, req.body);
        const h = handle(loanId);
        if (change.borrower) {
          await onLoan(h, loanId, () => h.executeUpdate(changeContactUpdate, { args: [change.borrower!] }));
          if (change.borrower.phone) await d.sms?.phoneIndex?.set(loanId, change.borrower.phone);
          d.metrics.signals.inc({ kind: 'changeContact' });
        }
        if (change.dueDate !== undefined || change.amountDue !== undefined) {
          await onLoan(h, loanId, () =>
            h.executeUpdate(changeTermsUpdate, { args: [{ dueDate: change.dueDate, amountDue: change.amountDue }] }),
          );
          d.metrics.signals.inc({ kind: 'changeTerms' });
        }
        res.json(loanView(await readLoan(loanId, h)));
      },
    },
    {
      method: 'post',
      path: '/v1/loans/:loanId/close',
      operationId: 'closeLoan',
      tag: 'loans',
      summary: 'Close a loan (written off, sold, settled elsewhere, cancelled): no more reminders',
      auth: 'loans:write',
      body: closeLoanSchema,
      responses: {
        200: 'Closed',
        404: 'Unknown loan',
        409: 'Loan closed',
        422: 'Refused by the loan',
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        const loanId = loanIdParam(req);
        const body = parse(closeLoanSchema, req.body);
        const h = handle(loanId);
        await onLoan(h, loanId, () => h.executeUpdate(closeLoanUpdate, { args: [body] }));
        d.metrics.signals.inc({ kind: 'closeLoan' });
        res.json({ loanId, status: 'closed', reason: body.reason });
      },
    },
    {
      method: 'post',
      path: '/v1/loans/:loanId/payments',
      operationId: 'reportPayment',
      tag: 'payments',
      summary: 'Report a payment (the same paymentId twice counts once)',
      auth: 'loans:write',
      body: paymentSchema,
      responses: {
        202: 'Accepted: counted by the loan, a repeat, or kept for a loan that has ended',
        404: 'Unknown loan',
        409: 'The payment id was used for another amount or time',
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        const loanId = loanIdParam(req);
        const payment = parse(paymentSchema, req.body);
        res.status(202).json(await recordPayment(d, loanId, payment, 'payment'));
      },
    },
    {
      method: 'post',
      path: '/v1/loans/:loanId/feedback',
      operationId: 'reportAnswer',
      tag: 'answers',
      summary:
        'A borrower’s answer: opt-out, reply text, dispute, hardship, call-back, wrong number, rating, promise to pay',
      auth: 'loans:write',
      body: feedbackSchema,
      responses: {
        202: 'Accepted',
        200: 'Promise to pay accepted',
        404: 'Unknown loan',
        409: 'Loan closed',
        422: 'Promise refused',
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        const loanId = loanIdParam(req);
        const answer = parse(feedbackSchema, req.body);
        const h = handle(loanId);
        if (answer.kind === 'promise-to-pay') {
          const r = await onLoan(h, loanId, () =>
            h.executeUpdate(promiseToPayUpdate, { args: [{ date: answer.date }] }),
          );
          d.metrics.signals.inc({ kind: 'promise-to-pay' });
          res.json({ loanId, accepted: true, ...r });
          return;
        }
        const signal =
          answer.kind === 'reply' ? replySignal(answer.text, { answerId: answer.answerId, at: answer.at }) : answer;
        await onLoan(h, loanId, () => h.signal(borrowerAnswerSignal, signal));
        d.metrics.signals.inc({ kind: signal.kind });
        res.status(202).json({ loanId, accepted: true, recordedAs: signal.kind });
      },
    },
    {
      method: 'post',
      path: '/v1/loans/:loanId/resume',
      operationId: 'resumeLoan',
      tag: 'loans',
      summary: 'Operations end a dispute or hardship pause; the schedule is re-planned',
      auth: 'loans:write',
      body: resumeSchema,
      responses: { 200: 'Resumed', 404: 'Unknown loan', 409: 'Loan closed', 422: 'Not paused', ...COMMON_ERRORS },
      handler: async (req, res) => {
        const loanId = loanIdParam(req);
        const body = parse(resumeSchema, req.body);
        const h = handle(loanId);
        await onLoan(h, loanId, () => h.executeUpdate(resumeUpdate, { args: [body] }));
        d.metrics.signals.inc({ kind: 'resume' });
        res.json(loanView(await readLoan(loanId, h)));
      },
    },
    {
      method: 'post',
      path: '/v1/webhooks/payments',
      operationId: 'paymentWebhook',
      tag: 'webhooks',
      summary: 'Signed payment webhook (HMAC-SHA256); deliveries of the same payment count once',
      auth: 'webhook-signature',
      body: webhookPaymentSchema,
      responses: {
        202: 'Accepted',
        400: 'Invalid payment',
        401: 'Bad, stale or missing signature',
        404: 'Unknown loan',
        409: 'The payment id was used for another amount or time',
        413: 'Too large',
        429: 'Rate limited',
      },
      handler: async (req, res) => {
        let json: unknown;
        try {
          json = JSON.parse((req.body as Buffer).toString('utf8'));
        } catch {
          throw new ProblemError(400, 'Malformed JSON', 'the request body is not valid JSON');
        }
        const { loanId, ...payment } = parse(webhookPaymentSchema, json);
        res.status(202).json(await recordPayment(d, loanId, payment, 'payment-webhook'));
      },
    },
    {
      method: 'post',
      path: '/v1/webhooks/sms/:provider/status',
      operationId: 'smsDeliveryReceipt',
      tag: 'webhooks',
      summary:
        'Delivery receipts from the SMS gateway (Twilio signed; Aliyun, Tencent and the local outbox with ?token=)',
      auth: 'provider-callback',
      responses: CALLBACK_RESPONSES,
      handler: async (req, res) => {
        const { provider, raw } = callback(req);
        const ledger = d.sms?.ledger;
        if (!ledger) throw new ProblemError(503, 'Not configured', 'no send ledger to record receipts in');
        for (const r of readable(provider, 'status', () => parseReceipts(provider, raw, req.headers['content-type']))) {
          if (!r.providerMessageId || r.status === 'pending') continue;
          // Without its send yet (the worker has not recorded the provider's answer), the ledger
          // keeps it and applies it when the send is recorded.
          const send = await ledger.recordReceipt(provider, r.providerMessageId, {
            status: r.status,
            error: r.error,
            permanent: r.permanent,
          });
          if (!send) continue;
          await d.events?.append([
            receiptEventOf(provider, r.providerMessageId, send, { status: r.status, permanent: r.permanent }),
          ]);
          if (r.status !== 'failed') continue;
          const h = handle(send.loanId);
          await h
            .signal(deliveryFailedSignal, {
              idempotencyKey: send.idempotencyKey,
              reason: r.error ?? 'failed',
              permanent: r.permanent,
            })
            .catch((err: unknown) => {
              if (!(err instanceof WorkflowNotFoundError)) throw err; // an ended loan has nothing left to stop
            });
          d.metrics.signals.inc({ kind: 'delivery-failed' });
        }
        const ack = acknowledgement(provider);
        res.type(ack.type).send(ack.body);
      },
    },
    {
      method: 'get',
      path: '/v1/analytics/effectiveness',
      operationId: 'effectiveness',
      tag: 'analytics',
      summary:
        'What the messages achieve, by stage, variant, locale or policy: sent, delivered, repaid within 1/3/7 days, amount, time to pay, opt-outs, complaints, ratings; variant B against A with a 95% interval and p-value. JSON, or CSV with format=csv or Accept: text/csv',
      auth: 'analytics:read',
      query: effectivenessQuerySchema,
      responses: { 200: 'The figures (application/json or text/csv)', ...COMMON_ERRORS, 503: 'No event store' },
      handler: async (req, res) => {
        const q = parse(effectivenessQuerySchema, req.query);
        if (!d.events) throw new ProblemError(503, 'Not configured', 'no event store to read');
        const report = await effectiveness(d.events, q);
        const csv =
          q.format === 'csv' ||
          (q.format === undefined && req.accepts(['application/json', 'text/csv']) === 'text/csv');
        if (!csv) {
          res.json(report);
          return;
        }
        const name = `effectiveness-${report.groupBy}-${report.from.slice(0, 10)}-${report.to.slice(0, 10)}.csv`;
        res.type('text/csv; charset=utf-8').attachment(name).send(effectivenessCsv(report));
      },
    },
    {
      method: 'post',
      path: '/v1/webhooks/sms/:provider/inbound',
      operationId: 'smsReply',
      tag: 'webhooks',
      summary:
        'Borrowers’ replies from the SMS gateway: STOP, 退订, TD... opt out of their open loans; other text goes to operations',
      auth: 'provider-callback',
      responses: CALLBACK_RESPONSES,
      handler: async (req, res) => {
        const { provider, raw } = callback(req);
        const index = d.sms?.phoneIndex;
        if (!index) throw new ProblemError(503, 'Not configured', 'no phone index to find loans by');
        let matched = 0;
        const replies = readable(provider, 'inbound', () =>
          parseReplies(provider, raw, req.headers['content-type'], (purpose, value) => index.keyedId(purpose, value)),
        );
        for (const reply of replies) {
          const loans = await index.loansOf(reply.phone);
          const signal = replySignal(reply.text.slice(0, 500), { answerId: reply.answerId });
          for (const loanId of loans) {
            const sent = await handle(loanId)
              .signal(borrowerAnswerSignal, signal)
              .then(
                () => true,
                (err: unknown) => {
                  if (err instanceof WorkflowNotFoundError) return false; // that loan has ended
                  throw err;
                },
              );
            if (sent) {
              matched++;
              d.metrics.signals.inc({ kind: `reply-${signal.kind}` });
            }
          }
        }
        d.log.info({ provider, loansSignalled: matched }, 'SMS reply handled');
        const ack = acknowledgement(provider);
        res.type(ack.type).send(ack.body);
      },
    },
  ];
  return routes;

  function callback(req: Request): { provider: Provider; raw: Buffer } {
    const provider = req.params.provider as Provider;
    if (!PROVIDERS.includes(provider))
      throw new ProblemError(404, 'Not found', `no SMS provider "${String(req.params.provider)}"`);
    if (!d.sms) throw new ProblemError(503, 'Not configured', 'SMS callbacks are not configured');
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    authenticateCallback(provider, d.sms.auth, req, raw);
    return { provider, raw };
  }

  /** A callback body the provider's format cannot read is a 400, counted, so a misconfigured gateway shows. */
  function readable<T>(provider: Provider, kind: 'status' | 'inbound', parse: () => T): T {
    try {
      return parse();
    } catch (err) {
      if (err instanceof ProblemError && err.status === 400) d.metrics.smsCallbacksRejected.inc({ provider, kind });
      throw err;
    }
  }
}
