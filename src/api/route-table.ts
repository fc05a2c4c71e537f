// Every route of the API as data: method, path, scope, schemas and handler, gathered from the
// route modules in routes/. Express is wired from this table and so is the OpenAPI document, so the
// two cannot drift apart. The routes parse and answer; the use cases in use-cases/ do the work.
import { loanWorkflows } from './loan-workflow';
import type { RouteDeps, RouteSpec } from './route-spec';
import { analyticsRoutes } from './routes/analytics';
import { answerRoutes } from './routes/answers';
import type { RouteContext } from './routes/context';
import { loanRoutes } from './routes/loans';
import { operationsRoutes } from './routes/operations';
import { auditRoutes } from './routes/audit';
import { startRoutes } from './routes/starts';
import { paymentRoutes } from './routes/payments';
import { smsRoutes } from './routes/sms';
import { loanStarter } from './use-cases/start-loan';

export type { RouteDeps, RouteSpec, SmsCallbackDeps } from './route-spec';
export { dueDateOfLocalMidnight, pageTokens } from './use-cases/list-loans';

export function buildRoutes(d: RouteDeps): RouteSpec[] {
  const loans = loanWorkflows(d);
  const context: RouteContext = { d, loans, startLoan: loanStarter(d, loans) };
  return [
    ...startRoutes(context),
    ...loanRoutes(context),
    ...paymentRoutes(context),
    ...answerRoutes(context),
    ...smsRoutes(context),
    ...analyticsRoutes(context),
    ...operationsRoutes(context),
    ...auditRoutes(context),
  ];
}
