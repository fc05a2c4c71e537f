// What the lender's systems are told of their loans (README, Outbound events): pure, made from the
// loan's recorded events and its hand-overs. Each has an id of its own that the same fact always
// has, and a body made only of that fact, so every delivery of it (a retry, a second start) is the
// same message. Never a phone number, a name or anything a borrower wrote: the fields are picked
// one by one, never copied wholesale.
import type { LoanEvent } from './events';

export const OUTBOUND_EVENT_TYPES = [
  'handover.filed',
  'loan.paid',
  'loan.unresolved',
  'loan.closed',
  'borrower.opted_out',
  'message.failed',
] as const;
export type OutboundEventType = (typeof OUTBOUND_EVENT_TYPES)[number];

export type OutboundData = Record<string, string | number | boolean | null>;

/** The body of a delivery, and its id (the `webhook-id` header). */
export interface OutboundEvent {
  /** Stable: the same fact always has the same id, and receivers de-duplicate by it. */
  id: string;
  type: OutboundEventType;
  /** When the fact happened, ISO 8601 (not when it was delivered). */
  timestamp: string;
  data: OutboundData & { loanId: string };
}

/** A hand-over as operations filed it. */
export interface FiledHandover {
  loanId: string;
  kind: string;
  /** The item's idempotency key (`<loanId>:ops:<n>`): the event's id. */
  idempotencyKey: string;
  detail: Record<string, unknown>;
  filedAt: string;
}

/** A short machine-made code (a failure type), never free text. */
const CODE = /^[A-Za-z][\w.-]{0,63}$/;

export function handoverFiledEvent(h: FiledHandover): OutboundEvent {
  const { outstanding, currency, status } = h.detail;
  return {
    id: h.idempotencyKey,
    type: 'handover.filed',
    timestamp: h.filedAt,
    data: {
      loanId: h.loanId,
      kind: h.kind,
      filedAt: h.filedAt,
      ...(typeof outstanding === 'number' ? { outstanding } : {}),
      ...(typeof currency === 'string' && CODE.test(currency) ? { currency } : {}),
      ...(typeof status === 'string' && CODE.test(status) ? { status } : {}),
    },
  };
}

/**
 * The outbound events among a batch of the loan's events. Only those the loan itself made (id
 * `<loanId>:<n>`): a carrier's receipt is also told to the loan, which records the failure again
 * under its own id. A fact that can happen once per loan (paid, closed, opted out) has an id per
 * loan, so a repeated opt-out is the same event.
 */
export function outboundEventsOf(batch: readonly LoanEvent[] | undefined): OutboundEvent[] {
  const out: OutboundEvent[] = [];
  for (const e of batch ?? []) {
    const seq = loanSequence(e);
    if (seq === undefined) continue;
    const money = {
      ...(e.outstanding !== undefined ? { outstanding: e.outstanding } : {}),
      ...(e.currency !== undefined ? { currency: e.currency } : {}),
    };
    const base = { timestamp: e.at };
    if (e.kind === 'completed') {
      const status = typeof e.detail?.status === 'string' ? e.detail.status : 'closed';
      if (status === 'paid')
        out.push({ ...base, id: `${e.loanId}:loan.paid`, type: 'loan.paid', data: { loanId: e.loanId, ...money } });
      // The schedule ran out and the listening time passed without payment in full.
      if (status === 'unresolved')
        out.push({
          ...base,
          id: `${e.loanId}:loan.unresolved`,
          type: 'loan.unresolved',
          data: { loanId: e.loanId, ...money },
        });
      out.push({
        ...base,
        id: `${e.loanId}:loan.closed`,
        type: 'loan.closed',
        data: { loanId: e.loanId, status, ...money },
      });
    } else if (e.kind === 'answer' && e.detail?.kind === 'opt-out') {
      out.push({
        ...base,
        id: `${e.loanId}:borrower.opted_out`,
        type: 'borrower.opted_out',
        data: { loanId: e.loanId },
      });
    } else if (e.kind === 'message-failed') {
      const reason = e.detail?.reason;
      const permanent = e.detail?.permanent;
      out.push({
        ...base,
        id: `${e.loanId}:message.failed:${seq}`,
        type: 'message.failed',
        data: {
          loanId: e.loanId,
          ...(e.messageKey !== undefined ? { messageKey: e.messageKey } : {}),
          ...(e.stage !== undefined ? { stage: e.stage } : {}),
          ...(e.template !== undefined ? { template: e.template } : {}),
          ...(typeof reason === 'string' && CODE.test(reason) ? { reason } : {}),
          ...(typeof permanent === 'boolean' ? { permanent } : {}),
        },
      });
    }
  }
  return out;
}

/** The loan's own number for an event it made (`<loanId>:<n>`); undefined for any other. */
function loanSequence(e: LoanEvent): number | undefined {
  const prefix = `${e.loanId}:`;
  if (!e.eventId.startsWith(prefix)) return undefined;
  const rest = e.eventId.slice(prefix.length);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}
