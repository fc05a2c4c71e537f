// Starting loans: one, or up to 1,000 in a batch; both idempotent on the loan id.
import { COMMON_ERRORS, parse, type RouteSpec } from '../route-spec';
import { BATCH, STARTED } from '../responses';
import { batchSchema, createLoanSchema } from '../schemas';
import { startBatch } from '../use-cases/start-batch';
import type { RouteContext } from './context';

const DAY_MS = 86_400_000;

/** A loan Try it out can start as it is: due in two weeks, its id of the day (so a repeat the same day answers the loan). */
export function exampleLoan(now: number, prefix = 'L-example') {
  const dueDate = new Date(now + 14 * DAY_MS).toISOString().slice(0, 10);
  return {
    loanId: `${prefix}-${dueDate}`,
    borrower: { name: '张伟', honorific: '先生', phone: '+8613800138000', locale: 'zh-CN', timezone: 'Asia/Shanghai' },
    amountDue: 500000,
    currency: 'CNY',
    dueDate,
  };
}

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
        201: { description: 'Started: its workflow, the schedule it will follow and what it skips', body: STARTED },
        200: {
          description: 'Already started with the same body: the same shape, from the running loan',
          body: STARTED,
        },
        409: 'Loan id used with another body',
        413: 'Too large',
        415: 'Not JSON',
        ...COMMON_ERRORS,
      },
      requestExample: (now) => exampleLoan(now),
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
      responses: {
        200: { description: 'One result per item, in order', body: BATCH },
        413: 'Too large',
        415: 'Not JSON',
        ...COMMON_ERRORS,
      },
      requestExample: (now) => ({ loans: [exampleLoan(now, 'L-batch-example')] }),
      handler: async (req, res) => {
        const { loans: items } = parse(batchSchema, req.body);
        res.json(await startBatch(items, startLoan, d.log));
      },
    },
  ];
}
