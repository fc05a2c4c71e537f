// The facts of a loan as the loan system states them, shared by the API, the workflow and tests.

export const SUPPORTED_LOCALES = ['zh-CN', 'en-US'] as const;
export type Locale = (typeof SUPPORTED_LOCALES)[number];

export interface Borrower {
  /** How the borrower is addressed, e.g. 张先生 or Ms Rivera (or a name that `honorific` completes). */
  name: string;
  /** Optional title joined to the name as the locale does: 张 + 先生, Ms + Rivera. */
  honorific?: string;
  /** E.164, e.g. +8613800138000 */
  phone: string;
  locale: Locale;
  /** IANA time zone of the borrower, e.g. Asia/Shanghai */
  timezone: string;
}

export interface Loan {
  loanId: string;
  borrower: Borrower;
  /** Amount due in minor units of `currency` (fen for CNY, cents for USD). */
  amountDue: number;
  /** ISO 4217 code. */
  currency: string;
  /** Due date in the borrower's own calendar, YYYY-MM-DD. */
  dueDate: string;
}

/** Who the reminders speak for; from configuration, the same for every loan of one deployment. */
export interface Lender {
  /** The lender's name per locale, as borrowers know it. */
  name: Record<Locale, string>;
  /** The number borrowers call with questions. */
  contactPhone: string;
}

export interface Payment {
  paymentId: string;
  /** Minor units of the loan's currency. */
  amount: number;
  /** ISO 8601 instant. */
  paidAt: string;
}

/**
 * Whether two reports with one payment id are the same payment (a webhook's retry): the same amount
 * at the same instant. Anything else under that id is a conflict a person must look at.
 */
export function samePayment(a: Payment, b: Payment): boolean {
  return a.paymentId === b.paymentId && a.amount === b.amount && Date.parse(a.paidAt) === Date.parse(b.paidAt);
}

/** A phone number in E.164 form: +, country code, subscriber number; 8 to 15 digits. */
export const E164 = /^\+[1-9]\d{6,14}$/;

export function isE164(phone: string): boolean {
  return E164.test(phone);
}

export function workflowIdForLoan(loanId: string): string {
  return `loan-${loanId}`;
}

/** Shows enough of a phone number for staff to recognise it, never the whole of it. */
export function maskPhone(phone: string): string {
  if (phone.length <= 4) return '****';
  return `${phone.slice(0, 3)}${'*'.repeat(Math.max(0, phone.length - 7))}${phone.slice(-4)}`;
}
