// The send activity: claimed in the ledger before the provider is called, withdrawn if the loan
// asks in time, refused once the sending window has closed, recorded the moment the provider answers.
import { randomUUID } from 'node:crypto';
import { ActivityCancelledError } from '@temporalio/client';
import { ApplicationFailure, CompleteAsyncError, Context, log } from '@temporalio/activity';
import { Failure } from '../domain/failures';
import {
  GatewayConfigurationError,
  InvalidPhoneNumberError,
  type OutgoingSms,
  type SmsProvider,
  type SmsReceipt,
} from '../sms/provider';
import { deliveredEventOf } from '../store/events';
import type { SendLedger } from '../store/send-ledger';
import type { AppendEvents, CarriedEvents } from './carried-events';
import type { ActOnEarlyReceipts } from './early-receipts';

/** What the SMS activities are built from. */
export interface SmsActivityDeps {
  sms: SmsProvider;
  ledger: SendLedger | undefined;
  append: AppendEvents;
  actOnEarlyReceipts: ActOnEarlyReceipts;
}

export function sendSmsActivity({ sms, ledger, append, actOnEarlyReceipts }: SmsActivityDeps) {
  return async function sendSms({
    events: carried,
    ...message
  }: OutgoingSms & { events?: CarriedEvents }): Promise<SmsReceipt> {
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
    const recordSent = (receipt: SmsReceipt) => recordSentEvents(append, carried, attemptAt, receipt);
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
  };
}

/**
 * The events that waited for a send, and the send itself at `at` (when the attempt that sent it
 * was scheduled), in one write after the provider answered. If the send fails the workflow keeps
 * them for its next activity. Says whether they were stored.
 */
function recordSentEvents(
  append: AppendEvents,
  carried: CarriedEvents | undefined,
  at: number,
  receipt: SmsReceipt,
): Promise<boolean> {
  const sent = carried?.sent && { ...carried.sent, at: new Date(at).toISOString() };
  return append([
    ...(carried?.before ?? []),
    ...(sent ? (receipt.delivered ? [sent, deliveredEventOf(sent)] : [sent]) : []),
  ]);
}

/**
 * Asked by a loan that withdrew a send (paid, opted out, paused) and heard no answer from it: did
 * it go out after all? A worker that died with the send after the provider took it, before
 * recording that, leaves no attempt to answer: the server retries no attempt the loan has asked
 * to cancel. The ledger knows once the answer was recorded; before that only a provider that
 * knows messages by key can tell. When it went out, it is recorded as the send's own attempt
 * would have (the ledger, the events, receipts that came before it) and its receipt returned; when
 * it did not, or nobody can tell, null (the loan takes it as withdrawn; the second is logged).
 */
export function settleWithdrawnSmsActivity({ sms, ledger, append, actOnEarlyReceipts }: SmsActivityDeps) {
  return async function settleWithdrawnSms({
    events: carried,
    ...message
  }: OutgoingSms & { events?: CarriedEvents }): Promise<SmsReceipt | null> {
    const record = await ledger?.get(message.idempotencyKey);
    if (!ledger || !record) return null; // no worker ever took it this far
    let receipt: SmsReceipt | undefined;
    if (record.state === 'accepted') {
      receipt = { messageId: record.providerMessageId ?? '', sentAt: record.acceptedAt ?? '', duplicate: true };
      await actOnEarlyReceipts(message, receipt.messageId, await ledger.pendingReceipts(message.idempotencyKey));
    } else {
      if (!record.claimed) return null; // given back: it never reached the provider
      if (!sms.sentWith) {
        log.warn('A withdrawn send whose worker stopped answering: whether it went out cannot be told', {
          loanId: message.loanId,
          stage: message.stage,
          provider: sms.name,
        });
        return null;
      }
      receipt = await sms.sentWith(message.idempotencyKey);
      if (!receipt) return null;
      const early = await ledger.accept(message.idempotencyKey, receipt.messageId, receipt.sentAt);
      await actOnEarlyReceipts(message, receipt.messageId, early);
      log.info('A withdrawn send had gone out before its worker stopped; recorded as sent', {
        loanId: message.loanId,
        stage: message.stage,
        provider: sms.name,
        messageId: receipt.messageId,
      });
    }
    // When it went out, as the ledger or the provider says: not this later question's time.
    const sentAt =
      Date.parse(record.acceptedAt ?? receipt.sentAt) || Context.current().info.currentAttemptScheduledTimestampMs;
    const eventsRecorded = await recordSentEvents(append, carried, sentAt, receipt);
    return { ...receipt, eventsRecorded };
  };
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
