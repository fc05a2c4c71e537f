// The SMS gateway's callbacks: delivery receipts and borrowers' replies, authenticated the
// provider's way, acknowledged in the provider's format.
import type { Request } from 'express';
import { ProblemError } from '../problem';
import type { RouteSpec } from '../route-spec';
import {
  acknowledgement,
  authenticateCallback,
  parseReceipts,
  parseReplies,
  PROVIDERS,
  type Provider,
} from '../sms-webhooks';
import { SMS_ACK, SMS_ACK_XML } from '../report-responses';
import { recordReceipts } from '../use-cases/delivery-receipt';
import { deliverReplies } from '../use-cases/sms-reply';
import type { RouteContext } from './context';

const CALLBACK_RESPONSES: RouteSpec['responses'] = {
  200: { description: 'Acknowledged in the provider’s format', body: [SMS_ACK, SMS_ACK_XML] },
  400: 'A body the provider’s format cannot read (problem+json; counted in sms_callbacks_rejected_total)',
  401: 'Not authentic',
  404: 'Unknown provider',
  503: 'Not configured',
};

export function smsRoutes({ d, loans }: RouteContext): RouteSpec[] {
  function callback(req: Request): { provider: Provider; raw: Buffer } {
    const provider = req.params.provider as Provider;
    if (!PROVIDERS.includes(provider))
      throw new ProblemError(404, 'Not found', `no SMS provider "${String(req.params.provider)}"`);
    if (!d.sms) throw new ProblemError(503, 'Not configured', 'SMS callbacks are not configured');
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    authenticateCallback(provider, d.sms.auth, req, raw);
    return { provider, raw };
  }

  /** A callback body the provider's format cannot read is a 400, counted, so a misconfigured gateway shows. */
  function readable<T>(provider: Provider, kind: 'status' | 'inbound', read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (err instanceof ProblemError && err.status === 400) d.metrics.smsCallbacksRejected.inc({ provider, kind });
      throw err;
    }
  }

  return [
    {
      method: 'post',
      path: '/v1/webhooks/sms/:provider/status',
      operationId: 'smsDeliveryReceipt',
      tag: 'webhooks',
      summary:
        'Delivery receipts from the SMS gateway (Twilio signed; Aliyun, Tencent and the local outbox with ?token=)',
      auth: 'provider-callback',
      responses: CALLBACK_RESPONSES,
      handler: async (req, res) => {
        const { provider, raw } = callback(req);
        const ledger = d.sms?.ledger;
        if (!ledger) throw new ProblemError(503, 'Not configured', 'no send ledger to record receipts in');
        const receipts = readable(provider, 'status', () => parseReceipts(provider, raw, req.headers['content-type']));
        await recordReceipts(d, loans, ledger, provider, receipts);
        const ack = acknowledgement(provider);
        res.type(ack.type).send(ack.body);
      },
    },
    {
      method: 'post',
      path: '/v1/webhooks/sms/:provider/inbound',
      operationId: 'smsReply',
      tag: 'webhooks',
      summary:
        'Borrowers’ replies from the SMS gateway: STOP, 退订, TD... opt out of their open loans; other text goes to operations',
      auth: 'provider-callback',
      responses: CALLBACK_RESPONSES,
      handler: async (req, res) => {
        const { provider, raw } = callback(req);
        const index = d.sms?.phoneIndex;
        if (!index) throw new ProblemError(503, 'Not configured', 'no phone index to find loans by');
        const replies = readable(provider, 'inbound', () =>
          parseReplies(provider, raw, req.headers['content-type'], (purpose, value) => index.keyedId(purpose, value)),
        );
        const matched = await deliverReplies(d, loans, index, replies);
        d.log.info({ provider, loansSignalled: matched }, 'SMS reply handled');
        const ack = acknowledgement(provider);
        res.type(ack.type).send(ack.body);
      },
    },
  ];
}
