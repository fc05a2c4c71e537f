// What every SMS gateway adapter offers the activities.

export interface OutgoingSms {
  /** E.164 number of the borrower. */
  to: string;
  body: string;
  loanId: string;
  stage: string;
  /** The same reminder always carries the same key; a provider must not send a key twice. */
  idempotencyKey: string;
  /** The instant the reminder was planned for, ISO 8601. */
  scheduledFor: string;
  /** No attempt may send after this instant (the borrower's sending window closes); ISO 8601. */
  notAfter?: string;
}

export interface SmsReceipt {
  messageId: string;
  sentAt: string;
  /** True when this key had already been sent and nothing new went out. */
  duplicate: boolean;
}

export interface SmsProvider {
  readonly name: string;
  send(message: OutgoingSms): Promise<SmsReceipt>;
}

/** A number the provider will never deliver to; retrying cannot help. */
export class InvalidPhoneNumberError extends Error {
  override readonly name = 'InvalidPhoneNumber';
}
