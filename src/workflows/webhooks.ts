// One outbound event on its way to the lender's systems (README, Outbound events): a workflow of
// its own per event, started under the event's id, so a second start of the same event is
// refused and the event goes once, whatever retried the start.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { OutboundEvent } from '../domain/outbound-events';

/** The workflow type, by which activities start a delivery without loading this body. */
export const DELIVER_WEBHOOK_WORKFLOW_TYPE = 'deliverWebhook';

/** The delivery's workflow id: one per event. */
export function webhookWorkflowId(eventId: string): string {
  return `webhook:${eventId}`;
}

// A receiver that is down is retried for about three days, at most ten minutes apart; each try is
// signed afresh (the signature covers its own timestamp) with the same id and body.
const { postWebhook } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '3 days',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

export async function deliverWebhook(event: OutboundEvent): Promise<void> {
  await postWebhook(event);
}
