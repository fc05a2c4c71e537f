// What every SMS gateway adapter offers the activities.
import { Failure } from '../domain/failures';

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
  /** For template gateways: which message this is, and the values that fill it. */
  template?: string;
  params?: Record<string, string>;
}

export interface SmsReceipt {
  messageId: string;
  sentAt: string;
  /** True when this key had already been sent and nothing new went out. */
  duplicate: boolean;
  /** The provider knows at once that the message arrived (the local outbox); others tell by receipt. */
  delivered?: boolean;
  /** Set by the sendSms activity: false when the events it carried could not be stored. */
  eventsRecorded?: boolean;
}

export interface SmsProvider {
  readonly name: string;
  send(message: OutgoingSms): Promise<SmsReceipt>;
  /**
   * What the provider answered for a key it has already taken, or undefined if it never took it.
   * Only a gateway that knows messages by our key can say (the local outbox); the others leave
   * this out. Asked when a send was withdrawn after a worker died with it: did it go out?
   */
  sentWith?(idempotencyKey: string): Promise<SmsReceipt | undefined>;
}

/** A number the provider will never deliver to (invalid, unreachable, blocked); retrying cannot help. */
export class InvalidPhoneNumberError extends Error {
  override readonly name = Failure.InvalidPhoneNumber;
}

/** A failure worth retrying later: the provider is down, slow or asks us to slow down. */
export class TransientSendError extends Error {
  override readonly name = Failure.TransientSend;
}

/**
 * The gateway is not configured to send this message (no approved template for it): retrying
 * cannot help until someone fixes the configuration, so the send fails at once.
 */
export class GatewayConfigurationError extends Error {
  override readonly name = Failure.GatewayMisconfigured;
}
