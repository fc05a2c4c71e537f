// The operations page: the inbox for people, beside the dashboard. A browser cannot send a bearer
// token when it opens a page, so everything under /operations/ takes HTTP Basic credentials (the
// person's name as the user, an API key as the password) and asks for them on a 401. The page
// script calls the inbox's own routes, mounted again under /operations/api/ so the browser re-sends
// the credentials: the same handlers, schemas and scopes as /v1/operations/... (operations:read to
// look, operations:write to claim, release and resolve), and the audit trail records its actions
// as it does the API's. The page is in English or Chinese, by ?lang= or the browser's
// Accept-Language.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Router, type NextFunction, type Request, type RequestHandler } from 'express';
import { operatorOf, type AuthOptions, type Scope } from './auth';
import { ProblemError } from './problem';
import type { RouteSpec } from './route-spec';

export const OPERATIONS_REALM = 'loan-reminders operations';

/** The languages the page is written in; the first is the default. */
export const PAGE_LANGUAGES = ['en-US', 'zh-CN'] as const;
export type PageLanguage = (typeof PAGE_LANGUAGES)[number];

export interface OperationsPageDeps {
  routes: readonly RouteSpec[];
  requireScope: (scope: Scope, opts?: AuthOptions) => RequestHandler;
  /** The chain a route of the table runs (the trail told, the scope checked, the body parsed, its handler). */
  chainOf: (r: RouteSpec, opts?: AuthOptions) => RequestHandler[];
}

/** The page's own files: beside this folder in src/ (tsx), or copied beside it into dist/. */
const PAGE_DIR = join(__dirname, '..', 'operations-page');

const ASSETS: Record<string, { file: string; type: string }> = {
  'operations.js': { file: join(PAGE_DIR, 'operations.js'), type: 'application/javascript; charset=utf-8' },
  'operations.css': { file: join(PAGE_DIR, 'operations.css'), type: 'text/css; charset=utf-8' },
  'favicon.svg': { file: join(PAGE_DIR, '..', 'dashboard', 'favicon.svg'), type: 'image/svg+xml' },
};

/** The inbox's routes the page calls, by operation, and where under /operations/api/ they are. */
const PAGE_API: ReadonlyArray<[operationId: string, path: string]> = [
  ['listInboxItems', '/operations/api/items'],
  ['inboxSummary', '/operations/api/summary'],
  ['getInboxItem', '/operations/api/items/:itemId'],
  ['getInboxItemLoan', '/operations/api/items/:itemId/loan'],
  ['claimInboxItem', '/operations/api/items/:itemId/claim'],
  ['releaseInboxItem', '/operations/api/items/:itemId/release'],
  ['resolveInboxItem', '/operations/api/items/:itemId/resolve'],
];

/** ?lang= when it names a language of the page, else the best of Accept-Language, else English. */
export function pageLanguage(req: Request): PageLanguage {
  const asked = typeof req.query.lang === 'string' ? req.query.lang.trim().toLowerCase() : '';
  if (asked.startsWith('zh')) return 'zh-CN';
  if (asked.startsWith('en')) return 'en-US';
  if (!req.get('accept-language')) return 'en-US';
  const best = req.acceptsLanguages('en-US', 'en', 'zh-CN', 'zh', 'zh-Hans');
  return typeof best === 'string' && best.startsWith('zh') ? 'zh-CN' : 'en-US';
}

function missing(next: NextFunction) {
  return (err?: Error & { code?: string }) => {
    if (!err) return;
    if (err.code === 'ENOENT')
      return next(new ProblemError(503, 'Not installed', 'the operations page’s files are missing beside the API'));
    next(err);
  };
}

export function operationsPageRouter(d: OperationsPageDeps): Router {
  const router = Router({ strict: true });
  const realm = { basicRealm: OPERATIONS_REALM };
  const view = d.requireScope('operations:read', realm);

  router.get('/operations', (req, res) => {
    const query = req.originalUrl.indexOf('?');
    res.redirect(301, `/operations/${query < 0 ? '' : req.originalUrl.slice(query)}`);
  });

  router.get('/operations/', view, async (req, res, next) => {
    try {
      const lang = pageLanguage(req);
      const html = (await readFile(join(PAGE_DIR, 'index.html'), 'utf8')).replace(
        /<html lang="[^"]*"/,
        `<html lang="${lang}"`,
      );
      // Borrowers' cases: never kept by a shared cache or the browser's.
      res.set({ 'Cache-Control': 'no-store', 'Content-Language': lang, Vary: 'Accept-Language' });
      res.type('html').send(html);
    } catch (err) {
      missing(next)(err as Error & { code?: string });
    }
  });

  router.get('/operations/assets/:name', view, (req, res, next) => {
    const name = String(req.params.name);
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!asset) return next(new ProblemError(404, 'Not found', `no operations page asset "${name}"`));
    res.set('Cache-Control', 'private, no-cache');
    res.sendFile(asset.file, { headers: { 'Content-Type': asset.type } }, missing(next));
  });

  // Who is signed in and what the key may do, so the page offers only what will be allowed.
  router.get('/operations/api/me', view, (req, res) => {
    res.set('Cache-Control', 'no-store').json({ user: operatorOf(req), scopes: [...(req.apiKey?.scopes ?? [])] });
  });

  const noStore: RequestHandler = (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  };
  for (const [operationId, path] of PAGE_API) {
    const r = d.routes.find((x) => x.operationId === operationId);
    if (!r || r.auth === 'none' || r.auth === 'webhook-signature' || r.auth === 'provider-callback')
      throw new Error(`the operations page needs the keyed route ${operationId}`);
    router[r.method](path, noStore, ...d.chainOf(r, realm));
  }

  return router;
}
