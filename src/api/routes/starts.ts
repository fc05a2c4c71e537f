// Starting loans: one, or up to 1,000 in a batch; both idempotent on the loan id.
import { COMMON_ERRORS, parse, type RouteSpec } from '../route-spec';
import { batchSchema, createLoanSchema } from '../schemas';
import { startBatch } from '../use-cases/start-batch';
import type { RouteContext } from './context';

export function startRoutes({ d, startLoan }: RouteContext): RouteSpec[] {
  return [
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
        if (r.code === 201) res.location(`/v1/loans/${encodeURIComponent(r.body.loanId)}`);
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
        const { loans: items } = parse(batchSchema, req.body);
        res.json(await startBatch(items, startLoan, d.log));
      },
    },
  ];
}
