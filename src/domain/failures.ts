// The names of the failures the service raises and reacts to (an ApplicationFailure's `type`, an
// error's `name`), defined once so a misspelt name is a type error rather than a failure no one
// recognises. Pure: no I/O, so the workflow may import it too.

export const Failure = {
  /** The provider will never deliver to this number (invalid, unreachable, blocked): never retried. */
  InvalidPhoneNumber: 'InvalidPhoneNumber',
  /** The borrower's sending window closed before the provider accepted the message: never retried. */
  WindowClosed: 'WindowClosed',
  /** Another attempt holds the send's claim in the ledger: retried when that claim runs out. */
  SendInProgress: 'SendInProgress',
  /** The SMS went out, but receipts that came before it are not yet recorded: retried. */
  ReceiptsPending: 'ReceiptsPending',
  /** The provider is down, slow or asks us to slow down: retried. */
  TransientSend: 'TransientSendError',
  /**
   * The gateway is not configured for this message (no approved template for it): a fault of the
   * configuration that no retry can fix, so never retried.
   */
  GatewayMisconfigured: 'GatewayMisconfigured',
  /** A change to a loan that the loan refuses (a field the API reports it under): never retried. */
  ChangeRefused: 'ChangeRefused',
} as const;

export type FailureType = (typeof Failure)[keyof typeof Failure];
