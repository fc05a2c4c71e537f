// The effectiveness figures, as JSON or CSV.
import { effectivenessCsv } from '../../analytics/csv';
import { effectiveness } from '../../analytics/effectiveness';
import { ProblemError } from '../problem';
import { COMMON_ERRORS, parse, type RouteSpec } from '../route-spec';
import { EFFECTIVENESS, EFFECTIVENESS_CSV } from '../report-responses';
import { effectivenessQuerySchema } from '../schemas';
import type { RouteContext } from './context';

export function analyticsRoutes({ d }: RouteContext): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/v1/analytics/effectiveness',
      operationId: 'effectiveness',
      tag: 'analytics',
      summary:
        'What the messages achieve, by stage, variant, locale or policy: sent, delivered, repaid within 1/3/7 days, amount, time to pay, opt-outs, complaints, ratings; variant B against A with a 95% interval and p-value. JSON, or CSV with format=csv or Accept: text/csv',
      auth: 'analytics:read',
      query: effectivenessQuerySchema,
      responses: {
        200: { description: 'The figures (application/json or text/csv)', body: [EFFECTIVENESS, EFFECTIVENESS_CSV] },
        ...COMMON_ERRORS,
        503: 'No event store',
      },
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
  ];
}
