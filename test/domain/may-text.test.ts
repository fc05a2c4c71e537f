import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PAUSE_KINDS, type Hold } from '../../src/domain/holds';
import { mayRemind, mayThank, remindersBlocked, type TextingFacts } from '../../src/domain/may-text';

/** 1,000 runs per property in `npm test`; PROPERTY_RUNS=50000 for a deeper search. */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1000);

const arbInstant = fc.integer({ min: Date.parse('2020-01-01T00:00:00Z'), max: Date.parse('2040-01-01T00:00:00Z') });
const arbHold: fc.Arbitrary<Hold> = fc.record(
  {
    kind: fc.constantFrom(...PAUSE_KINDS),
    since: fc.constant('2020-01-01T00:00:00.000Z'),
    until: arbInstant.map((ms) => new Date(ms).toISOString()),
  },
  { requiredKeys: ['kind', 'since'] },
);
const arbFacts: fc.Arbitrary<TextingFacts> = fc.record({
  optedOut: fc.boolean(),
  numberBlocked: fc.boolean(),
  pause: fc.option(arbHold, { nil: null }),
});

describe('when the loan may text', () => {
  it('reminds a loan with no hold or a promise to pay only; thanks one whatever its holds', () => {
    const free: TextingFacts = { optedOut: false, numberBlocked: false, pause: null };
    expect(mayRemind(free)).toBe(true);
    expect(mayRemind({ ...free, pause: { kind: 'promise-to-pay', since: '2024-11-01T00:00:00Z' } })).toBe(true);
    expect(mayRemind({ ...free, pause: { kind: 'dispute', since: '2024-11-01T00:00:00Z' } })).toBe(false);
    const disputed: TextingFacts = { ...free, pause: { kind: 'dispute', since: '2024-11-01T00:00:00Z' } };
    expect(mayThank(disputed)).toBe(true);
    expect(mayRemind({ ...free, optedOut: true }) || mayThank({ ...free, optedOut: true })).toBe(false);
    expect(mayRemind({ ...free, numberBlocked: true }) || mayThank({ ...free, numberBlocked: true })).toBe(false);
  });

  it('never texts after an opt-out or a blocked number; a reminder never under any hold but a promise', () => {
    fc.assert(
      fc.property(arbFacts, (loan) => {
        if (mayRemind(loan)) expect(mayThank(loan)).toBe(true);
        if (loan.optedOut || loan.numberBlocked) expect(mayRemind(loan) || mayThank(loan)).toBe(false);
        if (loan.pause && loan.pause.kind !== 'promise-to-pay') expect(mayRemind(loan)).toBe(false);
        expect(mayThank(loan)).toBe(!loan.optedOut && !loan.numberBlocked);
      }),
      { numRuns: RUNS },
    );
  });

  it('a promise to pay blocks reminders until its end and no longer; other holds block them whatever their end', () => {
    fc.assert(
      fc.property(arbFacts, arbInstant, (loan, now) => {
        if (!mayRemind(loan)) expect(remindersBlocked(loan, now)).toBe(true);
        else if (loan.pause === null || loan.pause.until === undefined) expect(remindersBlocked(loan, now)).toBe(false);
        else expect(remindersBlocked(loan, now)).toBe(now < Date.parse(loan.pause.until));
        if (!remindersBlocked(loan, now)) expect(mayRemind(loan)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
