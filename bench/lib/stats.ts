// Percentiles and the shape of a benchmark's results.
export interface Spread {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles of the values (any order). */
export function spread(values: readonly number[]): Spread {
  const v = [...values].sort((a, b) => a - b);
  const at = (p: number) => v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))] ?? NaN;
  return { p50: at(50), p95: at(95), p99: at(99), max: v[v.length - 1] ?? NaN };
}

export function median(values: readonly number[]): number {
  return spread(values).p50;
}

/** One line of the benchmark's table: our figure, the baseline's, their ratio and the target. */
export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  ours: number;
  baseline?: number;
  /** ours / baseline. */
  ratio?: number;
  /** Which way is better for this metric (rates: higher; times, sizes: lower). */
  better: 'higher' | 'lower';
  target?: string;
  met?: boolean;
}

export interface ScenarioResult {
  scenario: string;
  rows: Row[];
  /** Everything else worth keeping in the JSON (counts, settings, spreads). */
  details: Record<string, unknown>;
}

export function row(r: Omit<Row, 'ratio'>): Row {
  const ratio = r.baseline ? r.ours / r.baseline : undefined;
  return {
    ...r,
    ours: round(r.ours),
    ...(r.baseline !== undefined ? { baseline: round(r.baseline) } : {}),
    ...(ratio !== undefined ? { ratio: round(ratio) } : {}),
  };
}

export const round = (x: number, digits = 3) => Number(x.toFixed(digits));
