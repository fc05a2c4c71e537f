// The loan's events, carried on the activities it calls anyway, and their recording.
import { log } from '@temporalio/activity';
import { outboundEventsOf } from '../domain/outbound-events';
import type { EventStore, LoanEvent } from '../store/events';
import type { StartWebhooks } from './outbound-webhooks';

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

/**
 * Records carried events without ever failing the activity that carries them: a store that is
 * down must not hold up an SMS or a hand-over. Starts the outbound events among them too (once per
 * event, however often they come). Says whether both were done, so the loan keeps those that were
 * not and sends them again with its next activity (ids make the second time harmless).
 */
export function eventAppender(events: EventStore | undefined, startWebhooks?: StartWebhooks) {
  return async (batch: readonly LoanEvent[] | undefined): Promise<boolean> => {
    if (!batch?.length) return true;
    let stored = true;
    if (events) {
      try {
        await events.append(batch);
      } catch (err) {
        stored = false;
        log.warn('Could not record the loan’s events; they go again with its next activity', {
          loanId: batch[0].loanId,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
    if (!startWebhooks) return stored;
    try {
      await startWebhooks(outboundEventsOf(batch));
      return stored;
    } catch (err) {
      log.warn('Could not start the loan’s outbound events; they go again with its next activity', {
        loanId: batch[0].loanId,
        error: err instanceof Error ? err.message : String(err),
      });
      return false;
    }
  };
}

export type AppendEvents = ReturnType<typeof eventAppender>;
