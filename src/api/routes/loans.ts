// The loans once started: list them, read one, change, close or resume it.
import type { Request } from 'express';
import { COMMON_ERRORS, loanIdParam, parse, type RouteSpec } from '../route-spec';
import { summaryOf } from '../audit';
import { loanView } from '../loan-workflow';
import { CLOSED, LOAN, LOAN_LIST } from '../responses';
import { closeLoanSchema, listQuerySchema, patchLoanSchema, resumeSchema } from '../schemas';
import { changeLoan, closeLoan, resumeLoan } from '../use-cases/change-loan';
import { loanLister } from '../use-cases/list-loans';
import type { RouteContext } from './context';

export function loanRoutes({ d, loans }: RouteContext): RouteSpec[] {
  const listLoans = loanLister(d.client, d.pageTokenKey);
  /** The loan as the audit trail keeps it before a change. */
  const before = async (req: Request) => summaryOf(loanView(await loans.readLoan(loanIdParam(req))));
  return [
    {
      method: 'get',
      path: '/v1/loans',
      operationId: 'listLoans',
      tag: 'loans',
      summary: 'List loans by status, stage, overdue, amount range (Temporal visibility)',
      auth: 'loans:read',
      query: listQuerySchema,
      responses: {
        200: { description: 'A page of loans; nextPageToken is signed and pages these filters only', body: LOAN_LIST },
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        res.json(await listLoans(parse(listQuerySchema, req.query)));
      },
    },
    {
      method: 'get',
      path: '/v1/loans/:loanId',
      operationId: 'getLoan',
      tag: 'loans',
      summary: 'A loan’s full status: stage, outstanding, next reminder and why, pauses, messages, payments, answers',
      auth: 'loans:read',
      responses: {
        200: { description: 'The loan', body: LOAN },
        404: 'Unknown loan',
        503: 'Temporal unreachable, or the loan cannot be read right now (urn:loan-reminders:problem:loan-unreadable)',
        ...COMMON_ERRORS,
      },
      handler: async (req, res) => {
        res.json(loanView(await loans.readLoan(loanIdParam(req))));
      },
    },
    {
      method: 'patch',
      path: '/v1/loans/:loanId',
      operationId: 'changeLoan',
      tag: 'loans',
      summary: 'Change contact, due date or amount (a refused change is a 422 with the reason)',
      auth: 'loans:write',
      body: patchLoanSchema,
      responses: {
        200: { description: 'Changed: the loan as it is now', body: LOAN },
        404: 'Unknown loan',
        409: 'Loan closed',
        422: 'Refused by the loan',
        ...COMMON_ERRORS,
      },
      requestExample: () => ({ amountDue: 450000 }),
      auditBefore: before,
      handler: async (req, res) => {
        const loanId = loanIdParam(req);
        res.json(await changeLoan(d, loans, loanId, parse(patchLoanSchema, req.body)));
      },
    },
    {
      method: 'post',
      path: '/v1/loans/:loanId/close',
      operationId: 'closeLoan',
      tag: 'loans',
      summary: 'Close a loan (written off, sold, settled elsewhere, cancelled): no more reminders',
      auth: 'loans:write',
      body: closeLoanSchema,
      responses: {
        200: { description: 'Closed', body: CLOSED },
        404: 'Unknown loan',
        409: 'Loan closed',
        422: 'Refused by the loan',
        ...COMMON_ERRORS,
      },
      requestExample: () => ({ reason: 'settled-elsewhere' }),
      auditBefore: before,
      handler: async (req, res) => {
        const loanId = loanIdParam(req);
        res.json(await closeLoan(d, loans, loanId, parse(closeLoanSchema, req.body)));
      },
    },
    {
      method: 'post',
      path: '/v1/loans/:loanId/resume',
      operationId: 'resumeLoan',
      tag: 'loans',
      summary: 'Operations end a dispute or hardship pause; the schedule is re-planned',
      auth: 'loans:write',
      body: resumeSchema,
      responses: {
        200: { description: 'Resumed: the loan as it is now', body: LOAN },
        404: 'Unknown loan',
        409: 'Loan closed',
        422: 'Not paused',
        ...COMMON_ERRORS,
      },
      requestExample: () => ({ note: 'dispute resolved with the borrower' }),
      auditBefore: before,
      handler: async (req, res) => {
        const loanId = loanIdParam(req);
        res.json(await resumeLoan(d, loans, loanId, parse(resumeSchema, req.body)));
      },
    },
  ];
}
