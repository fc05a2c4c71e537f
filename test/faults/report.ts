// The fault suite's ledger: each fault test appends one row per injected fault; `npm run
// test:faults` prints them as one table when the suite ends (test/faults/print-report.ts).
import { appendFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface FaultRow {
  /** Which fault, as the README's Reliability section names it. */
  fault: string;
  /** What was done to the system, e.g. "kill -9 of the worker with 180 sends in flight". */
  injected: string;
  /** How many loans (or requests) the run carried. */
  scale: number;
  /** Promised outcomes that never happened (a reminder not sent, a payment not counted). */
  lost: number;
  /** Outcomes that happened more than once (an SMS sent twice, a payment counted twice). */
  duplicated: number;
  /** Rule breaks (a message in quiet hours, after opt-out, a 5xx, an invalid workflow input...). */
  violations: number;
  /** Anything a reader needs to judge the row (seconds down, counts checked). */
  detail?: string;
}

export const REPORT_PATH = process.env.FAULTS_REPORT ?? join(__dirname, '..', 'artifacts', 'faults.jsonl');

/** True when the suite runs in its quick form (CI): smaller counts, same checks. */
export const QUICK = process.env.FAULTS_QUICK === '1';

export function recordFault(row: FaultRow): void {
  mkdirSync(dirname(REPORT_PATH), { recursive: true });
  appendFileSync(REPORT_PATH, JSON.stringify({ ...row, at: new Date().toISOString() }) + '\n');
}

export function readFaultRows(path = REPORT_PATH): (FaultRow & { at: string })[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FaultRow & { at: string });
}
