// The HTTP API, built by a factory from its dependencies so tests run it against a real server.
import express, { type Request } from 'express';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { workflowIdForLoan, type Lender } from '../domain/loan';
import { expandPolicy, forecast } from '../domain/schedule';
import { DEFAULT_POLICY_ID, type PolicyRegistry } from '../policies/registry';
import type { Logger } from '../log';
import { loanReminder, loanStatusQuery, paymentReceivedSignal, type LoanReminderInput } from '../workflows';
import { errorMiddleware, ProblemError } from './problem';
import { createLoanSchema, loanIdSchema, paymentSchema } from './schemas';

export interface AppDeps {
  client: Client;
  taskQueue: string;
  lender: Lender;
  policies: PolicyRegistry;
  log: Logger;
}

function loanIdParam(req: Request): string {
  const parsed = loanIdSchema.safeParse(req.params.loanId);
  if (!parsed.success) throw new ProblemError(404, 'Not found', 'no such loan');
  return parsed.data;
}

function requireJson(req: Request): void {
  if (!req.is('application/json')) {
    throw new ProblemError(415, 'Unsupported media type', 'send the body as application/json');
  }
}

export function createApp({ client, taskQueue, lender, policies, log }: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '64kb' }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.post('/v1/loans', async (req, res) => {
    requireJson(req);
    const { policyId = DEFAULT_POLICY_ID, ...loan } = createLoanSchema.parse(req.body);
    const policy = policies.get(policyId);
    if (!policy) {
      throw new ProblemError(
        400,
        'Invalid request',
        'invalid policyId',
        [{ field: 'policyId', message: `unknown policy; known: ${policies.ids().join(', ')}` }],
        'urn:loan-reminders:problem:validation',
      );
    }
    const workflowId = workflowIdForLoan(loan.loanId);
    const input: LoanReminderInput = { loan, lender, policy };
    try {
      const handle = await client.workflow.start(loanReminder, {
        workflowId,
        taskQueue,
        args: [input],
        // A loan id names one loan for ever: it cannot be started again, even after it ended.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
      log.info({ loanId: loan.loanId, workflowId, policyId }, 'loan started');
      const now = Date.now();
      const tz = loan.borrower.timezone;
      const plan = expandPolicy(policy, { dueDate: loan.dueDate, timezone: tz, startedAt: now });
      res
        .status(201)
        .location(`/v1/loans/${encodeURIComponent(loan.loanId)}`)
        .json({
          loanId: loan.loanId,
          workflowId,
          runId: handle.firstExecutionRunId,
          status: 'active',
          policyId,
          // What the loan will get if nothing happens to it; payments and answers change it.
          schedule: forecast(policy, plan, now, tz).map(({ stage, template, at }) => ({
            stage,
            template,
            at: new Date(at).toISOString(),
          })),
        });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new ProblemError(409, 'Loan already exists', `loan ${loan.loanId} was already started`);
      }
      throw err;
    }
  });

  app.get('/v1/loans/:loanId', async (req, res) => {
    const loanId = loanIdParam(req);
    const status = await client.workflow.getHandle(workflowIdForLoan(loanId)).query(loanStatusQuery);
    res.json({
      ...status,
      nextReminderAt: status.nextReminder?.at ?? null,
      workflowId: workflowIdForLoan(loanId),
    });
  });

  app.post('/v1/loans/:loanId/payments', async (req, res) => {
    const loanId = loanIdParam(req);
    requireJson(req);
    const payment = paymentSchema.parse(req.body);
    const handle = client.workflow.getHandle(workflowIdForLoan(loanId));
    try {
      await handle.signal(paymentReceivedSignal, payment);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        // Either no such loan, or its workflow has ended (paid, or unresolved past its horizon).
        const exists = await handle.describe().then(
          () => true,
          () => false,
        );
        if (exists) throw new ProblemError(409, 'Loan closed', `loan ${loanId} is no longer active`);
      }
      throw err;
    }
    log.info({ loanId, paymentId: payment.paymentId }, 'payment signalled');
    res.status(202).json({ loanId, paymentId: payment.paymentId, accepted: true });
  });

  app.use((req, _res, next) => {
    next(new ProblemError(404, 'Not found', `no route ${req.method} ${req.path}`));
  });
  app.use(errorMiddleware(log));
  return app;
}
