// The loan's search attributes, kept current so operations can filter loans in the Web UI, and
// written only when they change (each write is a command in the loan's history).
import { upsertSearchAttributes } from '@temporalio/workflow';
import { localInstantMs } from '../domain/calendar';
import { isInstantMsInRange } from '../domain/limits';
import type { LoanStatus } from './messages';
import {
  DUE_DATE,
  LOAN_CURRENCY,
  LOAN_STAGE,
  LOAN_STATUS,
  NEXT_REMINDER_AT,
  OUTSTANDING_AMOUNT,
  PAUSE_REASON,
  POLICY_ID,
} from './search-attributes';

const dueDateAttr = (ms: number) => (isInstantMsInRange(ms) ? new Date(ms) : null);

/** Publishes the loan's attributes when they changed since the last call; nothing if `publishing` is off. */
export function searchAttributePublisher(publishing: boolean): (s: LoanStatus) => void {
  let lastAttrs = '';
  return (s) => {
    if (!publishing) return;
    const attrs = [
      { key: LOAN_STATUS, value: s.status },
      { key: LOAN_STAGE, value: s.stage },
      { key: OUTSTANDING_AMOUNT, value: s.outstanding },
      { key: LOAN_CURRENCY, value: s.currency },
      // A date the server cannot index (a year 0000 from a client that skipped the API's checks)
      // is left out rather than failing every workflow task of the loan.
      { key: DUE_DATE, value: dueDateAttr(localInstantMs(s.dueDate, '00:00', s.timezone)) },
      { key: NEXT_REMINDER_AT, value: s.nextReminder ? new Date(s.nextReminder.at) : null },
      { key: POLICY_ID, value: s.policyId },
      { key: PAUSE_REASON, value: s.pause?.kind ?? 'none' },
    ];
    const values = JSON.stringify(attrs.map((a) => a.value));
    if (values === lastAttrs) return;
    lastAttrs = values;
    upsertSearchAttributes(attrs);
  };
}
