// The audit trail: every state-changing request, filtered and paged, as JSON or CSV.
import { cell } from '../../analytics/csv';
import type { AuditRecord } from '../../operations/audit';
import { AUDIT_LIST, AUDIT_CSV } from '../operations-responses';
import { ProblemError } from '../problem';
import { COMMON_ERRORS, parse, type RouteSpec } from '../route-spec';
import { auditQuerySchema } from '../schemas';
import { cursorPages } from '../use-cases/list-loans';
import type { RouteContext } from './context';

const CSV_COLUMNS: Array<[string, (r: AuditRecord) => string | number | null]> = [
  ['at', (r) => r.at],
  ['actor_key', (r) => r.actorKey],
  ['actor_user', (r) => r.actorUser],
  ['action', (r) => r.action],
  ['method', (r) => r.method],
  ['route', (r) => r.route],
  ['loan_id', (r) => r.loanId],
  ['item_id', (r) => r.itemId],
  ['request_id', (r) => r.requestId],
  ['status', (r) => r.status],
  ['outcome', (r) => r.outcome],
  ['what', (r) => (r.what ? JSON.stringify(r.what) : null)],
  ['before', (r) => (r.before ? JSON.stringify(r.before) : null)],
  ['after', (r) => (r.after ? JSON.stringify(r.after) : null)],
  ['id', (r) => r.id],
];

export function auditCsv(records: readonly AuditRecord[]): string {
  const lines = [CSV_COLUMNS.map(([name]) => name).join(',')];
  for (const r of records) lines.push(CSV_COLUMNS.map(([, get]) => cell(get(r))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export function auditRoutes({ d }: RouteContext): RouteSpec[] {
  const pages = cursorPages<{ atMs: number; id: string }>(d.pageTokenKey);
  return [
    {
      method: 'get',
      path: '/v1/audit',
      operationId: 'auditTrail',
      tag: 'operations',
      summary:
        'The audit trail: who changed what, on which loan, before and after, the request id, when and how it ended; by loan, actor, action, outcome and time; JSON, or CSV with format=csv or Accept: text/csv',
      auth: 'audit:read',
      query: auditQuerySchema,
      responses: {
        200: {
          description: 'A page of records, oldest first (application/json or text/csv)',
          body: [AUDIT_LIST, AUDIT_CSV],
        },
        503: 'No audit trail on this instance',
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        const q = parse(auditQuerySchema, req.query);
        if (!d.audit)
          throw new ProblemError(503, 'Not available', 'the audit trail is not configured on this instance');
        const { pageToken, pageSize, format, ...filters } = q;
        const after = pages.after(filters, pageToken);
        const found = await d.audit.find({ ...filters, limit: pageSize + 1, after });
        const { rows: records, nextPageToken } = pages.page(filters, found, pageSize, (last) => ({
          atMs: Date.parse(last.at),
          id: last.id,
        }));
        const csv =
          format === 'csv' || (format === undefined && req.accepts(['application/json', 'text/csv']) === 'text/csv');
        if (!csv) {
          res.json({ records, nextPageToken });
          return;
        }
        if (nextPageToken) res.set('X-Next-Page-Token', nextPageToken);
        res.type('text/csv; charset=utf-8').attachment('audit.csv').send(auditCsv(records));
      },
    },
  ];
}
