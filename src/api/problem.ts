// Every error leaves the API as RFC 9457 problem+json, built here.
import type { ErrorRequestHandler, Response } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ZodError } from 'zod';
import type { Logger } from '../log';

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
  ) {
    super(detail ?? title);
  }
}

export function sendProblem(res: Response, p: ProblemError, instance?: string): void {
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

interface BodyParserError extends Error {
  type?: string;
  status?: number;
}

export function errorMiddleware(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let problem: ProblemError;
    if (err instanceof ProblemError) problem = err;
    else if (err instanceof ZodError) problem = validationProblem(err);
    else if (err instanceof WorkflowNotFoundError) problem = new ProblemError(404, 'Not found', 'no such loan');
    else if ((err as BodyParserError).type === 'entity.parse.failed')
      problem = new ProblemError(400, 'Malformed JSON', 'the request body is not valid JSON');
    else if ((err as BodyParserError).type === 'entity.too.large')
      problem = new ProblemError(413, 'Request too large', 'the request body exceeds the size limit');
    else if (
      (err as BodyParserError).type === 'encoding.unsupported' ||
      (err as BodyParserError).type === 'charset.unsupported'
    )
      problem = new ProblemError(415, 'Unsupported encoding', (err as Error).message);
    else {
      log.error({ err, path: req.path }, 'request failed');
      problem = new ProblemError(
        500,
        'Internal error',
        'the request could not be completed; nothing was lost, retry it',
      );
    }
    sendProblem(res, problem, req.originalUrl);
  };
}
