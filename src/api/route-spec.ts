// The shape of a route in the table: method, path, scope, schemas and handler. Express is wired
// from the table and so is the OpenAPI document, so the two cannot drift apart.
import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { Lender } from '../domain/loan';
import type { Logger } from '../log';
import type { PolicyRegistry } from '../policies/registry';
import type { EventStore } from '../store/events';
import type { PhoneIndex } from '../store/phone-index';
import type { SendLedger } from '../store/send-ledger';
import type { OperationsQueue } from '../operations/queue';
import type { AuditTrail } from '../operations/audit';
import type { EncryptionCodec } from '../codec/encryption';
import type { Scope } from './auth';
import type { BodySpec } from './responses';
import type { Metrics } from './metrics';
import type { CallbackAuth } from './sms-webhooks';
import { loanIdSchema } from './schemas';
import { ProblemError, validationProblem } from './problem';

export interface RouteSpec {
  method: 'get' | 'post' | 'patch';
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  auth: Scope | 'webhook-signature' | 'provider-callback' | 'none';
  body?: z.ZodType;
  query?: z.ZodType;
  /** By status: a description (a problem for 4xx and 5xx, no body otherwise), or one with its bodies. */
  responses: Record<number, ResponseSpec>;
  /** A request body the document shows, one that succeeds as it is (Swagger's Try it out sends it). */
  requestExample?: (now: number) => unknown;
  /** What the audit trail keeps as "before" for a change: a summary of the loan or item it changes. */
  auditBefore?: (req: Request) => Promise<Record<string, unknown> | null>;
  handler: (req: Request, res: Response) => Promise<void> | void;
}

export type ResponseSpec = string | { description: string; body?: BodySpec | BodySpec[] };

export interface SmsCallbackDeps {
  /** Where the worker records sends (shared file on one machine). */
  ledger?: SendLedger;
  phoneIndex?: PhoneIndex;
  auth: CallbackAuth;
}

export interface RouteDeps {
  sms?: SmsCallbackDeps;
  client: Client;
  taskQueue: string;
  lender: Lender;
  policies: PolicyRegistry;
  log: Logger;
  metrics: Metrics;
  /** The loans' events, for the analytics and the receipts. */
  events?: EventStore;
  /** Signs the list's page tokens (see pageTokens); the same on every instance of one configuration. */
  pageTokenKey: Buffer;
  /** The operations inbox: the loans' hand-overs; absent, its routes answer 503. */
  operations?: OperationsQueue;
  /** Opens sealed words and notes for keys with payloads:decode. */
  payloadCodec?: EncryptionCodec;
  /** The Temporal Web UI, for deep links from the inbox to a loan's workflow. */
  temporalUi?: { url: string; namespace: string };
  /** The audit trail: read by GET /v1/audit; absent, that route answers 503. */
  audit?: AuditTrail;
}

export const COMMON_ERRORS = {
  400: 'Invalid request (also: an API key in the query string)',
  401: 'No or unknown API key',
  403: 'Key lacks the scope',
  429: 'Rate limited',
};

/** The value if it passes the schema; otherwise the schema's complaints as a 400. */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw validationProblem(r.error);
  return r.data;
}

/** The path's loan id; one no loan can have is simply not found. */
export function loanIdParam(req: Request): string {
  const r = loanIdSchema.safeParse(req.params.loanId);
  if (!r.success) throw new ProblemError(404, 'Not found', 'no such loan');
  return r.data;
}

/** JSON with keys sorted at every level: the same request always has the same fingerprint. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
