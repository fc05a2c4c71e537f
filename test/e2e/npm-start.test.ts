// `npm start` as a user runs it: the whole stack from one command, stopped with Ctrl-C
// (SIGINT), started again on the same data folder, with the loan still there. And stopped the ways
// a terminal and a process manager stop it, while reminders are being sent: Ctrl-C as the terminal
// sends it (to npm, tsx and the program at once, relayed again by npm and tsx), SIGTERM, a mix, and
// kill -9 of the program itself; each time nothing it started is left running or listening.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, portFree, ROOT, startStack, stop, until, type Stack } from '../helpers/stack';
import { apiClient } from '../../src/client';
import { localDate } from '../helpers/temporal';

const running: Stack[] = [];
const groups: number[] = [];
afterAll(() => {
  for (const s of running) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  for (const g of groups) killGroup(g, 'SIGKILL');
  for (const pid of leftovers(marker)) killPid(pid, 'SIGKILL');
});

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group has gone
  }
}
function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

/** A value in every environment this test gives: processes still carrying it are the stack's. */
const marker = `LOAN_REMINDERS_STOP_TEST=${process.pid}-${Date.now()}`;

/** Every process (npm, sh, tsx, node, the Temporal server and anything it ran) started with the marker. */
function leftovers(tag: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`);
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if (state !== 'Z' && env.includes(Buffer.from(tag))) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return pids;
}

interface NpmStart {
  pid: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `npm start` in a process group of its own, as a terminal's foreground job. */
async function npmStart(env: NodeJS.ProcessEnv): Promise<NpmStart> {
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    env: { ...process.env, ...env, [marker.split('=')[0]]: marker.split('=')[1] },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  groups.push(child.pid!);
  let out = '';
  child.stdout?.on('data', (d) => (out += String(d)));
  child.stderr?.on('data', (d) => (out += String(d)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true));
  await until('npm start is running', () => out.includes('Press Ctrl-C to stop.') || gone, 120_000, 200);
  if (!out.includes('Press Ctrl-C to stop.')) throw new Error(`npm start did not start:\n${out}`);
  return { pid: child.pid!, output: () => out, exited };
}

/** The program itself (node running src/dev.ts), below npm and anything between. */
function programPid(): number {
  const found = leftovers(marker).filter((pid) => {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return (
      cmd.some((a) => a.endsWith('src/dev.ts')) &&
      cmd[0].endsWith('node') &&
      !cmd.some((a) => a.includes('tsx/dist/cli'))
    );
  });
  expect(found).toHaveLength(1);
  return found[0];
}

describe('npm start', () => {
  it('runs dev server, UI, worker and API; Ctrl-C stops them; a restart keeps the loan', async () => {
    const [apiPort, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
    const env = {
      DATA_DIR: mkdtempSync(join(tmpdir(), 'loan-reminders-start-')),
      PORT: String(apiPort),
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
      TEMPORAL_ADDRESS: '',
      LOG_LEVEL: 'warn',
    };
    const api = `http://127.0.0.1:${apiPort}`;
    const loanId = `L-START-${Date.now()}`;

    const first = await startStack(env);
    running.push(first);
    expect(first.output()).toContain(`http://localhost:${uiPort}`);
    // Its Web UI is not the compose file's read-only one, and it says so.
    expect(first.output()).toMatch(
      /write actions on \(terminate, cancel, signal, reset\): local development only;.*read-only/,
    );
    // With no API_KEYS, npm start made a local development key and printed it.
    const key = readFileSync(join(env.DATA_DIR, 'dev-api-key'), 'utf8').trim();
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(first.output()).toContain(key);
    const client = apiClient(api, key);
    const anonymous = await apiClient(api).GET('/v1/loans/{loanId}', { params: { path: { loanId } } });
    expect(anonymous.response.status).toBe(401);
    const created = await client.POST('/v1/loans', {
      body: {
        loanId,
        borrower: { name: '张先生', phone: '+8613800138000', locale: 'zh-CN', timezone: 'Asia/Shanghai' },
        amountDue: 500000,
        currency: 'CNY',
        dueDate: localDate(Date.now(), 'Asia/Shanghai', 30),
      },
    });
    expect(created.response.status).toBe(201);
    expect(created.data).toMatchObject({ loanId, status: 'active' });

    // The Web UI is up and finds the loan by its search attributes, which npm start registered.
    const query = encodeURIComponent(`LoanStatus = 'active' AND PolicyId = 'default' AND OutstandingAmount >= 500000`);
    let listed = '';
    for (let i = 0; i < 50 && !listed.includes(`loan-${loanId}`); i++) {
      const res = await fetch(`http://127.0.0.1:${uiPort}/api/v1/namespaces/default/workflows?query=${query}`);
      expect(res.status).toBe(200);
      listed = await res.text();
      if (!listed.includes(`loan-${loanId}`)) await new Promise((r) => setTimeout(r, 200));
    }
    expect(listed).toContain(`loan-${loanId}`);

    // The README's operations examples, as printed there, against this stack: a dispute is
    // handed over, claimed and resolved by them, and the audit trail shows it.
    const disputed = `L-OPS-${Date.now()}`;
    const started = await client.POST('/v1/loans', {
      body: {
        loanId: disputed,
        borrower: { name: '王女士', phone: '+8613800138001', locale: 'zh-CN', timezone: 'Asia/Shanghai' },
        amountDue: 300000,
        currency: 'CNY',
        dueDate: localDate(Date.now(), 'Asia/Shanghai', 30),
      },
    });
    expect(started.response.status).toBe(201);
    const answered = await client.POST('/v1/loans/{loanId}/feedback', {
      params: { path: { loanId: disputed } },
      body: { kind: 'dispute', reason: 'not my loan' },
    });
    expect(answered.response.status).toBe(202);
    await until(
      'the dispute in the inbox',
      async () => {
        const r = await fetch(`${api}/v1/operations/items?loanId=${disputed}`, {
          headers: { authorization: `Bearer ${key}` },
        });
        return ((await r.json()) as { items: unknown[] }).items.length === 1;
      },
      30_000,
    );
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = (after: string) => {
      const from = readme.indexOf('```sh', readme.indexOf(after));
      return readme.slice(from + 5, readme.indexOf('```', from + 5)).replaceAll('http://127.0.0.1:3000', api);
    };
    const run = (script: string) =>
      execFileSync('bash', ['-euo', 'pipefail', '-c', script], {
        env: { ...process.env, KEY: key, LOAN: disputed },
        encoding: 'utf8',
      });
    const worked = run(block('## Operations'));
    expect(worked).toContain('"queues"');
    expect(worked).toContain('"state":"resolved"');
    const loan = await client.GET('/v1/loans/{loanId}', { params: { path: { loanId: disputed } } });
    expect(loan.data).toMatchObject({ status: 'active', pause: null });
    const audited = run(block('### Audit trail'));
    for (const action of ['startLoan', 'reportAnswer', 'claimInboxItem', 'resolveInboxItem'])
      expect(audited).toContain(action);
    expect(audited).toContain('at,actor_key,actor_user,action');

    expect(await stop(first)).toBe(0);
    expect(first.output()).toContain('Stopped.');
    // Nothing is left listening: the dev server stopped with the rest.
    await expect(fetch(`${api}/healthz`)).rejects.toThrow();
    expect(await portFree(temporalPort)).toBe(true);
    expect(await portFree(uiPort)).toBe(true);

    const second = await startStack(env);
    running.push(second);
    // The same key works after the restart: it was kept in the data folder.
    expect(readFileSync(join(env.DATA_DIR, 'dev-api-key'), 'utf8').trim()).toBe(key);
    const status = await client.GET('/v1/loans/{loanId}', { params: { path: { loanId } } });
    expect(status.response.status).toBe(200);
    expect(status.data).toMatchObject({ loanId, status: 'active', outstanding: 500000 });
    expect(await stop(second)).toBe(0);
  }, 180_000);

  it('stops everything it started however it is stopped while sends are in flight, and starts again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loan-reminders-stops-'));
    const policies = join(dir, 'policies');
    mkdirSync(policies);
    for (const f of readdirSync(join(ROOT, 'policies'))) copyFileSync(join(ROOT, 'policies', f), join(policies, f));
    // Reminders a few seconds after each loan starts, so the stops below land among the sends.
    writeFileSync(
      join(policies, 'burst.json'),
      JSON.stringify({
        id: 'burst',
        description: 'Seconds apart, for the stop test.',
        anchor: 'loan-start',
        sendTime: '00:00',
        window: { start: '00:00', end: '24:00' },
        points: [
          { stage: 'pre-due', offset: 'PT2S', template: 'pre-due' },
          { stage: 'due', offset: 'PT8S', template: 'due' },
        ],
        caps: [],
        maxLateness: 'PT10M',
        afterLastPoint: { handOver: true, listenFor: 'PT1H' },
        thankYou: true,
        promiseToPay: { grace: 'PT1M', maxAhead: 'P30D' },
        gentleAfterHarshRating: true,
      }),
    );
    const [apiPort, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
    const data = join(dir, 'data');
    const env = {
      DATA_DIR: data,
      POLICIES_DIR: policies,
      PORT: String(apiPort),
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
      TEMPORAL_ADDRESS: '',
      SMS_RATE_PER_SECOND: '40',
      LOG_LEVEL: 'warn',
    };
    const outboxLines = () =>
      existsSync(join(data, 'outbox.jsonl'))
        ? readFileSync(join(data, 'outbox.jsonl'), 'utf8').split('\n').length - 1
        : 0;
    let batch = 0;
    /** 200 loans on the burst policy; waits until their reminders are going out. */
    const startSending = async () => {
      const key = readFileSync(join(data, 'dev-api-key'), 'utf8').trim();
      const before = outboxLines();
      const n = batch++;
      const loans = Array.from({ length: 200 }, (_, i) => ({
        loanId: `STOP-${n}-${i}-${Date.now().toString(36)}`,
        policyId: 'burst',
        borrower: { name: 'Test', phone: `+1202555${String(1000 + i)}`, locale: 'en-US', timezone: 'UTC' },
        amountDue: 10_000,
        currency: 'USD',
        dueDate: new Date().toISOString().slice(0, 10),
      }));
      const res = await apiClient(`http://127.0.0.1:${apiPort}`, key).POST('/v1/loans/batch', { body: { loans } });
      expect(res.response.status).toBe(200);
      expect(res.data?.started).toBe(200);
      await until('reminders are being sent', () => outboxLines() > before + 5, 60_000, 50);
    };
    const allGone = async (what: string) => {
      // Within the stop's grace (30 s) and a little: npm itself may end first, its program after.
      await until(`nothing of the stack is left (${what})`, () => leftovers(marker).length === 0, 45_000, 100);
      for (const port of [apiPort, temporalPort, uiPort])
        expect(await portFree(port), `${what}: port ${port}`).toBe(true);
    };
    const signals = async (pgid: number, list: NodeJS.Signals[], gapMs: number) => {
      for (const sig of list) {
        killGroup(pgid, sig);
        await new Promise((r) => setTimeout(r, gapMs));
      }
    };

    // Ctrl-C: the terminal signals the whole foreground job, npm and tsx relay it again.
    let stack = await npmStart(env);
    await startSending();
    await signals(stack.pid, ['SIGINT', 'SIGINT', 'SIGINT'], 5);
    await stack.exited;
    await allGone('Ctrl-C ×3');
    expect(stack.output(), 'Ctrl-C ×3').toContain('Stopped.');

    // On the same data folder and ports: SIGTERM and SIGINT mixed, as a process manager then a person.
    stack = await npmStart(env);
    await startSending();
    await signals(stack.pid, ['SIGTERM', 'SIGINT', 'SIGTERM'], 20);
    await stack.exited;
    await allGone('SIGTERM, SIGINT, SIGTERM');
    expect(stack.output(), 'SIGTERM, SIGINT, SIGTERM').toContain('Stopped.');

    // SIGTERM to the program alone, twice (a supervisor that repeats itself).
    stack = await npmStart(env);
    await startSending();
    const program = programPid();
    killPid(program, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 10));
    killPid(program, 'SIGTERM');
    await stack.exited;
    await allGone('SIGTERM ×2 to the program');
    expect(stack.output(), 'SIGTERM ×2 to the program').toContain('Stopped.');

    // kill -9 of the program itself: it stops nothing, so the Temporal server must notice and stop.
    stack = await npmStart(env);
    await startSending();
    killPid(programPid(), 'SIGKILL');
    await stack.exited;
    await allGone('kill -9 of the program');

    // And it starts again on the same folder and ports, with the loans still there.
    stack = await npmStart(env);
    const key = readFileSync(join(data, 'dev-api-key'), 'utf8').trim();
    const listed = await apiClient(`http://127.0.0.1:${apiPort}`, key).GET('/v1/loans', {
      params: { query: { policyId: 'burst', pageSize: 10 } },
    });
    expect(listed.response.status).toBe(200);
    await signals(stack.pid, ['SIGINT', 'SIGINT'], 5);
    await stack.exited;
    await allGone('final Ctrl-C');
    expect(stack.output()).toContain('Stopped.');
  }, 600_000);
});
