// The statistics behind the variant comparison: a two-proportion z-test with a Wald interval.
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';

export interface ProportionComparison {
  /** Successes and trials of each arm. */
  a: { successes: number; trials: number; rate: number | null };
  b: { successes: number; trials: number; rate: number | null };
  /** rate(b) - rate(a); null when an arm has no trials. */
  difference: number | null;
  /** Two-sided 95% confidence interval of the difference (unpooled standard error), within [-1, 1]. */
  ci95: [number, number] | null;
  /** Two-sided p-value of "no difference" (pooled standard error). */
  pValue: number | null;
  /**
   * False when the normal approximation does not hold: fewer than 5 expected successes or
   * failures in an arm. The figures are then shown but say nothing.
   */
  enoughData: boolean;
}

/** Expected successes and failures per arm below this, and the z-test cannot tell. */
export const MIN_EXPECTED = 5;

export function compareProportions(
  a: { successes: number; trials: number },
  b: { successes: number; trials: number },
  confidence = 0.95,
): ProportionComparison {
  const rate = (x: { successes: number; trials: number }) => (x.trials > 0 ? x.successes / x.trials : null);
  const ra = rate(a);
  const rb = rate(b);
  const arms = { a: { ...a, rate: ra }, b: { ...b, rate: rb } };
  if (ra === null || rb === null) return { ...arms, difference: null, ci95: null, pValue: null, enoughData: false };
  const difference = rb - ra;
  const z = normalQuantile(1 - (1 - confidence) / 2, 0, 1);
  const se = Math.sqrt((ra * (1 - ra)) / a.trials + (rb * (1 - rb)) / b.trials);
  const pooled = (a.successes + b.successes) / (a.trials + b.trials);
  const sePooled = Math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials));
  // Everyone or no one succeeded in both arms: no evidence of any difference.
  const pValue = sePooled === 0 ? 1 : 2 * (1 - normalCdf(Math.abs(difference) / sePooled, 0, 1));
  const expected = [a.trials, b.trials].flatMap((n) => [n * pooled, n * (1 - pooled)]);
  return {
    ...arms,
    difference,
    // A difference of rates lies in [-1, 1]; the normal interval can overshoot on small samples.
    ci95: [Math.max(-1, difference - z * se), Math.min(1, difference + z * se)],
    pValue,
    enoughData: expected.every((e) => e >= MIN_EXPECTED),
  };
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const v = [...values].sort((x, y) => x - y);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
