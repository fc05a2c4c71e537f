// The operations inbox's answers: one schema per answer with an example. The OpenAPI document's
// responses are generated from these, and the type checks at the end hold them to the code.
import { z } from 'zod';
import type { AuditRecord } from '../operations/audit';
import type { ItemView } from './use-cases/operations-inbox';
import { body, instant } from './responses';

const itemState = z.enum(['open', 'claimed', 'resolved']);

export const itemSchema = z
  .object({
    id: z.string().describe('The hand-over’s id (its idempotency key): filing it again never makes a second item'),
    loanId: z.string(),
    kind: z.string().describe('dispute, hardship, callback, wrong-number, opt-out, schedule-exhausted, …'),
    state: itemState,
    filedAt: instant,
    dueBy: instant.describe('When a person should have acted: filing plus the kind’s service level'),
    overdue: z.boolean(),
    assignee: z.string().nullable(),
    claimedAt: instant.nullable(),
    resolvedAt: instant.nullable(),
    resolution: z.string().nullable(),
    note: z.unknown().describe('The operator’s note; masked without payloads:decode'),
    outcome: z.record(z.string(), z.unknown()).nullable().describe('What the loan answered to the resolution'),
    detail: z.record(z.string(), z.unknown()).describe('What the loan said when it handed over; words masked'),
    links: z.object({ loan: z.string(), temporalUi: z.string().optional() }),
  })
  .describe('A work item of the operations inbox');

const itemExample: ItemView = {
  id: 'L-1001:ops:1',
  loanId: 'L-1001',
  kind: 'dispute',
  state: 'claimed',
  filedAt: '2026-12-09T02:10:00.000Z',
  dueBy: '2026-12-10T02:10:00.000Z',
  overdue: false,
  assignee: 'mei',
  claimedAt: '2026-12-09T03:00:00.000Z',
  resolvedAt: null,
  resolution: null,
  note: null,
  outcome: null,
  detail: { outstanding: 500000, currency: 'CNY', reason: '••• (sealed: needs payloads:decode)' },
  links: {
    loan: '/v1/loans/L-1001',
    temporalUi: 'http://localhost:8233/namespaces/default/workflows/loan-L-1001',
  },
};
export const ITEM = body('InboxItem', itemSchema, itemExample);

export const itemListSchema = z.object({
  items: z.array(itemSchema).describe('Due first'),
  nextPageToken: z.string().nullable(),
});
export const ITEM_LIST = body('InboxPage', itemListSchema, { items: [itemExample], nextPageToken: null });

export const inboxSummarySchema = z.object({
  at: instant,
  queues: z.array(
    z.object({
      kind: z.string(),
      state: itemState,
      items: z.number().int(),
      overdue: z.number().int().describe('Of these, how many are past their due time'),
    }),
  ),
});
export const INBOX_SUMMARY = body('InboxSummary', inboxSummarySchema, {
  at: '2026-12-09T04:00:00.000Z',
  queues: [{ kind: 'dispute', state: 'open', items: 3, overdue: 1 }],
});

// Fails to compile if a schema and what the code returns part.
type Fits<Schema, Actual extends Schema> = Actual;
export type ItemFits = Fits<z.output<typeof itemSchema>, ItemView>;

const auditSummary = z.record(z.string(), z.unknown()).nullable();
export const auditRecordSchema = z
  .object({
    id: z.string(),
    at: instant,
    actorKey: z.string().describe('The API key’s name, payment-webhook, sms-gateway:<provider> or anonymous'),
    actorUser: z.string().nullable().describe('The person using the key (HTTP Basic user name or X-Operator)'),
    action: z.string().describe('The operationId, or unmatched'),
    method: z.string(),
    route: z.string(),
    loanId: z.string().nullable(),
    itemId: z.string().nullable(),
    requestId: z.string(),
    status: z.number().int(),
    outcome: z.enum(['accepted', 'refused', 'failed']),
    what: auditSummary.describe('The fields the request named, and its kind, resolution or amount'),
    before: auditSummary.describe('The loan or item before the change: statuses, amounts, kinds'),
    after: auditSummary.describe('The same after it, from the answer'),
  })
  .describe('One state-changing request');
const auditExample: AuditRecord = {
  id: '00mip3k2a-4f1c2d3e4a5b6c7d',
  at: '2026-12-09T03:05:00.000Z',
  actorKey: 'ops-desk',
  actorUser: 'mei',
  action: 'resolveInboxItem',
  method: 'POST',
  route: '/v1/operations/items/:itemId/resolve',
  loanId: 'L-1001',
  itemId: 'L-1001:ops:1',
  requestId: '5b0c1e9a-1d2f-4c8e-9a55-0b2d4f7c9e11',
  status: 200,
  outcome: 'accepted',
  what: { fields: ['resolution', 'note'], resolution: 'resume' },
  before: { state: 'claimed', assignee: 'mei' },
  after: { state: 'resolved', resolution: 'resume', assignee: 'mei', loanStatus: 'active', accepted: true },
};
export const AUDIT_LIST = body(
  'AuditPage',
  z.object({ records: z.array(auditRecordSchema), nextPageToken: z.string().nullable() }),
  { records: [auditExample], nextPageToken: null },
);
export const AUDIT_CSV = body(
  'AuditCsv',
  z.string().describe('One row per record; a following page’s token in X-Next-Page-Token'),
  'at,actor_key,actor_user,action,method,route,loan_id,item_id,request_id,status,outcome,what,before,after,id\r\n',
  'text/csv',
);
export type AuditFits = Fits<z.output<typeof auditRecordSchema>, AuditRecord>;
