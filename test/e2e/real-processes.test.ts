// The real worker and API processes, started as `npm run worker` and `npm run api` start them (only
// their environment differs), against the time-skipping test server: three loans driven through
// two months over HTTP (started; one paid, one answered, one left alone), time advanced through the
// test server's TestService, and the outbox read text by text. The test server has no
// OperatorService: the worker finds that out itself (WORKER_SEARCH_ATTRIBUTES=auto, the default).
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIdForLoan } from '../../src/domain/loan';
import { readOutbox } from '../../src/sms/outbox';
import { freePort, ROOT, until } from '../helpers/stack';
import { activitiesSettled, localDate, timeSkippingEnv } from '../helpers/temporal';

const TZ = 'Asia/Shanghai';
const DAY = 86_400_000;

interface NpmRun {
  pid: number;
  output: () => string;
  exited: Promise<number | null>;
}

let env: TestWorkflowEnvironment;
const running: NpmRun[] = [];

beforeAll(async () => {
  env = await timeSkippingEnv();
});

afterAll(async () => {
  for (const r of running) signalGroup(r.pid, 'SIGKILL');
  await env?.teardown();
});

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group has gone
  }
}

/** `npm run <script>` in a process group of its own, as a terminal or a process manager runs it. */
function npmRun(script: 'worker' | 'api', vars: NodeJS.ProcessEnv): NpmRun {
  const child = spawn('npm', ['run', script], {
    cwd: ROOT,
    env: { ...process.env, ...vars },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += String(d)));
  child.stderr?.on('data', (d) => (out += String(d)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const run = { pid: child.pid!, output: () => out, exited };
  running.push(run);
  return run;
}

async function stopGroup(run: NpmRun): Promise<void> {
  signalGroup(run.pid, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(run.pid, 'SIGKILL'), 15_000);
  await run.exited;
  clearTimeout(timer);
}

describe('npm run worker and npm run api on the time-skipping test server', () => {
  it('reminds, thanks and stops as the loans live through two months', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loan-reminders-procs-'));
    const port = await freePort();
    const key = randomBytes(32).toString('hex');
    const outbox = join(dir, 'outbox.jsonl');
    const vars = {
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: `procs-${randomUUID()}`,
      DATA_DIR: dir,
      OUTBOX_PATH: outbox,
      PORT: String(port),
      API_KEYS: `e2e:${key}:loans:write+loans:read`,
      WEBHOOK_SECRETS: randomBytes(32).toString('hex'),
      PAYLOAD_KEYS: `e2e:${randomBytes(32).toString('base64')}`,
      PHONE_INDEX_KEY: randomBytes(32).toString('hex'),
      SMS_CALLBACK_TOKEN: randomBytes(24).toString('hex'),
      CODEC_UI_TOKEN: randomBytes(24).toString('hex'),
      LOG_LEVEL: 'info',
    };
    const worker = npmRun('worker', vars);
    const api = npmRun('api', vars);
    const base = `http://127.0.0.1:${port}`;
    await until(
      'the worker to run',
      () => {
        if (worker.output().includes('"msg":"worker running"')) return true;
        if (running.some((r) => r.output().includes('npm error'))) throw new Error(worker.output() + api.output());
        return false;
      },
      45_000,
      200,
    );
    await until('the API to listen', () => api.output().includes('"msg":"API listening"'), 45_000, 200);
    // Told once that this server keeps no search attributes, and running all the same.
    expect(worker.output().match(/no OperatorService/g)).toHaveLength(1);
    expect(worker.output()).toMatch(/"searchAttributes":false/);

    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    // Three loans due in eight days: the default policy texts tomorrow (a week before) at 10:00.
    const t0 = await env.currentTimeMs();
    const dueDate = localDate(t0, TZ, 8);
    const ids = { paid: 'L-PROC-PAY', answered: 'L-PROC-ANS', ignored: 'L-PROC-NIL' };
    const suffix = randomUUID().slice(0, 6);
    const loanIds = Object.values(ids).map((id) => `${id}-${suffix}`);
    const [paid, answered, ignored] = loanIds;
    for (const [i, loanId] of loanIds.entries()) {
      const started = await call('POST', '/v1/loans', {
        loanId,
        borrower: { name: '张先生', phone: `+861380013800${i}`, locale: 'zh-CN', timezone: TZ },
        amountDue: 500000,
        currency: 'CNY',
        dueDate,
      });
      expect(started.status).toBe(201);
    }
    const workflowIds = loanIds.map(workflowIdForLoan);

    /** Advances server time a day at a time (the loans idle between) to `hour` local on `date`. */
    const advanceTo = async (date: string, hour: number) => {
      const target = DateTime.fromISO(date, { zone: TZ }).set({ hour }).toMillis();
      for (let now = await env.currentTimeMs(); now < target; now = await env.currentTimeMs()) {
        await activitiesSettled(env, workflowIds);
        await env.sleep(Math.min(DAY, target - now)); // the TestService: unlockTimeSkippingWithSleep
      }
      await activitiesSettled(env, workflowIds);
    };
    const dayOf = (days: number) => DateTime.fromISO(dueDate, { zone: TZ }).plus({ days }).toISODate()!;
    const texts = (loanId: string) => readOutbox(outbox).filter((l) => l.loanId === loanId);
    const templates = (loanId: string) => texts(loanId).map((l) => l.template);
    const expectTexts = async (expected: Record<string, string[]>) => {
      const want = Object.values(expected).reduce((n, t) => n + t.length, 0);
      await until('the texts', () => readOutbox(outbox).length >= want, 15_000);
      for (const [loanId, t] of Object.entries(expected)) expect(templates(loanId), loanId).toEqual(t);
    };

    // The due date, after its text: the borrower of one loan answers 退订 (unsubscribe).
    await advanceTo(dueDate, 12);
    await expectTexts({ [paid]: ['pre-due', 'due'], [answered]: ['pre-due', 'due'], [ignored]: ['pre-due', 'due'] });
    const answer = await call('POST', `/v1/loans/${answered}/feedback`, { kind: 'reply', text: '退订' });
    expect(answer).toMatchObject({ status: 202, body: { recordedAs: 'opt-out' } });

    // The day after: the overdue text, but not to the borrower who opted out; then one pays in full.
    await advanceTo(dayOf(1), 12);
    await expectTexts({
      [paid]: ['pre-due', 'due', 'overdue'],
      [answered]: ['pre-due', 'due'],
      [ignored]: ['pre-due', 'due', 'overdue'],
    });
    const paidAt = new Date(await env.currentTimeMs()).toISOString();
    const payment = await call('POST', `/v1/loans/${paid}/payments`, { paymentId: 'P-1', amount: 500000, paidAt });
    expect(payment).toMatchObject({ status: 202, body: { recordedAs: 'counted' } });

    // Two months on: the loan left alone had every reminder and its final notice, and has ended.
    await advanceTo(dayOf(61), 12);
    const reminders = ['pre-due', 'due', 'overdue', 'overdue-followup', 'overdue-followup', 'overdue-followup'];
    await expectTexts({
      [paid]: ['pre-due', 'due', 'overdue', 'thank-you'],
      [answered]: ['pre-due', 'due'],
      [ignored]: [...reminders, 'final-notice'],
    });
    // Each reminder at the policy's send time, in the borrower's zone, on its day.
    const offsets = [-7, 0, 1, 8, 15, 22, 29];
    expect(
      texts(ignored).map((l) => DateTime.fromISO(l.scheduledFor, { zone: TZ }).toFormat('yyyy-MM-dd HH:mm')),
    ).toEqual(offsets.map((d) => `${dayOf(d)} 10:00`));
    // Every text once.
    const keys = readOutbox(outbox).map((l) => l.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length);

    const loan = async (loanId: string) => (await call('GET', `/v1/loans/${loanId}`)).body;
    expect(await loan(paid)).toMatchObject({ status: 'paid', outstanding: 0 });
    expect(await loan(answered)).toMatchObject({ optedOut: true });
    expect(await loan(ignored)).toMatchObject({ status: 'unresolved' });

    await stopGroup(api);
    await stopGroup(worker);
    expect(worker.output()).not.toMatch(/"level":50/); // nothing logged as an error
  }, 120_000);
});
