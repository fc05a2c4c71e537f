// Every answer an API test gets, held to the OpenAPI document the same app serves: the operation,
// its status and its media type documented, and a JSON body valid against the schema there. An
// answer that drifts from the contract fails the test that got it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import type { Express } from 'express';
import request from 'supertest';
import { expect } from 'vitest';

type Json = Record<string, unknown>;
interface Media {
  schema?: unknown;
  example?: unknown;
}
interface ResponseObject {
  content?: Record<string, Media>;
}
type Operation = { responses: Record<string, ResponseObject> };
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

const COMPONENT = 'urn:loan-reminders:components:';
const PROBLEM: ResponseObject = {
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

/** The schema with its references to the document's components made absolute, so it compiles alone. */
function absolute(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(absolute);
  if (!schema || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema as Json).map(([k, v]) => [
      k,
      k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')
        ? COMPONENT + v.slice('#/components/schemas/'.length)
        : absolute(v),
    ]),
  );
}

/** Validators for the document's schemas, its components resolvable from any of them. */
export function schemaValidator(doc: OpenApiDocument): (schema: unknown) => ValidateFunction {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  for (const [name, schema] of Object.entries(doc.components.schemas))
    ajv.addSchema(absolute(schema) as object, COMPONENT + name);
  const compiled = new Map<unknown, ValidateFunction>();
  return (schema) => {
    let v = compiled.get(schema);
    if (!v) {
      v = ajv.compile(absolute(schema) as object);
      compiled.set(schema, v);
    }
    return v;
  };
}

/** The documented path a request path falls under: literal segments before parameters. */
function documentedPath(doc: OpenApiDocument, method: string, path: string): string | undefined {
  const segments = path.split('/');
  const candidates = Object.keys(doc.paths).filter((template) => {
    const parts = template.split('/');
    return (
      doc.paths[template][method] !== undefined &&
      parts.length === segments.length &&
      parts.every((p, i) => /^\{[^}]+\}$/.test(p) || p === segments[i])
    );
  });
  const params = (t: string) => (t.match(/\{/g) ?? []).length;
  return candidates.sort((a, b) => params(a) - params(b))[0];
}

export interface ContractCheck {
  /** The app, every answer it gives checked against the document it serves. */
  wrap(app: Express): Express;
  /** Fails with every answer since the last call that its document does not describe. */
  expectKept(): Promise<void>;
}

export function contractCheck(): ContractCheck {
  const pending: Array<Promise<string | undefined>> = [];
  return {
    wrap(inner) {
      const check = checker(inner);
      const handler = (req: IncomingMessage, res: ServerResponse) => {
        const method = (req.method ?? 'GET').toLowerCase();
        const url = req.url ?? '/';
        const body = captured(res);
        res.once('finish', () => {
          if (method === 'options') return;
          pending.push(check(method, url, res.statusCode, String(res.getHeader('content-type') ?? ''), body()));
        });
        inner(req as Parameters<Express>[0], res as Parameters<Express>[1]);
      };
      return handler as unknown as Express;
    },
    async expectKept() {
      const found = (await Promise.all(pending.splice(0))).filter((v): v is string => v !== undefined);
      expect(found, 'answers the OpenAPI document does not describe').toEqual([]);
    },
  };
}

/** Keeps what is written to the response; the bytes so far. */
function captured(res: ServerResponse): () => Buffer {
  const chunks: Buffer[] = [];
  const keep = (chunk: unknown, encoding: unknown) => {
    if (typeof chunk === 'string')
      chunks.push(Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
    else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
  };
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    keep(chunk, rest[0]);
    return write(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'function') keep(chunk, rest[0]);
    return end(chunk, ...rest);
  }) as typeof res.end;
  return () => Buffer.concat(chunks);
}

/** Checks one answer of the app against the app's own document: a complaint, or nothing. */
function checker(inner: Express) {
  let ready: Promise<{ doc: OpenApiDocument; validator: (schema: unknown) => ValidateFunction }> | undefined;
  const documented = () =>
    (ready ??= request(inner)
      .get('/openapi.json')
      .then((res) => {
        const doc = res.body as OpenApiDocument;
        return { doc, validator: schemaValidator(doc) };
      }));

  return async (method: string, url: string, status: number, type: string, body: Buffer) => {
    const { doc, validator } = await documented();
    const m = method === 'head' ? 'get' : method;
    const path = url.split('?')[0];
    const where = `${method.toUpperCase()} ${path} → ${status}`;
    const template = documentedPath(doc, m, path);
    const operation = template ? doc.paths[template][m] : undefined;
    if (!operation && status < 400) return `${where}: no such operation in the document`;
    // An unknown route or method is still answered with a problem.
    const response = operation ? (operation.responses[String(status)] ?? operation.responses.default) : PROBLEM;
    if (!response) return `${where}: status not documented`;
    if (body.length === 0 || method === 'head') return undefined;
    const mediaType = type.split(';')[0].trim().toLowerCase();
    const media = response.content?.[mediaType];
    if (!media) return `${where}: ${mediaType || 'no content type'} not documented`;
    if (!/[/+]json$/.test(mediaType) || media.schema === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      return `${where}: not JSON`;
    }
    const validate = validator(media.schema);
    if (validate(json)) return undefined;
    const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''}`);
    return `${where}: ${errors.join('; ')}`;
  };
}
