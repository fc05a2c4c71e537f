// How holds on one loan stack and lift. A hold only operations may lift (a dispute, hardship, a
// reply to review) outranks one a new number lifts (wrong number, undeliverable), which outranks a
// promise to pay, which lifts itself on its date. A new hold never ends another of a different
// rank; lifting one uncovers the next, and the loan texts only when none is left.

export type PauseKind = 'dispute' | 'promise-to-pay' | 'hardship' | 'review' | 'wrong-number' | 'undeliverable';
export type Hold = { kind: PauseKind; since: string; until?: string };

export const PAUSE_KINDS: readonly PauseKind[] = [
  'dispute',
  'hardship',
  'review',
  'wrong-number',
  'undeliverable',
  'promise-to-pay',
];

/** Holds only operations lift (the resume update). */
export const OPERATIONS_HOLDS: readonly PauseKind[] = ['dispute', 'hardship', 'review'];
/** Holds a new phone number lifts. */
export const NEW_NUMBER_HOLDS: readonly PauseKind[] = ['wrong-number', 'undeliverable'];

/** Lower is stronger: the strongest hold in force is the one the loan shows. */
export const HOLD_RANK: Record<PauseKind, number> = {
  dispute: 0,
  hardship: 0,
  review: 0,
  'wrong-number': 1,
  undeliverable: 1,
  'promise-to-pay': 2,
};

/** The holds in force once `hold` arrives: it takes the place of the one of its rank; strongest first. */
export function stackHold(inForce: readonly Hold[], hold: Hold): Hold[] {
  return [...inForce.filter((h) => HOLD_RANK[h.kind] !== HOLD_RANK[hold.kind]), hold].sort(
    (a, b) => HOLD_RANK[a.kind] - HOLD_RANK[b.kind],
  );
}

/** Lifting the holds of these kinds: those lifted (as they were held) and those left (strongest first). */
export function liftHolds(holds: readonly Hold[], kinds: readonly PauseKind[]): { lifted: Hold[]; rest: Hold[] } {
  return { lifted: holds.filter((h) => kinds.includes(h.kind)), rest: holds.filter((h) => !kinds.includes(h.kind)) };
}

/**
 * What operations' resume lifts: a dispute, hardship or review when the strongest hold is one (a
 * promise to pay under it keeps its date); otherwise the promise itself.
 */
export function resumeLifts(strongest: Hold | null): readonly PauseKind[] {
  return strongest !== null && OPERATIONS_HOLDS.includes(strongest.kind) ? OPERATIONS_HOLDS : ['promise-to-pay'];
}

/** Why operations may not resume the loan now, or undefined when they may. */
export function resumeRefusal(strongest: Hold | null): string | undefined {
  if (!strongest) return 'the loan is not paused';
  if (NEW_NUMBER_HOLDS.includes(strongest.kind)) {
    return 'the loan waits for a new phone number: change the contact instead';
  }
  return undefined;
}
