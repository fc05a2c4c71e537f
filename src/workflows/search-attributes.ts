// Search attributes the loan workflow keeps current, so operations can filter loans in the Web UI
// (e.g. LoanStatus = "active" AND OutstandingAmount > 100000). No personal data goes here.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const LOAN_STATUS = defineSearchAttributeKey('LoanStatus', SearchAttributeType.KEYWORD);
export const LOAN_STAGE = defineSearchAttributeKey('LoanStage', SearchAttributeType.KEYWORD);
export const OUTSTANDING_AMOUNT = defineSearchAttributeKey('OutstandingAmount', SearchAttributeType.INT);
export const LOAN_CURRENCY = defineSearchAttributeKey('LoanCurrency', SearchAttributeType.KEYWORD);
export const DUE_DATE = defineSearchAttributeKey('DueDate', SearchAttributeType.DATETIME);
export const NEXT_REMINDER_AT = defineSearchAttributeKey('NextReminderAt', SearchAttributeType.DATETIME);
export const POLICY_ID = defineSearchAttributeKey('PolicyId', SearchAttributeType.KEYWORD);
export const PAUSE_REASON = defineSearchAttributeKey('PauseReason', SearchAttributeType.KEYWORD);

export const LOAN_SEARCH_ATTRIBUTES = [
  LOAN_STATUS,
  LOAN_STAGE,
  OUTSTANDING_AMOUNT,
  LOAN_CURRENCY,
  DUE_DATE,
  NEXT_REMINDER_AT,
  POLICY_ID,
  PAUSE_REASON,
] as const;
