// Side effects the loan workflow asks for. Built from their dependencies so tests and the
// worker wire the same code to different providers.
import { log } from '@temporalio/activity';
import type { OperationsItem, OperationsQueue } from '../operations/queue';
import type { SmsProvider } from '../sms/provider';
import type { EventStore, LoanEvent } from '../store/events';
import type { SendLedger } from '../store/send-ledger';
import { eventAppender, type CarriedEvents } from './carried-events';
import { earlyReceiptsActor } from './early-receipts';
import { sendSmsActivity, settleWithdrawnSmsActivity } from './send-sms';

export type { CarriedEvents } from './carried-events';
export { RECEIPTS_RETRY_MS } from './early-receipts';

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

export function createActivities({ sms, operations, ledger, events, searchAttributes = true }: ActivityDeps) {
  const append = eventAppender(events);
  const actOnEarlyReceipts = earlyReceiptsActor({ sms, ledger, append });
  const smsDeps = { sms, ledger, append, actOnEarlyReceipts };
  return {
    /** Asked once by each loan (a local activity): whether it keeps its search attributes current. */
    searchAttributesPublished(): Promise<boolean> {
      return Promise.resolve(searchAttributes);
    },

    /** Appends the workflow's events; ids already stored are skipped, so a retry counts nothing twice. */
    async recordEvents(batch: LoanEvent[]): Promise<{ recorded: number }> {
      return { recorded: events ? await events.append(batch) : 0 };
    },

    sendSms: sendSmsActivity(smsDeps),

    /** Whether a send its loan withdrew went out after all (its worker died with it): see send-sms.ts. */
    settleWithdrawnSms: settleWithdrawnSmsActivity(smsDeps),

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
