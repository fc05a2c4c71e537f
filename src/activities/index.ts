// Side effects the loan workflow asks for. Built from their dependencies so tests and the
// worker wire the same code to different providers.
import { log } from '@temporalio/activity';
import { handoverFiledEvent, outboundEventsOf } from '../domain/outbound-events';
import type { OperationsItem, OperationsQueue } from '../operations/queue';
import type { SmsProvider } from '../sms/provider';
import type { EventStore, LoanEvent } from '../store/events';
import type { SendLedger } from '../store/send-ledger';
import { eventAppender, type CarriedEvents } from './carried-events';
import { earlyReceiptsActor } from './early-receipts';
import { postWebhookActivity, webhookStarter, type OutboundWebhooks } from './outbound-webhooks';
import { sendSmsActivity, settleWithdrawnSmsActivity } from './send-sms';

export type { CarriedEvents } from './carried-events';
export { RECEIPTS_RETRY_MS } from './early-receipts';
export type { OutboundWebhooks } from './outbound-webhooks';

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
  /** Where the lender hears of its loans (README, Outbound events); without it nothing is sent. */
  webhooks?: OutboundWebhooks;
}

export function createActivities({ sms, operations, ledger, events, searchAttributes = true, webhooks }: ActivityDeps) {
  const startWebhooks = webhookStarter(webhooks);
  const append = eventAppender(events, webhooks ? startWebhooks : undefined);
  const actOnEarlyReceipts = earlyReceiptsActor({ sms, ledger, append });
  const smsDeps = { sms, ledger, append, actOnEarlyReceipts };
  return {
    /** Asked once by each loan (a local activity): whether it keeps its search attributes current. */
    searchAttributesPublished(): Promise<boolean> {
      return Promise.resolve(searchAttributes);
    },

    /** Appends the workflow's events; ids already stored are skipped, so a retry counts nothing twice. */
    async recordEvents(batch: LoanEvent[]): Promise<{ recorded: number }> {
      const recorded = events ? await events.append(batch) : 0;
      await startWebhooks(outboundEventsOf(batch));
      return { recorded };
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
      // A duplicate is this hand-over's retry, whose first attempt may have died before starting
      // its event: started again, under the same id, it goes once all the same.
      await startWebhooks([handoverFiledEvent({ ...item, filedAt })]);
      return { filedAt, eventsRecorded };
    },

    /** The delivery workflow's one activity: a signed POST of an outbound event. */
    postWebhook: postWebhookActivity(webhooks),
  };
}

export type Activities = ReturnType<typeof createActivities>;
