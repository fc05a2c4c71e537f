// The Web UI of docker-compose.yml is read-only: with the compose file's own
// TEMPORAL_DISABLE_WRITE_ACTIONS, the real UI server (the temporalio/ui version the compose file
// pins, built from its Go module by scripts/temporal-server.mjs and run as the image runs it:
// `--env docker`, the image's config template, every setting from a TEMPORAL_* variable) offers no
// terminate, cancel, signal or reset on a running workflow's page in Chromium, and refuses them
// through its HTTP API. The same server without the setting, as the control, offers and does them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { composeVersions } from '../../scripts/lib/temporal-cluster';
import { launchChromium } from '../helpers/browser';
import { freePort, ROOT } from '../helpers/stack';
import { devServerEnv } from '../helpers/temporal';

const TOOLS = process.env.TEMPORAL_TOOLS_DIR ?? join(ROOT, '.tools');
const NAMESPACE = 'default';
const TASK_QUEUE = 'ui-readonly-test';
const run = Date.now().toString(36);
/** One workflow for the pages, one for each UI server's HTTP API (the control's is terminated). */
const WORKFLOWS = { page: `ui-page-${run}`, readOnlyApi: `ui-api-ro-${run}`, controlApi: `ui-api-rw-${run}` };

/** The compose file's temporal-ui environment, as written there. */
function composeUiEnvironment(): Record<string, string> {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { environment: Record<string, string> }>;
  };
  return compose.services['temporal-ui'].environment;
}

const isFile = (p: string): boolean => existsSync(p) && statSync(p).isFile();

/** The UI server and the image's config template, built first when missing (about a minute). */
function uiServer(): { dir: string; binary: string } {
  const dir = join(TOOLS, `temporal-ui-${composeVersions().ui}`);
  const binary = join(dir, 'temporal-ui-server');
  const config = join(dir, 'config', 'docker.yaml');
  if (!isFile(binary) || !isFile(config)) {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'temporal-server.mjs'), '--ui-only', '--quiet'], {
      stdio: 'inherit',
      timeout: 20 * 60_000,
    });
    if (r.status !== 0 || !isFile(binary) || !isFile(config)) {
      const why = join(dir, 'NOT-BUILT.txt');
      throw new Error(
        `no Temporal UI server in ${dir} (scripts/temporal-server.mjs --ui-only, exit ${r.status}): ` +
          (existsSync(why) ? readFileSync(why, 'utf8').trim() : 'not built'),
      );
    }
  }
  return { dir, binary };
}

interface RunningUi {
  url: string;
  child: ChildProcess;
  log: string;
}

async function startUi(binary: string, dir: string, address: string, disableWriteActions: string): Promise<RunningUi> {
  const port = await freePort();
  const url = `http://localhost:${port}`;
  const log = join(mkdtempSync(join(tmpdir(), 'loan-reminders-ui-')), 'temporal-ui.log');
  const fd = openSync(log, 'a');
  const child = spawn(binary, ['--root', dir, '--config', 'config', '--env', 'docker', 'start'], {
    cwd: dir,
    stdio: ['ignore', fd, fd],
    env: {
      PATH: process.env.PATH,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_UI_PORT: String(port),
      TEMPORAL_DEFAULT_NAMESPACE: NAMESPACE,
      TEMPORAL_CORS_ORIGINS: url,
      TEMPORAL_DISABLE_NEWS_FETCH: 'true',
      TEMPORAL_DISABLE_WRITE_ACTIONS: disableWriteActions,
    },
  });
  closeSync(fd);
  for (let i = 0; ; i++) {
    if (child.exitCode !== null)
      throw new Error(`temporal-ui-server exited (${child.exitCode}):\n${readFileSync(log, 'utf8')}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url, child, log };
    if (i > 150) throw new Error(`temporal-ui-server did not answer /healthz in 30 s:\n${readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let env: TestWorkflowEnvironment;
let client: Client;
let worker: Worker;
let workerRun: Promise<void>;
let browser: Browser;
let readOnly: RunningUi;
let control: RunningUi;
const composeSetting = composeUiEnvironment().TEMPORAL_DISABLE_WRITE_ACTIONS;

beforeAll(async () => {
  const ui = uiServer();
  env = await devServerEnv();
  client = env.client;
  worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: NAMESPACE,
    taskQueue: TASK_QUEUE,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: join(__dirname, 'waiting-workflow.ts'),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    }),
  });
  workerRun = worker.run();
  for (const workflowId of Object.values(WORKFLOWS)) {
    await client.workflow.start('waitsForOperations', { taskQueue: TASK_QUEUE, workflowId });
  }
  // Reset needs a completed workflow task; wait for the worker's.
  for (const workflowId of Object.values(WORKFLOWS)) {
    for (let i = 0; ; i++) {
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const done = history.events?.some(
        (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
      );
      if (done) break;
      if (i > 100) throw new Error(`${workflowId}: no workflow task completed in 20 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  readOnly = await startUi(ui.binary, ui.dir, env.address, composeSetting);
  control = await startUi(ui.binary, ui.dir, env.address, 'false');
  browser = await launchChromium();
}, 25 * 60_000);

afterAll(async () => {
  await browser?.close();
  for (const ui of [readOnly, control]) if (ui?.child.exitCode === null) ui.child.kill('SIGTERM');
  if (worker) {
    worker.shutdown();
    await workerRun;
  }
  await env?.teardown();
}, 60_000);

async function workflowPage(ui: RunningUi): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${ui.url}/namespaces/${NAMESPACE}/workflows/${WORKFLOWS.page}`);
  await page.getByText('waitsForOperations').first().waitFor({ timeout: 60_000 });
  // The actions appear with the page's header; settings decide whether they are enabled.
  await page.getByRole('button', { name: 'Request Cancellation' }).waitFor({ timeout: 30_000 });
  return page;
}

const WRITE_ACTIONS = [/^Reset/, /^Send a Signal/, /^Terminate/] as const;

/** POST to the UI server's HTTP API, as the UI does for Terminate. An Authorization header (any: the
 * dev server asks for none) is how API clients skip the UI server's CSRF check. */
function terminateThrough(ui: RunningUi, workflowId: string): Promise<Response> {
  return fetch(`${ui.url}/api/v1/namespaces/${NAMESPACE}/workflows/${workflowId}/terminate`, {
    method: 'POST',
    headers: { authorization: 'Bearer none', 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'temporal-ui-readonly test' }),
  });
}

async function statusOf(workflowId: string): Promise<string> {
  return (await client.workflow.getHandle(workflowId).describe()).status.name;
}

describe('the Temporal Web UI of docker-compose.yml', () => {
  it('has write actions disabled in the compose file', () => {
    expect(composeSetting).toBe('true');
  });

  it('control: without the setting, a running workflow offers cancel, terminate, signal and reset', async () => {
    const settings = (await (await fetch(`${control.url}/api/v1/settings`)).json()) as Record<string, unknown>;
    expect(settings.DisableWriteActions).toBe(false);
    const page = await workflowPage(control);
    try {
      await expect.poll(() => page.getByRole('button', { name: 'Request Cancellation' }).isEnabled()).toBe(true);
      const more = page.getByRole('button', { name: 'More Actions' });
      expect(await more.isEnabled()).toBe(true);
      await more.click();
      for (const name of WRITE_ACTIONS) {
        const item = page.getByRole('menuitem', { name });
        await item.waitFor({ timeout: 10_000 });
        expect(await item.getAttribute('aria-disabled'), String(name)).not.toBe('true');
      }
    } finally {
      await page.close();
    }
  });

  it('read-only: the same page offers none of them', async () => {
    const settings = (await (await fetch(`${readOnly.url}/api/v1/settings`)).json()) as Record<string, unknown>;
    expect(settings.DisableWriteActions).toBe(true);
    const page = await workflowPage(readOnly);
    try {
      // The page itself works: the workflow is shown running.
      await page.getByText('Running', { exact: false }).first().waitFor({ timeout: 10_000 });
      expect(await page.getByRole('button', { name: 'Request Cancellation' }).isDisabled()).toBe(true);
      const more = page.getByRole('button', { name: 'More Actions' });
      expect(await more.isDisabled()).toBe(true);
      // Even a click past the disabled state opens no menu.
      await more.click({ force: true });
      await page.waitForTimeout(1_000);
      for (const name of WRITE_ACTIONS) {
        expect(await page.getByRole('menuitem', { name }).count(), String(name)).toBe(0);
      }
    } finally {
      await page.close();
    }
  });

  it('read-only: its HTTP API refuses a terminate that the control carries out', async () => {
    const refused = await terminateThrough(readOnly, WORKFLOWS.readOnlyApi);
    expect(refused.status).toBe(405);
    expect(await statusOf(WORKFLOWS.readOnlyApi)).toBe('RUNNING');
    const done = await terminateThrough(control, WORKFLOWS.controlApi);
    expect(done.status).toBe(200);
    expect(await statusOf(WORKFLOWS.controlApi)).toBe('TERMINATED');
  });
});
