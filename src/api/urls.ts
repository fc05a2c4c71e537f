// What the API does with URLs: no credentials taken in a query string, and only a URL's path and
// its query's parameter names ever logged.
import type { RequestHandler } from 'express';
import { redactUrl } from './codec';
import { ProblemError } from './problem';

/** Refuses a request with credentials in its query string: they end up in logs, proxies' logs and browser histories. */
export const noCredentialsInUrl: RequestHandler = (req, _res, next) => {
  const given = queryNames(req.originalUrl).find(
    (name) => isCredentialName(name) && !(name.toLowerCase() === 'token' && req.path.startsWith('/v1/webhooks/sms/')),
  );
  if (given === undefined) return next();
  next(
    new ProblemError(
      400,
      'Credentials in the URL',
      'send the API key in the Authorization header (or X-API-Key), never in the query string',
      [{ field: given, message: 'credentials are not taken in the query string' }],
      'urn:loan-reminders:problem:credentials-in-url',
    ),
  );
};

/** A request URL's path (secrets in paths masked), without its query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return redactUrl(q < 0 ? url : url.slice(0, q));
}

/** The names of a URL's query parameters, in order, once each (values are never kept). */
export function queryNames(url: string): string[] {
  const q = url.indexOf('?');
  if (q < 0) return [];
  return [...new Set(new URLSearchParams(url.slice(q + 1)).keys())];
}

/**
 * What the log keeps of a query: its parameter names, and only short plain ones (an API key is at
 * least 24 characters, so a key sent as a name is not kept either).
 */
export function queryNamesOf(url: string): { query?: string[] } {
  const names = queryNames(url);
  if (names.length === 0) return {};
  return { query: names.slice(0, 20).map((n) => (/^[A-Za-z0-9_.[\]-]{1,20}$/.test(n) ? n : '[other]')) };
}

/** Query parameter names that carry credentials, compared without case, punctuation or a [] suffix. */
const CREDENTIAL_NAMES = new Set([
  'apikey',
  'key',
  'xapikey',
  'token',
  'accesstoken',
  'authtoken',
  'apitoken',
  'idtoken',
  'refreshtoken',
  'sessiontoken',
  'bearer',
  'jwt',
  'auth',
  'authorization',
  'secret',
  'clientsecret',
  'password',
  'passwd',
  'pwd',
]);

function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAMES.has(
    name
      .toLowerCase()
      .replace(/\[.*\]$/, '')
      .replace(/[^a-z0-9]/g, ''),
  );
}
