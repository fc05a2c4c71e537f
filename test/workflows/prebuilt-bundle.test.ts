// The workflow bundle of `npm run build`: made by the build's own step, then loaded by a worker
// from the file (`workflowBundle: { codePath }`, as the compiled worker loads it), which runs a
// loan to its reminder on the time-skipping server. A compiled worker without the file refuses
// to start, naming it, rather than bundle in production.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { createLogger } from '../../src/log';
import { workerWorkflowBundle } from '../../src/temporal/workflow-bundle';
import { createWorkers } from '../../src/worker';
import { loanReminder } from '../../src/workflows/loan-reminder';
import { ROOT } from '../helpers/stack';
import {
  burstLoan,
  burstPolicy,
  RecordingProvider,
  runWorkersUntil,
  tempOperations,
  TEST_LENDER,
  timeSkippingEnv,
} from '../helpers/temporal';

let env: TestWorkflowEnvironment;
const log = createLogger('silent');

beforeAll(async () => {
  env = await timeSkippingEnv();
});

afterAll(async () => {
  await env?.teardown();
});

describe('the prebuilt workflow bundle', () => {
  it('is made by the build step, and a worker started from the file sends the loan’s reminder', async () => {
    const codePath = join(mkdtempSync(join(tmpdir(), 'loan-reminders-bundle-')), 'workflow-bundle.js');
    await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/build-workflow-bundle.ts', codePath], {
      cwd: ROOT,
    });
    expect(existsSync(codePath)).toBe(true);

    const workflowBundle = await workerWorkflowBundle(log, { compiled: true, prebuiltPath: codePath });
    expect(workflowBundle).toEqual({ codePath });
    const sms = new RecordingProvider();
    const taskQueue = `bundle-${randomUUID()}`;
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      activities: createActivities({ searchAttributes: false, sms, operations: tempOperations() }),
    });
    const loanId = `L-BUNDLE-${randomUUID().slice(0, 8)}`;
    const result = await runWorkersUntil(workers, () =>
      env.client.workflow.execute(loanReminder, {
        workflowId: `loan-${loanId}`,
        taskQueue,
        args: [{ loan: burstLoan(loanId), lender: TEST_LENDER, policy: burstPolicy('PT1H') }],
      }),
    );
    expect(result.messagesSent.map((m) => m.stage)).toEqual(['due']);
    expect(sms.sent.map((m) => m.loanId)).toEqual([loanId]);
  });

  it('is required by the compiled worker, which names the file it lacks', async () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'loan-reminders-bundle-')), 'workflow-bundle.js');
    await expect(workerWorkflowBundle(log, { compiled: true, prebuiltPath: missing })).rejects.toThrow(
      `no workflow bundle at ${missing}: \`npm run build\` makes it`,
    );
  });
});
