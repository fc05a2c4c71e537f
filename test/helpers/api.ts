// What the API test files share: a real Temporal dev server with a real worker behind the app, a
// log the tests can read, and requests carrying a key.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Express } from 'express';
import request from 'supertest';
import { createActivities } from '../../src/activities';
import type { OperationsQueue } from '../../src/operations/queue';
import type { SmsProvider } from '../../src/sms/provider';
import { createWorkers } from '../../src/worker';
import {
  devServerEnv,
  localDate,
  RecordingProvider,
  runWorkersUntil,
  tempOperations,
  workflowBundle,
} from './temporal';

export interface ApiServer {
  env: TestWorkflowEnvironment;
  taskQueue: string;
  /** Where the app's logger writes; `logged()` reads it all. */
  logStream: Writable;
  logged: () => string;
  /** Where the worker files the loans' hand-overs. */
  operations: OperationsQueue;
  stop: () => Promise<void>;
}

/** A dev server and a worker on a fresh task queue, running until `stop()`. */
export async function startApiServer(
  name: string,
  sms: SmsProvider = new RecordingProvider(),
  operations: OperationsQueue = tempOperations(),
): Promise<ApiServer> {
  const env = await devServerEnv();
  const taskQueue = `${name}-${randomUUID()}`;
  const workers = await createWorkers({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({ sms, operations }),
  });
  let finish!: () => void;
  const running = runWorkersUntil(workers, () => new Promise<void>((r) => (finish = r)));
  let log = '';
  const logStream = new Writable({
    write(chunk, _enc, done) {
      log += String(chunk);
      done();
    },
  });
  return {
    env,
    taskQueue,
    logStream,
    logged: () => log,
    operations,
    stop: async () => {
      finish();
      await running;
      await env.teardown();
    },
  };
}

/** Requests to the app with `Authorization: Bearer <key>` (the default key unless another is given). */
export function withKey(app: () => Express, defaultKey: string) {
  const as =
    (method: 'get' | 'post' | 'patch') =>
    (path: string, key = defaultKey) =>
      request(app())[method](path).set('Authorization', `Bearer ${key}`);
  return { get: as('get'), post: as('post'), patch: as('patch') };
}

export async function workflowExists(client: Client, workflowId: string): Promise<boolean> {
  return client.workflow
    .getHandle(workflowId)
    .describe()
    .then(
      () => true,
      () => false,
    );
}

/** A loan start's body, due `dueInDays` from today in the borrower's zone, with a fresh id. */
export function loanDueIn(prefix: string, dueInDays = 14, timezone = 'Asia/Shanghai') {
  return {
    loanId: `${prefix}-${randomUUID().slice(0, 8)}`,
    borrower: { name: '张先生', phone: '+8613800138000', locale: 'zh-CN' as const, timezone },
    amountDue: 500000,
    currency: 'CNY',
    dueDate: localDate(Date.now(), timezone, dueInDays),
  };
}
