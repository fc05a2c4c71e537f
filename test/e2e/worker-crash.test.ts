// kill -9 of the worker process while hundreds of reminders are being sent, then a restart: every
// due reminder is in the outbox exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Duration } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOutbox } from '../../src/sms/outbox';
import { loanReminder } from '../../src/workflows/loan-reminder';
import { until } from '../helpers/stack';
import { burstLoan, burstPolicy, devServerEnv, TEST_LENDER } from '../helpers/temporal';

const ROOT = join(__dirname, '..', '..');
let env: TestWorkflowEnvironment;
const children: ChildProcess[] = [];

beforeAll(async () => {
  env = await devServerEnv();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await env?.teardown();
});

function startWorker(vars: NodeJS.ProcessEnv): ChildProcess {
  // One process (not tsx's wrapper with a child of its own), so a signal reaches the program itself.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...vars },
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

describe('a worker killed mid-send', () => {
  it('sends every due reminder exactly once after it is restarted', async () => {
    const count = 200;
    const dir = mkdtempSync(join(tmpdir(), 'worker-crash-'));
    const taskQueue = `crash-${randomUUID()}`;
    const outbox = join(dir, 'outbox.jsonl');
    const vars = {
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      DATA_DIR: dir,
      PAYLOAD_KEYS: `test:${randomBytes(32).toString('base64')}`,
      OUTBOX_PATH: outbox,
      SEND_LEDGER_PATH: join(dir, 'sends.sqlite'),
      OPERATIONS_PATH: join(dir, 'operations.sqlite'),
      SMS_RATE_PER_SECOND: '25',
      LOG_LEVEL: 'warn',
    };
    const first = startWorker(vars);
    const dueAt = Date.now() + 10_000;
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        env.client.workflow.start(loanReminder, {
          workflowId: `loan-CRASH-${taskQueue}-${i}`,
          taskQueue,
          args: [
            {
              loan: burstLoan(`CRASH-${i}`),
              lender: TEST_LENDER,
              policy: burstPolicy(Duration.fromMillis(dueAt - Date.now()).toISO()!),
            },
          ],
        }),
      ),
    );
    // Kill it hard once a good part, but not all, has gone out.
    await until('the first sends', () => readOutbox(outbox).length >= 40, 60_000);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const atKill = readOutbox(outbox).length;
    expect(atKill).toBeLessThan(count);

    startWorker(vars);
    await until('every reminder', () => readOutbox(outbox).length >= count, 90_000);
    await new Promise((r) => setTimeout(r, 3000)); // anything sent twice would show up by now
    const lines = readOutbox(outbox);
    expect(lines).toHaveLength(count);
    expect(new Set(lines.map((l) => l.idempotencyKey)).size).toBe(count);
  }, 180_000);
});
