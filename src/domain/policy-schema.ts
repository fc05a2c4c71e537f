// The policy files' schema: what parsePolicy accepts, with a message naming each bad field. Used
// where policies are read (the registry, the API's loading, tests), never by workflow code.
import { Duration } from 'luxon';
import { z } from 'zod';
import { minutesOfDay } from './calendar';
import { POLICY_ID, TEMPLATE_IDS } from './policy';

const isoDuration = z.string().refine((s) => Duration.fromISO(s).isValid, 'must be an ISO 8601 duration such as P7D');
const positiveDuration = isoDuration.refine((s) => Duration.fromISO(s).as('milliseconds') > 0, 'must be positive');
const hm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:mm');
const stage = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'must be lower-case letters, digits and "-"');
const reminderTemplate = z.enum(TEMPLATE_IDS).refine((t) => t !== 'thank-you', 'thank-you is not a reminder');

export const policySchema = z
  .object({
    id: z.string().regex(POLICY_ID, 'must be lower-case letters, digits and "-"'),
    description: z.string().max(500).optional(),
    /** Points are measured from the due date (calendar days, at sendTime) or, for demos, from the loan's start instant. */
    anchor: z.enum(['due-date', 'loan-start']).default('due-date'),
    sendTime: hm.default('10:00'),
    window: z
      .object({ start: hm, end: z.union([hm, z.literal('24:00')]) })
      .refine((w) => minutesOfDay(w.start) < minutesOfDay(w.end), 'window.start must be before window.end')
      .default({ start: '08:00', end: '21:00' }),
    points: z
      .array(z.object({ stage, offset: isoDuration, template: reminderTemplate }).strict())
      .min(1)
      .max(50),
    overdueRepeat: z
      .object({ stage, every: positiveDuration, maxCount: z.number().int().min(1).max(52), template: reminderTemplate })
      .strict()
      .optional(),
    finalNotice: z.object({ stage, after: positiveDuration, template: reminderTemplate }).strict().optional(),
    caps: z
      .array(
        z
          .object({
            max: z.number().int().min(1).max(100),
            per: positiveDuration,
            scope: z.enum(['any', 'overdue']).default('any'),
          })
          .strict(),
      )
      .max(10)
      .default([]),
    /** A reminder that fell due while the loan was paused or not yet started is sent late only within this. */
    maxLateness: isoDuration.default('P3D'),
    afterLastPoint: z
      .object({ handOver: z.boolean().default(true), listenFor: isoDuration.default('P30D') })
      .strict()
      .default({ handOver: true, listenFor: 'P30D' }),
    thankYou: z.boolean().default(true),
    promiseToPay: z
      .object({ grace: isoDuration.default('P1D'), maxAhead: positiveDuration.default('P30D') })
      .strict()
      .default({ grace: 'P1D', maxAhead: 'P30D' }),
    /** A borrower who rates a message's tone 1 or 2 (of 5) gets the gentle variant from then on. */
    gentleAfterHarshRating: z.boolean().default(true),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.anchor === 'due-date') {
      if (!minutesInWindow(p.sendTime, p.window)) {
        ctx.addIssue({ code: 'custom', path: ['sendTime'], message: 'must lie inside the sending window' });
      }
    }
    const stages = [...p.points.map((x) => x.stage), p.overdueRepeat?.stage, p.finalNotice?.stage].filter(Boolean);
    if (new Set(stages).size !== stages.length) {
      ctx.addIssue({ code: 'custom', path: ['points'], message: 'stage names must be unique' });
    }
  });

function minutesInWindow(t: string, w: { start: string; end: string }): boolean {
  return minutesOfDay(t) >= minutesOfDay(w.start) && minutesOfDay(t) < minutesOfDay(w.end);
}

export type Policy = z.output<typeof policySchema>;
export type PolicyInput = z.input<typeof policySchema>;

export function parsePolicy(data: unknown): Policy {
  return policySchema.parse(data);
}
