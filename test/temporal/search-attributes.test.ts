// WORKER_SEARCH_ATTRIBUTES against a server without an OperatorService (the time-skipping test
// server): `auto` says so once and goes on without search attributes, `on` refuses to start naming
// the variable, `off` does not ask. (A server that has one: test/api, test/e2e/npm-start.test.ts.)
import { Writable } from 'node:stream';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { decideSearchAttributes } from '../../src/temporal/search-attributes';
import { timeSkippingEnv } from '../helpers/temporal';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await timeSkippingEnv();
});

afterAll(async () => {
  await env?.teardown();
});

function capturedLog() {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: createLogger('info', 'test', stream), lines };
}

describe('WORKER_SEARCH_ATTRIBUTES', () => {
  it('is auto unless set, and takes only on, off or auto', () => {
    expect(loadConfig({}).searchAttributes).toBe('auto');
    expect(loadConfig({ WORKER_SEARCH_ATTRIBUTES: 'off' }).searchAttributes).toBe('off');
    expect(() => loadConfig({ WORKER_SEARCH_ATTRIBUTES: 'yes' })).toThrow(/WORKER_SEARCH_ATTRIBUTES/);
  });

  it('auto: a server without an OperatorService means none, said once', async () => {
    const { log, lines } = capturedLog();
    expect(await decideSearchAttributes(env.nativeConnection, 'default', 'auto', log)).toBe(false);
    const told = lines.filter((l) => /no OperatorService/.test(l.msg));
    expect(told).toHaveLength(1);
    expect(told[0].level).toBe(40); // warn
  });

  it('on: such a server stops the worker, naming the variable', async () => {
    const { log } = capturedLog();
    await expect(decideSearchAttributes(env.nativeConnection, 'default', 'on', log)).rejects.toThrow(
      /^WORKER_SEARCH_ATTRIBUTES=on: cannot list or register the search attributes/,
    );
  });

  it('off: none, whatever the server', async () => {
    const { log, lines } = capturedLog();
    expect(await decideSearchAttributes(env.nativeConnection, 'default', 'off', log)).toBe(false);
    expect(lines.map((l) => l.msg)).toEqual(['search attributes off (WORKER_SEARCH_ATTRIBUTES=off): loans keep none']);
  });
});
