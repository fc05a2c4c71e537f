// Every error leaves the API as RFC 9457 problem+json, built here.
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Request, Response } from 'express';
import { isGrpcServiceError, ServiceError, WorkflowNotFoundError } from '@temporalio/client';
import { ZodError } from 'zod';
import type { Logger } from '../log';
import { redactUrl } from './codec';

export interface FieldError {
  field: string;
  message: string;
}

export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
    readonly type: string = 'about:blank',
    /** Response headers the problem needs, e.g. Retry-After or Allow. */
    readonly headers?: Record<string, string>,
  ) {
    super(detail ?? title);
  }
}

export function sendProblem(res: Response, p: ProblemError, instance?: string): void {
  if (p.headers) res.set(p.headers);
  res
    .status(p.status)
    .type('application/problem+json')
    .json({
      type: p.type,
      title: p.title,
      status: p.status,
      ...(p.detail ? { detail: p.detail } : {}),
      ...(instance ? { instance } : {}),
      ...(p.errors ? { errors: p.errors } : {}),
    });
}

/**
 * The problem's `instance`: the request's path, never its query (where a phone number or a
 * misplaced key may sit), with secrets in paths masked as in the log.
 */
export function problemInstance(req: Request): string {
  const url = req.originalUrl;
  const q = url.indexOf('?');
  return redactUrl(q < 0 ? url : url.slice(0, q));
}

export function validationProblem(err: ZodError): ProblemError {
  const errors = err.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
  return new ProblemError(
    400,
    'Invalid request',
    `invalid ${[...new Set(errors.map((e) => e.field))].join(', ')}`,
    errors,
    'urn:loan-reminders:problem:validation',
  );
}

/** gRPC's UNAVAILABLE and DEADLINE_EXCEEDED: Temporal did not answer (the client has retried already). */
const UNREACHABLE_CODES: ReadonlySet<number> = new Set([14, 4]);

/** The client gave up reaching Temporal (down, restarting, cut off): the caller should retry later. */
export function temporalUnreachable(err: unknown): boolean {
  const grpc = err instanceof ServiceError ? err.cause : err;
  return isGrpcServiceError(grpc) && UNREACHABLE_CODES.has(grpc.code);
}

interface BodyParserError extends Error {
  type?: string;
  status?: number;
}

/**
 * An error that carries a 4xx status for the request (http-errors, or the router's URIError for a
 * path it cannot decode), with a message meant for the client (not marked `expose: false`).
 */
function clientError(err: unknown): err is Error & { status: number } {
  const e = err as { status?: unknown; expose?: unknown } | null;
  return (
    err instanceof Error && typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && e.expose !== false
  );
}

/**
 * A loan Temporal knows but cannot answer for: its workflow task keeps failing (a query is refused
 * with "Workflow Task in failed state"), or its query handler failed. Readers get this, never a 500.
 */
export function loanUnreadable(loanId: string): ProblemError {
  return new ProblemError(
    503,
    'Loan cannot be read',
    `loan ${loanId} cannot be read right now (its workflow is not running its tasks); retry later`,
    undefined,
    'urn:loan-reminders:problem:loan-unreadable',
    { 'Retry-After': '60' },
  );
}

export function errorMiddleware(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let problem: ProblemError;
    if (err instanceof ProblemError) problem = err;
    else if (err instanceof ZodError) problem = validationProblem(err);
    else if (err instanceof WorkflowNotFoundError) problem = new ProblemError(404, 'Not found', 'no such loan');
    else if (temporalUnreachable(err)) {
      log.warn({ path: req.path }, 'Temporal unreachable');
      problem = new ProblemError(503, 'Unavailable', 'could not reach Temporal; retry the request');
    } else if ((err as BodyParserError).type === 'entity.parse.failed')
      problem = new ProblemError(400, 'Malformed JSON', 'the request body is not valid JSON');
    else if ((err as BodyParserError).type === 'entity.too.large')
      problem = new ProblemError(413, 'Request too large', 'the request body exceeds the size limit');
    else if (
      (err as BodyParserError).type === 'encoding.unsupported' ||
      (err as BodyParserError).type === 'charset.unsupported'
    )
      problem = new ProblemError(415, 'Unsupported encoding', (err as Error).message);
    else if (clientError(err))
      // The request's own fault, found by Express or a library before any route ran: a path that
      // is not valid percent-encoding, a body that does not decompress or that stopped short, a
      // range beyond a file's end. They say so with a 4xx status (http-errors); not a 500.
      problem = new ProblemError(err.status, STATUS_CODES[err.status] ?? 'Bad request', err.message);
    else {
      log.error({ err, path: req.path }, 'request failed');
      problem = new ProblemError(
        500,
        'Internal error',
        'the request could not be completed; nothing was lost, retry it',
      );
    }
    sendProblem(res, problem, problemInstance(req));
  };
}
