// Every state-changing request of the API leaves one record in the audit trail: who (the key's
// name and the person using it), what (the operation, the fields it named, its kind or
// resolution), which loan or item, a summary of before and after, the request's id, when, and how
// it ended. Summaries keep statuses, amounts, kinds and field names only: never a borrower's name,
// number or words, nor an operator's note. Rate-limited requests are not recorded (a flood would
// otherwise write one record per refused request); everything else under /v1 that is not a read is.
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from '../log';
import type { AuditOutcome, AuditTrail, NewAuditRecord } from '../operations/audit';
import { operatorOf } from './auth';
import type { RouteSpec } from './route-spec';
import { itemIdSchema, loanIdSchema } from './schemas';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What the route table tells the trail about a request, set as its route begins. */
export interface AuditContext {
  route: RouteSpec;
  params: Record<string, string>;
  before?: Record<string, unknown> | null;
}

declare module 'express-serve-static-core' {
  interface Request {
    audit?: AuditContext;
  }
}

const WORD = /^[a-z][a-z0-9-]{0,40}$/;
const FIELD = /^[A-Za-z][A-Za-z0-9_-]{0,40}$/;
/** Fields whose value is a kind from a fixed list (never free text), kept as they are when they look it. */
const KIND_FIELDS = ['kind', 'resolution', 'reason', 'status', 'format', 'locale', 'policyId', 'currency'];
/** Amounts and ids that are no one's personal data. */
const PLAIN_FIELDS = ['amount', 'amountDue', 'paymentId', 'dueDate', 'paidAt', 'date'];

/** The request's body as names: its fields (nested one level: borrower.phone), its kinds, its amounts. */
export function whatOf(body: unknown): Record<string, unknown> | null {
  if (Array.isArray(body)) return { items: body.length };
  if (!body || typeof body !== 'object' || Buffer.isBuffer(body)) return null;
  const entries = Object.entries(body as Record<string, unknown>).slice(0, 40);
  const fields: string[] = [];
  const what: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    if (!FIELD.test(k)) continue;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const inner of Object.keys(v).slice(0, 20)) if (FIELD.test(inner)) fields.push(`${k}.${inner}`);
    } else fields.push(k);
    if (Array.isArray(v)) what[k] = v.length;
    else if (KIND_FIELDS.includes(k) && typeof v === 'string' && WORD.test(v)) what[k] = v;
    else if (
      PLAIN_FIELDS.includes(k) &&
      (typeof v === 'number' || (typeof v === 'string' && /^[\w:.+-]{1,64}$/.test(v)))
    )
      what[k] = v;
  }
  return { fields, ...what };
}

/** A loan's or an item's state as the trail keeps it: statuses, amounts, kinds, instants. */
export function summaryOf(body: unknown): Record<string, unknown> | null {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return null;
  const b = body as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const take = (k: string, v: unknown) => {
    if (v === undefined) return;
    if (v === null || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (typeof v === 'string' && /^[\w:.+-]{1,64}$/.test(v)) out[k] = v;
  };
  for (const k of ['status', 'state', 'outstanding', 'currency', 'policyId', 'recordedAs', 'accepted', 'resolution'])
    take(k, b[k]);
  for (const k of ['assignee', 'pausedUntil', 'reason', 'closed', 'type', 'title']) take(k, b[k]);
  if (b.pause && typeof b.pause === 'object') take('pause', (b.pause as { kind?: unknown }).kind);
  else if (b.pause === null) out.pause = null;
  if (b.nextReminder && typeof b.nextReminder === 'object')
    take('nextReminderAt', (b.nextReminder as { at?: unknown }).at);
  if (b.outcome && typeof b.outcome === 'object') {
    const o = b.outcome as Record<string, unknown>;
    take('loanStatus', o.loanStatus);
    take('accepted', o.accepted);
  }
  if (Array.isArray(b.results)) {
    const byStatus: Record<string, number> = {};
    for (const r of b.results as Array<{ httpStatus?: unknown }>) {
      const k = String(r.httpStatus ?? 'unknown');
      byStatus[k] = (byStatus[k] ?? 0) + 1;
    }
    out.results = byStatus;
  }
  return Object.keys(out).length ? out : null;
}

function actorOf(req: Request): { actorKey: string; actorUser: string | null } {
  if (req.apiKey) {
    const user = operatorOf(req);
    return { actorKey: req.apiKey.name, actorUser: user === req.apiKey.name ? null : user };
  }
  const auth = req.audit?.route.auth;
  if (auth === 'webhook-signature') return { actorKey: 'payment-webhook', actorUser: null };
  if (auth === 'provider-callback') {
    const provider = req.audit?.params.provider ?? '';
    return { actorKey: `sms-gateway:${WORD.test(provider) ? provider : 'unknown'}`, actorUser: null };
  }
  return { actorKey: 'anonymous', actorUser: null };
}

const outcomeOf = (status: number): AuditOutcome => (status < 400 ? 'accepted' : status < 500 ? 'refused' : 'failed');

function recordOf(req: Request, res: Response, body: unknown): NewAuditRecord {
  const ctx = req.audit;
  const requestBody = req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body) ? req.body : undefined;
  const loanIdIn = (v: unknown) => (v && typeof v === 'object' ? (v as { loanId?: unknown }).loanId : undefined);
  // The loan: the path's, else the answer's or the request's (a start, a payment webhook), else the item's.
  const loanId =
    [ctx?.params.loanId, loanIdIn(body), loanIdIn(requestBody), ctx?.before?.loanId]
      .map((v) => loanIdSchema.safeParse(v))
      .find((r) => r.success)?.data ?? null;
  const item = itemIdSchema.safeParse(ctx?.params.itemId);
  return {
    ...actorOf(req),
    action: ctx?.route.operationId ?? 'unmatched',
    method: req.method,
    route: ctx?.route.path ?? 'unmatched',
    loanId,
    itemId: item.success ? item.data : null,
    requestId: String(res.getHeader('X-Request-Id') ?? ''),
    status: res.statusCode,
    outcome: outcomeOf(res.statusCode),
    what: whatOf(requestBody),
    before: ctx?.before ?? null,
    after: summaryOf(body),
  };
}

/** Records each state-changing request once its answer has gone; a failure to record is logged and counted. */
export function auditRequests(trail: AuditTrail, log: Logger, failed: () => void): RequestHandler {
  return (req, res, next) => {
    if (READS.has(req.method)) return next();
    let answered: unknown;
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      answered = body;
      return json(body);
    };
    res.once('close', () => {
      if (res.statusCode === 429) return;
      trail.append(recordOf(req, res, answered)).catch((err: unknown) => {
        failed();
        log.error({ err, requestId: res.getHeader('X-Request-Id') }, 'audit record not written');
      });
    });
    next();
  };
}

/** The first step of a route's chain: tells the trail which route the request took. */
export function auditStep(r: RouteSpec): RequestHandler {
  return (req, _res, next) => {
    req.audit = { route: r, params: { ...req.params } as Record<string, string> };
    next();
  };
}

/** After authentication and parsing, before the change: what the loan or item looked like (null if unreadable). */
export function auditBefore(read: NonNullable<RouteSpec['auditBefore']>): RequestHandler {
  return (req, _res, next) => {
    read(req).then(
      (before) => {
        if (req.audit) req.audit.before = before;
        next();
      },
      () => next(),
    );
  };
}
