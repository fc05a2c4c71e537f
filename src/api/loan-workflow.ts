// The API's one door to the loan workflows: their messages, a handle by loan id, reading a loan's
// status and running a signal or update with the answers the API gives when a loan refuses.
import {
  ApplicationFailure,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { workflowIdForLoan } from '../domain/loan';
import type { Logger } from '../log';
import { loanStatusQuery, type LoanStatus } from '../workflows/messages';
// Its type only, which loads nothing: the API never runs the workflow's body.
import type { loanReminder } from '../workflows/loan-reminder';
import { loanUnreadable, ProblemError, temporalUnreachable } from './problem';

export {
  borrowerAnswerSignal,
  changeContactUpdate,
  deliveryFailedSignal,
  changeTermsUpdate,
  closeLoanUpdate,
  LOAN_WORKFLOW_TYPE,
  loanStatusQuery,
  paymentReceivedSignal,
  promiseToPayUpdate,
  resumeUpdate,
  type BorrowerAnswer,
  type LoanReminderInput,
  type LoanStatus,
} from '../workflows/messages';

/** The loan workflow's signature, for typed handles and starts by its type name. */
export type LoanReminderWorkflow = typeof loanReminder;
export type LoanHandle = WorkflowHandle<LoanReminderWorkflow>;

/** How long a reader waits for a loan's answer before it is told the loan cannot be read now. */
const READ_MS = 10_000;

/** What the API shows of a loan: the workflow's status without internal fields. */
export function loanView(s: LoanStatus) {
  const { requestFingerprint: _internal, ...rest } = s;
  return { ...rest, workflowId: workflowIdForLoan(s.loanId), nextReminderAt: s.nextReminder?.at ?? null };
}

export interface LoanWorkflows {
  handle(loanId: string): LoanHandle;
  readLoan(loanId: string, h?: LoanHandle): Promise<LoanStatus>;
  onLoan<T>(h: WorkflowHandle, loanId: string, act: () => Promise<T>): Promise<T>;
}

export function loanWorkflows(d: { client: Client; log: Logger }): LoanWorkflows {
  const handle = (loanId: string): LoanHandle =>
    d.client.workflow.getHandle<LoanReminderWorkflow>(workflowIdForLoan(loanId));

  /**
   * The loan's status from its workflow. A loan that does not exist is a 404 and an unreachable
   * Temporal a 503 (the error middleware's); any other refusal (a workflow whose task keeps failing,
   * a failed query handler) is a loan that cannot be read right now: a 503 that says so.
   */
  async function readLoan(loanId: string, h: LoanHandle = handle(loanId)): Promise<LoanStatus> {
    try {
      return await d.client.connection.withDeadline(Date.now() + READ_MS, () => h.query(loanStatusQuery));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw err;
      if (temporalUnreachable(err)) {
        // A loan whose first task keeps failing cannot answer in time either: the server answers a
        // description, and its workflow task is on a retry.
        const stuck = await h.describe().then(
          (x) => (x.raw.pendingWorkflowTask?.attempt ?? 0) > 1,
          () => false,
        );
        if (!stuck) throw err;
      }
      d.log.warn({ loanId, err }, 'loan cannot be read');
      throw loanUnreadable(loanId);
    }
  }

  /** Runs a signal or update; a loan whose workflow has ended answers 409, an unknown one 404. */
  async function onLoan<T>(h: WorkflowHandle, loanId: string, act: () => Promise<T>): Promise<T> {
    try {
      return await act();
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const cause = err.cause;
        // The loan names the field it refused when it can (ApplicationFailure "ChangeRefused").
        const field =
          cause instanceof ApplicationFailure && cause.type === 'ChangeRefused'
            ? (cause.details?.[0] as { field?: unknown } | undefined)?.field
            : undefined;
        const detail = cause?.message ?? err.message;
        throw new ProblemError(
          422,
          'Change refused',
          detail,
          typeof field === 'string' ? [{ field, message: detail }] : undefined,
        );
      }
      if (err instanceof WorkflowNotFoundError) {
        const exists = await h.describe().then(
          () => true,
          () => false,
        );
        if (exists) throw new ProblemError(409, 'Loan closed', `loan ${loanId} is no longer active`);
        throw new ProblemError(404, 'Not found', 'no such loan');
      }
      throw err;
    }
  }

  return { handle, readLoan, onLoan };
}
