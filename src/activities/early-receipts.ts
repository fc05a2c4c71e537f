// Delivery receipts that reached the ledger before their send was recorded, acted on by the send.
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Failure } from '../domain/failures';
import { workflowIdForLoan } from '../domain/loan';
import type { OutgoingSms, SmsProvider } from '../sms/provider';
import { receiptEventOf } from '../store/events';
import type { DeliveryReceipt, SendLedger } from '../store/send-ledger';
import { deliveryFailedSignal } from '../workflows/messages';
import type { AppendEvents } from './carried-events';

/** How long a send's attempts keep trying to record receipts that came before it (see actOnEarlyReceipts). */
export const RECEIPTS_RETRY_MS = 10 * 60_000;

/**
 * What the receipts webhook would have done with receipts that came before their send was
 * recorded, done now: the facts to the event store, a failure to the loan. The ledger keeps them
 * until both are done. Should either fail (a store blip), this attempt fails too, after the
 * provider accepted: its retry sends nothing (the key is accepted) and finishes the job. A
 * longer outage must not hold the loan up, though: after RECEIPTS_RETRY_MS the attempt gives
 * up on them (they stay in the ledger, and the send's delivery status is recorded there).
 */
export function earlyReceiptsActor({
  sms,
  ledger,
  append,
}: {
  sms: SmsProvider;
  ledger: SendLedger | undefined;
  append: AppendEvents;
}) {
  return async (message: OutgoingSms, messageId: string, receipts: readonly DeliveryReceipt[]): Promise<void> => {
    if (!receipts.length || !ledger) return;
    const recorded = await append(receipts.map((r) => receiptEventOf(sms.name, messageId, message, r, r.receivedAt)));
    const told = await tellLoanOfFailures(message, receipts);
    if (recorded && told) return ledger.settleReceipts(message.idempotencyKey);
    const oldest = Math.min(...receipts.map((r) => Date.parse(r.receivedAt ?? '') || Date.now()));
    if (Date.now() - oldest < RECEIPTS_RETRY_MS)
      throw ApplicationFailure.create({
        message: 'the SMS was sent; receipts that came before it are not yet recorded, and its retry records them',
        type: Failure.ReceiptsPending,
        nextRetryDelay: 5_000,
      });
    log.error('Gave up recording receipts that came before their send', { loanId: message.loanId });
  };
}

export type ActOnEarlyReceipts = ReturnType<typeof earlyReceiptsActor>;

/**
 * Receipts that reached the ledger before the send was recorded: a failure is told to the loan, as
 * the webhook does. Says whether every one that needed telling was told (a loan that has ended
 * needs none). Without a server at hand (unit tests' mock environment) there is no loan to tell.
 */
async function tellLoanOfFailures(message: OutgoingSms, receipts: readonly DeliveryReceipt[]): Promise<boolean> {
  let client: Context['client'];
  try {
    client = Context.current().client;
  } catch {
    return true;
  }
  let told = true;
  for (const r of receipts) {
    log.info('Delivery receipt that came before its send was recorded', { loanId: message.loanId, status: r.status });
    if (r.status !== 'failed') continue;
    try {
      await client.workflow.getHandle(workflowIdForLoan(message.loanId)).signal(deliveryFailedSignal, {
        idempotencyKey: message.idempotencyKey,
        reason: r.error ?? 'failed',
        permanent: r.permanent,
      });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) continue;
      log.warn('Could not tell the loan of an early failure receipt', { loanId: message.loanId });
      told = false;
    }
  }
  return told;
}
