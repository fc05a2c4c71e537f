// The OpenAPI 3.1 document, generated from the same route table and zod schemas the API runs on:
// requests from the request schemas, answers from the response schemas (src/api/responses.ts),
// with their examples. The routes outside the table (health, the contract, metrics, the codec
// endpoint and the dashboard) are described here, as data of the same shape.
import { z } from 'zod';
import { SCOPES } from '../auth/api-keys';
import { codecBody } from './codec';
import { CODEC, EFFECTIVENESS, HEALTH, OPENAPI_DOCUMENT, READY, TEXT } from './report-responses';
import { PROBLEM, type BodySpec } from './responses';
import type { ResponseSpec, RouteSpec } from './route-spec';
import { effectivenessQuerySchema } from './schemas';
import { SIGNATURE_HEADER } from './signature';

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

/** An operation as the document shows it: a route of the table, or one of the others below. */
type Documented = Pick<RouteSpec, 'method' | 'path' | 'operationId' | 'tag' | 'summary' | 'query' | 'body'> & {
  description?: string;
  security: Json[];
  responses: Record<number, ResponseSpec>;
  requestExample?: unknown;
};

const TAGS: Record<string, string> = {
  loans: 'Loans: start, list, read, change, close and resume',
  payments: 'Payments reported by the loan system',
  answers: 'Borrowers’ answers reported by the loan system',
  webhooks: 'Calls from the payment provider and the SMS gateway',
  analytics: 'What the reminders achieve',
  dashboard: 'The effectiveness dashboard, a page for people',
  codec: 'Temporal’s remote codec protocol, for the Web UI and CLI to decode loans’ payloads',
  operations: 'Health, readiness, metrics and this document',
};

function securityOf(auth: RouteSpec['auth']): Json[] {
  if (auth === 'none') return [];
  if (auth === 'webhook-signature') return [{ webhookSignature: [] }];
  if (auth === 'provider-callback') return [{ twilioSignature: [] }, { callbackToken: [] }];
  return [{ apiKey: [auth] }];
}

const PATH_PARAMS: Record<string, string> = {
  loanId: 'The loan system’s id for the loan',
  provider: 'The SMS gateway: twilio, aliyun, tencent or outbox',
  token: 'The codec UI token (CODEC_UI_TOKEN)',
  name: 'The asset’s file name',
  file: 'The file’s name',
};

const CREDENTIALS_IN_URL = 'Credentials in the URL (an API key in the query string)';

const problemContent = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };

/** The operations outside the route table. */
const OTHERS: Documented[] = [
  {
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    tag: 'operations',
    summary: 'The process is up',
    security: [],
    responses: { 200: { description: 'Up', body: HEALTH } },
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'ready',
    tag: 'operations',
    summary: 'Temporal is reachable',
    security: [],
    responses: { 200: { description: 'Ready', body: READY }, 503: 'Temporal is not reachable' },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'operations',
    summary: 'Prometheus metrics',
    security: [{ apiKey: ['metrics:read'] }],
    responses: {
      200: {
        description: 'The metrics in Prometheus’ text format',
        body: TEXT('Metrics', 'Prometheus text exposition format', 'loans_started_total 3\n', 'text/plain'),
      },
      401: 'No or unknown API key',
      403: 'Key lacks the scope',
    },
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApiDocument',
    tag: 'operations',
    summary: 'This document',
    security: [],
    responses: { 200: { description: 'The OpenAPI 3.1 document', body: OPENAPI_DOCUMENT } },
  },
  {
    method: 'get',
    path: '/docs',
    operationId: 'docs',
    tag: 'operations',
    summary: 'This document, browsable (Swagger UI)',
    security: [],
    responses: {
      200: { description: 'The page', body: TEXT('DocsPage', 'An HTML page', '<!doctype html>', 'text/html') },
    },
  },
  {
    method: 'get',
    path: '/docs/{file}',
    operationId: 'docsFile',
    tag: 'operations',
    summary: 'The docs page’s files (Swagger UI’s script, style sheet and icon)',
    security: [],
    responses: {
      200: {
        description: 'The file',
        body: [
          TEXT('DocsScript', 'Swagger UI’s script', 'void 0;', 'text/javascript'),
          TEXT('DocsInitScript', 'The page’s own start-up script', 'void 0;', 'application/javascript'),
          TEXT('DocsStyleSheet', 'CSS', 'body{}', 'text/css'),
          TEXT('DocsIcon', 'A PNG image', 'PNG', 'image/png'),
        ],
      },
      404: 'No such file',
    },
  },
  ...(['decode', 'encode'] as const).flatMap((direction): Documented[] => [
    {
      method: 'post',
      path: `/codec/${direction}`,
      operationId: `codec${direction === 'decode' ? 'Decode' : 'Encode'}`,
      tag: 'codec',
      summary: `${direction === 'decode' ? 'Decrypt' : 'Encrypt'} payloads (served when the codec endpoint is configured)`,
      security: [{ apiKey: ['payloads:decode'] }],
      body: codecBody,
      requestExample: CODEC.example,
      responses: {
        200: { description: 'The payloads, bytes in base64', body: CODEC },
        400: 'Not payloads',
        401: 'No or unknown API key',
        403: 'Key lacks the scope',
        404: 'No codec endpoint configured',
        422: 'A key is missing, or the data was tampered with',
      },
    },
    {
      method: 'post',
      path: `/codec/{token}/${direction}`,
      operationId: `codec${direction === 'decode' ? 'Decode' : 'Encode'}ForWebUi`,
      tag: 'codec',
      summary: `The same for the Web UI, which cannot send credentials: the path carries a secret (CODEC_UI_TOKEN)`,
      security: [],
      body: codecBody,
      requestExample: CODEC.example,
      responses: {
        200: { description: 'The payloads, bytes in base64', body: CODEC },
        400: 'Not payloads',
        401: 'Unknown codec token',
        404: 'No codec endpoint configured',
        422: 'A key is missing, or the data was tampered with',
      },
    },
  ]),
  {
    method: 'get',
    path: '/dashboard',
    operationId: 'dashboardRedirect',
    tag: 'dashboard',
    summary: 'Redirects to /dashboard/, keeping the query',
    security: [],
    responses: { 301: 'To /dashboard/' },
  },
  {
    method: 'get',
    path: '/dashboard/',
    operationId: 'dashboard',
    tag: 'dashboard',
    summary: 'The dashboard page (HTTP Basic: any user name, an API key as the password)',
    security: [{ dashboardBasic: ['analytics:read'] }, { apiKey: ['analytics:read'] }],
    responses: {
      200: { description: 'The page', body: TEXT('DashboardPage', 'An HTML page', '<!doctype html>', 'text/html') },
      401: 'Sign in (WWW-Authenticate: Basic)',
      403: 'Key lacks the scope',
      503: 'The dashboard’s files are missing beside the API',
    },
  },
  {
    method: 'get',
    path: '/dashboard/effectiveness.json',
    operationId: 'dashboardEffectiveness',
    tag: 'dashboard',
    summary: 'The page’s figures: the same report as GET /v1/analytics/effectiveness',
    security: [{ dashboardBasic: ['analytics:read'] }, { apiKey: ['analytics:read'] }],
    query: effectivenessQuerySchema,
    responses: {
      200: { description: 'The figures', body: EFFECTIVENESS },
      400: 'Invalid range or grouping',
      401: 'Sign in (WWW-Authenticate: Basic)',
      403: 'Key lacks the scope',
      503: 'No event store',
    },
  },
  {
    method: 'get',
    path: '/dashboard/assets/{name}',
    operationId: 'dashboardAsset',
    tag: 'dashboard',
    summary: 'The page’s script, style sheet, icon and Chart.js',
    security: [{ dashboardBasic: ['analytics:read'] }, { apiKey: ['analytics:read'] }],
    responses: {
      200: {
        description: 'The file',
        body: [
          TEXT('Script', 'JavaScript', 'void 0;', 'application/javascript'),
          TEXT('StyleSheet', 'CSS', 'body{}', 'text/css'),
          TEXT('Icon', 'SVG', '<svg xmlns="http://www.w3.org/2000/svg"/>', 'image/svg+xml'),
          TEXT('SourceMap', 'A source map (JSON)', '{"version":3}', 'application/json'),
        ],
      },
      401: 'Sign in (WWW-Authenticate: Basic)',
      403: 'Key lacks the scope',
      404: 'No such asset',
    },
  },
];

function responsesOf(specs: Record<number, ResponseSpec>, schemas: Record<string, Json>): Json {
  const responses: Json = {};
  for (const [code, spec] of Object.entries(specs)) {
    if (typeof spec === 'string') {
      responses[code] =
        Number(code) >= 400
          ? { description: spec, content: problemContent }
          : Number(code) >= 300
            ? { description: spec, headers: { Location: { description: 'Where to', schema: { type: 'string' } } } }
            : { description: spec };
      continue;
    }
    const bodies: BodySpec[] = spec.body === undefined ? [] : Array.isArray(spec.body) ? spec.body : [spec.body];
    const content: Json = {};
    for (const b of bodies) {
      schemas[b.name] ??= jsonSchema(b.schema, 'output');
      content[b.contentType ?? 'application/json'] = {
        schema: { $ref: `#/components/schemas/${b.name}` },
        example: b.example,
      };
    }
    responses[code] = { description: spec.description, ...(bodies.length ? { content } : {}) };
  }
  responses.default = { description: 'Any other error, as problem+json', content: problemContent };
  return responses;
}

function operationOf(r: Documented, schemas: Record<string, Json>): Json {
  const params = [...r.path.matchAll(/\{([A-Za-z]+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    description: PATH_PARAMS[name] ?? name,
    schema: { type: 'string' },
  }));
  const query = r.query
    ? Object.entries((jsonSchema(r.query, 'input').properties ?? {}) as Record<string, Json>).map(([name, schema]) => ({
        name,
        in: 'query',
        required: false,
        ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
        schema,
      }))
    : [];
  return {
    operationId: r.operationId,
    summary: r.summary,
    description: r.description ?? r.summary,
    tags: [r.tag],
    security: r.security,
    ...(params.length || query.length ? { parameters: [...params, ...query] } : {}),
    ...(r.body
      ? {
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: jsonSchema(r.body, 'input'),
                ...(r.requestExample !== undefined ? { example: r.requestExample } : {}),
              },
            },
          },
        }
      : {}),
    responses: responsesOf(r.responses, schemas),
  };
}

export function buildOpenApi(routes: readonly RouteSpec[], version: string, now = Date.now()): Json {
  const schemas: Record<string, Json> = { Problem: jsonSchema(PROBLEM.schema, 'output') };
  const paths: Record<string, Json> = {};
  const documented: Documented[] = [
    ...routes.map((r) => ({
      ...r,
      path: r.path.replace(/:([A-Za-z]+)/g, '{$1}'),
      security: securityOf(r.auth),
      requestExample: r.requestExample?.(now),
    })),
    ...OTHERS,
  ];
  for (const r of documented) {
    paths[r.path] ??= {};
    // A request with credentials in its query string is refused, whatever the path.
    const responses = 400 in r.responses ? r.responses : { ...r.responses, 400: CREDENTIALS_IN_URL };
    paths[r.path][r.method] = operationOf({ ...r, responses }, schemas);
  }
  const used = new Set(documented.map((r) => r.tag));
  return {
    openapi: '3.1.0',
    info: {
      title: 'loan-reminders API',
      version,
      description:
        'Start loans, report payments and borrowers’ answers; each loan is a durable Temporal workflow that sends polite, lawful SMS reminders. Errors are RFC 9457 problem+json.',
    },
    servers: [{ url: '/', description: 'The API that serves this document' }],
    tags: Object.entries(TAGS)
      .filter(([name]) => used.has(name))
      .map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: `An API key from API_KEYS, as "Authorization: Bearer <key>" (or X-API-Key). An operation lists the scope it needs; a key carries some of: ${SCOPES.join(', ')}.`,
        },
        dashboardBasic: {
          type: 'http',
          scheme: 'basic',
          description: 'For a browser: any user name, an API key with analytics:read as the password',
        },
        webhookSignature: {
          type: 'apiKey',
          in: 'header',
          name: SIGNATURE_HEADER,
          description: 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with a webhook secret>',
        },
        twilioSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Twilio-Signature',
          description: 'Twilio’s signature of the callback with the account’s auth token',
        },
        callbackToken: {
          type: 'apiKey',
          in: 'query',
          name: 'token',
          description: 'SMS_CALLBACK_TOKEN, for the gateways that cannot sign (Aliyun, Tencent, the local outbox)',
        },
      },
    },
  };
}
