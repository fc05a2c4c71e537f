// The lender's outbound events (README, Outbound events): started as a delivery workflow each,
// under the event's id, by the activity that records the fact; and posted, signed as Standard
// Webhooks, by the delivery's activity.
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { Webhook } from 'standardwebhooks';
import type { OutboundEvent } from '../domain/outbound-events';
import { DELIVER_WEBHOOK_WORKFLOW_TYPE, webhookWorkflowId } from '../workflows/webhooks';

export interface OutboundWebhooks {
  /** Where every event is POSTed. */
  url: string;
  /** `whsec_<base64>`, as Standard Webhooks gives it; receivers verify with the same. */
  secret: string;
  /** The loans' task queue, where the delivery workflows and their activity run. */
  taskQueue: string;
  /** How long one POST may take before it counts as failed (default 15 s). */
  timeoutMs?: number;
  /**
   * Tests only: the wait before the next try after a refused one, instead of the delivery's
   * backoff (5 s doubling to 10 minutes).
   */
  retryDelayMs?: number;
}

/** The failure type of a POST the receiver did not take: retried until the delivery gives up. */
export const WEBHOOK_REFUSED = 'WebhookRefused';

/**
 * Starts the delivery of each event, once per event id: a delivery already running or finished
 * under that id is left as it is (so a retried activity, or the same event carried again, sends
 * nothing twice). Throws if the server could not be reached; the caller's retry starts again.
 */
export function webhookStarter(webhooks: OutboundWebhooks | undefined, client?: () => Client) {
  return async (events: readonly OutboundEvent[]): Promise<void> => {
    if (!webhooks || !events.length) return;
    const c = client ? client() : Context.current().client;
    for (const event of events) {
      try {
        await c.workflow.start(DELIVER_WEBHOOK_WORKFLOW_TYPE, {
          taskQueue: webhooks.taskQueue,
          workflowId: webhookWorkflowId(event.id),
          args: [event],
          // Running: the same delivery. Finished (delivered or given up): not again.
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    }
  };
}

export type StartWebhooks = ReturnType<typeof webhookStarter>;

/** The delivery's activity: one signed POST of the event; anything but a 2xx is tried again. */
export function postWebhookActivity(webhooks: OutboundWebhooks | undefined) {
  const signer = webhooks ? new Webhook(webhooks.secret) : undefined;
  return async function postWebhook(event: OutboundEvent): Promise<{ status: number }> {
    if (!webhooks || !signer) {
      // Started while configured, then the URL was removed: nowhere to send it any more.
      log.warn('Outbound event not sent: OUTBOUND_WEBHOOK_URL is not set', { eventId: event.id });
      return { status: 0 };
    }
    const body = JSON.stringify(event);
    // Signed at each try: receivers refuse a timestamp more than a few minutes old.
    const sentAt = new Date();
    const headers = {
      'content-type': 'application/json',
      'webhook-id': event.id,
      'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
      'webhook-signature': signer.sign(event.id, sentAt, body),
    };
    let status: number;
    try {
      const res = await fetch(webhooks.url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(webhooks.timeoutMs ?? 15_000),
      });
      status = res.status;
      await res.body?.cancel();
    } catch (err) {
      throw refused(`could not reach the receiver: ${err instanceof Error ? err.message : String(err)}`, webhooks);
    }
    if (status < 200 || status > 299) throw refused(`the receiver answered ${status}`, webhooks);
    log.info('Outbound event delivered', { eventId: event.id, type: event.type, status });
    return { status };
  };
}

function refused(message: string, webhooks: OutboundWebhooks): ApplicationFailure {
  return ApplicationFailure.create({
    message,
    type: WEBHOOK_REFUSED,
    ...(webhooks.retryDelayMs !== undefined ? { nextRetryDelay: webhooks.retryDelayMs } : {}),
  });
}
