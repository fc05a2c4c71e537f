// Payments: reported by the loan system with an API key, or by the payment provider's signed webhook.
import { ProblemError } from '../problem';
import { COMMON_ERRORS, loanIdParam, parse, type RouteSpec } from '../route-spec';
import { PAYMENT } from '../responses';
import { paymentSchema, webhookPaymentSchema } from '../schemas';
import { recordPayment } from '../use-cases/record-payment';
import type { RouteContext } from './context';

export function paymentRoutes({ d }: RouteContext): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/loans/:loanId/payments',
      operationId: 'reportPayment',
      tag: 'payments',
      summary: 'Report a payment (the same paymentId twice counts once)',
      auth: 'loans:write',
      body: paymentSchema,
      responses: {
        202: {
          description: 'Accepted: counted by the loan, a repeat, or kept for a loan that has ended',
          body: PAYMENT,
        },
        404: 'Unknown loan',
        409: 'The payment id was used for another amount or time',
        ...COMMON_ERRORS,
      },
      requestExample: (now) => ({ paymentId: 'pay-7f3a', amount: 500000, paidAt: new Date(now).toISOString() }),
      handler: async (req, res) => {
        const loanId = loanIdParam(req);
        const payment = parse(paymentSchema, req.body);
        res.status(202).json(await recordPayment(d, loanId, payment, 'payment'));
      },
    },
    {
      method: 'post',
      path: '/v1/webhooks/payments',
      operationId: 'paymentWebhook',
      tag: 'webhooks',
      summary: 'Signed payment webhook (HMAC-SHA256); deliveries of the same payment count once',
      auth: 'webhook-signature',
      body: webhookPaymentSchema,
      responses: {
        202: { description: 'Accepted', body: PAYMENT },
        400: 'Invalid payment',
        401: 'Bad, stale or missing signature',
        404: 'Unknown loan',
        409: 'The payment id was used for another amount or time',
        413: 'Too large',
        429: 'Rate limited',
      },
      requestExample: (now) => ({
        loanId: 'L-1001',
        paymentId: 'pay-7f3a',
        amount: 500000,
        paidAt: new Date(now).toISOString(),
      }),
      handler: async (req, res) => {
        let json: unknown;
        try {
          json = JSON.parse((req.body as Buffer).toString('utf8'));
        } catch {
          throw new ProblemError(400, 'Malformed JSON', 'the request body is not valid JSON');
        }
        const { loanId, ...payment } = parse(webhookPaymentSchema, json);
        res.status(202).json(await recordPayment(d, loanId, payment, 'payment-webhook'));
      },
    },
  ];
}
