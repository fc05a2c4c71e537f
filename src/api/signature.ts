// Webhook signatures: HMAC-SHA256 over "<unix seconds>.<raw body>", sent as
//   Loan-Reminders-Signature: t=<unix seconds>,v1=<hex digest>[,v1=<hex digest>...]
// Several v1 values and several secrets let senders and receivers rotate secrets without downtime.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Loan-Reminders-Signature';
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export function sign(secret: string, timestamp: number, rawBody: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

export function signatureHeader(secret: string, rawBody: Buffer | string, now = Date.now()): string {
  const t = Math.floor(now / 1000);
  return `t=${t},v1=${sign(secret, t, rawBody)}`;
}

export type Verdict = { ok: true } | { ok: false; reason: string };

export function verifySignature(
  header: string | undefined,
  rawBody: Buffer,
  secrets: readonly string[],
  now = Date.now(),
): Verdict {
  if (!header) return { ok: false, reason: `missing ${SIGNATURE_HEADER} header` };
  const parts = header.split(',').map((p) => p.trim().split('='));
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  const candidates = parts
    .filter(([k, v]) => k === 'v1' && /^[0-9a-f]{64}$/.test(v ?? ''))
    .map(([, v]) => Buffer.from(v, 'hex'));
  if (!Number.isSafeInteger(t) || candidates.length === 0) return { ok: false, reason: 'malformed signature header' };
  if (Math.abs(now / 1000 - t) > SIGNATURE_TOLERANCE_SECONDS)
    return { ok: false, reason: 'signature timestamp outside the 5-minute tolerance' };
  let match = false;
  for (const secret of secrets) {
    const expected = Buffer.from(sign(secret, t, rawBody), 'hex');
    for (const c of candidates) if (timingSafeEqual(expected, c)) match = true;
  }
  return match ? { ok: true } : { ok: false, reason: 'signature does not match' };
}
