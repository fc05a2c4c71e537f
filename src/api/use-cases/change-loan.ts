// Changes the loan system makes to a running loan: contact, terms, closing it, and operations
// resuming it after a dispute or hardship pause. Each is an update the loan may refuse (422).
import type { z } from 'zod';
import {
  changeContactUpdate,
  changeTermsUpdate,
  closeLoanUpdate,
  loanView,
  resumeUpdate,
  type LoanWorkflows,
} from '../loan-workflow';
import type { RouteDeps } from '../route-spec';
import type { closeLoanSchema, patchLoanSchema, resumeSchema } from '../schemas';

type Deps = Pick<RouteDeps, 'sms' | 'metrics'>;

/** Contact first (and the phone index with it), then the terms; the loan as it is after both. */
export async function changeLoan(
  d: Deps,
  loans: LoanWorkflows,
  loanId: string,
  change: z.output<typeof patchLoanSchema>,
): Promise<ReturnType<typeof loanView>> {
  const h = loans.handle(loanId);
  if (change.borrower) {
    const borrower = change.borrower;
    await loans.onLoan(h, loanId, () => h.executeUpdate(changeContactUpdate, { args: [borrower] }));
    if (borrower.phone) await d.sms?.phoneIndex?.set(loanId, borrower.phone);
    d.metrics.signals.inc({ kind: 'changeContact' });
  }
  if (change.dueDate !== undefined || change.amountDue !== undefined) {
    await loans.onLoan(h, loanId, () =>
      h.executeUpdate(changeTermsUpdate, { args: [{ dueDate: change.dueDate, amountDue: change.amountDue }] }),
    );
    d.metrics.signals.inc({ kind: 'changeTerms' });
  }
  return loanView(await loans.readLoan(loanId, h));
}

export async function closeLoan(
  d: Deps,
  loans: LoanWorkflows,
  loanId: string,
  body: z.output<typeof closeLoanSchema>,
): Promise<{ loanId: string; status: 'closed'; reason: typeof body.reason }> {
  const h = loans.handle(loanId);
  await loans.onLoan(h, loanId, () => h.executeUpdate(closeLoanUpdate, { args: [body] }));
  d.metrics.signals.inc({ kind: 'closeLoan' });
  return { loanId, status: 'closed', reason: body.reason };
}

export async function resumeLoan(
  d: Deps,
  loans: LoanWorkflows,
  loanId: string,
  body: z.output<typeof resumeSchema>,
): Promise<ReturnType<typeof loanView>> {
  const h = loans.handle(loanId);
  await loans.onLoan(h, loanId, () => h.executeUpdate(resumeUpdate, { args: [body] }));
  d.metrics.signals.inc({ kind: 'resume' });
  return loanView(await loans.readLoan(loanId, h));
}
