// Side effects the loan workflow asks for. Built from their dependencies so tests and the
// worker wire the same code to different providers.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, CompleteAsyncError, Context, log } from '@temporalio/activity';
import type { OperationsItem, OperationsQueue } from '../operations/queue';
import { ActivityCancelledError, WorkflowNotFoundError } from '@temporalio/client';
import { Failure } from '../domain/failures';
import { workflowIdForLoan } from '../domain/loan';
import { deliveredEventOf, receiptEventOf, type EventStore, type LoanEvent } from '../store/events';
import type { DeliveryReceipt, SendLedger } from '../store/send-ledger';
import { deliveryFailedSignal } from '../workflows/messages';
import {
  GatewayConfigurationError,
  InvalidPhoneNumberError,
  type OutgoingSms,
  type SmsProvider,
  type SmsReceipt,
} from '../sms/provider';

export interface ActivityDeps {
  sms: SmsProvider;
  operations: OperationsQueue;
  /** The durable record of sends; without one, only the provider's own de-duplication protects. */
  ledger?: SendLedger;
  /** Where the loans' events go for the analytics; without one they are dropped. */
  events?: EventStore;
  /**
   * Whether loans keep their search attributes current (default true): off for a Temporal server
   * that cannot register them (the time-skipping test server), by the worker's configuration.
   */
  searchAttributes?: boolean;
}

/**
 * The loan's events ride on the activities it calls anyway, so recording them costs its history
 * little: those that happened since the last call, and for an SMS the fact of its sending, which
 * only the activity knows for certain.
 */
export interface CarriedEvents {
  /** Recorded before anything else the activity does. */
  before?: LoanEvent[];
  /** An SMS's "sent" event, recorded once the provider has accepted it (its instant is then). */
  sent?: LoanEvent;
}

export function createActivities({ sms, operations, ledger, events, searchAttributes = true }: ActivityDeps) {
  /**
   * Records carried events without ever failing the activity that carries them: a store that is
   * down must not hold up an SMS or a hand-over. Says whether they were stored, so the loan keeps
   * those that were not and sends them again with its next activity.
   */
  const append = async (batch: readonly LoanEvent[] | undefined): Promise<boolean> => {
    if (!events || !batch?.length) return true;
    try {
      await events.append(batch);
      return true;
    } catch (err) {
      log.warn('Could not record the loan’s events; they go again with its next activity', {
        loanId: batch[0].loanId,
        error: err instanceof Error ? err.message : String(err),
      });
      return false;
    }
  };
  /**
   * What the receipts webhook would have done with receipts that came before their send was
   * recorded, done now: the facts to the event store, a failure to the loan. The ledger keeps them
   * until both are done. Should either fail (a store blip), this attempt fails too, after the
   * provider accepted: its retry sends nothing (the key is accepted) and finishes the job. A
   * longer outage must not hold the loan up, though: after RECEIPTS_RETRY_MS the attempt gives
   * up on them (they stay in the ledger, and the send's delivery status is recorded there).
   */
  const actOnEarlyReceipts = async (
    message: OutgoingSms,
    messageId: string,
    receipts: readonly DeliveryReceipt[],
  ): Promise<void> => {
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
  return {
    /** Asked once by each loan (a local activity): whether it keeps its search attributes current. */
    searchAttributesPublished(): Promise<boolean> {
      return Promise.resolve(searchAttributes);
    },

    /** Appends the workflow's events; ids already stored are skipped, so a retry counts nothing twice. */
    async recordEvents(batch: LoanEvent[]): Promise<{ recorded: number }> {
      return { recorded: events ? await events.append(batch) : 0 };
    },

    async sendSms({ events: carried, ...message }: OutgoingSms & { events?: CarriedEvents }): Promise<SmsReceipt> {
      // Retries can run for hours through a provider outage; none may send after the window has
      // closed. The attempt's scheduled time is the server's clock, the same the workflow plans by.
      const attemptAt = Context.current().info.currentAttemptScheduledTimestampMs;
      // But an attempt can wait long after it was scheduled: in the rate-limited SMS queue's
      // backlog, or for a worker that is down. Refuse by this moment's clock too, or a send
      // scheduled at 20:59 and picked up at 21:05 would go out at night. (On the time-skipping test
      // server the worker's clock lags the server's, so the scheduled time still decides there.)
      const nowMs = Math.max(attemptAt, Date.now());
      // Unless an earlier attempt got the message accepted and died before saying so: that one is
      // reported as sent, however late its retry runs.
      if (message.notAfter && nowMs >= Date.parse(message.notAfter)) {
        if ((await ledger?.get(message.idempotencyKey))?.state !== 'accepted')
          throw ApplicationFailure.nonRetryable(
            'the sending window closed before the provider accepted the message',
            Failure.WindowClosed,
          );
      }
      // The events that waited for this send, and the send itself, in one write after the provider
      // answers. If the send fails the workflow keeps them for its next activity.
      const recordSent = async (receipt: SmsReceipt): Promise<boolean> => {
        const sent = carried?.sent && { ...carried.sent, at: new Date(attemptAt).toISOString() };
        return append([
          ...(carried?.before ?? []),
          ...(sent ? (receipt.delivered ? [sent, deliveredEventOf(sent)] : [sent]) : []),
        ]);
      };
      // The claim: this attempt's alone until it may no longer run (its start-to-close time), by
      // the same clock as the attempt's schedule. Any other attempt of this key anywhere, a zombie
      // of a timed-out one among them, finds it held and waits, or finds it accepted and stops.
      const { startToCloseTimeoutMs } = Context.current().info;
      const owner = randomUUID();
      const claim = await ledger?.claim({
        idempotencyKey: message.idempotencyKey,
        loanId: message.loanId,
        stage: message.stage,
        provider: sms.name,
        owner,
        until: nowMs + startToCloseTimeoutMs,
      });
      if (claim?.outcome === 'accepted') {
        log.info('SMS already accepted by the provider; not sent again', {
          loanId: message.loanId,
          stage: message.stage,
        });
        const prior = claim.record;
        const receipt = { messageId: prior.providerMessageId ?? '', sentAt: prior.acceptedAt ?? '', duplicate: true };
        const eventsRecorded = await recordSent(receipt);
        await actOnEarlyReceipts(message, receipt.messageId, await ledger!.pendingReceipts(message.idempotencyKey));
        return { ...receipt, eventsRecorded };
      }
      if (claim?.outcome === 'held') {
        throw ApplicationFailure.create({
          message: 'another attempt is sending this message; retried when its claim runs out',
          type: Failure.SendInProgress,
          nextRetryDelay: Math.max(1_000, claim.until - nowMs),
        });
      }
      // Given back when this attempt fails before the provider accepted, so its retry need not wait.
      const release = () => ledger?.release(message.idempotencyKey, owner).catch(() => undefined);
      // Last moment before the borrower's phone: has the loan withdrawn this send (paid, opted
      // out, paused) since a worker took it? Asked of the server, whose answer is exact: a loan
      // that recorded its payment before this line sends nothing.
      let receipt: SmsReceipt;
      try {
        if (await withdrawnByLoan()) {
          log.info('SMS withdrawn by its loan before the provider was called', {
            loanId: message.loanId,
            stage: message.stage,
          });
          await release();
          await Context.current().client.activity.reportCancellation(Context.current().info.taskToken);
          throw new CompleteAsyncError(); // answered above
        }
        receipt = await sms.send(message);
      } catch (err) {
        if (err instanceof CompleteAsyncError) throw err;
        await release();
        if (err instanceof InvalidPhoneNumberError) throw ApplicationFailure.nonRetryable(err.message, err.name);
        if (err instanceof GatewayConfigurationError) {
          // A fault of the configuration, not of the moment: no retry can fix it before the window
          // closes, so the send fails now, said once and loudly, and the loan records it as failed.
          log.error('SMS gateway is not configured for this message; not retried', {
            loanId: message.loanId,
            stage: message.stage,
            provider: sms.name,
            error: err.message,
          });
          throw ApplicationFailure.nonRetryable(err.message, err.name);
        }
        throw err;
      }
      // Recorded the moment the provider answers: the only window left for a duplicate is a crash
      // between the provider's answer and this line (see README, "Exactly once"). Should this write
      // fail, the claim is kept, not given back: a retry waits for it to run out.
      const early = (await ledger?.accept(message.idempotencyKey, receipt.messageId, receipt.sentAt)) ?? [];
      const eventsRecorded = await recordSent(receipt);
      await actOnEarlyReceipts(message, receipt.messageId, early);
      log.info(receipt.duplicate ? 'SMS already sent; not sent again' : 'SMS sent', {
        loanId: message.loanId,
        stage: message.stage,
        provider: sms.name,
        messageId: receipt.messageId,
      });
      return { ...receipt, eventsRecorded };
    },

    async notifyOperations({
      events: carried,
      ...item
    }: OperationsItem & { events?: CarriedEvents }): Promise<{ filedAt: string; eventsRecorded: boolean }> {
      const eventsRecorded = await append(carried?.before);
      const { filedAt, duplicate } = await operations.file(item);
      if (!duplicate) log.info('Handed to operations', { loanId: item.loanId, kind: item.kind });
      return { filedAt, eventsRecorded };
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** How long a send's attempts keep trying to record receipts that came before it (see actOnEarlyReceipts). */
export const RECEIPTS_RETRY_MS = 10 * 60_000;

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

/**
 * Whether the workflow has asked to cancel the running activity: the server's answer to a
 * heartbeat sent now (the worker's own heartbeats are throttled, and their answer arrives later).
 * Without a server at hand (unit tests' mock environment) only what the worker has heard counts.
 */
async function withdrawnByLoan(): Promise<boolean> {
  const ctx = Context.current();
  let client: Context['client'];
  try {
    client = ctx.client;
  } catch {
    return ctx.cancellationSignal.aborted;
  }
  try {
    await client.activity.heartbeat(ctx.info.taskToken);
    return false;
  } catch (err) {
    if (err instanceof ActivityCancelledError) return true;
    throw err; // not sure: this attempt fails and the next one asks again
  }
}
