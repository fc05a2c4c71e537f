// The effectiveness report as CSV: one row per group and a totals row, the same figures as the JSON.
import type { EffectivenessReport, Figures } from './effectiveness';

/** RFC 4180 quoting; a leading = + - @ is neutralised so a spreadsheet never runs a cell as a formula. */
export function cell(v: string | number | null): string {
  if (v === null) return '';
  let s = typeof v === 'number' ? String(Number.isInteger(v) ? v : Number(v.toFixed(6))) : v;
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function effectivenessCsv(report: EffectivenessReport): string {
  const rows = [...report.groups, report.totals];
  const currencies = [...new Set(rows.flatMap((r) => Object.keys(r.amountRecovered)))].sort();
  const columns: Array<[string, (f: Figures) => string | number | null]> = [
    [report.groupBy, (f) => f.group],
    ['messages_sent', (f) => f.messagesSent],
    ['messages_delivered', (f) => f.messagesDelivered],
    ['delivery_rate', (f) => f.deliveryRate],
    ['loans_messaged', (f) => f.loansMessaged],
    ...(['d1', 'd3', 'd7'] as const).flatMap((d): Array<[string, (f: Figures) => number | null]> => [
      [`paid_in_full_${d.slice(1)}d`, (f) => f.paidInFull[d]],
      [`paid_in_part_${d.slice(1)}d`, (f) => f.paidInPart[d]],
      [`repayment_rate_${d.slice(1)}d`, (f) => f.repaymentRate[d]],
    ]),
    ...currencies.map((c): [string, (f: Figures) => number] => [
      `amount_recovered_${c}_minor`,
      (f) => f.amountRecovered[c] ?? 0,
    ]),
    ['median_hours_to_pay', (f) => f.medianHoursToPay],
    ['opt_outs', (f) => f.optOuts],
    ['opt_out_rate', (f) => f.optOutRate],
    ['complaints', (f) => f.complaints],
    ['complaint_rate', (f) => f.complaintRate],
    ['ratings', (f) => f.ratings.count],
    ['avg_clarity', (f) => f.ratings.clarity],
    ['avg_tone', (f) => f.ratings.tone],
  ];
  const lines = [columns.map(([name]) => cell(name)).join(',')];
  for (const r of rows) lines.push(columns.map(([, get]) => cell(get(r))).join(','));
  const c = report.comparison;
  lines.push(
    '',
    [
      'comparison',
      'loans_a',
      'repaid_a',
      'loans_b',
      'repaid_b',
      'difference',
      'ci95_low',
      'ci95_high',
      'p_value',
      'enough_data',
      'verdict',
    ]
      .map(cell)
      .join(','),
    [
      c.measure,
      c.a.trials,
      c.a.successes,
      c.b.trials,
      c.b.successes,
      c.difference,
      c.ci95?.[0] ?? null,
      c.ci95?.[1] ?? null,
      c.pValue,
      String(c.enoughData),
      c.verdict,
    ]
      .map(cell)
      .join(','),
  );
  return lines.join('\r\n') + '\r\n';
}
