// Loans for the benchmarks and a way to start many at a fixed concurrency.
import { DateTime } from 'luxon';
import type { Client } from '@temporalio/client';
import { parsePolicy, type Policy } from '../../src/domain/policy-schema';
import { workflowIdForLoan } from '../../src/domain/loan';
import type { LoanReminderInput } from '../../src/workflows/messages';
import { loanReminder } from '../../src/workflows/loan-reminder';
import { DEFAULT_POLICY, TEST_LENDER } from '../../test/helpers/temporal';

export { DEFAULT_POLICY, TEST_LENDER };

/** What the loan system posts for one loan (the API's body without policyId: the default policy). */
export function loanBody(loanId: string, dueDate: string) {
  return {
    loanId,
    borrower: { name: 'Rivera', phone: '+12025550100', locale: 'en-US' as const, timezone: 'UTC' },
    amountDue: 125_000,
    currency: 'USD',
    dueDate,
  };
}

/** A UTC calendar date some days from now. */
export function dateIn(days: number): string {
  return DateTime.utc().plus({ days }).toISODate()!;
}

/**
 * The default policy with one reminder, on the due date at the given UTC minute, any hour, no
 * caps; after it the loan stays open (as a loan between two reminders does) instead of ending.
 */
export function oneInstantPolicy(sendTime: string): Policy {
  return parsePolicy({
    ...DEFAULT_POLICY,
    id: 'bench-one-instant',
    sendTime,
    window: { start: '00:00', end: '24:00' },
    points: [{ stage: 'due', offset: 'P0D', template: 'due' }],
    overdueRepeat: undefined,
    finalNotice: undefined,
    caps: [],
    thankYou: false,
    afterLastPoint: { handOver: false, listenFor: 'P30D' },
  });
}

/** The next whole UTC minute at least `leadMs` ahead: the instant a fan-out falls due. */
export function nextMinuteAfter(leadMs: number): DateTime {
  return DateTime.utc()
    .plus({ milliseconds: leadMs + 60_000 })
    .startOf('minute');
}

/** Starts one loan straight through the SDK, as the API would (same id, same input shape). */
export function startRaw(
  client: Client,
  taskQueue: string,
  loanId: string,
  dueDate: string,
  policy: Policy = DEFAULT_POLICY,
) {
  const input: LoanReminderInput = { loan: loanBody(loanId, dueDate), lender: TEST_LENDER, policy };
  return client.workflow.start(loanReminder, {
    workflowId: workflowIdForLoan(loanId),
    taskQueue,
    args: [input],
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
  });
}

/** Runs `task(i)` for i in [0, n) with `concurrency` at a time; returns the seconds it took. */
export async function runConcurrently(
  n: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
): Promise<number> {
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < n; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return (performance.now() - started) / 1000;
}
