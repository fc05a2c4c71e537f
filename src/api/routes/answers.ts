// A borrower's answers as the loan system reports them.
import { COMMON_ERRORS, loanIdParam, parse, type RouteSpec } from '../route-spec';
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
        202: 'Accepted',
        200: 'Promise to pay accepted',
        404: 'Unknown loan',
        409: 'Loan closed',
        422: 'Promise refused',
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        const loanId = loanIdParam(req);
        const r = await recordAnswer(d, loans, loanId, parse(feedbackSchema, req.body));
        res.status(r.code).json(r.body);
      },
    },
  ];
}
