// The effectiveness dashboard: one static page with Chart.js, behind an API key with the scope
// analytics:read. A browser cannot send a bearer token when it opens a page, so everything under
// /dashboard/ also takes HTTP Basic credentials (the key as the password) and asks for them on a
// 401. The page reads /dashboard/effectiveness.json, the same report as
// GET /v1/analytics/effectiveness, from under /dashboard/ so the browser re-sends the credentials.
import { dirname, join } from 'node:path';
import { Router, type NextFunction, type RequestHandler } from 'express';
import { effectiveness } from '../analytics/effectiveness';
import type { EventStore } from '../store/events';
import type { AuthOptions, Scope } from './auth';
import { ProblemError } from './problem';
import { effectivenessQuerySchema } from './schemas';

export const DASHBOARD_REALM = 'loan-reminders dashboard';

export interface DashboardDeps {
  events?: EventStore;
  requireScope: (scope: Scope, opts?: AuthOptions) => RequestHandler;
}

/** The page's own files: beside this folder in src/ (tsx), or copied beside it into dist/. */
const PAGE_DIR = join(__dirname, '..', 'dashboard');
const CHART_JS_DIR = dirname(require.resolve('chart.js')); // node_modules/chart.js/dist

/** Every file the dashboard serves, by name: nothing else under /dashboard/assets/ is reachable. */
const ASSETS: Record<string, { file: string; type: string }> = {
  'dashboard.js': { file: join(PAGE_DIR, 'dashboard.js'), type: 'application/javascript; charset=utf-8' },
  'dashboard.css': { file: join(PAGE_DIR, 'dashboard.css'), type: 'text/css; charset=utf-8' },
  'favicon.svg': { file: join(PAGE_DIR, 'favicon.svg'), type: 'image/svg+xml' },
  'chart.umd.js': { file: join(CHART_JS_DIR, 'chart.umd.js'), type: 'application/javascript; charset=utf-8' },
  'chart.umd.js.map': { file: join(CHART_JS_DIR, 'chart.umd.js.map'), type: 'application/json' },
};

/** Passes a file that could not be sent on as an error; a missing one means an incomplete install. */
function sent(next: NextFunction) {
  return (err?: Error & { code?: string }) => {
    if (!err) return;
    if (err.code === 'ENOENT')
      return next(new ProblemError(503, 'Not installed', 'the dashboard’s files are missing beside the API'));
    next(err);
  };
}

export function dashboardRouter(d: DashboardDeps): Router {
  // Strict, so /dashboard (redirected) and /dashboard/ (the page) are told apart.
  const router = Router({ strict: true });
  const auth = d.requireScope('analytics:read', { basicRealm: DASHBOARD_REALM });

  router.get('/dashboard', (req, res) => {
    const query = req.originalUrl.indexOf('?');
    res.redirect(301, `/dashboard/${query < 0 ? '' : req.originalUrl.slice(query)}`);
  });

  router.get('/dashboard/', auth, (_req, res, next) => {
    // Figures about borrowers' payments: never kept by a shared cache or the browser's.
    res.set('Cache-Control', 'no-store');
    res.sendFile(join(PAGE_DIR, 'index.html'), { headers: { 'Content-Type': 'text/html; charset=utf-8' } }, sent(next));
  });

  router.get('/dashboard/effectiveness.json', auth, async (req, res, next) => {
    try {
      const q = effectivenessQuerySchema.parse(req.query);
      if (!d.events) throw new ProblemError(503, 'Not configured', 'no event store to read');
      const report = await effectiveness(d.events, q);
      res.set('Cache-Control', 'no-store').json(report);
    } catch (err) {
      next(err);
    }
  });

  router.get('/dashboard/assets/:name', auth, (req, res, next) => {
    const name = String(req.params.name);
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!asset) return next(new ProblemError(404, 'Not found', `no dashboard asset "${name}"`));
    res.set('Cache-Control', 'private, no-cache');
    res.sendFile(asset.file, { headers: { 'Content-Type': asset.type } }, sent(next));
  });

  return router;
}
