import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HOLD_RANK,
  liftHolds,
  NEW_NUMBER_HOLDS,
  OPERATIONS_HOLDS,
  PAUSE_KINDS,
  resumeLifts,
  resumeRefusal,
  stackHold,
  type Hold,
} from '../../src/domain/holds';

/** 1,000 runs per property in `npm test`; PROPERTY_RUNS=50000 for a deeper search. */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1000);

const arbHold: fc.Arbitrary<Hold> = fc.record(
  {
    kind: fc.constantFrom(...PAUSE_KINDS),
    since: fc
      .date({ min: new Date('2020-01-01'), max: new Date('2040-01-01'), noInvalidDate: true })
      .map((d) => d.toISOString()),
    until: fc
      .date({ min: new Date('2020-01-01'), max: new Date('2040-01-01'), noInvalidDate: true })
      .map((d) => d.toISOString()),
  },
  { requiredKeys: ['kind', 'since'] },
);
const arbKinds = fc.subarray([...PAUSE_KINDS]);
const stackAll = (holds: readonly Hold[]) => holds.reduce<Hold[]>((inForce, h) => stackHold(inForce, h), []);

describe('holds', () => {
  it('a dispute under a promise to pay outranks it; a promise under a dispute keeps its date', () => {
    const promise: Hold = { kind: 'promise-to-pay', since: '2024-11-01T00:00:00Z', until: '2024-11-10T02:00:00Z' };
    const dispute: Hold = { kind: 'dispute', since: '2024-11-02T00:00:00Z' };
    expect(stackHold([promise], dispute)).toEqual([dispute, promise]);
    expect(resumeLifts(dispute)).toEqual(OPERATIONS_HOLDS);
    expect(liftHolds([dispute, promise], resumeLifts(dispute))).toEqual({ lifted: [dispute], rest: [promise] });
    expect(resumeLifts(promise)).toEqual(['promise-to-pay']);
  });

  it('operations may not resume a loan waiting for a new number, nor one not held', () => {
    expect(resumeRefusal(null)).toBe('the loan is not paused');
    expect(resumeRefusal({ kind: 'wrong-number', since: '2024-11-01T00:00:00Z' })).toMatch(/new phone number/);
    expect(resumeRefusal({ kind: 'undeliverable', since: '2024-11-01T00:00:00Z' })).toMatch(/new phone number/);
    for (const kind of [...OPERATIONS_HOLDS, 'promise-to-pay'] as const) {
      expect(resumeRefusal({ kind, since: '2024-11-01T00:00:00Z' })).toBeUndefined();
    }
  });

  it('stacked in any order: strongest first, one hold per rank, the last of each rank, none of another rank lost', () => {
    fc.assert(
      fc.property(fc.array(arbHold, { maxLength: 12 }), (arriving) => {
        const inForce = stackAll(arriving);
        const ranks = inForce.map((h) => HOLD_RANK[h.kind]);
        expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
        expect(new Set(ranks).size).toBe(ranks.length);
        for (const rank of new Set(arriving.map((h) => HOLD_RANK[h.kind]))) {
          const last = arriving.filter((h) => HOLD_RANK[h.kind] === rank).at(-1);
          expect(inForce.filter((h) => HOLD_RANK[h.kind] === rank)).toEqual([last]);
        }
        if (arriving.length) {
          expect(HOLD_RANK[inForce[0].kind]).toBe(Math.min(...arriving.map((h) => HOLD_RANK[h.kind])));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a new hold never ends one of a different rank', () => {
    fc.assert(
      fc.property(fc.array(arbHold, { maxLength: 8 }), arbHold, (arriving, hold) => {
        const before = stackAll(arriving);
        const after = stackHold(before, hold);
        expect(after).toContainEqual(hold);
        for (const h of before) if (HOLD_RANK[h.kind] !== HOLD_RANK[hold.kind]) expect(after).toContainEqual(h);
      }),
      { numRuns: RUNS },
    );
  });

  it('lifting takes exactly the holds of the kinds lifted and keeps the rest in order', () => {
    fc.assert(
      fc.property(fc.array(arbHold, { maxLength: 8 }), arbKinds, (arriving, kinds) => {
        const inForce = stackAll(arriving);
        const { lifted, rest } = liftHolds(inForce, kinds);
        expect(lifted.every((h) => kinds.includes(h.kind))).toBe(true);
        expect(rest.some((h) => kinds.includes(h.kind))).toBe(false);
        expect(lifted.length + rest.length).toBe(inForce.length);
        expect(rest).toEqual(inForce.filter((h) => rest.includes(h)));
        expect(liftHolds(rest, kinds)).toEqual({ lifted: [], rest });
      }),
      { numRuns: RUNS },
    );
  });

  it('resume lifts the strongest hold when it may, and never a new number’s', () => {
    fc.assert(
      fc.property(fc.array(arbHold, { minLength: 1, maxLength: 8 }), (arriving) => {
        const inForce = stackAll(arriving);
        const strongest = inForce[0];
        const kinds = resumeLifts(strongest);
        expect(kinds.some((k) => NEW_NUMBER_HOLDS.includes(k))).toBe(false);
        if (resumeRefusal(strongest) === undefined) {
          expect(liftHolds(inForce, kinds).lifted).toContainEqual(strongest);
        } else {
          expect(NEW_NUMBER_HOLDS).toContain(strongest.kind);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
