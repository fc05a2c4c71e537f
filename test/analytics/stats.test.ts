// The two-proportion test against figures worked out by hand.
import { describe, expect, it } from 'vitest';
import { compareProportions, median } from '../../src/analytics/stats';

describe('two-proportion test', () => {
  it('30 of 100 against 45 of 100: a real difference', () => {
    // Pooled p = 75/200 = 0.375; SE = sqrt(0.375 * 0.625 * (1/100 + 1/100)) = 0.068465; z = 0.15 / SE = 2.1909;
    // two-sided p = 2 * (1 - Φ(2.1909)) = 0.02846. Unpooled SE = sqrt(0.3*0.7/100 + 0.45*0.55/100) = 0.067639;
    // 95% CI = 0.15 ± 1.959964 * 0.067639 = [0.01743, 0.28257].
    const t = compareProportions({ successes: 30, trials: 100 }, { successes: 45, trials: 100 });
    expect(t.difference).toBeCloseTo(0.15, 12);
    expect(t.pValue).toBeCloseTo(0.02846, 4);
    expect(t.ci95![0]).toBeCloseTo(0.01743, 4);
    expect(t.ci95![1]).toBeCloseTo(0.28257, 4);
    expect(t.enoughData).toBe(true);
  });

  it('50 of 100 against 50 of 100: no difference at all', () => {
    const t = compareProportions({ successes: 50, trials: 100 }, { successes: 50, trials: 100 });
    expect(t.difference).toBe(0);
    expect(t.pValue).toBeCloseTo(1, 12);
  });

  it('says when the sample is too small, and keeps the interval within [-1, 1]', () => {
    // Pooled p = 3/6: expected successes per arm 1.5 < 5.
    const t = compareProportions({ successes: 2, trials: 3 }, { successes: 1, trials: 3 });
    expect(t.enoughData).toBe(false);
    expect(t.ci95![0]).toBeGreaterThanOrEqual(-1);
    expect(t.ci95![1]).toBeLessThanOrEqual(1);
  });

  it('everyone paid in both arms: p = 1; an empty arm: nothing to compare', () => {
    expect(compareProportions({ successes: 10, trials: 10 }, { successes: 20, trials: 20 }).pValue).toBe(1);
    const none = compareProportions({ successes: 0, trials: 0 }, { successes: 1, trials: 2 });
    expect([none.difference, none.pValue, none.ci95, none.enoughData]).toEqual([null, null, null, false]);
  });

  it('median of odd, even and empty lists', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([36, 6, 120, 12])).toBe(24);
    expect(median([])).toBeNull();
  });
});
