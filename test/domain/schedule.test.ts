import fc from 'fast-check';
import { DateTime, Duration } from 'luxon';
import { describe, expect, it } from 'vitest';
import { isInWindow, nextWindowOpening } from '../../src/domain/calendar';
import { parsePolicy, type Policy } from '../../src/domain/policy-schema';
import {
  cadenceRestart,
  decideNext,
  expandPolicy,
  forecast,
  overdueFromMs,
  placeSend,
  shiftPlan,
  type SentReminder,
  type SkippedPoint,
} from '../../src/domain/schedule';
import { DEFAULT_POLICY } from '../helpers/temporal';

const SHANGHAI = 'Asia/Shanghai';
/** 1,000 runs per property in `npm test`; PROPERTY_RUNS=50000 for a deeper search. */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1000);
const utc = (ms: number) => new Date(ms).toISOString();

describe('the default policy for the brief’s example loan (due 2024-10-30, Shanghai)', () => {
  const startedAt = Date.parse('2024-10-01T00:00:00Z');
  const plan = expandPolicy(DEFAULT_POLICY, { dueDate: '2024-10-30', timezone: SHANGHAI, startedAt });

  it('plans 10-23, 10-30 and 10-31 at 10:00, then weekly, then a final notice', () => {
    expect(plan.map((p) => [p.stage, utc(p.requestedAt)])).toEqual([
      ['pre-due', '2024-10-23T02:00:00.000Z'],
      ['due', '2024-10-30T02:00:00.000Z'],
      ['overdue', '2024-10-31T02:00:00.000Z'],
      ['overdue-weekly', '2024-11-07T02:00:00.000Z'],
      ['overdue-weekly', '2024-11-14T02:00:00.000Z'],
      ['overdue-weekly', '2024-11-21T02:00:00.000Z'],
      ['final-notice', '2024-11-28T02:00:00.000Z'],
    ]);
    expect(new Set(plan.map((p) => p.key)).size).toBe(plan.length);
  });

  it('forecasts every point at its planned time: the defaults never push each other', () => {
    expect(forecast(DEFAULT_POLICY, plan, startedAt, SHANGHAI).map((f) => f.at)).toEqual(
      plan.map((p) => p.requestedAt),
    );
  });
});

describe('decideNext', () => {
  const plan = expandPolicy(DEFAULT_POLICY, { dueDate: '2024-10-30', timezone: SHANGHAI, startedAt: 0 });
  const none = { done: new Set<string>(), sent: [] as SentReminder[] };

  it('waits for the first point', () => {
    const { next, skip } = decideNext(DEFAULT_POLICY, plan, none, Date.parse('2024-10-20T00:00:00Z'), SHANGHAI);
    expect(skip).toEqual([]);
    expect(next?.point.stage).toBe('pre-due');
    expect(utc(next!.at)).toBe('2024-10-23T02:00:00.000Z');
  });

  it('sends the latest missed point late (within 3 days) and skips the older ones', () => {
    const now = Date.parse('2024-11-01T05:00:00Z'); // 13:00 Shanghai, the day after the overdue point
    const { next, skip } = decideNext(DEFAULT_POLICY, plan, none, now, SHANGHAI);
    expect(skip.map((p) => p.stage)).toEqual(['pre-due', 'due']);
    expect(next?.point.stage).toBe('overdue');
    expect(next!.at).toBe(now);
    expect(next!.why).toContain('late: sent as soon as allowed');
  });

  it('skips a missed point older than maxLateness and waits for the next one', () => {
    const now = Date.parse('2024-11-04T05:00:00Z'); // 4 days after the overdue point
    const { next, skip } = decideNext(DEFAULT_POLICY, plan, none, now, SHANGHAI);
    expect(skip.map((p) => p.stage)).toEqual(['pre-due', 'due', 'overdue']);
    expect(next?.point.stage).toBe('overdue-weekly');
    expect(utc(next!.at)).toBe('2024-11-07T02:00:00.000Z');
  });

  it('moves a late send at night to the next morning', () => {
    const now = Date.parse('2024-10-31T14:00:00Z'); // 22:00 Shanghai
    const { next } = decideNext(DEFAULT_POLICY, plan, none, now, SHANGHAI);
    expect(utc(next!.at)).toBe('2024-11-01T00:00:00.000Z'); // 08:00
    expect(next!.why.at(-1)).toMatch(/outside 08:00-21:00: moved to 2024-11-01 08:00/);
  });

  it('holds to the overdue cap: one per 7 days once overdue', () => {
    const sent = [{ key: 'x', at: Date.parse('2024-11-02T02:00:00Z'), overdue: true }];
    const done = new Set(plan.slice(0, 3).map((p) => p.key));
    const { next } = decideNext(DEFAULT_POLICY, plan, { done, sent }, Date.parse('2024-11-03T00:00:00Z'), SHANGHAI);
    expect(next?.point.stage).toBe('overdue-weekly');
    expect(utc(next!.at)).toBe('2024-11-09T02:00:00.000Z'); // 7 days after the last overdue message
    expect(next!.why.join(' ')).toMatch(/cap of 1 per P7D while overdue/);
  });

  it('never sends before a pause ends', () => {
    const pausedUntil = Date.parse('2024-10-25T03:30:00Z');
    const { next } = decideNext(
      DEFAULT_POLICY,
      plan,
      { ...none, pausedUntil },
      Date.parse('2024-10-20T00:00:00Z'),
      SHANGHAI,
    );
    expect(next?.point.stage).toBe('pre-due');
    expect(next!.at).toBe(pausedUntil);
  });
});

describe('the loan’s state when a text goes out (due 2024-10-30, Shanghai)', () => {
  const plan = expandPolicy(DEFAULT_POLICY, { dueDate: '2024-10-30', timezone: SHANGHAI, startedAt: 0 });
  const overdueFrom = overdueFromMs('2024-10-30', SHANGHAI);
  const none = { done: new Set<string>(), sent: [] as SentReminder[], overdueFrom };

  it('a loan falls overdue at local midnight after its due date', () => {
    expect(utc(overdueFrom)).toBe('2024-10-30T16:00:00.000Z');
    // Kathmandu is +05:45: its midnight is not on a UTC quarter-hour grid of whole hours.
    expect(utc(overdueFromMs('2024-10-30', 'Asia/Kathmandu'))).toBe('2024-10-30T18:15:00.000Z');
  });

  it('never sends the due text once the due date has passed: a loan handed over that night gets the overdue one', () => {
    const now = Date.parse('2024-10-30T15:00:00Z'); // 23:00 on the due date: the window is shut
    const { next, skip } = decideNext(DEFAULT_POLICY, plan, none, now, SHANGHAI);
    expect(skip.map((p) => [p.stage, p.reason])).toEqual([
      ['pre-due', 'passed'],
      ['due', 'due-date-passed'],
    ]);
    expect(next?.point.stage).toBe('overdue');
    expect(utc(next!.at)).toBe('2024-10-31T02:00:00.000Z'); // 10:00 the next day, its own time
    // Without the due date known (the old rule), the due text went out at 08:00 the day after.
    const old = decideNext(DEFAULT_POLICY, plan, { ...none, overdueFrom: undefined }, now, SHANGHAI);
    expect([old.next?.point.stage, utc(old.next!.at)]).toEqual(['due', '2024-10-31T00:00:00.000Z']);
  });

  it('a loan handed over the morning after its due date gets one text that day, then weekly', () => {
    const now = Date.parse('2024-10-31T00:30:00Z'); // 08:30 the day after
    const skipped: SkippedPoint[] = [];
    const items = forecast(DEFAULT_POLICY, plan, now, SHANGHAI, overdueFrom, skipped);
    expect(skipped.map((p) => [p.stage, p.reason])).toEqual([
      ['pre-due', 'passed'],
      ['due', 'due-date-passed'],
    ]);
    expect(items.map((i) => [i.stage, utc(i.at)])).toEqual([
      ['overdue', '2024-10-31T02:00:00.000Z'],
      ['overdue-weekly', '2024-11-07T02:00:00.000Z'],
      ['overdue-weekly', '2024-11-14T02:00:00.000Z'],
      ['overdue-weekly', '2024-11-21T02:00:00.000Z'],
      ['final-notice', '2024-11-28T02:00:00.000Z'],
    ]);
  });

  it('an overdue cap counts every text sent while overdue, whatever its template, from when it went out', () => {
    // A due text that a provider outage held back until 08:30 the day after went out while overdue.
    const sent = [{ key: 'due', at: Date.parse('2024-10-31T00:30:00Z'), overdue: true }];
    const done = new Set(plan.slice(0, 2).map((p) => p.key));
    const { next } = decideNext(DEFAULT_POLICY, plan, { done, sent, overdueFrom }, sent[0].at, SHANGHAI);
    expect(next?.point.stage).toBe('overdue');
    expect(utc(next!.at)).toBe('2024-11-07T00:30:00.000Z'); // 7 days after it, not 2 hours
    expect(next!.why.join(' ')).toMatch(/cap of 1 per P7D while overdue/);
  });

  it('after a pause on an overdue loan the cadence restarts from its end: one text at once, then weekly', () => {
    // Overdue text sent 10-31; a dispute from 11-05 to 11-11 15:00 missed the weekly point of 11-07.
    const done = new Set(plan.slice(0, 3).map((p) => p.key));
    const sent = [{ key: plan[2].key, at: plan[2].requestedAt, overdue: true }];
    const resumedAt = Date.parse('2024-11-11T07:00:00Z');
    const shift = cadenceRestart(plan, done, resumedAt, overdueFrom)!;
    expect(shift).toEqual({ from: plan[3].requestedAt, by: resumedAt - plan[3].requestedAt });
    const shifted = shiftPlan(plan, [shift]);
    const items = forecast(DEFAULT_POLICY, shifted.slice(3), resumedAt, SHANGHAI, overdueFrom);
    expect(items.map((i) => [i.stage, utc(i.at)])).toEqual([
      ['overdue-weekly', '2024-11-11T07:00:00.000Z'],
      ['overdue-weekly', '2024-11-18T07:00:00.000Z'],
      ['overdue-weekly', '2024-11-25T07:00:00.000Z'],
      ['final-notice', '2024-12-02T07:00:00.000Z'],
    ]);
    const { next } = decideNext(DEFAULT_POLICY, shifted, { done, sent, overdueFrom }, resumedAt, SHANGHAI);
    expect(next?.point.key).toBe(plan[3].key); // the missed point, not stale: its key is kept
    // A hold over the due date, lifted the night after: the overdue text comes at the morning's
    // opening (08:00), not at its own 10:00, and the cadence counts on from it.
    const early = Date.parse('2024-10-30T22:58:00Z'); // 06:58 on 10-31
    const dueMissed = cadenceRestart(plan, new Set([plan[0].key]), early, overdueFrom)!;
    expect(dueMissed).toEqual({ from: plan[2].requestedAt, by: early - plan[2].requestedAt });
    const restarted = forecast(DEFAULT_POLICY, shiftPlan(plan, [dueMissed]).slice(1), early, SHANGHAI, overdueFrom);
    expect(restarted.map((i) => [i.stage, utc(i.at)]).slice(0, 2)).toEqual([
      ['overdue', '2024-10-31T00:00:00.000Z'],
      ['overdue-weekly', '2024-11-07T00:00:00.000Z'], // a week on, at the window's opening
    ]);
    // Nothing missed, or not yet overdue: nothing moves.
    expect(cadenceRestart(plan, done, Date.parse('2024-11-02T07:00:00Z'), overdueFrom)).toBeUndefined();
    expect(cadenceRestart(plan, new Set(), Date.parse('2024-10-30T07:00:00Z'), overdueFrom)).toBeUndefined();
  });
});

describe('the sending window', () => {
  it('opens at start, closes at end, and handles a spring-forward day', () => {
    const w = { start: '08:00', end: '21:00' };
    expect(utc(nextWindowOpening(Date.parse('2024-10-30T23:30:00Z'), w, SHANGHAI))).toBe('2024-10-31T00:00:00.000Z');
    expect(isInWindow(Date.parse('2024-10-30T12:59:59Z'), w, SHANGHAI)).toBe(true);
    expect(isInWindow(Date.parse('2024-10-30T13:00:00Z'), w, SHANGHAI)).toBe(false);
    // Berlin skips 02:00-03:00 on 2025-03-30: a window opening at 02:30 opens at 03:00, the first
    // moment after 02:30 that exists.
    const early = { start: '02:30', end: '21:00' };
    expect(utc(nextWindowOpening(Date.parse('2025-03-29T23:00:00Z'), early, 'Europe/Berlin'))).toBe(
      '2025-03-30T01:00:00.000Z',
    );
  });

  it('judges the window by the wall clock on a daylight-saving day (cases found by the property tests)', () => {
    // Sydney skips 02:00-03:00 on 2022-10-02: 03:00 is after a window closing at 02:02.
    const w = { start: '00:00', end: '02:02' };
    const threeAm = Date.parse('2022-10-01T16:00:00Z'); // 03:00 +11:00
    expect(isInWindow(threeAm, w, 'Australia/Sydney')).toBe(false);
    expect(utc(nextWindowOpening(threeAm, w, 'Australia/Sydney'))).toBe('2022-10-02T13:00:00.000Z'); // next day 00:00
    // Chatham skips 02:45-03:45 on 2033-09-25: a window opening at 02:46 opens at 03:45.
    const c = { start: '02:46', end: '03:47' };
    expect(utc(nextWindowOpening(Date.parse('2033-09-23T15:02:00Z'), c, 'Pacific/Chatham'))).toBe(
      '2033-09-24T14:00:00.000Z',
    );
  });
});

// ---- Properties over random policies, time zones and dates ----

const ZONES = [
  'Asia/Shanghai',
  'America/New_York',
  'America/Los_Angeles',
  'Europe/Berlin',
  'Europe/London',
  'Australia/Sydney',
  'Australia/Lord_Howe', // a 30-minute DST shift
  'America/Santiago',
  'Asia/Kolkata',
  'Pacific/Chatham',
  'America/St_Johns',
  'UTC',
];
const hm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

const arbPolicy: fc.Arbitrary<Policy> = fc
  .record({
    start: fc.integer({ min: 0, max: 12 * 60 }),
    length: fc.integer({ min: 60, max: 12 * 60 }),
    sendOffset: fc.nat(),
    offsets: fc.uniqueArray(fc.integer({ min: -30, max: 30 }), { minLength: 1, maxLength: 6 }),
    hours: fc.array(fc.integer({ min: -12, max: 12 }), { minLength: 6, maxLength: 6 }),
    repeat: fc.option(fc.record({ every: fc.integer({ min: 1, max: 14 }), maxCount: fc.integer({ min: 1, max: 5 }) })),
    caps: fc.array(
      fc.record({
        max: fc.integer({ min: 1, max: 3 }),
        perHours: fc.integer({ min: 1, max: 24 * 10 }),
        scope: fc.constantFrom('any' as const, 'overdue' as const),
      }),
      { maxLength: 3 },
    ),
  })
  .map((r) => {
    const end = Math.min(r.start + r.length, 24 * 60);
    return parsePolicy({
      id: 'random',
      sendTime: hm(r.start + (r.sendOffset % (end - r.start))),
      window: { start: hm(r.start), end: end === 1440 ? '24:00' : hm(end) },
      points: [...r.offsets]
        .sort((a, b) => a - b)
        .map((d, i) => ({
          stage: `p${i}`,
          offset: Duration.fromObject({ days: d, hours: r.hours[i] }).toISO(),
          template: d < 0 ? 'pre-due' : d === 0 ? 'due' : 'overdue',
        })),
      ...(r.repeat
        ? {
            overdueRepeat: {
              stage: 'rep',
              every: `P${r.repeat.every}D`,
              maxCount: r.repeat.maxCount,
              template: 'overdue-followup',
            },
          }
        : {}),
      caps: r.caps.map((c) => ({ max: c.max, per: `PT${c.perHours}H`, scope: c.scope })),
    });
  });

const arbDue = fc
  .date({ min: new Date('2001-01-01'), max: new Date('2059-12-31'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));

function localHm(ms: number, zone: string): string {
  return DateTime.fromMillis(ms, { zone }).toFormat('HH:mm');
}

function insideWindow(ms: number, p: Policy, zone: string): boolean {
  const t = localHm(ms, zone);
  return t >= p.window.start && (p.window.end === '24:00' || t < p.window.end);
}

function capsHold(p: Policy, sends: Array<{ at: number; overdue: boolean }>): boolean {
  return sends.every((s, i) =>
    p.caps.every((cap) => {
      if (cap.scope === 'overdue' && !s.overdue) return true;
      const per = Duration.fromISO(cap.per).as('milliseconds');
      const inWindow = sends.slice(0, i + 1).filter((o) => (cap.scope === 'any' || o.overdue) && o.at > s.at - per);
      return inWindow.length <= cap.max;
    }),
  );
}

describe('schedule properties (1,000 random policies, zones with DST, due dates)', () => {
  it('a forecast never sends outside the window, never breaks a cap, never before its point, in order', () => {
    fc.assert(
      fc.property(arbPolicy, fc.constantFrom(...ZONES), arbDue, (policy, zone, dueDate) => {
        const startedAt = DateTime.fromISO(dueDate, { zone }).minus({ days: 40 }).toMillis();
        const plan = expandPolicy(policy, { dueDate, timezone: zone, startedAt });
        const items = forecast(policy, plan, startedAt, zone);
        // Caps may push points so far that later ones go stale; but the first always goes, none twice.
        expect(items.length).toBeGreaterThanOrEqual(1);
        expect(new Set(items.map((it) => it.key)).size).toBe(items.length);
        for (const [i, item] of items.entries()) {
          expect(insideWindow(item.at, policy, zone)).toBe(true);
          expect(item.at).toBeGreaterThanOrEqual(item.requestedAt);
          if (i > 0) expect(item.at).toBeGreaterThanOrEqual(items[i - 1].at);
        }
        const overdue = new Map(plan.map((p) => [p.key, p.overdue]));
        expect(
          capsHold(
            policy,
            items.map((it) => ({ at: it.at, overdue: overdue.get(it.key)! })),
          ),
        ).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('with the due date known, no pre-due or due text goes out once overdue, and caps hold by the loan’s state at each send', () => {
    fc.assert(
      fc.property(
        arbPolicy,
        fc.constantFrom(...ZONES),
        arbDue,
        fc.integer({ min: -40 * 24 * 60, max: 5 * 24 * 60 }),
        (policy, zone, dueDate, startMin) => {
          const overdueFrom = overdueFromMs(dueDate, zone);
          const startedAt = overdueFrom + startMin * 60_000;
          const plan = expandPolicy(policy, { dueDate, timezone: zone, startedAt });
          const items = forecast(policy, plan, startedAt, zone, overdueFrom);
          const overdueTemplate = new Map(plan.map((p) => [p.key, p.overdue]));
          for (const item of items) {
            expect(insideWindow(item.at, policy, zone)).toBe(true);
            if (!overdueTemplate.get(item.key)) expect(item.at).toBeLessThan(overdueFrom);
          }
          expect(
            capsHold(
              policy,
              items.map((it) => ({ at: it.at, overdue: it.at >= overdueFrom })),
            ),
          ).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('placing one reminder after any history of sends: inside the window, caps kept, not before the point, the pause or now', () => {
    fc.assert(
      fc.property(
        arbPolicy,
        fc.constantFrom(...ZONES),
        arbDue,
        fc.array(fc.record({ agoMinutes: fc.integer({ min: 0, max: 20 * 24 * 60 }), overdue: fc.boolean() }), {
          maxLength: 8,
        }),
        fc.integer({ min: -20 * 24 * 60, max: 20 * 24 * 60 }),
        fc.option(fc.integer({ min: 0, max: 10 * 24 * 60 })),
        (policy, zone, dueDate, history, nowShiftMin, pauseMin) => {
          const plan = expandPolicy(policy, { dueDate, timezone: zone, startedAt: 0 });
          const point = plan[plan.length - 1];
          const now = point.requestedAt + nowShiftMin * 60_000;
          const sent = history.map((h, i) => ({ key: `h${i}`, at: now - h.agoMinutes * 60_000, overdue: h.overdue }));
          const pausedUntil = pauseMin === null ? undefined : now + pauseMin * 60_000;
          const placed = placeSend(policy, point, { sent, pausedUntil }, now, zone);
          expect(insideWindow(placed.at, policy, zone)).toBe(true);
          expect(placed.at).toBeGreaterThanOrEqual(Math.max(point.requestedAt, now, pausedUntil ?? 0));
          for (const cap of policy.caps) {
            if (cap.scope === 'overdue' && !point.overdue) continue;
            const per = Duration.fromISO(cap.per).as('milliseconds');
            const counted = sent.filter((s) => (cap.scope === 'any' || s.overdue) && s.at > placed.at - per);
            expect(counted.length).toBeLessThan(cap.max);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('the next window opening is the first instant at or after the given one inside the window', () => {
    fc.assert(
      fc.property(
        arbPolicy,
        fc.constantFrom(...ZONES),
        fc.date({ min: new Date('2001-01-01'), max: new Date('2059-12-31'), noInvalidDate: true }),
        (policy, zone, date) => {
          const t = date.getTime();
          const open = nextWindowOpening(t, policy.window, zone);
          expect(open).toBeGreaterThanOrEqual(t);
          expect(isInWindow(open, policy.window, zone)).toBe(true);
          if (isInWindow(t, policy.window, zone)) expect(open).toBe(t);
          // Nothing inside the window was passed over: one minute earlier is outside it, or before t.
          if (open > t) expect(isInWindow(open - 60_000, policy.window, zone) && open - 60_000 >= t).toBe(false);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
