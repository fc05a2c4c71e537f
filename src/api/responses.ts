// Response shapes, one schema per answer the API gives, each with an example: the loans' answers
// here, the analytics report and the operational answers in report-responses.ts. The OpenAPI
// document's responses are generated from these, the API tests check every answer they get against
// them, and the type checks at the end hold them to what the code returns.
import { z } from 'zod';
import { SUPPORTED_LOCALES } from '../domain/loan';
import { TEMPLATE_IDS } from '../domain/policy';
import type { loanView } from './loan-workflow';
import type { LoanListItem } from './use-cases/list-loans';
import type { PaymentAnswer } from './use-cases/record-payment';
import type { AnswerOutcome } from './use-cases/answer';
import type { BatchAnswer } from './use-cases/start-batch';
import type { StartAnswer } from './use-cases/start-loan';

/** A response body: its schema, the name it has in the document's components, and an example. */
export interface BodySpec {
  name: string;
  schema: z.ZodType;
  example: unknown;
  /** application/json unless said. */
  contentType?: string;
}

export const body = <S extends z.ZodType>(
  name: string,
  schema: S,
  example: z.output<S>,
  contentType?: string,
): BodySpec => ({
  name,
  schema,
  example,
  ...(contentType ? { contentType } : {}),
});

export const instant = z.string().describe('An ISO 8601 instant (UTC)');
const date = z.string().describe('A calendar date YYYY-MM-DD');
const LOAN_STATUSES = ['active', 'paused', 'paid', 'closed', 'unresolved'] as const;
const loanStatus = z.enum(LOAN_STATUSES);
const template = z.enum(TEMPLATE_IDS);
const ANSWER_KINDS = ['opt-out', 'dispute', 'hardship', 'callback', 'wrong-number', 'unclear-reply', 'rating'] as const;
const CLOSE_REASONS = ['written-off', 'sold', 'settled-elsewhere', 'cancelled'] as const;

export const problemSchema = z
  .object({
    type: z.string().describe('A URI naming the kind of problem, e.g. urn:loan-reminders:problem:validation'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional().describe('The request path, never its query'),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .describe('RFC 9457 problem details');

export const PROBLEM = body('Problem', problemSchema, {
  type: 'urn:loan-reminders:problem:validation',
  title: 'Invalid request',
  status: 400,
  detail: 'invalid dueDate',
  instance: '/v1/loans',
  errors: [{ field: 'dueDate', message: 'must be a real calendar date' }],
});

const point = z.object({ stage: z.string(), template, at: instant });
const skippedPoint = z.object({
  stage: z.string(),
  template: z.string(),
  plannedFor: instant.nullable(),
  reason: z.string(),
});

export const startAnswerSchema = z
  .object({
    loanId: z.string(),
    workflowId: z.string(),
    runId: z.string(),
    status: loanStatus,
    policyId: z.string(),
    outstanding: z.number().int(),
    schedule: z.array(point).describe('The reminders the loan will get if nothing happens to it'),
    skipped: z.array(skippedPoint).describe('Points not sent because their time had passed'),
  })
  .describe('A started loan: its workflow and its schedule');

const startExample: StartAnswer = {
  loanId: 'L-1001',
  workflowId: 'loan-L-1001',
  runId: '0193a7c2-5b7e-7c41-9a8e-3f1d2c4b5a69',
  status: 'active',
  policyId: 'default',
  outstanding: 500000,
  schedule: [
    { stage: 'pre-due-3d', template: 'pre-due', at: '2026-12-13T02:00:00.000Z' },
    { stage: 'due', template: 'due', at: '2026-12-16T02:00:00.000Z' },
  ],
  skipped: [],
};
export const STARTED = body('StartedLoan', startAnswerSchema, startExample);

const payment = z.object({ paymentId: z.string(), amount: z.number().int(), paidAt: instant });
const hold = z.object({
  kind: z.enum(['dispute', 'promise-to-pay', 'hardship', 'review', 'wrong-number', 'undeliverable']),
  since: instant,
  until: instant.optional(),
});

export const loanSchema = z
  .object({
    loanId: z.string(),
    workflowId: z.string(),
    policyId: z.string(),
    status: loanStatus,
    stage: z.string().describe('The stage of the last reminder sent, or "none"'),
    currency: z.string(),
    amountDue: z.number().int(),
    outstanding: z.number().int(),
    overpaid: z.number().int(),
    dueDate: date,
    timezone: z.string(),
    locale: z.enum(SUPPORTED_LOCALES),
    startedAt: instant,
    variant: z.enum(['A', 'B', 'gentle']),
    optedOut: z.boolean(),
    numberBlocked: z.boolean(),
    pause: hold.nullable().describe('The strongest hold in force, or none'),
    nextReminder: z.object({ stage: z.string(), template, at: instant, why: z.array(z.string()) }).nullable(),
    nextReminderAt: instant.nullable(),
    horizon: instant.describe('When the loan stops waiting for payment after its last reminder'),
    messagesSent: z.array(
      z.object({
        key: z.string(),
        stage: z.string(),
        template,
        variant: z.enum(['A', 'B', 'gentle']),
        locale: z.enum(SUPPORTED_LOCALES),
        requestedAt: instant,
        scheduledFor: instant,
        sentAt: instant,
        recordedAt: instant.optional(),
        segments: z.number().int(),
        encoding: z.enum(['GSM-7', 'UCS-2']),
      }),
    ),
    skipped: z.array(z.object({ key: z.string(), stage: z.string(), reason: z.string() })),
    failed: z.array(z.object({ key: z.string(), stage: z.string(), reason: z.string(), at: instant })),
    payments: z.array(payment),
    conflictingPayments: z.array(payment).optional(),
    answers: z.array(
      z.object({
        kind: z.enum(ANSWER_KINDS),
        receivedAt: instant,
        answerId: z.string().optional(),
        at: instant.optional(),
        reason: z.string().optional(),
        note: z.string().optional(),
        messageKey: z.string().optional(),
        clarity: z.number().int().optional(),
        tone: z.number().int().optional(),
      }),
    ),
    promises: z.array(z.object({ date, madeAt: instant, kept: z.boolean().optional() })),
    handedOver: z.array(z.object({ kind: z.string(), at: instant })),
    closedReason: z.enum(CLOSE_REASONS).optional(),
    completedAt: instant.optional(),
  })
  .describe('A loan’s full status, from its running workflow');

const loanExample: ReturnType<typeof loanView> = {
  loanId: 'L-1001',
  workflowId: 'loan-L-1001',
  policyId: 'default',
  status: 'active',
  stage: 'pre-due-3d',
  currency: 'CNY',
  amountDue: 500000,
  outstanding: 500000,
  overpaid: 0,
  dueDate: '2026-12-16',
  timezone: 'Asia/Shanghai',
  locale: 'zh-CN',
  startedAt: '2026-12-02T08:00:00.000Z',
  variant: 'A',
  optedOut: false,
  numberBlocked: false,
  pause: null,
  nextReminder: { stage: 'due', template: 'due', at: '2026-12-16T02:00:00.000Z', why: ['due date, 10:00 local'] },
  nextReminderAt: '2026-12-16T02:00:00.000Z',
  horizon: '2027-01-15T16:00:00.000Z',
  messagesSent: [
    {
      key: 'pre-due-3d',
      stage: 'pre-due-3d',
      template: 'pre-due',
      variant: 'A',
      locale: 'zh-CN',
      requestedAt: '2026-12-13T02:00:00.000Z',
      scheduledFor: '2026-12-13T02:00:00.000Z',
      sentAt: '2026-12-13T02:00:01.000Z',
      recordedAt: '2026-12-13T02:00:01.000Z',
      segments: 1,
      encoding: 'UCS-2',
    },
  ],
  skipped: [],
  failed: [],
  payments: [],
  answers: [],
  promises: [],
  handedOver: [],
};
export const LOAN = body('Loan', loanSchema, loanExample);

const listItemSchema = z.object({
  loanId: z.string(),
  workflowId: z.string(),
  status: z.string().nullable(),
  stage: z.string().nullable(),
  outstanding: z.number().int().nullable(),
  currency: z.string().nullable(),
  dueDate: date.nullable(),
  nextReminderAt: instant.nullable(),
  policyId: z.string().nullable(),
  pause: z.string().nullable(),
});
export const loanListSchema = z
  .object({
    items: z.array(listItemSchema),
    nextPageToken: z.string().nullable().describe('Pages the same filters only; null on the last page'),
  })
  .describe('A page of loans, from their search attributes');
export const LOAN_LIST = body('LoanList', loanListSchema, {
  items: [
    {
      loanId: 'L-1001',
      workflowId: 'loan-L-1001',
      status: 'active',
      stage: 'pre-due-3d',
      outstanding: 500000,
      currency: 'CNY',
      dueDate: '2026-12-16',
      nextReminderAt: '2026-12-16T02:00:00.000Z',
      policyId: 'default',
      pause: null,
    },
  ],
  nextPageToken: null,
});

const itemProblem = z.object({
  title: z.string(),
  detail: z.string().optional(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});
export const batchAnswerSchema = z
  .object({
    started: z.number().int(),
    existing: z.number().int(),
    failed: z.number().int(),
    results: z.array(
      z.union([
        z.object({
          index: z.number().int(),
          httpStatus: z.union([z.literal(200), z.literal(201)]),
          loan: startAnswerSchema,
        }),
        z.object({
          index: z.number().int(),
          httpStatus: z.number().int().min(400),
          loanId: z.string().optional(),
          problem: itemProblem,
        }),
      ]),
    ),
  })
  .describe('One result per item, in the order given');
const batchExample: BatchAnswer = {
  started: 1,
  existing: 0,
  failed: 1,
  results: [
    { index: 0, httpStatus: 201, loan: startExample },
    {
      index: 1,
      httpStatus: 400,
      loanId: 'L-1002',
      problem: {
        title: 'Invalid request',
        detail: 'invalid dueDate',
        errors: [{ field: 'dueDate', message: 'must be a real calendar date' }],
      },
    },
  ],
};
export const BATCH = body('BatchResult', batchAnswerSchema, batchExample);

export const closedSchema = z.object({
  loanId: z.string(),
  status: z.literal('closed'),
  reason: z.enum(CLOSE_REASONS),
});
export const CLOSED = body('ClosedLoan', closedSchema, { loanId: 'L-1001', status: 'closed', reason: 'written-off' });

export const paymentAnswerSchema = z.object({
  loanId: z.string(),
  paymentId: z.string(),
  accepted: z.literal(true),
  recordedAs: z
    .enum(['counted', 'already-counted', 'after-end'])
    .describe('counted by the running loan; already-counted a repeat; after-end kept for an ended loan'),
});
export const PAYMENT = body('PaymentAccepted', paymentAnswerSchema, {
  loanId: 'L-1001',
  paymentId: 'pay-7f3a',
  accepted: true,
  recordedAs: 'counted',
});

export const answerAcceptedSchema = z.object({
  loanId: z.string(),
  accepted: z.literal(true),
  recordedAs: z.enum(ANSWER_KINDS).describe('What the loan heard; a reply is recorded as what it means'),
});
export const ANSWER = body('AnswerAccepted', answerAcceptedSchema, {
  loanId: 'L-1001',
  accepted: true,
  recordedAs: 'callback',
});
export const promiseAcceptedSchema = z.object({
  loanId: z.string(),
  accepted: z.literal(true),
  pausedUntil: instant.describe('Reminders wait until then'),
});
export const PROMISE = body('PromiseAccepted', promiseAcceptedSchema, {
  loanId: 'L-1001',
  accepted: true,
  pausedUntil: '2026-12-20T16:00:00.000Z',
});

// ---- The schemas describe what the code returns: these fail to compile if the two part ----
type Fits<Schema, Actual extends Schema> = Actual;
export type StartAnswerFits = Fits<z.output<typeof startAnswerSchema>, StartAnswer>;
export type LoanFits = Fits<z.output<typeof loanSchema>, ReturnType<typeof loanView>>;
export type ListItemFits = Fits<z.output<typeof listItemSchema>, LoanListItem>;
export type BatchFits = Fits<z.output<typeof batchAnswerSchema>, BatchAnswer>;
export type PaymentFits = Fits<z.output<typeof paymentAnswerSchema>, PaymentAnswer>;
export type AnswerFits = Fits<
  z.output<typeof answerAcceptedSchema> | z.output<typeof promiseAcceptedSchema>,
  AnswerOutcome['body']
>;
