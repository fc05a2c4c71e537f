// The loan's events on their way to the event store. They ride on the next activity the loan calls
// anyway (a send, a hand-over), are put back if it fails, and go on their own only when they should
// not wait. Ids come from the loan and a counter carried through continue-as-new, so a retried
// write never counts twice.
import { ActivityFailure, log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { iso } from '../domain/calendar';
import type { EventKind, LoanEvent } from '../domain/events';

// Bounded: a store that stays down must not hold the loan up; what failed goes again later.
// Limited by attempts, not by a schedule-to-close deadline, which would also expire while the
// worker is down or busy (and, on the time-skipping test server, during a skip).
const events = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 10 },
});

/**
 * Events that may wait for the loan's next activity (a send, a hand-over) rather than cost one of
 * their own (six history events): their instants are kept, only their arrival in the store waits.
 * Payments, failures and the end of a loan are recorded at once.
 */
const CAN_WAIT: ReadonlySet<EventKind> = new Set([
  'loan-started',
  'reminder-planned',
  'reminder-skipped',
  'answer',
  'paused',
  'resumed',
]);

export type EventFields = Omit<LoanEvent, 'eventId' | 'loanId' | 'kind' | 'at'>;

export class EventBuffer {
  private readonly pending: LoanEvent[] = [];

  constructor(
    private readonly loanId: string,
    private readonly policyId: string,
    /** The loan's currency as it stands when an event is made. */
    private readonly currency: () => string,
    /** False for loans started before the event store (they replay without recording). */
    private readonly recording: boolean,
    /** The last event's number, carried through continue-as-new. */
    public seq: number,
  ) {}

  /** A new event of this loan at the workflow's now, numbered next. */
  event(kind: EventKind, fields: EventFields = {}): LoanEvent {
    this.seq++;
    return {
      // From the loan and a counter carried through continue-as-new: a retried write has the same id.
      eventId: `${this.loanId}:${this.seq}`,
      loanId: this.loanId,
      kind,
      at: iso(Date.now()),
      policyId: this.policyId,
      currency: this.currency(),
      ...fields,
    };
  }

  /** Records an event with the next activity (or on its own, see flush). */
  record(kind: EventKind, fields?: EventFields): void {
    if (this.recording) this.pending.push(this.event(kind, fields));
  }

  /** Events made elsewhere (a send's, kept for the next activity). */
  push(...events: LoanEvent[]): void {
    this.pending.push(...events);
  }

  /** The events for the activity about to run; put back if it fails (ids make a second write harmless). */
  carry(): LoanEvent[] | undefined {
    return this.pending.length ? this.pending.splice(0) : undefined;
  }

  putBack(carried: LoanEvent[] | undefined): void {
    if (carried) this.pending.unshift(...carried);
  }

  /** Records what should not wait for the next send (all of it with `all`); a loan's start and its next reminder can. */
  async flush(all = false): Promise<void> {
    if (!this.pending.length || (!all && this.pending.every((e) => CAN_WAIT.has(e.kind)))) return;
    const batch = this.carry();
    try {
      await events.recordEvents(batch!);
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      // The analytics lose nothing and the loan goes on: the events ride on its next activity.
      log.warn('Events not recorded yet; they go with the next activity', { loanId: this.loanId });
      this.putBack(batch);
    }
  }
}
