// SMS go out at the provider's pace: many reminders due at one instant drain at the configured
// rate, each exactly once. Real time, on the dev server (the rate is held by the server).
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { readOutbox } from '../../src/sms/outbox';
import { createWorkers } from '../../src/worker';
import { loanReminder } from '../../src/workflows/loan-reminder';
import {
  burstLoan,
  burstPolicy,
  devServerEnv,
  RecordingProvider,
  runWorkersUntil,
  tempOperations,
  TEST_LENDER,
  workflowBundle,
} from '../helpers/temporal';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await devServerEnv();
});

afterAll(async () => {
  await env?.teardown();
});

describe('the SMS rate limit', () => {
  it('drains 20 reminders due at the same instant at 5 per second, each once', async () => {
    const perSecond = 5;
    const count = 20;
    const sms = new RecordingProvider();
    const taskQueue = `rate-${randomUUID()}`;
    const workers = await createWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({ sms, operations: tempOperations() }),
      smsPerSecond: perSecond,
    });
    await runWorkersUntil(workers, async () => {
      const handles = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          env.client.workflow.start(loanReminder, {
            workflowId: `loan-BURST-${taskQueue}-${i}`,
            taskQueue,
            args: [{ loan: burstLoan(`BURST-${i}`), lender: TEST_LENDER, policy: burstPolicy('PT2S') }],
          }),
        ),
      );
      await Promise.all(handles.map((h) => h.result()));
    });
    const sentAt = readOutbox(sms.outbox.path)
      .map((l) => Date.parse(l.sentAt))
      .sort((a, b) => a - b);
    expect(new Set(sms.sent.map((m) => m.idempotencyKey)).size).toBe(count);
    const spanSeconds = (sentAt[count - 1] - sentAt[0]) / 1000;
    // 20 at 5 per second take about 3 s after the first; a generous floor keeps the test steady.
    expect(spanSeconds).toBeGreaterThan((count / perSecond - 1) * 0.7);
  }, 60_000);
});
