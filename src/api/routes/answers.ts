// A borrower's answers as the loan system reports them.
import { COMMON_ERRORS, loanIdParam, parse, type RouteSpec } from '../route-spec';
import { ANSWER, PROMISE } from '../responses';
import { feedbackSchema } from '../schemas';
import { recordAnswer } from '../use-cases/answer';
import type { RouteContext } from './context';

export function answerRoutes({ d, loans }: RouteContext): RouteSpec[] {
  return [
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
        202: { description: 'Accepted: what the loan heard', body: ANSWER },
        200: { description: 'Promise to pay accepted', body: PROMISE },
        404: 'Unknown loan',
        409: 'Loan closed',
        422: 'Promise refused',
        ...COMMON_ERRORS,
      },
      requestExample: () => ({ kind: 'callback', note: 'please call after 18:00' }),
      handler: async (req, res) => {
        const loanId = loanIdParam(req);
        const r = await recordAnswer(d, loans, loanId, parse(feedbackSchema, req.body));
        res.status(r.code).json(r.body);
      },
    },
  ];
}
