// The codec endpoint for the Temporal Web UI and CLI (Temporal's remote codec protocol): POST
// /codec/decode and /codec/encode with {"payloads": [{"metadata": {...}, "data": "..."}]}, bytes in
// base64. Who may call it: a bearer API key with the payloads:decode scope (the CLI's --codec-auth,
// or a UI that passes credentials), or the Web UI through an endpoint whose path carries a secret
// token (CODEC_UI_TOKEN), since a UI without its own login cannot send credentials. Browsers may
// call it only from the UI's origins (CODEC_CORS_ORIGINS).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import cors from 'cors';
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import { ProblemError, validationProblem } from './problem';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
export const codecBody = z
  .object({
    payloads: z
      .array(z.object({ metadata: z.record(z.string().max(256), base64).optional(), data: base64.optional() }))
      .max(10_000),
  })
  .strict();

export interface CodecServerOptions {
  codec: PayloadCodec;
  corsOrigins: readonly string[];
  uiToken: string;
  /** Authenticates a bearer key with the given scope (the API's own authenticator). */
  requireScope: (scope: 'payloads:decode') => RequestHandler;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function toPayloads(body: z.infer<typeof codecBody>): Payload[] {
  return body.payloads.map((p) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  }));
}

function fromPayloads(payloads: Payload[]) {
  return {
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(
        Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
      ),
      data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
    })),
  };
}

/** Mount at /codec. */
export function codecRouter(opts: CodecServerOptions): Router {
  const router = express.Router();
  const expected = digest(opts.uiToken);
  const allowOrigins = new Set(opts.corsOrigins);
  router.use(
    cors({
      // Only the Web UI's origins get CORS headers; other sites' pages cannot read the answers.
      origin: (origin, done) => done(null, origin !== undefined && allowOrigins.has(origin)),
      methods: ['POST'],
      allowedHeaders: ['content-type', 'x-namespace', 'authorization'],
      credentials: true,
      maxAge: 600,
    }),
  );
  const uiToken: RequestHandler = (req, _res, next) => {
    const given = typeof req.params.token === 'string' ? req.params.token : '';
    if (!timingSafeEqual(digest(given), expected))
      return next(new ProblemError(401, 'Unauthorized', 'unknown codec token'));
    next();
  };
  const json = express.json({ limit: '4mb', type: () => true });
  const handler =
    (direction: 'encode' | 'decode'): RequestHandler =>
    (req, res, next) => {
      const parsed = codecBody.safeParse(req.body);
      if (!parsed.success) return next(validationProblem(parsed.error));
      const payloads = toPayloads(parsed.data);
      const run = direction === 'encode' ? opts.codec.encode(payloads) : opts.codec.decode(payloads);
      run.then(
        (out) => res.json(fromPayloads(out)),
        (err: unknown) =>
          next(
            new ProblemError(
              422,
              'Cannot decode',
              // Which key is missing or that the data was tampered with; never the data.
              err instanceof Error ? err.message : 'the payloads could not be processed',
            ),
          ),
      );
    };
  for (const direction of ['encode', 'decode'] as const) {
    router.post(`/${direction}`, opts.requireScope('payloads:decode'), json, handler(direction));
    router.post(`/:token/${direction}`, uiToken, json, handler(direction));
  }
  return router;
}

/** A request's URL as logged: secrets in paths and queries (codec and callback tokens) masked. */
export function redactUrl(url: string): string {
  return url
    .replace(/^\/codec\/[^/?]+\/(encode|decode)/, '/codec/[token]/$1')
    .replace(/([?&]token=)[^&]*/g, '$1[redacted]');
}
