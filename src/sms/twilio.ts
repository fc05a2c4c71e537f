// Twilio Programmable Messaging through the official `twilio` package. The SDK's base URL can be
// pointed elsewhere (TWILIO_BASE_URL), which the tests use to reach a local stand-in.
import twilio from 'twilio';
import {
  InvalidPhoneNumberError,
  TransientSendError,
  type OutgoingSms,
  type SmsProvider,
  type SmsReceipt,
} from './provider';

export interface TwilioConfig {
  accountSid: string;
  authToken: string;
  /** A sender number (E.164) or a Messaging Service SID (MG...). */
  from: string;
  baseUrl?: string;
  timeoutMs?: number;
}

/**
 * Twilio error codes that mean this number will not get the message however often we try:
 * invalid number, not a mobile number, the recipient replied STOP, unreachable, blocked by carrier.
 */
const PERMANENT = new Set([21211, 21214, 21217, 21219, 21408, 21610, 21612, 21614, 30003, 30004, 30005, 30006]);

export class TwilioProvider implements SmsProvider {
  readonly name = 'twilio';
  private readonly client: ReturnType<typeof twilio>;

  constructor(private readonly config: TwilioConfig) {
    this.client = twilio(config.accountSid, config.authToken, { timeout: config.timeoutMs ?? 10_000 });
    if (config.baseUrl) this.client.api.baseUrl = config.baseUrl;
  }

  async send(m: OutgoingSms): Promise<SmsReceipt> {
    const from = this.config.from.startsWith('MG')
      ? { messagingServiceSid: this.config.from }
      : { from: this.config.from };
    try {
      const message = await this.client.messages.create({ to: m.to, body: m.body, ...from });
      return { messageId: message.sid, sentAt: new Date().toISOString(), duplicate: false };
    } catch (err) {
      const e = err as { status?: number; code?: number; message?: string };
      if (e.code !== undefined && PERMANENT.has(e.code)) {
        throw new InvalidPhoneNumberError(`Twilio refused the number (code ${e.code})`);
      }
      throw new TransientSendError(`Twilio: ${e.status ?? 'no answer'} ${e.code ?? ''} ${e.message ?? ''}`.trim());
    }
  }
}
