import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { localInstantMs } from '../../src/domain/calendar';
import type { Hold } from '../../src/domain/holds';
import {
  promiseBroken,
  promiseDateRefusal,
  promiseEndsAt,
  promiseHolds,
  type PromisePolicy,
} from '../../src/domain/promise-to-pay';

/** 1,000 runs per property in `npm test`; PROPERTY_RUNS=50000 for a deeper search. */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1000);

const ZONES = ['Asia/Shanghai', 'America/New_York', 'Europe/London', 'Australia/Sydney', 'America/Sao_Paulo'];
const DEFAULTS: PromisePolicy = { sendTime: '10:00', promiseToPay: { grace: 'P1D', maxAhead: 'P30D' } };
const arbNow = fc.integer({ min: Date.parse('2001-01-01T00:00:00Z'), max: Date.parse('2059-12-01T00:00:00Z') });
const arbPolicy: fc.Arbitrary<PromisePolicy & { aheadDays: number }> = fc
  .record({
    sendTime: fc.constantFrom('08:00', '09:30', '10:00', '14:15', '19:45'),
    grace: fc.constantFrom('PT0S', 'PT6H', 'P1D', 'P3D'),
    aheadDays: fc.integer({ min: 1, max: 60 }),
  })
  .map(({ sendTime, grace, aheadDays }) => ({
    sendTime,
    promiseToPay: { grace, maxAhead: `P${aheadDays}D` },
    aheadDays,
  }));
const localDatePlus = (ms: number, zone: string, days: number) =>
  DateTime.fromMillis(ms, { zone }).plus({ days }).toISODate()!;
const promiseHold = (until: number): Hold => ({
  kind: 'promise-to-pay',
  since: '2020-01-01T00:00:00.000Z',
  until: new Date(until).toISOString(),
});

describe('promise to pay', () => {
  const now = Date.parse('2024-10-31T02:00:00Z'); // 10:00 in Shanghai, the day after the due date

  it('holds until the morning after the promised date (the send time plus a day of grace)', () => {
    expect(new Date(promiseEndsAt('2024-11-05', DEFAULTS, 'Asia/Shanghai')).toISOString()).toBe(
      '2024-11-06T02:00:00.000Z',
    );
  });

  it('refuses a date that is not real, in the past, or further ahead than the policy allows', () => {
    expect(promiseDateRefusal('2024-11-31', now, DEFAULTS, 'Asia/Shanghai')).toBe(
      'date must be a real date YYYY-MM-DD',
    );
    expect(promiseDateRefusal('2024-10-30', now, DEFAULTS, 'Asia/Shanghai')).toBe('date 2024-10-30 is in the past');
    expect(promiseDateRefusal('2024-10-31', now, DEFAULTS, 'Asia/Shanghai')).toBeUndefined();
    expect(promiseDateRefusal('2024-11-30', now, DEFAULTS, 'Asia/Shanghai')).toBeUndefined();
    expect(promiseDateRefusal('2024-12-01', now, DEFAULTS, 'Asia/Shanghai')).toBe(
      'date 2024-12-01 is further ahead than the policy allows (P30D)',
    );
  });

  it('accepts today up to the policy’s reach in the borrower’s calendar, refuses before and beyond (zones with DST)', () => {
    fc.assert(
      fc.property(
        arbNow,
        fc.constantFrom(...ZONES),
        arbPolicy,
        fc.integer({ min: -5, max: 70 }),
        (at, zone, policy, days) => {
          const refusal = promiseDateRefusal(localDatePlus(at, zone, days), at, policy, zone);
          // A day either side of the reach, where a clock change can move now + reach across midnight.
          if (days < 0) expect(refusal).toMatch(/is in the past$/);
          else if (days < policy.aheadDays) expect(refusal).toBeUndefined();
          else if (days > policy.aheadDays + 1) expect(refusal).toMatch(/further ahead than the policy allows/);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a later date holds longer, and no promise ends before the promised date’s send time', () => {
    fc.assert(
      fc.property(
        arbNow,
        fc.constantFrom(...ZONES),
        arbPolicy,
        fc.integer({ min: 0, max: 60 }),
        (at, zone, policy, days) => {
          const date = localDatePlus(at, zone, days);
          const end = promiseEndsAt(date, policy, zone);
          expect(end).toBeGreaterThanOrEqual(localInstantMs(date, policy.sendTime, zone));
          expect(promiseEndsAt(localDatePlus(at, zone, days + 1), policy, zone)).toBeGreaterThan(end);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('at any instant a promise either holds or is broken, and only a promise does either', () => {
    fc.assert(
      fc.property(arbNow, arbNow, (until, t) => {
        const hold = promiseHold(until);
        expect(promiseHolds(hold, t)).toBe(t < until);
        expect(promiseBroken(hold, t)).toBe(!promiseHolds(hold, t));
        for (const kind of ['dispute', 'hardship', 'review', 'wrong-number', 'undeliverable'] as const) {
          expect(promiseHolds({ ...hold, kind }, t)).toBe(false);
          expect(promiseBroken({ ...hold, kind }, t)).toBe(false);
        }
        expect(promiseHolds(null, t) || promiseBroken(null, t)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});
