// Request shapes, one schema per route. The OpenAPI document is generated from these same schemas,
// and nothing that fails them reaches Temporal.
import { z } from 'zod';
import { isCalendarDate, isValidTimeZone } from '../domain/calendar';
import { E164, SUPPORTED_LOCALES } from '../domain/loan';
import {
  DATE_RANGE_MESSAGE,
  INSTANT_RANGE_MESSAGE,
  isDateInRange,
  isInstantInRange,
  MAX_DATE,
  MIN_DATE,
} from '../domain/limits';
import { POLICY_ID } from '../domain/policy';
import { GROUP_BY } from '../analytics/effectiveness';

const currencies = new Set(Intl.supportedValuesOf('currency'));

/** Upper bound on any amount: far above any consumer loan, far below float precision limits. */
export const MAX_AMOUNT_MINOR = 1_000_000_000_000;

export const loanIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_", ":" or "-"')
  .describe('The loan system’s id for the loan; also the idempotency key of POST /v1/loans.');

const amount = z.number().int('must be an integer in minor units').positive().max(MAX_AMOUNT_MINOR);
const phone = z.string().regex(E164, 'must be an E.164 number such as +8613800138000');
const locale = z.enum(SUPPORTED_LOCALES);
const timezone = z.string().max(64).refine(isValidTimeZone, 'must be an IANA time zone such as Asia/Shanghai');
/** A calendar date in the service's range (src/domain/limits.ts); one error per field, the first that applies. */
const calendarDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a date YYYY-MM-DD', abort: true })
  .refine(isCalendarDate, { message: 'must be a real calendar date', abort: true })
  .refine(isDateInRange, DATE_RANGE_MESSAGE)
  .describe(`A calendar date YYYY-MM-DD from ${MIN_DATE} to ${MAX_DATE}`);
const instant = z.iso
  .datetime({ offset: true, abort: true })
  .refine(isInstantInRange, INSTANT_RANGE_MESSAGE)
  .describe(`An ISO 8601 instant from ${MIN_DATE} to ${MAX_DATE} (UTC)`);
const policyId = z.string().regex(POLICY_ID, 'must be a policy id such as default');
// Text that reaches an SMS (the borrower's name and honorific, the lender's name and number) is
// held to the same rules: letters of any script and a little punctuation, never a link (http..., www.,
// a word.word domain), a control, format or bidi character (Cc, Cf: newlines, NUL, U+202E, zero
// widths) or braces (template syntax).
const LINK = /https?:|:\/\/|www\.|[\p{L}\p{N}-]\.[\p{L}]{2,}/iu;
const noLink = (s: string) => !LINK.test(s);
const NO_LINK = 'must not contain a web address or domain';

/** Names in any script: letters, marks, spaces and common punctuation, no control characters or links. */
const personName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[\p{L}\p{M}\p{Zs}'’.\-·]+$/u, {
    message: 'must be letters of any script, spaces and . - ’ · only',
    abort: true,
  })
  .refine(noLink, NO_LINK);
/** A title joined to the name (Ms, 先生, Dr.): the name's rules, shorter. */
const honorific = z
  .string()
  .trim()
  .min(1)
  .max(20)
  .regex(/^[\p{L}\p{M}\p{Zs}'’.\-·]+$/u, {
    message: 'must be letters of any script, spaces and . - ’ · only',
    abort: true,
  })
  .refine(noLink, NO_LINK);
/** A lender's name: the name's rules plus digits and & , ( ) (e.g. "360 Finance Co., Ltd."). */
const lenderName = z
  .string()
  .trim()
  .min(1)
  .max(60)
  .regex(/^[\p{L}\p{M}\p{N}\p{Zs}'’.\-·&,()]+$/u, {
    message: 'must be letters of any script, digits, spaces and . - ’ · & , ( ) only',
    abort: true,
  })
  .refine(noLink, NO_LINK);
/** The number borrowers call: digits in groups split by one space or dash, optionally after a +. */
const contactPhone = z
  .string()
  .max(20)
  .regex(
    /^\+?[0-9]+(?:[ -][0-9]+)*$/,
    'must be a phone number: digits, single spaces or dashes between them, an optional leading +',
  )
  .refine((p) => p.replace(/\D/g, '').length >= 3, 'must have at least 3 digits');

export const createLoanSchema = z
  .object({
    loanId: loanIdSchema,
    borrower: z
      .object({
        name: personName,
        honorific: honorific.optional(),
        phone,
        locale,
        timezone,
      })
      .strict(),
    amountDue: amount,
    currency: z.string().refine((c) => currencies.has(c), 'must be an ISO 4217 currency code such as CNY'),
    dueDate: calendarDate,
    policyId: policyId.optional(),
    lender: z
      .object({
        name: z.object({ 'zh-CN': lenderName, 'en-US': lenderName }).strict(),
        contactPhone,
      })
      .strict()
      .optional()
      .describe('Overrides the configured lender for this loan.'),
  })
  .strict();
export type CreateLoan = z.output<typeof createLoanSchema>;

export const MAX_BATCH = 1000;
export const batchSchema = z
  .object({
    // Items are validated one by one, so a bad item does not sink the others.
    loans: z.array(z.unknown()).min(1).max(MAX_BATCH),
  })
  .strict();

export const listQuerySchema = z
  .object({
    status: z.enum(['active', 'paused', 'paid', 'closed', 'unresolved']).optional(),
    stage: z
      .string()
      .regex(/^[a-z0-9-]{1,40}$/)
      .optional(),
    overdue: z.enum(['true', 'false']).optional(),
    policyId: policyId.optional(),
    minOutstanding: z.coerce.number().int().min(0).max(MAX_AMOUNT_MINOR).optional(),
    maxOutstanding: z.coerce.number().int().min(0).max(MAX_AMOUNT_MINOR).optional(),
    pageSize: z.coerce.number().int().min(1).max(200).default(50),
    pageToken: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,2048}$/)
      .optional(),
  })
  .strict();

/** A calendar day (UTC; `to` includes the whole day) or an ISO 8601 instant. */
const rangeEnd = z.union([calendarDate, instant]);
/** The longest range one request may cover. */
export const MAX_ANALYTICS_DAYS = 366;

export const effectivenessQuerySchema = z
  .object({
    from: rangeEnd
      .optional()
      .describe('Start of the range: YYYY-MM-DD (UTC) or an instant; default 30 days before `to`'),
    to: rangeEnd
      .optional()
      .describe('End of the range, inclusive for a date: YYYY-MM-DD (UTC) or an instant; default now'),
    groupBy: z.enum(GROUP_BY).default('stage'),
    format: z.enum(['json', 'csv']).optional().describe('csv for a spreadsheet; also chosen by Accept: text/csv'),
  })
  .strict()
  .transform((q, ctx) => {
    const toMs = q.to === undefined ? Date.now() : Date.parse(q.to) + (isCalendarDate(q.to) ? 86_400_000 : 0);
    const fromMs = q.from === undefined ? toMs - 30 * 86_400_000 : Date.parse(q.from);
    if (fromMs >= toMs) ctx.addIssue({ code: 'custom', path: ['from'], message: 'must be before to' });
    if (toMs - fromMs > MAX_ANALYTICS_DAYS * 86_400_000)
      ctx.addIssue({
        code: 'custom',
        path: ['from'],
        message: `the range may span at most ${MAX_ANALYTICS_DAYS} days`,
      });
    return { fromMs, toMs, groupBy: q.groupBy, format: q.format };
  });

export const patchLoanSchema = z
  .object({
    borrower: z
      .object({ phone: phone.optional(), locale: locale.optional(), timezone: timezone.optional() })
      .strict()
      .optional(),
    dueDate: calendarDate.optional(),
    amountDue: amount.optional(),
  })
  .strict()
  .refine((p) => p.borrower !== undefined || p.dueDate !== undefined || p.amountDue !== undefined, 'nothing to change');

export const closeLoanSchema = z
  .object({ reason: z.enum(['written-off', 'sold', 'settled-elsewhere', 'cancelled']) })
  .strict();

export const paymentSchema = z
  .object({
    paymentId: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    amount,
    paidAt: instant,
  })
  .strict();

export const webhookPaymentSchema = paymentSchema.extend({ loanId: loanIdSchema }).strict();

const answerBase = { answerId: z.string().min(1).max(128).optional(), at: instant.optional() };
const note = z.string().max(500).optional();
export const feedbackSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('opt-out'), ...answerBase }).strict(),
  z
    .object({ kind: z.literal('reply'), text: z.string().min(1).max(1600), ...answerBase })
    .strict()
    .describe(
      'A free-text SMS reply: an opt-out keyword (STOP, 退订, TD, ...) opts out; other text goes to operations.',
    ),
  z.object({ kind: z.literal('dispute'), reason: note, ...answerBase }).strict(),
  z.object({ kind: z.literal('hardship'), note, ...answerBase }).strict(),
  z.object({ kind: z.literal('callback'), note, ...answerBase }).strict(),
  z.object({ kind: z.literal('wrong-number'), ...answerBase }).strict(),
  z
    .object({
      kind: z.literal('rating'),
      messageKey: z.string().min(1).max(200),
      clarity: z.number().int().min(1).max(5),
      tone: z.number().int().min(1).max(5),
      ...answerBase,
    })
    .strict(),
  z.object({ kind: z.literal('promise-to-pay'), date: calendarDate, ...answerBase }).strict(),
]);
export type Feedback = z.output<typeof feedbackSchema>;

export const resumeSchema = z.object({ note: note }).strict();

// ---- The operations inbox ----

/** A hand-over's id: its idempotency key, `<loanId>:ops:<n>`. */
export const itemIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be an item id');
const itemKind = z.string().regex(/^[a-z][a-z-]{0,39}$/, 'must be a hand-over kind such as dispute');
/** One value or several, comma-separated (`kind=dispute,hardship`). */
const listOf = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .max(400)
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(item).min(1).max(20));
const isoDurationText = z
  .string()
  .max(40)
  .regex(/^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?)?$/, 'must be an ISO 8601 duration such as PT4H or P2D');

export const inboxQuerySchema = z
  .object({
    kind: listOf(itemKind).optional(),
    state: listOf(z.enum(['open', 'claimed', 'resolved'])).optional(),
    assignee: z.string().min(1).max(64).optional(),
    loanId: loanIdSchema.optional(),
    olderThan: isoDurationText.optional().describe('Only items filed at least this long ago, e.g. PT4H'),
    pageSize: z.coerce.number().int().min(1).max(200).default(50),
    pageToken: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,2048}$/)
      .optional(),
  })
  .strict();
export type InboxQueryParams = z.output<typeof inboxQuerySchema>;

export const RESOLUTIONS = ['resume', 'new-number', 'promise', 'plan', 'write-off', 'close', 'no-action'] as const;
export const resolveItemSchema = z
  .object({
    resolution: z
      .enum(RESOLUTIONS)
      .describe(
        'resume: the loan is valid or the case settled, reminders resume; new-number: the contact changes to ' +
          '`phone`; promise / plan: reminders pause until `date` (then the hold is lifted); write-off: the ' +
          'loan closes as written off; close: it closes for `reason`; no-action: nothing changes on the loan',
      ),
    phone: phone.optional(),
    date: calendarDate.optional(),
    reason: z.enum(['written-off', 'sold', 'settled-elsewhere', 'cancelled']).optional(),
    note: z.string().max(1000).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const need = (field: 'phone' | 'date' | 'reason', message: string) => {
      if (r[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message });
    };
    if (r.resolution === 'new-number') need('phone', 'a new-number resolution needs the new phone');
    if (r.resolution === 'promise' || r.resolution === 'plan') need('date', `a ${r.resolution} needs its date`);
    if (r.resolution === 'close') need('reason', 'a close needs its reason');
  });
export type ResolveItem = z.output<typeof resolveItemSchema>;
export const claimItemSchema = z.object({}).strict();

// ---- The audit trail ----

export const auditQuerySchema = z
  .object({
    loanId: loanIdSchema.optional(),
    actor: z.string().min(1).max(64).optional().describe('An API key’s name or an operator’s'),
    action: z
      .string()
      .regex(/^[A-Za-z]{1,64}$/, 'must be an operationId such as changeLoan')
      .optional(),
    outcome: z.enum(['accepted', 'refused', 'failed']).optional(),
    from: rangeEnd.optional().describe('From this day (UTC) or instant'),
    to: rangeEnd.optional().describe('Until this day (UTC, inclusive) or instant'),
    pageSize: z.coerce.number().int().min(1).max(1000).default(100),
    pageToken: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,2048}$/)
      .optional(),
    format: z.enum(['json', 'csv']).optional().describe('csv for a spreadsheet; also chosen by Accept: text/csv'),
  })
  .strict()
  .transform((q, ctx) => {
    const toMs = q.to === undefined ? undefined : Date.parse(q.to) + (isCalendarDate(q.to) ? 86_400_000 : 0);
    const fromMs = q.from === undefined ? undefined : Date.parse(q.from);
    if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs)
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'must be before to' });
    const { from: _from, to: _to, ...rest } = q;
    return { ...rest, fromMs, toMs };
  });
export type AuditQueryParams = z.output<typeof auditQuerySchema>;
