// The OpenAPI 3.1 document, generated from the same route table and zod schemas the API runs on.
import { z } from 'zod';
import { SIGNATURE_HEADER } from './signature';
import type { RouteSpec } from './route-spec';

const problem = {
  type: 'object',
  description: 'RFC 9457 problem details',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
    },
  },
  required: ['type', 'title', 'status'],
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

export function buildOpenApi(routes: readonly RouteSpec[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map(([, name]) => ({
      name,
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const query = r.query
      ? Object.entries((jsonSchema(r.query).properties ?? {}) as Record<string, unknown>).map(([name, schema]) => ({
          name,
          in: 'query',
          required: false,
          schema,
        }))
      : [];
    const responses: Record<string, unknown> = {};
    for (const [code, description] of Object.entries(r.responses)) {
      responses[code] =
        Number(code) >= 400
          ? {
              description,
              content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
            }
          : { description, content: { 'application/json': { schema: { type: 'object' } } } };
    }
    paths[path] ??= {};
    paths[path][r.method] = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      security:
        r.auth === 'none' || r.auth === 'provider-callback'
          ? []
          : r.auth === 'webhook-signature'
            ? [{ webhookSignature: [] }]
            : [{ apiKey: [r.auth] }],
      parameters: [...params, ...query],
      ...(r.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } }
        : {}),
      responses,
    };
  }
  const plain = (summary: string, type: string, security: unknown[] = []) => ({
    get: {
      summary,
      tags: ['operations'],
      security,
      responses: { 200: { description: 'OK', content: { [type]: {} } } },
    },
  });
  paths['/healthz'] = plain('The process is up', 'application/json');
  paths['/readyz'] = plain('Temporal is reachable (503 problem+json when not)', 'application/json');
  paths['/metrics'] = plain('Prometheus metrics', 'text/plain', [{ apiKey: ['metrics:read'] }]);
  paths['/openapi.json'] = plain('This document', 'application/json');
  paths['/docs'] = plain('This document, browsable', 'text/html');
  return {
    openapi: '3.1.0',
    info: {
      title: 'loan-reminders API',
      version,
      description:
        'Start loans, report payments and borrowers’ answers; each loan is a durable Temporal workflow that sends polite, lawful SMS reminders. Errors are RFC 9457 problem+json.',
    },
    paths,
    components: {
      schemas: { Problem: problem },
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key from API_KEYS; scopes: loans:read, loans:write, analytics:read, metrics:read',
        },
        webhookSignature: {
          type: 'apiKey',
          in: 'header',
          name: SIGNATURE_HEADER,
          description: 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with a webhook secret>',
        },
      },
    },
  };
}
