// The analytics report and the operational answers (health, readiness, the codec's payloads, the
// SMS gateways' acknowledgements, plain text and pages), with their examples; see responses.ts.
import { z } from 'zod';
import { GROUP_BY, type EffectivenessReport } from '../analytics/effectiveness';
import { body, instant } from './responses';

const perWindow = z.object({ d1: z.number().int(), d3: z.number().int(), d7: z.number().int() });
const rate = z.number().nullable();
const figures = z.object({
  group: z.string(),
  messagesSent: z.number().int(),
  messagesDelivered: z.number().int(),
  deliveryRate: rate,
  loansMessaged: z.number().int(),
  paidInFull: perWindow,
  paidInPart: perWindow,
  repaymentRate: z.object({ d1: rate, d3: rate, d7: rate }),
  amountRecovered: z.record(z.string(), z.number()).describe('Minor units per currency'),
  medianHoursToPay: z.number().nullable(),
  optOuts: z.number().int(),
  optOutRate: rate,
  complaints: z.number().int(),
  complaintRate: rate,
  ratings: z.object({ count: z.number().int(), clarity: z.number().nullable(), tone: z.number().nullable() }),
  curve: z.array(z.object({ day: z.number().int(), share: rate })),
});
const arm = z.object({ successes: z.number().int(), trials: z.number().int(), rate });
export const effectivenessSchema = z
  .object({
    from: instant,
    to: instant,
    groupBy: z.enum(GROUP_BY),
    attribution: z.string(),
    totals: figures,
    groups: z.array(figures),
    comparison: z.object({
      a: arm,
      b: arm,
      difference: z.number().nullable(),
      ci95: z
        .array(z.number())
        .length(2)
        .nullable()
        .describe('The 95% confidence interval of the difference: [low, high]'),
      pValue: z.number().nullable(),
      enoughData: z.boolean(),
      measure: z.string(),
      verdict: z.string(),
    }),
    afterEnd: z.object({ payments: z.number().int(), amount: z.record(z.string(), z.number()) }),
  })
  .describe('What the messages achieved in the range');
const figuresExample = (group: string) => ({
  group,
  messagesSent: 10,
  messagesDelivered: 9,
  deliveryRate: 0.9,
  loansMessaged: 6,
  paidInFull: { d1: 1, d3: 2, d7: 3 },
  paidInPart: { d1: 0, d3: 1, d7: 1 },
  repaymentRate: { d1: 0.1667, d3: 0.5, d7: 0.6667 },
  amountRecovered: { CNY: 1500000 },
  medianHoursToPay: 30.5,
  optOuts: 1,
  optOutRate: 0.1,
  complaints: 0,
  complaintRate: 0,
  ratings: { count: 1, clarity: 4, tone: 5 },
  curve: [
    { day: 0, share: 0 },
    { day: 7, share: 0.6667 },
  ],
});
const effectivenessExample: EffectivenessReport = {
  from: '2026-11-01T00:00:00.000Z',
  to: '2026-12-01T00:00:00.000Z',
  groupBy: 'stage',
  attribution: 'A payment counts for the most recent reminder sent to the same loan before it, within 7 days.',
  totals: figuresExample('all'),
  groups: [figuresExample('due')],
  comparison: {
    a: { successes: 2, trials: 3, rate: 0.6667 },
    b: { successes: 2, trials: 3, rate: 0.6667 },
    difference: 0,
    ci95: [-0.75, 0.75],
    pValue: 1,
    enoughData: false,
    measure: 'loans repaying within 7 days of a message',
    verdict: 'not enough data yet',
  },
  afterEnd: { payments: 0, amount: {} },
};
export const EFFECTIVENESS = body('Effectiveness', effectivenessSchema, effectivenessExample);
export const EFFECTIVENESS_CSV = body(
  'EffectivenessCsv',
  z.string().describe('The same figures as CSV, one row per group'),
  'group,messagesSent,messagesDelivered\r\nall,10,9\r\n',
  'text/csv',
);

export const HEALTH = body('Health', z.object({ status: z.literal('ok') }), { status: 'ok' });
export const READY = body('Ready', z.object({ status: z.literal('ready'), temporal: z.literal('reachable') }), {
  status: 'ready',
  temporal: 'reachable',
});

const base64 = z.string().describe('Base64');
export const codecPayloadsSchema = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), base64), data: base64 })),
});
export const CODEC = body('Payloads', codecPayloadsSchema, {
  payloads: [{ metadata: { encoding: 'YmluYXJ5L2VuY3J5cHRlZA==' }, data: 'c2VjcmV0' }],
});

/** The acknowledgement each SMS provider expects (Twilio's TwiML is text/xml). */
export const SMS_ACK = body(
  'SmsAcknowledgement',
  z.union([
    z.object({ code: z.literal(0), msg: z.string() }).describe('Aliyun'),
    z.object({ result: z.literal(0), errmsg: z.string() }).describe('Tencent'),
    z.object({ ok: z.literal(true) }).describe('The local outbox'),
  ]),
  { ok: true },
);
export const SMS_ACK_XML = body(
  'TwimlAcknowledgement',
  z.string().describe('An empty TwiML response, for Twilio'),
  '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
  'text/xml',
);

export const TEXT = (name: string, description: string, example: string, contentType: string) =>
  body(name, z.string().describe(description), example, contentType);

export const OPENAPI_DOCUMENT = body(
  'OpenApiDocument',
  z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) }),
  { openapi: '3.1.0', info: { title: 'loan-reminders API', version: '1.0.0' }, paths: {} },
);

// Fails to compile if the report's schema and the report part.
type Fits<Schema, Actual extends Schema> = Actual;
export type EffectivenessFits = Fits<z.output<typeof effectivenessSchema>, EffectivenessReport>;
