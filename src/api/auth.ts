// API keys with scopes. Keys are compared as SHA-256 digests with a constant-time compare, so
// neither a key's length nor its prefix leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { ApiKey, Scope } from '../auth/api-keys';
import { ProblemError } from './problem';

export { parseApiKeys, SCOPES, type ApiKey, type Scope } from '../auth/api-keys';

const digest = (s: string) => createHash('sha256').update(s).digest();

export interface Authenticated {
  name: string;
  scopes: ReadonlySet<Scope>;
}

declare module 'express-serve-static-core' {
  interface Request {
    apiKey?: Authenticated;
  }
}

/**
 * The key a request presents: `X-API-Key`, `Authorization: Bearer <key>`, or HTTP Basic with the
 * key as the password (the user name is ignored), which is what a browser can send for a page.
 */
export function presentedKey(header: string | undefined, xApiKey: string | undefined): string | undefined {
  if (xApiKey) return xApiKey;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/]+={0,2})$/i.exec(header ?? '');
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  return password || undefined;
}

/**
 * The person acting, for the inbox and the audit trail: the user name of HTTP Basic (what the
 * operations page signs in with), else an `X-Operator` header a staff tool sends, else the key's
 * own name.
 */
export function operatorOf(req: Request): string {
  const basic = /^Basic\s+([A-Za-z0-9+/]+={0,2})$/i.exec(req.get('authorization') ?? '');
  const fromBasic = basic ? Buffer.from(basic[1], 'base64').toString('utf8').split(':')[0] : '';
  const given = fromBasic || req.get('x-operator') || '';
  const clean = given.trim().slice(0, 64);
  return /^[\p{L}\p{N}._@ -]+$/u.test(clean) ? clean : (req.apiKey?.name ?? 'unknown');
}

export interface AuthOptions {
  /** Ask for HTTP Basic credentials on a 401 (`WWW-Authenticate`), so a browser prompts for them. */
  basicRealm?: string;
}

/** Finds the key a caller presented among the configured ones (constant time per key), or nothing. */
export function keyFinder(keys: readonly ApiKey[]): (presented: string) => Authenticated | undefined {
  const known = keys.map((k) => ({ ...k, digest: digest(k.key), scopes: new Set(k.scopes) }));
  return (presented) => {
    const d = digest(presented);
    let match: Authenticated | undefined;
    for (const k of known) if (timingSafeEqual(d, k.digest)) match = { name: k.name, scopes: k.scopes };
    return match;
  };
}

export function authenticator(keys: readonly ApiKey[]) {
  const find = keyFinder(keys);
  return (scope: Scope, opts: AuthOptions = {}): RequestHandler =>
    (req, res, next) => {
      const challenge = () => {
        if (opts.basicRealm) res.set('WWW-Authenticate', `Basic realm="${opts.basicRealm}", charset="UTF-8"`);
      };
      const presented = presentedKey(req.get('authorization'), req.get('x-api-key'));
      if (!presented) {
        challenge();
        return next(
          new ProblemError(
            401,
            'Unauthorized',
            opts.basicRealm
              ? 'sign in with an API key as the password (any user name)'
              : 'send an API key as "Authorization: Bearer <key>"',
          ),
        );
      }
      const who = find(presented);
      if (!who) {
        challenge();
        return next(new ProblemError(401, 'Unauthorized', 'the API key is not valid'));
      }
      req.apiKey = who;
      if (!who.scopes.has(scope)) return next(new ProblemError(403, 'Forbidden', `this key lacks the scope ${scope}`));
      next();
    };
}
