// The operations inbox: every hand-over a loan makes is a work item that staff list, claim, release
// and resolve. Resolving acts on the loan through the same updates the API's own routes use (a
// valid dispute resumes it, a new number changes the contact, a promise or plan pauses it, a
// write-off closes it), and the loan's answer is kept as the item's outcome: a refusal is recorded
// on the item and answered as the loan's 4xx, never swallowed.
import { isSealedText, type EncryptionCodec } from '../../codec/encryption';
import { OPERATIONS_HOLDS } from '../../domain/holds';
import { workflowIdForLoan } from '../../domain/loan';
import type { InboxItem, OperationsQueue, Transition } from '../../operations/queue';
import { loanView, promiseToPayUpdate, type LoanStatus, type LoanWorkflows } from '../loan-workflow';
import { ProblemError } from '../problem';
import type { RouteDeps } from '../route-spec';
import type { InboxQueryParams, ResolveItem } from '../schemas';
import { changeLoan, closeLoan, resumeLoan } from './change-loan';
import { cursorPages } from './list-loans';
import { Duration } from 'luxon';

/** Who acts: the API key's name and the person using it (the operations user). */
export interface Actor {
  key: string;
  user: string;
  /** The key may read borrowers' words and notes (scope payloads:decode). */
  mayDecode: boolean;
}

export interface InboxDeps {
  operations: OperationsQueue;
  /** Opens sealed notes for keys allowed to read them. */
  payloadCodec?: EncryptionCodec;
  /** The Temporal Web UI, for each item's deep link to its loan. */
  temporalUi?: { url: string; namespace: string };
}

/** What a reader without the scope sees in place of a borrower's words or an operator's note. */
export const MASKED = '••• (sealed: needs payloads:decode)';

function opened(v: unknown, actor: Actor, codec: EncryptionCodec | undefined): unknown {
  if (!isSealedText(v)) return v;
  if (!actor.mayDecode || !codec) return MASKED;
  try {
    return codec.openText(v);
  } catch {
    return MASKED;
  }
}

export function itemView(item: InboxItem, actor: Actor, deps: InboxDeps, now = Date.now()) {
  const detail = Object.fromEntries(
    Object.entries(item.detail).map(([k, v]) => [k, opened(v, actor, deps.payloadCodec)]),
  );
  const workflowId = workflowIdForLoan(item.loanId);
  const ui = deps.temporalUi;
  return {
    id: item.id,
    loanId: item.loanId,
    kind: item.kind,
    state: item.state,
    filedAt: item.filedAt,
    dueBy: item.dueBy,
    overdue: item.state !== 'resolved' && Date.parse(item.dueBy) < now,
    assignee: item.assignee,
    claimedAt: item.claimedAt,
    resolvedAt: item.resolvedAt,
    resolution: item.resolution,
    note: item.note === null ? null : opened(item.note, actor, deps.payloadCodec),
    outcome: item.outcome,
    detail,
    links: {
      loan: `/v1/loans/${encodeURIComponent(item.loanId)}`,
      ...(ui
        ? {
            temporalUi: `${ui.url.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(ui.namespace)}/workflows/${encodeURIComponent(workflowId)}`,
          }
        : {}),
    },
  };
}
export type ItemView = ReturnType<typeof itemView>;

/** A loan as operations see it: a borrower's words in its answers masked without the scope. */
export function maskedLoan(status: LoanStatus, actor: Actor) {
  const view = loanView(status);
  if (actor.mayDecode) return view;
  const mask = (v: unknown) => (typeof v === 'string' && v.length ? MASKED : v);
  return {
    ...view,
    answers: view.answers.map((a) => {
      const copy: Record<string, unknown> = { ...a };
      for (const k of ['note', 'reason', 'text']) if (k in copy) copy[k] = mask(copy[k]);
      return copy;
    }),
    failed: view.failed.map((f) => ({ ...f, reason: mask(f.reason) })),
  };
}

/** What the loan said to a resolution: the parts of its status operations act on next. */
function outcomeOf(status: LoanStatus, answer: Record<string, unknown>): Record<string, unknown> {
  return {
    accepted: true,
    ...answer,
    loanStatus: status.status,
    pause: status.pause?.kind ?? null,
    nextReminderAt: status.nextReminder?.at ?? null,
    outstanding: status.outstanding,
  };
}

const notFound = () => new ProblemError(404, 'Not found', 'no such item');

function conflict(item: InboxItem, wanted: string): ProblemError {
  const why =
    item.state === 'resolved'
      ? `the item was resolved (${item.resolution ?? ''}) at ${item.resolvedAt ?? ''}`
      : item.state === 'claimed'
        ? `the item is claimed by ${item.assignee ?? 'someone else'}`
        : 'the item is open: claim it first';
  return new ProblemError(409, 'Item not available', `cannot ${wanted}: ${why}`);
}

export function operationsInbox(
  d: Pick<RouteDeps, 'sms' | 'metrics' | 'pageTokenKey'> & InboxDeps,
  loans: LoanWorkflows,
) {
  const pages = cursorPages<{ dueByMs: number; id: string }>(d.pageTokenKey);
  const q = d.operations;

  async function list(params: InboxQueryParams, actor: Actor) {
    const { pageToken, pageSize, ...filters } = params;
    const after = pages.after(filters, pageToken);
    const now = Date.now();
    const found = await q.find({
      kinds: filters.kind,
      states: filters.state,
      assignee: filters.assignee,
      loanId: filters.loanId,
      filedBy: filters.olderThan ? now - Duration.fromISO(filters.olderThan).as('milliseconds') : undefined,
      limit: pageSize + 1,
      after,
    });
    const { rows, nextPageToken } = pages.page(filters, found, pageSize, (last) => ({
      dueByMs: Date.parse(last.dueBy),
      id: last.id,
    }));
    return { items: rows.map((i) => itemView(i, actor, d, now)), nextPageToken };
  }

  async function get(id: string, actor: Actor): Promise<ItemView> {
    const item = await q.get(id);
    if (!item) throw notFound();
    return itemView(item, actor, d);
  }

  /** Moves the item, or says why it could not move from where it is. */
  async function move(id: string, t: Transition, wanted: string): Promise<InboxItem> {
    const moved = await q.move(id, t);
    if (moved) return moved;
    const item = await q.get(id);
    if (!item) throw notFound();
    throw conflict(item, wanted);
  }

  async function claim(id: string, actor: Actor): Promise<ItemView> {
    return itemView(await move(id, { to: 'claimed', assignee: actor.user }, 'claim it'), actor, d);
  }

  async function release(id: string, actor: Actor): Promise<ItemView> {
    return itemView(await move(id, { to: 'open', assignee: actor.user }, 'release it'), actor, d);
  }

  /** Acts on the loan as the resolution says; the loan's answer. */
  async function act(loanId: string, r: ResolveItem): Promise<Record<string, unknown>> {
    const deps = { sms: d.sms, metrics: d.metrics };
    switch (r.resolution) {
      case 'resume':
        await resumeLoan(deps, loans, loanId, {});
        return outcomeOf(await loans.readLoan(loanId), { resumed: true });
      case 'new-number': {
        await changeLoan(deps, loans, loanId, { borrower: { phone: r.phone } });
        return outcomeOf(await loans.readLoan(loanId), { changed: ['phone'] });
      }
      case 'promise':
      case 'plan': {
        const h = loans.handle(loanId);
        const { pausedUntil } = await loans.onLoan(h, loanId, () =>
          h.executeUpdate(promiseToPayUpdate, { args: [{ date: r.date! }] }),
        );
        d.metrics.signals.inc({ kind: 'promise-to-pay' });
        // The promise stacks under the dispute, hardship or review that handed the loan over; the
        // resolution ends that hold, and the promise's date then holds the reminders.
        const held = await loans.readLoan(loanId, h);
        if (held.pause && OPERATIONS_HOLDS.includes(held.pause.kind)) await resumeLoan(deps, loans, loanId, {});
        return outcomeOf(await loans.readLoan(loanId, h), { pausedUntil });
      }
      case 'write-off':
      case 'close': {
        const reason = r.resolution === 'write-off' ? 'written-off' : r.reason!;
        await closeLoan(deps, loans, loanId, { reason });
        return outcomeOf(await loans.readLoan(loanId), { closed: reason });
      }
      case 'no-action':
        return outcomeOf(await loans.readLoan(loanId), {});
    }
  }

  async function resolve(id: string, r: ResolveItem, actor: Actor): Promise<ItemView> {
    const item = await q.get(id);
    if (!item) throw notFound();
    if (item.state === 'resolved') {
      // The same resolution again (a retried request): answered as it was.
      if (item.resolution === r.resolution && item.assignee === actor.user) return itemView(item, actor, d);
      throw conflict(item, 'resolve it');
    }
    if (item.state === 'claimed' && item.assignee !== actor.user) throw conflict(item, 'resolve it');
    let outcome: Record<string, unknown>;
    try {
      outcome = await act(item.loanId, r);
    } catch (err) {
      if (!(err instanceof ProblemError) || err.status >= 500) throw err;
      // The loan refused: the item stays where it was, with the refusal on it for whoever looks next.
      const refusal = { accepted: false, resolution: r.resolution, status: err.status, detail: err.detail };
      await q.move(id, { to: 'outcome', assignee: actor.user, outcome: refusal });
      throw new ProblemError(err.status, err.title, `the loan refused the ${r.resolution}: ${err.detail}`, err.errors);
    }
    return itemView(
      await move(
        id,
        { to: 'resolved', assignee: actor.user, resolution: r.resolution, note: r.note, outcome },
        'resolve it',
      ),
      actor,
      d,
    );
  }

  /** The item's loan as operations see it (a borrower's words masked without payloads:decode). */
  async function loan(id: string, actor: Actor) {
    const item = await q.get(id);
    if (!item) throw notFound();
    return maskedLoan(await loans.readLoan(item.loanId), actor);
  }

  async function summary(now = Date.now()) {
    return { at: new Date(now).toISOString(), queues: await q.counts(now) };
  }

  return { list, get, loan, claim, release, resolve, summary };
}
export type OperationsInbox = ReturnType<typeof operationsInbox>;
