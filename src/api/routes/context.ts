// What every route module is built from: the API's dependencies, the door to the loan workflows,
// and the loan starter (one per app, so its plan cache is shared by single and batch starts).
import type { LoanWorkflows } from '../loan-workflow';
import type { RouteDeps } from '../route-spec';
import type { Started } from '../use-cases/start-loan';
import type { CreateLoan } from '../schemas';

export interface RouteContext {
  d: RouteDeps;
  loans: LoanWorkflows;
  startLoan: (body: CreateLoan) => Promise<Started>;
}
