// What SMS gateways push back: delivery receipts and the borrowers' replies. Each provider's format
// and authentication: Twilio signs its callbacks (X-Twilio-Signature, checked with the official
// package); Aliyun and Tencent do not sign theirs, so their callback URLs carry a secret token
// (SMS_CALLBACK_TOKEN) compared in constant time. The local outbox has callbacks of its own, in the
// same places and with the same token, so a rehearsal (`npm run cluster`, the fault suite) can post
// the receipts and replies a gateway would.
import { createHash, timingSafeEqual } from 'node:crypto';
import twilio from 'twilio';
import { z } from 'zod';
import { ProblemError } from './problem';

export type Provider = 'twilio' | 'aliyun' | 'tencent' | 'outbox';
export const PROVIDERS: readonly Provider[] = ['twilio', 'aliyun', 'tencent', 'outbox'];

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
  /**
   * From the provider's id for the reply, when it gives one (for de-duplication): a keyed digest
   * of it, never the id itself, which may carry the sender's number.
   */
  answerId?: string;
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

const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));

/** E.164 numbers keep their country code; Chinese gateways send mainland numbers without one. */
function digitsOf(phone: string, countryCode = ''): string {
  const d = phone.replace(/[^\d]/g, '');
  if (countryCode) return `${countryCode}${d}`;
  if (phone.trim().startsWith('+')) return d;
  return /^1\d{10}$/.test(d) ? `86${d}` : d;
}

/** Each gateway's callbacks are of one content type: Twilio posts a form, the others JSON. */
function checkContentType(provider: Provider, contentType: string | undefined): void {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const form = type === 'application/x-www-form-urlencoded';
  if (provider === 'twilio' ? !form : form || type.startsWith('multipart/'))
    throw malformed(
      `a ${provider} callback is ${provider === 'twilio' ? 'a form (application/x-www-form-urlencoded)' : 'JSON'}, not ${type || 'untyped'}`,
    );
}

/** A callback the provider's format cannot read: refused, so a misconfigured gateway shows. */
export function malformed(detail: string): ProblemError {
  return new ProblemError(400, 'Malformed callback', detail);
}

function json(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw malformed('the callback body is not valid JSON');
  }
}

const id = z.union([z.string().trim().min(1).max(256), z.number().finite()]).transform(String);
const items = <T extends z.ZodType>(item: T) => z.union([z.array(item).min(1).max(1000), item.transform((x) => [x])]);
const SHAPES = {
  aliyunReceipt: items(
    z.looseObject({
      biz_id: id,
      success: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]),
      err_code: z.unknown().optional(),
      err_msg: z.unknown().optional(),
    }),
  ),
  tencentReceipt: items(
    z.looseObject({
      sid: id,
      report_status: z.string().min(1),
      errmsg: z.unknown().optional(),
      description: z.unknown().optional(),
    }),
  ),
  aliyunReply: items(z.looseObject({ phone_number: id, content: z.string(), sequence_id: id.optional() })),
  outboxReceipt: items(
    z.looseObject({ message_id: id, status: z.enum(['delivered', 'failed']), error: z.string().max(200).optional() }),
  ),
  outboxReply: items(z.looseObject({ from: id, text: z.string(), id: id.optional() })),
  tencentReply: items(z.looseObject({ mobile: id, nationcode: id.optional(), text: z.string(), time: id.optional() })),
};

function shaped<T extends z.ZodType>(schema: T, body: unknown, what: string): z.output<T> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const at = issue.path.filter((p) => typeof p === 'string').join('.');
  throw malformed(`not ${what}${at ? `: ${at}` : ''} ${issue.message.toLowerCase()}`.trim());
}

function form(raw: Buffer, required: readonly string[], what: string): URLSearchParams {
  const p = new URLSearchParams(raw.toString('utf8'));
  const missing = required.filter((k) => (k === 'Body' ? !p.has(k) : !p.get(k)));
  if (missing.length) throw malformed(`not ${what}: missing ${missing.join(', ')}`);
  return p;
}

/** Throws 400 (problem+json) for a body the provider's receipt format cannot read. */
export function parseReceipts(provider: Provider, raw: Buffer, contentType?: string): Receipt[] {
  checkContentType(provider, contentType);
  if (provider === 'twilio') {
    const p = form(raw, ['MessageSid', 'MessageStatus'], 'a Twilio status callback');
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
    return shaped(SHAPES.aliyunReceipt, json(raw), 'an Aliyun delivery report').map((r) => ({
      providerMessageId: r.biz_id,
      status: r.success ? 'delivered' : 'failed',
      error: r.success ? undefined : `${str(r.err_code)} ${str(r.err_msg)}`.trim(),
      // Aliyun's and Tencent's receipt codes come from the carriers and vary: a failure is recorded
      // and told to the loan, but does not by itself block the number.
      permanent: false,
    }));
  }
  if (provider === 'outbox') {
    return shaped(SHAPES.outboxReceipt, json(raw), 'an outbox delivery report').map((r) => ({
      providerMessageId: r.message_id,
      status: r.status,
      error: r.error,
      permanent: false,
    }));
  }
  return shaped(SHAPES.tencentReceipt, json(raw), 'a Tencent status report').map((r) => ({
    providerMessageId: r.sid,
    status: r.report_status === 'SUCCESS' ? 'delivered' : 'failed',
    error: r.report_status === 'SUCCESS' ? undefined : `${str(r.errmsg)} ${str(r.description)}`.trim(),
    permanent: false,
  }));
}

/** The answer id of a reply the provider calls `providerId`: the provider and a keyed digest of the id. */
export function replyAnswerId(
  provider: Provider,
  providerId: string,
  keyed: (purpose: string, value: string) => string,
): string {
  return `${provider}:${keyed(`sms-reply:${provider}`, providerId)}`;
}

/**
 * The replies in a callback; throws 400 (problem+json) for a body the provider's format cannot
 * read. A provider's id for a reply never leaves here as given (Tencent's is the sender's number
 * and a time): `keyed` turns it into a keyed digest, the same for a repeated delivery.
 */
export function parseReplies(
  provider: Provider,
  raw: Buffer,
  contentType: string | undefined,
  keyed: (purpose: string, value: string) => string,
): Reply[] {
  checkContentType(provider, contentType);
  const answerId = (providerId: string | undefined) =>
    providerId ? replyAnswerId(provider, providerId, keyed) : undefined;
  if (provider === 'twilio') {
    const p = form(raw, ['From', 'Body', 'MessageSid'], 'a Twilio incoming message');
    return [
      {
        phone: digitsOf(p.get('From') ?? ''),
        text: p.get('Body') ?? '',
        answerId: answerId(p.get('MessageSid') ?? ''),
      },
    ];
  }
  if (provider === 'aliyun') {
    return shaped(SHAPES.aliyunReply, json(raw), 'an Aliyun incoming message').map((r) => ({
      phone: digitsOf(r.phone_number),
      text: r.content,
      answerId: answerId(r.sequence_id),
    }));
  }
  if (provider === 'outbox') {
    return shaped(SHAPES.outboxReply, json(raw), 'an outbox incoming message').map((r) => ({
      phone: digitsOf(r.from),
      text: r.text,
      answerId: answerId(r.id),
    }));
  }
  return shaped(SHAPES.tencentReply, json(raw), 'a Tencent incoming message').map((r) => {
    const phone = digitsOf(r.mobile, r.nationcode);
    return { phone, text: r.text, answerId: answerId(r.time !== undefined ? `${phone}-${r.time}` : undefined) };
  });
}

/** What each provider expects back from a callback. */
export function acknowledgement(provider: Provider): { type: string; body: string } {
  if (provider === 'twilio')
    return { type: 'text/xml', body: '<?xml version="1.0" encoding="UTF-8"?><Response></Response>' };
  if (provider === 'aliyun') return { type: 'application/json', body: JSON.stringify({ code: 0, msg: '成功' }) };
  if (provider === 'outbox') return { type: 'application/json', body: JSON.stringify({ ok: true }) };
  return { type: 'application/json', body: JSON.stringify({ result: 0, errmsg: 'OK' }) };
}
