// A delivery receipt from the SMS gateway: recorded in the send ledger (kept there if its send is
// not recorded yet), an event for the analytics, and a failed delivery told to its loan.
import { WorkflowNotFoundError } from '@temporalio/client';
import { receiptEventOf } from '../../store/events';
import type { SendLedger } from '../../store/send-ledger';
import { deliveryFailedSignal, type LoanWorkflows } from '../loan-workflow';
import type { RouteDeps } from '../route-spec';
import type { Provider, Receipt } from '../sms-webhooks';

export async function recordReceipts(
  d: Pick<RouteDeps, 'events' | 'metrics'>,
  loans: LoanWorkflows,
  ledger: SendLedger,
  provider: Provider,
  receipts: readonly Receipt[],
): Promise<void> {
  for (const r of receipts) {
    if (!r.providerMessageId || r.status === 'pending') continue;
    // Without its send yet (the worker has not recorded the provider's answer), the ledger
    // keeps it and applies it when the send is recorded.
    const send = await ledger.recordReceipt(provider, r.providerMessageId, {
      status: r.status,
      error: r.error,
      permanent: r.permanent,
    });
    if (!send) continue;
    await d.events?.append([
      receiptEventOf(provider, r.providerMessageId, send, { status: r.status, permanent: r.permanent }),
    ]);
    if (r.status !== 'failed') continue;
    await loans
      .handle(send.loanId)
      .signal(deliveryFailedSignal, {
        idempotencyKey: send.idempotencyKey,
        reason: r.error ?? 'failed',
        permanent: r.permanent,
      })
      .catch((err: unknown) => {
        if (!(err instanceof WorkflowNotFoundError)) throw err; // an ended loan has nothing left to stop
      });
    d.metrics.signals.inc({ kind: 'delivery-failed' });
  }
}
