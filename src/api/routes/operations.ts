// The operations inbox: list the loans' hand-overs, claim one, release it, resolve it (which acts on
// the loan), and the queues' counts for the operations page.
import type { Request } from 'express';
import { operatorOf } from '../auth';
import { LOAN } from '../responses';
import { INBOX_SUMMARY, ITEM, ITEM_LIST } from '../operations-responses';
import { ProblemError } from '../problem';
import { COMMON_ERRORS, parse, type RouteSpec } from '../route-spec';
import { claimItemSchema, inboxQuerySchema, itemIdSchema, resolveItemSchema } from '../schemas';
import { operationsInbox, type Actor } from '../use-cases/operations-inbox';
import type { RouteContext } from './context';

const NOT_FOUND = 'No such item';
const UNAVAILABLE = 'The operations inbox is not configured on this instance';

export function operationsRoutes({ d, loans }: RouteContext): RouteSpec[] {
  const inbox = d.operations ? operationsInbox({ ...d, operations: d.operations }, loans) : undefined;
  const use = () => {
    if (!inbox) throw new ProblemError(503, 'Not available', UNAVAILABLE);
    return inbox;
  };
  const actor = (req: Request): Actor => ({
    key: req.apiKey?.name ?? '',
    user: operatorOf(req),
    mayDecode: req.apiKey?.scopes.has('payloads:decode') ?? false,
  });
  const itemId = (req: Request): string => {
    const r = itemIdSchema.safeParse(req.params.itemId);
    if (!r.success) throw new ProblemError(404, 'Not found', 'no such item');
    return r.data;
  };
  /** The item as the audit trail keeps it before a move. */
  const before = async (req: Request) => {
    const item = await d.operations?.get(itemId(req));
    return item
      ? {
          loanId: item.loanId,
          kind: item.kind,
          state: item.state,
          assignee: item.assignee,
          resolution: item.resolution,
        }
      : null;
  };
  const moved = {
    200: { description: 'The item as it is now', body: ITEM },
    404: NOT_FOUND,
    409: 'The item is claimed by someone else, or resolved',
    ...COMMON_ERRORS,
  };
  return [
    {
      method: 'get',
      path: '/v1/operations/items',
      operationId: 'listInboxItems',
      tag: 'operations',
      summary: 'The inbox: hand-overs by kind, state, age and assignee, due first, paged',
      auth: 'operations:read',
      query: inboxQuerySchema,
      responses: {
        200: { description: 'A page of items; nextPageToken pages these filters only', body: ITEM_LIST },
        503: UNAVAILABLE,
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        res.json(await use().list(parse(inboxQuerySchema, req.query), actor(req)));
      },
    },
    {
      method: 'get',
      path: '/v1/operations/summary',
      operationId: 'inboxSummary',
      tag: 'operations',
      summary: 'How many items wait in each queue (kind and state), and how many are overdue',
      auth: 'operations:read',
      responses: { 200: { description: 'The queues', body: INBOX_SUMMARY }, 503: UNAVAILABLE, ...COMMON_ERRORS },
      handler: async (_req, res) => {
        res.json(await use().summary());
      },
    },
    {
      method: 'get',
      path: '/v1/operations/items/:itemId',
      operationId: 'getInboxItem',
      tag: 'operations',
      summary: 'One item, with links to its loan and to its workflow in the Temporal Web UI',
      auth: 'operations:read',
      responses: { 200: { description: 'The item', body: ITEM }, 404: NOT_FOUND, 503: UNAVAILABLE, ...COMMON_ERRORS },
      handler: async (req, res) => {
        res.json(await use().get(itemId(req), actor(req)));
      },
    },
    {
      method: 'get',
      path: '/v1/operations/items/:itemId/loan',
      operationId: 'getInboxItemLoan',
      tag: 'operations',
      summary: 'The item’s loan as it is now; a borrower’s words in its answers masked without payloads:decode',
      auth: 'operations:read',
      responses: {
        200: { description: 'The loan', body: LOAN },
        404: NOT_FOUND,
        503: `${UNAVAILABLE}, or Temporal unreachable`,
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        res.json(await use().loan(itemId(req), actor(req)));
      },
    },
    {
      method: 'post',
      path: '/v1/operations/items/:itemId/claim',
      operationId: 'claimInboxItem',
      tag: 'operations',
      summary: 'Take an open item (claiming your own again is a no-op)',
      auth: 'operations:write',
      body: claimItemSchema,
      responses: { ...moved, 503: UNAVAILABLE },
      requestExample: () => ({}),
      auditBefore: before,
      handler: async (req, res) => {
        parse(claimItemSchema, req.body);
        res.json(await use().claim(itemId(req), actor(req)));
      },
    },
    {
      method: 'post',
      path: '/v1/operations/items/:itemId/release',
      operationId: 'releaseInboxItem',
      tag: 'operations',
      summary: 'Give a claimed item back to the queue',
      auth: 'operations:write',
      body: claimItemSchema,
      responses: { ...moved, 503: UNAVAILABLE },
      requestExample: () => ({}),
      auditBefore: before,
      handler: async (req, res) => {
        parse(claimItemSchema, req.body);
        res.json(await use().release(itemId(req), actor(req)));
      },
    },
    {
      method: 'post',
      path: '/v1/operations/items/:itemId/resolve',
      operationId: 'resolveInboxItem',
      tag: 'operations',
      summary:
        'Resolve an item: resume the loan, change its number, pause it for a promise or plan, write it off or ' +
        'close it, or take no action. A refusal by the loan is kept on the item and answered as the loan’s 4xx',
      auth: 'operations:write',
      body: resolveItemSchema,
      responses: {
        ...moved,
        409: 'The item is claimed by someone else or resolved otherwise, or the loan is closed',
        422: 'Refused by the loan (e.g. not paused, waiting for a new number): the refusal is on the item',
        503: UNAVAILABLE,
      },
      requestExample: () => ({ resolution: 'resume', note: 'statement checked: the amount is right' }),
      auditBefore: before,
      handler: async (req, res) => {
        res.json(await use().resolve(itemId(req), parse(resolveItemSchema, req.body), actor(req)));
      },
    },
  ];
}
