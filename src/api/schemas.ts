// Request bodies, one schema per route. Nothing that fails these reaches Temporal.
import { DateTime } from 'luxon';
import { z } from 'zod';
import { SUPPORTED_LOCALES } from '../domain/loan';
import { isValidTimeZone } from '../domain/calendar';

const currencies = new Set(Intl.supportedValuesOf('currency'));

/** Upper bound on any amount: far above any consumer loan, far below float precision limits. */
export const MAX_AMOUNT_MINOR = 1_000_000_000_000;

export const loanIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_", ":" or "-"');

const amount = z.number().int('must be an integer in minor units').positive().max(MAX_AMOUNT_MINOR);

export const createLoanSchema = z
  .object({
    loanId: loanIdSchema,
    borrower: z
      .object({
        name: z.string().trim().min(1).max(100),
        honorific: z.string().trim().min(1).max(20).optional(),
        phone: z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number such as +8613800138000'),
        locale: z.enum(SUPPORTED_LOCALES),
        timezone: z.string().refine(isValidTimeZone, 'must be an IANA time zone such as Asia/Shanghai'),
      })
      .strict(),
    amountDue: amount,
    currency: z.string().refine((c) => currencies.has(c), 'must be an ISO 4217 currency code such as CNY'),
    dueDate: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
      .refine((d) => DateTime.fromISO(d).isValid, 'must be a real calendar date'),
    policyId: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'must be a policy id such as default')
      .optional(),
  })
  .strict();

export const paymentSchema = z
  .object({
    paymentId: z.string().min(1).max(128),
    amount,
    paidAt: z.iso.datetime({ offset: true }),
  })
  .strict();
