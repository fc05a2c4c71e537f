// The API process's own start-up and shutdown: configuration from the environment, and SIGTERM
// handling that finishes a request already in flight before the server closes.
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { startApi } from '../../src/server';
import { devServerEnv, localDate } from '../helpers/temporal';

const KEY = 'shutdown-test-key-0123456789abcdef';
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await devServerEnv();
});

afterAll(async () => {
  await env?.teardown();
});

describe('the API process', () => {
  it('refuses to start without keys or a development key, naming what to set', async () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: env.address, PORT: '0', DATA_DIR: join(__dirname, 'no-such-dir') });
    await expect(startApi(config, createLogger('silent'))).rejects.toThrow(/API_KEYS is not set/);
  });

  it('finishes a request in flight when it is stopped, and takes no new ones', async () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: env.address,
      PORT: '0',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'api-shutdown-')),
      API_KEYS: `test:${KEY}:loans:write+loans:read`,
      WEBHOOK_SECRETS: 'secret-0123456789abcdef0123456789',
      PHONE_INDEX_KEY: 'phone-index-key-0123456789abcdef0123',
      SMS_CALLBACK_TOKEN: 'callback-token-0123456789abcdef',
      CODEC_UI_TOKEN: 'codec-token-0123456789abcdef0123',
      PAYLOAD_KEYS: `test:${randomBytes(32).toString('base64')}`,
      POLICIES_DIR: join(__dirname, '..', '..', 'policies'),
    });
    const api = await startApi(config, createLogger('silent'));
    const body = JSON.stringify({
      loanId: `L-SHUTDOWN-${Date.now()}`,
      borrower: { name: '张先生', phone: '+8613800138000', locale: 'zh-CN', timezone: 'Asia/Shanghai' },
      amountDue: 500000,
      currency: 'CNY',
      dueDate: localDate(Date.now(), 'Asia/Shanghai', 14),
    });
    // Send the headers and half the body, then ask the API to stop while the request is open.
    const response = new Promise<number>((ok, fail) => {
      const req = httpRequest(`${api.url}/v1/loans`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${KEY}`,
        },
      });
      req.on('response', (res) => {
        res.resume();
        ok(res.statusCode ?? 0);
      });
      req.on('error', fail);
      req.write(body.slice(0, 20));
      setTimeout(() => req.end(body.slice(20)), 500);
    });
    await new Promise((r) => setTimeout(r, 100));
    const stopped = api.stop();
    expect(await response).toBe(201);
    await stopped;
    await expect(fetch(`${api.url}/healthz`)).rejects.toThrow();
  });
});
