// Starts each fault-suite run with an empty ledger and prints the table when it ends.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { readFaultRows, REPORT_PATH, QUICK } from './report';

export function setup(): void {
  rmSync(REPORT_PATH, { force: true });
  // The compliance tests append the timelines of loans a rule was broken on, this run's only.
  rmSync(join(__dirname, '..', 'artifacts', 'compliance-timelines.jsonl'), { force: true });
}

export function teardown(): void {
  const rows = readFaultRows();
  console.log(`\nFault suite (${QUICK ? 'quick' : 'full'} form): ${rows.length} faults injected\n`);
  console.table(
    rows.map((r) => ({
      fault: r.fault,
      injected: r.injected,
      scale: r.scale,
      lost: r.lost,
      duplicated: r.duplicated,
      violations: r.violations,
      detail: r.detail ?? '',
    })),
  );
  console.log(`Rows also in ${REPORT_PATH}`);
}
