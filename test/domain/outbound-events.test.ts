// The outbound events made from a loan's events and hand-overs: which facts become one, their
// stable ids, and nothing personal in their bodies.
import { describe, expect, it } from 'vitest';
import type { LoanEvent } from '../../src/domain/events';
import { handoverFiledEvent, outboundEventsOf } from '../../src/domain/outbound-events';

const at = '2026-12-03T10:00:00.000Z';
const ev = (seq: number, kind: LoanEvent['kind'], fields: Partial<LoanEvent> = {}): LoanEvent => ({
  eventId: `L-1:${seq}`,
  loanId: 'L-1',
  kind,
  at,
  policyId: 'default',
  currency: 'USD',
  ...fields,
});

describe('outbound events', () => {
  it('a paid loan is paid and closed, an unresolved one unresolved and closed, once per loan', () => {
    const out = outboundEventsOf([ev(9, 'completed', { outstanding: 0, detail: { status: 'paid' } })]);
    expect(out).toEqual([
      {
        id: 'L-1:loan.paid',
        type: 'loan.paid',
        timestamp: at,
        data: { loanId: 'L-1', outstanding: 0, currency: 'USD' },
      },
      {
        id: 'L-1:loan.closed',
        type: 'loan.closed',
        timestamp: at,
        data: { loanId: 'L-1', status: 'paid', outstanding: 0, currency: 'USD' },
      },
    ]);
    const unresolved = outboundEventsOf([ev(9, 'completed', { outstanding: 500, detail: { status: 'unresolved' } })]);
    expect(unresolved.map((e) => [e.id, e.type, e.data.status])).toEqual([
      ['L-1:loan.unresolved', 'loan.unresolved', undefined],
      ['L-1:loan.closed', 'loan.closed', 'unresolved'],
    ]);
  });

  it('an opt-out is one event per loan, however often the borrower says it; other answers are none', () => {
    const out = outboundEventsOf([
      ev(3, 'answer', { detail: { kind: 'opt-out', answerId: 'A-1' } }),
      ev(4, 'answer', { detail: { kind: 'hardship', answerId: 'A-2' } }),
      ev(5, 'answer', { detail: { kind: 'opt-out', answerId: 'A-3' } }),
    ]);
    expect(out.map((e) => e.id)).toEqual(['L-1:borrower.opted_out', 'L-1:borrower.opted_out']);
    expect(out[0].data).toEqual({ loanId: 'L-1' });
  });

  it('a failed message has the loan event’s number in its id; a carrier receipt is left to the loan', () => {
    const out = outboundEventsOf([
      ev(7, 'message-failed', {
        messageKey: 'L-1:due',
        stage: 'due',
        template: 'due',
        detail: { reason: 'InvalidPhoneNumber' },
      }),
      { ...ev(0, 'message-failed'), eventId: 'receipt:twilio:SM1:failed', detail: { permanent: true } },
    ]);
    expect(out).toEqual([
      {
        id: 'L-1:message.failed:7',
        type: 'message.failed',
        timestamp: at,
        data: { loanId: 'L-1', messageKey: 'L-1:due', stage: 'due', template: 'due', reason: 'InvalidPhoneNumber' },
      },
    ]);
  });

  it('other events are none, and a failure reason that is not a code is left out', () => {
    expect(outboundEventsOf([ev(1, 'loan-started'), ev(2, 'payment', { amount: 10 }), ev(3, 'message-sent')])).toEqual(
      [],
    );
    const [failed] = outboundEventsOf([ev(4, 'message-failed', { detail: { reason: 'call me on +12025550100' } })]);
    expect(failed.data).toEqual({ loanId: 'L-1' });
  });

  it('a hand-over keeps its idempotency key as id and only the clear facts of its detail', () => {
    const e = handoverFiledEvent({
      loanId: 'L-1',
      kind: 'hardship',
      idempotencyKey: 'L-1:ops:2',
      detail: { note: 'I lost my job, call Maria', outstanding: 700, currency: 'USD', status: 'paused' },
      filedAt: at,
    });
    expect(e).toEqual({
      id: 'L-1:ops:2',
      type: 'handover.filed',
      timestamp: at,
      data: { loanId: 'L-1', kind: 'hardship', filedAt: at, outstanding: 700, currency: 'USD', status: 'paused' },
    });
    expect(JSON.stringify(e)).not.toMatch(/Maria|job/);
  });
});
