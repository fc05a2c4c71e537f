// `npm start` as a user runs it: the whole stack from one command, stopped with Ctrl-C
// (SIGINT), started again on the same data folder, with the loan still there.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, portFree, startStack, stop, type Stack } from '../helpers/stack';
import { localDate } from '../helpers/temporal';

const running: Stack[] = [];
afterAll(() => {
  for (const s of running) if (s.child.exitCode === null) s.child.kill('SIGKILL');
});

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
    // With no API_KEYS, npm start made a local development key and printed it.
    const key = readFileSync(join(env.DATA_DIR, 'dev-api-key'), 'utf8').trim();
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(first.output()).toContain(key);
    const auth = { authorization: `Bearer ${key}` };
    expect((await fetch(`${api}/v1/loans/${loanId}`)).status).toBe(401);
    const created = await fetch(`${api}/v1/loans`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({
        loanId,
        borrower: { name: '张先生', phone: '+8613800138000', locale: 'zh-CN', timezone: 'Asia/Shanghai' },
        amountDue: 500000,
        currency: 'CNY',
        dueDate: localDate(Date.now(), 'Asia/Shanghai', 30),
      }),
    });
    expect(created.status).toBe(201);

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
    const status = await fetch(`${api}/v1/loans/${loanId}`, { headers: auth });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ loanId, status: 'active', outstanding: 500000 });
    expect(await stop(second)).toBe(0);
  }, 180_000);
});
