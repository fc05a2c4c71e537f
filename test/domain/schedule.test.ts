import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { DEFAULT_WINDOW, planReminders, pointAction } from '../../src/domain/schedule';

describe('planReminders', () => {
  it("plans the brief's example loan a week before, on, and the day after its due date at 10:00 Shanghai time", () => {
    const plan = planReminders('2024-10-30', 'Asia/Shanghai');
    expect(plan.map((p) => [p.stage, p.localDate, p.at])).toEqual([
      ['pre-due', '2024-10-23', '2024-10-23T02:00:00.000Z'],
      ['due', '2024-10-30', '2024-10-30T02:00:00.000Z'],
      ['overdue', '2024-10-31', '2024-10-31T02:00:00.000Z'],
    ]);
    expect(plan.every((p) => p.latest.endsWith('T13:00:00.000Z'))).toBe(true); // 21:00 in Shanghai
  });

  it('keeps the local send time across a daylight-saving change', () => {
    // New York moves to summer time on 2025-03-09; a week before is still winter time.
    const plan = planReminders('2025-03-10', 'America/New_York', '09:30');
    expect(plan.map((p) => p.at)).toEqual([
      '2025-03-03T14:30:00.000Z',
      '2025-03-10T13:30:00.000Z',
      '2025-03-11T13:30:00.000Z',
    ]);
  });

  it('moves a send time skipped by the spring-forward gap later, never earlier', () => {
    const [, due] = planReminders('2025-03-30', 'Europe/Berlin', '02:30', { opens: '02:00', closes: '21:00' });
    expect(due.at).toBe('2025-03-30T01:30:00.000Z'); // 03:30 summer time, the first moment that exists
  });

  it('refuses a send time outside the sending window and a date that does not exist', () => {
    expect(() => planReminders('2024-10-30', 'Asia/Shanghai', '22:00')).toThrow(/outside the sending window/);
    expect(() => planReminders('2024-02-30', 'Asia/Shanghai')).toThrow(/invalid due date/);
    expect(() => planReminders('2024-10-30', 'Mars/Olympus')).toThrow(/time zone/);
  });

  it('for any time zone, date and send time in the window: points are in order, inside the window, at the local send time', () => {
    const zones = Intl.supportedValuesOf('timeZone');
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.date({ min: new Date('2000-01-01'), max: new Date('2060-12-31'), noInvalidDate: true }),
        fc.integer({ min: 8 * 60, max: 21 * 60 - 1 }),
        (zone, date, minutes) => {
          const sendTime = `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
          const dueDate = date.toISOString().slice(0, 10);
          const plan = planReminders(dueDate, zone, sendTime);
          const stamps = plan.map((p) => Date.parse(p.at));
          expect(stamps[0]).toBeLessThan(stamps[1]);
          expect(stamps[1]).toBeLessThan(stamps[2]);
          for (const p of plan) {
            const local = DateTime.fromISO(p.at, { zone });
            const hm = local.toFormat('HH:mm');
            expect(hm >= DEFAULT_WINDOW.opens && hm < DEFAULT_WINDOW.closes).toBe(true);
            expect(local.toISODate()).toBe(p.localDate);
            // Never earlier than the requested local time (a DST gap may only push it later).
            expect(hm >= sendTime).toBe(true);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('pointAction', () => {
  const [pre] = planReminders('2024-10-30', 'Asia/Shanghai');
  it('waits before the point, sends late on the same day while the window is open, skips after it closes', () => {
    expect(pointAction(pre, Date.parse('2024-10-23T01:59:59Z'))).toBe('wait');
    expect(pointAction(pre, Date.parse('2024-10-23T02:00:00Z'))).toBe('send');
    expect(pointAction(pre, Date.parse('2024-10-23T12:59:59Z'))).toBe('send');
    expect(pointAction(pre, Date.parse('2024-10-23T13:00:00Z'))).toBe('skip');
  });
});
