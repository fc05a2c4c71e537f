// The listing query: loans by status, stage, policy, outstanding range and overdue, from
// Temporal's visibility (the loans' search attributes), a page at a time behind signed tokens.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import type { temporal } from '@temporalio/proto';
import type { z } from 'zod';
import {
  DUE_DATE,
  LOAN_STAGE,
  LOAN_STATUS,
  NEXT_REMINDER_AT,
  OUTSTANDING_AMOUNT,
  LOAN_CURRENCY,
  PAUSE_REASON,
  POLICY_ID,
} from '../../workflows/search-attributes';
import { LOAN_WORKFLOW_TYPE } from '../loan-workflow';
import { ProblemError } from '../problem';
import { canonical } from '../route-spec';
import type { listQuerySchema } from '../schemas';

type ListQuery = z.output<typeof listQuerySchema>;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/**
 * The due date from the DueDate search attribute, which holds local midnight of the due date in the
 * borrower's zone as an instant. Zones lie from UTC-12 to UTC+14, so local midnight falls at
 * `r` = -offset past UTC midnight of the same date (offsets 0 to -12) or at 24 h - offset before
 * UTC midnight of the next date (offsets +1 to +14). Up to 10:00 UTC it is read as the same date,
 * after it as the next one: exact for every zone but those whose midnight shares its UTC hour with
 * another's, UTC-11 and -12 (Niue, Pago Pago, Midway; read as +13 and +12) and Pacific/Kiritimati's
 * +14 (read as Hawaii's -10): for those the list is a day off; the loan's own status is exact.
 */
export function dueDateOfLocalMidnight(at: Date): string {
  const t = at.getTime();
  const r = ((t % DAY_MS) + DAY_MS) % DAY_MS;
  return new Date(t + (r > 10 * HOUR_MS ? DAY_MS - r : -r)).toISOString().slice(0, 10);
}

const PAGE_TOKEN_MAC_BYTES = 16;

/**
 * The list's page tokens: Temporal's own token behind an HMAC of it and of the filters it pages,
 * so a token the API did not issue, one altered, or one used with other filters is refused at once,
 * without a call to Temporal (which answers some forged tokens only after the client's retries).
 */
export function pageTokens(key: Buffer) {
  const mac = (filters: string, token: Uint8Array) =>
    createHmac('sha256', key).update(filters).update('\n').update(token).digest().subarray(0, PAGE_TOKEN_MAC_BYTES);
  return {
    issue(filters: string, token: Uint8Array): string {
      return Buffer.concat([mac(filters, token), token]).toString('base64url');
    },
    /** Temporal's token inside `given`, or undefined if this API did not issue it for these filters. */
    open(filters: string, given: string): Buffer | undefined {
      const bytes = Buffer.from(given, 'base64url');
      if (bytes.length <= PAGE_TOKEN_MAC_BYTES || bytes.toString('base64url') !== given) return undefined;
      const token = bytes.subarray(PAGE_TOKEN_MAC_BYTES);
      return timingSafeEqual(bytes.subarray(0, PAGE_TOKEN_MAC_BYTES), mac(filters, token)) ? token : undefined;
    },
  };
}

const invalidPageToken = () =>
  new ProblemError(
    400,
    'Invalid request',
    'invalid pageToken',
    [{ field: 'pageToken', message: 'not a page token this API returned for these filters' }],
    'urn:loan-reminders:problem:validation',
  );

/**
 * Pages of one of the service's own tables, by a cursor (where the last page ended), signed into
 * the token with the filters as pageTokens signs Temporal's: the inbox and the audit trail.
 */
export function cursorPages<Cursor>(key: Buffer) {
  const tokens = pageTokens(key);
  return {
    /** Where the token's page starts; a token not issued for these filters is a 400 naming pageToken. */
    after(filters: object, given: string | undefined): Cursor | undefined {
      if (given === undefined) return undefined;
      const raw = tokens.open(canonical(filters), given);
      if (!raw) throw invalidPageToken();
      return JSON.parse(raw.toString('utf8')) as Cursor;
    },
    /** The page of rows found (asked for one more than `pageSize`), and the next page's token when there is one. */
    page<T>(filters: object, found: readonly T[], pageSize: number, cursorOf: (last: T) => Cursor) {
      const rows = found.slice(0, pageSize);
      const last = rows[rows.length - 1];
      const nextPageToken =
        found.length > pageSize && last !== undefined
          ? tokens.issue(canonical(filters), Buffer.from(JSON.stringify(cursorOf(last))))
          : null;
      return { rows, nextPageToken };
    },
  };
}

/** The visibility query of the filters. Every value passed the schema (enums, ids, integers): nothing free-form enters it. */
export function visibilityQuery(q: ListQuery, now: number): string {
  const clauses = [`WorkflowType = '${LOAN_WORKFLOW_TYPE}'`];
  if (q.status) clauses.push(`${LOAN_STATUS.name} = '${q.status}'`);
  if (q.stage) clauses.push(`${LOAN_STAGE.name} = '${q.stage}'`);
  if (q.policyId) clauses.push(`${POLICY_ID.name} = '${q.policyId}'`);
  if (q.minOutstanding !== undefined) clauses.push(`${OUTSTANDING_AMOUNT.name} >= ${q.minOutstanding}`);
  if (q.maxOutstanding !== undefined) clauses.push(`${OUTSTANDING_AMOUNT.name} <= ${q.maxOutstanding}`);
  const dayAgo = new Date(now - 86_400_000).toISOString();
  if (q.overdue === 'true')
    clauses.push(`${DUE_DATE.name} <= '${dayAgo}' AND ${LOAN_STATUS.name} IN ('active', 'paused')`);
  if (q.overdue === 'false')
    clauses.push(`(${DUE_DATE.name} > '${dayAgo}' OR ${LOAN_STATUS.name} NOT IN ('active', 'paused'))`);
  return clauses.join(' AND ');
}

type Execution = temporal.api.workflow.v1.IWorkflowExecutionInfo;

/** A loan as the list shows it: what its search attributes say. */
function listItem(e: Execution) {
  const sa = decodeTypedSearchAttributes(e.searchAttributes?.indexedFields);
  const workflowId = e.execution?.workflowId ?? '';
  const dueDate = sa.get(DUE_DATE);
  return {
    loanId: workflowId.replace(/^loan-/, ''),
    workflowId,
    status: sa.get(LOAN_STATUS) ?? null,
    stage: sa.get(LOAN_STAGE) ?? null,
    outstanding: sa.get(OUTSTANDING_AMOUNT) ?? null,
    currency: sa.get(LOAN_CURRENCY) ?? null,
    dueDate: dueDate ? dueDateOfLocalMidnight(dueDate) : null,
    nextReminderAt: sa.get(NEXT_REMINDER_AT)?.toISOString() ?? null,
    policyId: sa.get(POLICY_ID) ?? null,
    pause: sa.get(PAUSE_REASON) ?? null,
  };
}

export type LoanListItem = ReturnType<typeof listItem>;

export function loanLister(client: Client, pageTokenKey: Buffer) {
  const tokens = pageTokens(pageTokenKey);
  return async function listLoans(q: ListQuery): Promise<{ items: LoanListItem[]; nextPageToken: string | null }> {
    const query = visibilityQuery(q, Date.now());
    const list = (nextPageToken: Uint8Array | undefined, pageSize: number) =>
      client.workflowService.listWorkflowExecutions({
        namespace: client.options.namespace,
        query,
        pageSize,
        nextPageToken,
      });
    // A token pages the filters it was issued for, and no others.
    const filters = canonical({ ...q, pageSize: undefined, pageToken: undefined });
    const given = q.pageToken === undefined ? undefined : tokens.open(filters, q.pageToken);
    if (q.pageToken !== undefined && given === undefined) throw invalidPageToken();
    const page = await list(given, q.pageSize).catch(async (err: unknown) => {
      // A token this API issued that Temporal no longer takes (a server reset, say; servers differ in
      // how they refuse it: INVALID_ARGUMENT, or UNKNOWN on the dev server): if the same query
      // without it answers, the token is stale, the caller's to drop; otherwise Temporal's trouble.
      const refusedOnlyTheToken =
        given !== undefined &&
        (await list(undefined, 1).then(
          () => true,
          () => false,
        ));
      if (!refusedOnlyTheToken) throw err;
      throw invalidPageToken();
    });
    const items = (page.executions ?? []).map(listItem);
    const nextPageToken = page.nextPageToken?.length ? tokens.issue(filters, page.nextPageToken) : null;
    return { items, nextPageToken };
  };
}
