// The HTTP API, built by a factory from its dependencies so tests run it against a real server.
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { dirname, join } from 'node:path';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Client } from '@temporalio/client';
import rateLimit, { ipKeyGenerator, type Store } from 'express-rate-limit';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Lender } from '../domain/loan';
import type { Logger } from '../log';
import type { PolicyRegistry } from '../policies/registry';
import { authenticator, keyFinder, presentedKey, type ApiKey, type AuthOptions } from './auth';
import { codecRouter, type CodecServerOptions } from './codec';
import { dashboardRouter } from './dashboard';
import { operationsPageRouter } from './operations-page';
import { createMetrics } from './metrics';
import { buildOpenApi } from './openapi';
import { errorMiddleware, problemInstance, ProblemError, sendProblem } from './problem';
import type { EventStore } from '../store/events';
import type { OperationsQueue } from '../operations/queue';
import type { AuditTrail } from '../operations/audit';
import { auditBefore, auditRequests, auditStep } from './audit';
import type { EncryptionCodec } from '../codec/encryption';
import { buildRoutes, type RouteSpec, type SmsCallbackDeps } from './route-table';
import { SIGNATURE_HEADER, verifySignature } from './signature';
import { noCredentialsInUrl, pathOf, queryNamesOf } from './urls';

export interface AppDeps {
  client: Client;
  taskQueue: string;
  lender: Lender;
  policies: PolicyRegistry;
  log: Logger;
  apiKeys: readonly ApiKey[];
  /** Secrets that may sign payment webhooks; more than one while rotating. */
  webhookSecrets: readonly string[];
  /** Requests per minute per API key (or per address without one). */
  rateLimitPerMinute?: number;
  /** Where the counts are kept: the service's store, shared by every instance; absent, this process's memory. */
  rateLimitStore?: Store;
  /** Body size limit, e.g. "256kb"; the batch route allows 4 MB. */
  bodyLimit?: string;
  /** SMS gateway callbacks: receipts and replies. */
  sms?: SmsCallbackDeps;
  /** The loans' events: analytics and delivery receipts. */
  events?: EventStore;
  /** The codec endpoint for the Temporal Web UI and CLI; absent, the API serves none. */
  codec?: Omit<CodecServerOptions, 'requireScope'>;
  /**
   * Signs the list's page tokens. Absent, it is derived from the API keys and webhook secrets, so
   * every instance of one configuration takes the others' tokens (random per process without either).
   */
  pageTokenSecret?: string;
  /** The operations inbox (the loans' hand-overs); absent, its routes answer 503. */
  operations?: OperationsQueue;
  /** Opens sealed words and notes in the inbox for keys with payloads:decode. */
  payloadCodec?: EncryptionCodec;
  /** The Temporal Web UI, for the inbox's deep links to a loan's workflow. */
  temporalUi?: { url: string; namespace: string };
  /** The audit trail: a record of every state-changing request; absent, nothing is recorded. */
  audit?: AuditTrail;
}

export const API_VERSION = '1.0.0';

export function createApp(deps: AppDeps): express.Express {
  const { client, log } = deps;
  const metrics = createMetrics();
  const routes = buildRoutes({ ...deps, metrics, pageTokenKey: pageTokenKey(deps) });
  const requireScope = authenticator(deps.apiKeys);

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(helmet());
  app.use(requestLog(log));
  app.use((req, res, next) => {
    const stop = metrics.requestDuration.startTimer();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      stop({ method: req.method, route, status: String(res.statusCode) });
      if (res.statusCode >= 400) metrics.errors.inc({ status: String(res.statusCode) });
    });
    next();
  });

  // ---- Loans carry personal data: no cache along the way keeps any answer of the API's ----
  const noStore: RequestHandler = (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  };
  app.use('/v1', noStore);
  app.use('/codec', noStore);

  // ---- No credentials in URLs: they end up in logs, proxies' logs and browser histories ----
  app.use(noCredentialsInUrl);

  // ---- Public: health, readiness, the contract and its docs ----
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await client.workflowService.getSystemInfo({});
      res.json({ status: 'ready', temporal: 'reachable' });
    } catch {
      sendProblem(res, new ProblemError(503, 'Not ready', 'Temporal is not reachable'));
    }
  });
  // Built once a day: its example loan is due two weeks from the day it is read.
  let contract: { day: string; doc: Record<string, unknown> } | undefined;
  app.get('/openapi.json', (_req, res) => {
    const day = new Date().toISOString().slice(0, 10);
    if (contract?.day !== day) contract = { day, doc: buildOpenApi(routes, API_VERSION) };
    res.json(contract.doc);
  });
  const swaggerDir = dirname(require.resolve('swagger-ui-dist/package.json'));
  app.get('/docs', (_req, res) => {
    res.type('html').send(DOCS_PAGE);
  });
  app.get('/docs/init.js', (_req, res) => {
    res.type('application/javascript').send(DOCS_INIT);
  });
  for (const file of ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png']) {
    app.get(`/docs/${file}`, (_req, res) => res.sendFile(join(swaggerDir, file)));
  }

  app.get('/metrics', requireScope('metrics:read'), async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // ---- Rate limit, per key (or address), before any work ----
  const limiter = rateLimiter(deps);
  app.use('/v1', limiter);
  app.use('/dashboard', limiter);
  app.use('/operations', limiter);
  app.use('/codec', limiter);

  // ---- The audit trail: every state-changing request (/v1, the operations page's), however it ends ----
  if (deps.audit) {
    const audit = auditRequests(deps.audit, log, () => metrics.auditWriteFailures.inc());
    app.use('/v1', audit);
    app.use('/operations/api', audit);
  }

  // ---- The codec endpoint: the Web UI decodes payloads here, for staff allowed to see them ----
  if (deps.codec) app.use('/codec', codecRouter({ ...deps.codec, requireScope }));

  // ---- The effectiveness dashboard: a page for people, HTTP Basic with an API key ----
  app.use(dashboardRouter({ events: deps.events, requireScope }));

  // ---- Routes from the table ----
  const json = (limit: string) => express.json({ limit, type: () => true });
  /** A route's chain: the trail told the route, the caller checked, the body parsed, then the handler. */
  const chainOf = (r: RouteSpec, opts?: AuthOptions): RequestHandler[] => {
    const chain: RequestHandler[] = [auditStep(r)];
    if (r.auth === 'webhook-signature') {
      chain.push(express.raw({ type: () => true, limit: deps.bodyLimit ?? '256kb' }), signed(deps.webhookSecrets));
    } else if (r.auth === 'provider-callback') {
      chain.push(express.raw({ type: () => true, limit: deps.bodyLimit ?? '256kb' }));
    } else {
      if (r.auth !== 'none') chain.push(requireScope(r.auth, opts));
      if (r.body) chain.push(requireJson, json(r.path.endsWith('/batch') ? '4mb' : (deps.bodyLimit ?? '256kb')));
    }
    if (r.auditBefore && deps.audit) chain.push(auditBefore(r.auditBefore));
    chain.push(asyncHandler(r));
    return chain;
  };

  // ---- The operations page: the inbox for people, HTTP Basic with the person's name and a key ----
  app.use(operationsPageRouter({ routes, requireScope, chainOf }));

  for (const r of routes) app[r.method](r.path, ...chainOf(r));

  // A known path asked with a method it does not take: 405 with the methods it does (RFC 9110).
  app.use(methodNotAllowed(app));
  app.use((req, _res, next) => {
    next(new ProblemError(404, 'Not found', `no route ${req.method} ${req.path}`));
  });
  app.use(errorMiddleware(log));
  return app;
}

/** The request log: method, path, query names and status; never headers, bodies or query values. */
function requestLog(log: Logger): RequestHandler {
  return pinoHttp({
    logger: log,
    genReqId: (req, res) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    // Method, path, the query's parameter names and status only: never headers (keys,
    // signatures), bodies (names, phones) or query values (a phone number, a misplaced key).
    serializers: {
      req: (req: { id: string; method: string; url: string }) => ({
        id: req.id,
        method: req.method,
        url: pathOf(req.url),
        ...queryNamesOf(req.url),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customLogLevel: (_req, res, err) =>
      err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
  });
}

/**
 * The rate limit, per key (or address), before any work. Only a key the API knows has an allowance
 * of its own. Anything else (no key, a made-up or expired one, a webhook's or gateway's request)
 * counts against the caller's address, so fresh random keys do not buy fresh allowances.
 */
function rateLimiter(deps: AppDeps): RequestHandler {
  const knownKey = keyFinder(deps.apiKeys);
  return rateLimit({
    windowMs: 60_000,
    limit: deps.rateLimitPerMinute ?? 1200,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    ...(deps.rateLimitStore
      ? {
          store: deps.rateLimitStore,
          // The store down (PostgreSQL restarting) must not take the API down with it: requests go on
          // uncounted meanwhile, and the error is logged.
          passOnStoreError: true,
        }
      : {}),
    keyGenerator: (req) => {
      const key = presentedKey(req.get('authorization'), req.get('x-api-key'));
      return key && knownKey(key)
        ? `key:${createHash('sha256').update(key).digest('hex')}`
        : `ip:${ipKeyGenerator(req.ip ?? '')}`;
    },
    handler: (req, res) =>
      sendProblem(
        res,
        new ProblemError(429, 'Too many requests', 'slow down and retry after the Retry-After delay'),
        problemInstance(req),
      ),
  });
}

function methodNotAllowed(app: express.Express): RequestHandler {
  return (req, res, next) => {
    const allowed = allowedMethods(app, req.path);
    if (allowed.length === 0) return next();
    if (req.method === 'OPTIONS') {
      res
        .set('Allow', [...allowed, 'OPTIONS'].join(', '))
        .status(204)
        .end();
      return;
    }
    next(
      new ProblemError(
        405,
        'Method not allowed',
        `${req.method} is not taken here; allowed: ${allowed.join(', ')}`,
        undefined,
        'about:blank',
        { Allow: allowed.join(', ') },
      ),
    );
  };
}

/**
 * The OpenAPI document an app with these dependencies serves, as of `now` (its example loan is due
 * two weeks later): for tools that generate from the contract without serving it.
 */
export function openApiDocument(deps: AppDeps, now = Date.now()): Record<string, unknown> {
  const routes = buildRoutes({ ...deps, metrics: createMetrics(), pageTokenKey: pageTokenKey(deps) });
  return buildOpenApi(routes, API_VERSION, now);
}

const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The methods the app's routes take on a path (HEAD wherever GET is), in a fixed order. */
function allowedMethods(app: express.Express, path: string): string[] {
  const stack = (
    app as unknown as {
      router: { stack: Array<{ route?: { methods: Record<string, boolean> }; match(path: string): unknown }> };
    }
  ).router.stack;
  const methods = new Set<string>();
  for (const layer of stack) {
    if (!layer.route || !layer.match(path)) continue;
    for (const m of Object.keys(layer.route.methods)) methods.add(m.toUpperCase());
  }
  if (methods.has('GET')) methods.add('HEAD');
  return METHOD_ORDER.filter((m) => methods.has(m));
}

/**
 * The HTTP server for the app. Requests Node's own parser refuses before the app sees them (headers
 * too large, both Transfer-Encoding and Content-Length, a malformed request line) get a
 * problem+json answer too, instead of Node's empty one.
 */
export function createHttpServer(app: express.Express): Server {
  const server = createServer(app);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const title = STATUS_CODES[status] ?? 'Bad Request';
    const body = JSON.stringify({
      type: 'about:blank',
      title,
      status,
      detail:
        status === 431
          ? 'the request headers exceed the size limit'
          : status === 408
            ? 'the request took too long to arrive'
            : 'the request is not valid HTTP/1.1',
    });
    socket.end(
      `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}

/** The page tokens' signing key: configured, or derived from the configured secrets (see AppDeps). */
function pageTokenKey(deps: AppDeps): Buffer {
  const secrets = deps.pageTokenSecret
    ? [deps.pageTokenSecret]
    : [...deps.apiKeys.map((k) => k.key), ...deps.webhookSecrets].sort();
  if (secrets.length === 0) return randomBytes(32);
  const h = createHmac('sha256', 'loan-reminders page tokens v1');
  for (const secret of secrets) h.update(`${secret.length}:${secret}`);
  return h.digest();
}

function requireJson(req: Request, _res: Response, next: NextFunction): void {
  if (!req.is('application/json'))
    return next(new ProblemError(415, 'Unsupported media type', 'send the body as application/json'));
  // JSON between systems is UTF-8 (RFC 8259). The body parser would decode any "utf-*" label,
  // UTF-7 among them, where "+ACI-" is a quote: a body a filter in front reads one way and the
  // API another.
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(req.get('content-type') ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')
    return next(new ProblemError(415, 'Unsupported media type', 'send the body as application/json in UTF-8'));
  next();
}

function signed(secrets: readonly string[]): RequestHandler {
  return (req, _res, next) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const verdict = verifySignature(req.get(SIGNATURE_HEADER), body, secrets);
    if (!verdict.ok) return next(new ProblemError(401, 'Unauthorized', verdict.reason));
    req.body = body;
    next();
  };
}

function asyncHandler(r: RouteSpec): RequestHandler {
  return (req, res, next) => {
    Promise.resolve(r.handler(req, res)).catch(next);
  };
}

const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loan-reminders API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"><link rel="icon" href="/docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div><script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script></body></html>`;

const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui' });`;

/** Express paths of the routes the table defines, for the contract test. */
export function routePaths(app: express.Express): Array<{ method: string; path: string }> {
  const stack = (
    app as unknown as { router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> } }
  ).router.stack;
  return stack
    .filter((l) => l.route)
    .flatMap((l) => Object.keys(l.route!.methods).map((method) => ({ method, path: l.route!.path })));
}
