// What SMS gateways push back: delivery receipts and the borrowers' replies. Each provider's format
// and authentication: Twilio signs its callbacks (X-Twilio-Signature, checked with the official
// package); Aliyun and Tencent do not sign theirs, so their callback URLs carry a secret token
// (SMS_CALLBACK_TOKEN) compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import twilio from 'twilio';
import { ProblemError } from './problem';

export type Provider = 'twilio' | 'aliyun' | 'tencent';
export const PROVIDERS: readonly Provider[] = ['twilio', 'aliyun', 'tencent'];

export interface Receipt {
  providerMessageId: string;
  status: 'delivered' | 'failed' | 'pending';
  error?: string;
  /** The number will never receive texts (as opposed to a phone switched off for a while). */
  permanent: boolean;
}

export interface Reply {
  /** The sender as digits with country code, e.g. 8613800138000. */
  phone: string;
  text: string;
  /** The provider's id for the reply, when it gives one (for de-duplication). */
  id?: string;
}

export interface CallbackAuth {
  twilioAuthToken?: string;
  /** The URL the provider calls, as the provider sees it (Twilio signs the full URL). */
  publicBaseUrl?: string;
  callbackToken?: string;
}

/** Twilio delivery error codes that mean the number itself cannot get texts. */
const TWILIO_PERMANENT = new Set(['30003', '30004', '30005', '30006', '21610', '21614']);

function sameSecret(given: string | undefined, expected: string | undefined): boolean {
  if (!given || !expected) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Throws 401 unless the callback is authentic for its provider. */
export function authenticateCallback(
  provider: Provider,
  auth: CallbackAuth,
  req: { originalUrl: string; headers: Record<string, string | string[] | undefined>; query: Record<string, unknown> },
  raw: Buffer,
): void {
  if (provider === 'twilio') {
    const signature = req.headers['x-twilio-signature'];
    if (!auth.twilioAuthToken || !auth.publicBaseUrl)
      throw new ProblemError(401, 'Unauthorized', 'Twilio callbacks are not configured');
    const params = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
    const url = `${auth.publicBaseUrl.replace(/\/$/, '')}${req.originalUrl}`;
    if (typeof signature !== 'string' || !twilio.validateRequest(auth.twilioAuthToken, signature, url, params)) {
      throw new ProblemError(401, 'Unauthorized', 'X-Twilio-Signature does not match');
    }
    return;
  }
  if (!sameSecret(typeof req.query.token === 'string' ? req.query.token : undefined, auth.callbackToken)) {
    throw new ProblemError(401, 'Unauthorized', 'missing or wrong callback token');
  }
}

function json(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ProblemError(400, 'Malformed JSON', 'the callback body is not valid JSON');
  }
}

const asArray = (v: unknown): Array<Record<string, unknown>> =>
  (Array.isArray(v) ? v : [v]).filter((x): x is Record<string, unknown> => !!x && typeof x === 'object');
const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));

/** E.164 numbers keep their country code; Chinese gateways send mainland numbers without one. */
function digitsOf(phone: string, countryCode = ''): string {
  const d = phone.replace(/[^\d]/g, '');
  if (countryCode) return `${countryCode}${d}`;
  if (phone.trim().startsWith('+')) return d;
  return /^1\d{10}$/.test(d) ? `86${d}` : d;
}

export function parseReceipts(provider: Provider, raw: Buffer): Receipt[] {
  if (provider === 'twilio') {
    const p = new URLSearchParams(raw.toString('utf8'));
    const status = p.get('MessageStatus') ?? '';
    const error = p.get('ErrorCode') ?? undefined;
    return [
      {
        providerMessageId: p.get('MessageSid') ?? '',
        status:
          status === 'delivered' ? 'delivered' : status === 'undelivered' || status === 'failed' ? 'failed' : 'pending',
        error,
        permanent: error !== undefined && TWILIO_PERMANENT.has(error),
      },
    ];
  }
  if (provider === 'aliyun') {
    return asArray(json(raw)).map((r) => ({
      providerMessageId: str(r.biz_id),
      status: r.success === true || r.success === 'true' ? 'delivered' : 'failed',
      error: r.success === true || r.success === 'true' ? undefined : `${str(r.err_code)} ${str(r.err_msg)}`.trim(),
      // Aliyun's and Tencent's receipt codes come from the carriers and vary: a failure is recorded
      // and told to the loan, but does not by itself block the number.
      permanent: false,
    }));
  }
  return asArray(json(raw)).map((r) => ({
    providerMessageId: str(r.sid),
    status: str(r.report_status) === 'SUCCESS' ? 'delivered' : 'failed',
    error: str(r.report_status) === 'SUCCESS' ? undefined : `${str(r.errmsg)} ${str(r.description)}`.trim(),
    permanent: false,
  }));
}

export function parseReplies(provider: Provider, raw: Buffer): Reply[] {
  if (provider === 'twilio') {
    const p = new URLSearchParams(raw.toString('utf8'));
    return [{ phone: digitsOf(p.get('From') ?? ''), text: p.get('Body') ?? '', id: p.get('MessageSid') ?? undefined }];
  }
  if (provider === 'aliyun') {
    return asArray(json(raw)).map((r) => ({
      phone: digitsOf(str(r.phone_number)),
      text: str(r.content),
      id: str(r.sequence_id) || undefined,
    }));
  }
  return asArray(json(raw)).map((r) => ({
    phone: digitsOf(str(r.mobile), str(r.nationcode)),
    text: str(r.text),
    id: r.time !== undefined ? `${str(r.mobile)}-${str(r.time)}` : undefined,
  }));
}

/** What each provider expects back from a callback. */
export function acknowledgement(provider: Provider): { type: string; body: string } {
  if (provider === 'twilio')
    return { type: 'text/xml', body: '<?xml version="1.0" encoding="UTF-8"?><Response></Response>' };
  if (provider === 'aliyun') return { type: 'application/json', body: JSON.stringify({ code: 0, msg: '成功' }) };
  return { type: 'application/json', body: JSON.stringify({ result: 0, errmsg: 'OK' }) };
}
