// The effectiveness dashboard in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core): the six-loan history of test/helpers/analytics-scenario.ts is run through real
// workflows on the time-skipping server into a SQLite event store, the API serves the dashboard,
// and the browser signs in with an API key, draws the four charts and must show exactly the
// figures the analytics tests check by hand. A full-page screenshot is kept in test/artifacts/.
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { effectiveness, type EffectivenessReport, type Figures } from '../../src/analytics/effectiveness';
import { createLogger } from '../../src/log';
import { SqliteEventStore } from '../../src/store/event-store-sql';
import { DAY, runScenario, type Scenario } from '../helpers/analytics-scenario';
import { chromiumPath, launchChromium } from '../helpers/browser';
import { POLICIES, TEST_LENDER, timeSkippingEnv } from '../helpers/temporal';

const ANALYST = 'analyst-key-0123456789abcdef0123';
const WRITER = 'writer-key-0123456789abcdef012345';
const ARTIFACTS = join(__dirname, '..', 'artifacts');
const SCREENSHOT = join(ARTIFACTS, 'dashboard.png');

let env: TestWorkflowEnvironment;
let store: SqliteEventStore;
let s: Scenario;
let report: EffectivenessReport;
let server: Server;
let base: string;
let browser: Browser;
let range: { from: string; to: string };

beforeAll(async () => {
  chromiumPath(); // fails at once, naming the package, when there is no Chromium
  env = await timeSkippingEnv();
  store = new SqliteEventStore(join(mkdtempSync(join(tmpdir(), 'loan-reminders-dashboard-')), 'events.sqlite'));
  s = await runScenario(env, store);
  range = { from: new Date(s.t0 - DAY).toISOString(), to: new Date(s.t0 + 20 * DAY).toISOString() };
  report = await effectiveness(store, { fromMs: s.t0 - DAY, toMs: s.t0 + 20 * DAY, groupBy: 'stage' });

  const app = createApp({
    client: env.client,
    taskQueue: 'unused',
    lender: TEST_LENDER,
    policies: POLICIES,
    log: createLogger('silent', 'dashboard-test'),
    apiKeys: [
      { name: 'analyst', key: ANALYST, scopes: ['analytics:read'] },
      { name: 'writer', key: WRITER, scopes: ['loans:write', 'loans:read'] },
    ],
    webhookSecrets: ['s'.repeat(32)],
    events: store,
  });
  server = await new Promise<Server>((ok, fail) => {
    const srv = app.listen(0, '127.0.0.1', () => ok(srv));
    srv.once('error', fail);
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
  await store?.close();
  await env?.teardown();
});

const basic = (key: string, user = 'dashboard') => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;
const group = (g: string): Figures => {
  const f = report.groups.find((x) => x.group === g);
  if (!f) throw new Error(`no group ${g}`);
  return f;
};

async function openDashboard(
  credentials: { username: string; password: string } | undefined,
  query: string,
): Promise<{
  context: BrowserContext;
  page: Page;
  status: number | undefined;
  challenge: string | undefined;
  consoleErrors: string[];
}> {
  const context = await browser.newContext({
    httpCredentials: credentials,
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  try {
    const res = await page.goto(`${base}/dashboard/${query}`);
    return { context, page, status: res?.status(), challenge: res?.headers()['www-authenticate'], consoleErrors };
  } catch (err) {
    await context.close();
    throw err;
  }
}

describe('the dashboard’s door', () => {
  it('asks a browser to sign in, refuses a wrong key (401) and a key without analytics:read (403)', async () => {
    const anonymous = await fetch(`${base}/dashboard/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="loan-reminders dashboard", charset="UTF-8"');
    expect(anonymous.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await anonymous.text()).not.toContain('<canvas');

    const wrong = await fetch(`${base}/dashboard/`, { headers: { authorization: basic('x'.repeat(32)) } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic realm=/);

    const writer = await fetch(`${base}/dashboard/effectiveness.json`, { headers: { authorization: basic(WRITER) } });
    expect(writer.status).toBe(403);
    expect(writer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await writer.json()) as { detail: string }).detail).toContain('analytics:read');

    for (const path of ['assets/chart.umd.js', 'assets/dashboard.js', 'effectiveness.json']) {
      const res = await fetch(`${base}/dashboard/${path}`);
      expect(res.status, path).toBe(401);
    }

    // The same in the browser. Without credentials it is challenged and, headless, has no one to
    // ask; with a wrong key it gets the 401 and the challenge; a key without the scope, a 403.
    await expect(openDashboard(undefined, '')).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    const stranger = await openDashboard({ username: 'dashboard', password: 'y'.repeat(32) }, '');
    expect(stranger.status).toBe(401);
    expect(stranger.challenge).toBe('Basic realm="loan-reminders dashboard", charset="UTF-8"');
    await stranger.context.close();
    const scopeless = await openDashboard({ username: 'dashboard', password: WRITER }, '');
    expect(scopeless.status).toBe(403);
    await scopeless.context.close();
  });

  it('redirects /dashboard to /dashboard/, serves only its own files, and the same report as the API', async () => {
    const redirect = await fetch(`${base}/dashboard?from=2026-01-01`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/dashboard/?from=2026-01-01');

    const auth = { authorization: basic(ANALYST, '') };
    const chart = await fetch(`${base}/dashboard/assets/chart.umd.js`, { headers: auth });
    expect(chart.status).toBe(200);
    expect(chart.headers.get('content-type')).toMatch(/^application\/javascript/);
    expect(await chart.text()).toContain('Chart.js v4.5.1');
    expect((await fetch(`${base}/dashboard/assets/package.json`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${base}/dashboard/assets/..%2F..%2Fpackage.json`, { headers: auth })).status).toBe(404);

    const q = new URLSearchParams({ ...range, groupBy: 'variant' });
    const viaDashboard = await fetch(`${base}/dashboard/effectiveness.json?${q}`, { headers: auth });
    expect(viaDashboard.status).toBe(200);
    expect(viaDashboard.headers.get('cache-control')).toBe('no-store');
    const viaApi = await fetch(`${base}/v1/analytics/effectiveness?${q}`, {
      headers: { authorization: `Bearer ${ANALYST}` },
    });
    expect(await viaDashboard.json()).toEqual(await viaApi.json());
    // Bearer and X-API-Key open the dashboard too; a bad query is a problem+json 400.
    const bearer = await fetch(`${base}/dashboard/effectiveness.json?${q}`, { headers: { 'x-api-key': ANALYST } });
    expect(bearer.status).toBe(200);
    const bad = await fetch(`${base}/dashboard/effectiveness.json?groupBy=colour`, { headers: auth });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('groupBy');
  });
});

/** What Chart.js drew on each canvas, read in the page. */
interface Drawn {
  type: string;
  labels: unknown[];
  datasets: Array<{ label: string; data: Array<number | null> }>;
  drawn: string | undefined;
  points: string | undefined;
}

// Runs in the browser: written without the DOM types, which this project's TypeScript leaves out.
const READ_CHARTS = `(() => {
  const out = {};
  for (const canvas of document.querySelectorAll('canvas')) {
    const chart = Chart.getChart(canvas);
    out[canvas.id] = chart && {
      type: chart.config.type,
      labels: chart.data.labels,
      datasets: chart.data.datasets.map((d) => ({ label: d.label, data: d.data })),
      drawn: canvas.dataset.drawn,
      points: canvas.dataset.points,
    };
  }
  return out;
})()`;

describe('the dashboard in Chromium', () => {
  it('draws the four charts from the figures of a real run, and keeps a screenshot', async () => {
    const query = `?${new URLSearchParams(range)}`;
    const { context, page, status, consoleErrors } = await openDashboard(
      { username: 'dashboard', password: ANALYST },
      query,
    );
    try {
      expect(status).toBe(200);
      await page.waitForSelector('canvas[data-drawn="true"]', { state: 'attached' });
      // Locators, not waitForFunction: the page's CSP forbids the eval a string predicate needs.
      await expect.poll(() => page.locator('canvas[data-drawn="true"]').count(), { timeout: 20_000 }).toBe(4);
      expect(await page.title()).toBe('Reminder effectiveness · loan-reminders');
      expect(await page.locator('h1').textContent()).toBe('Reminder effectiveness');
      // The form shows the range asked for.
      expect(await page.inputValue('#from')).toBe(range.from.slice(0, 10));
      expect(await page.inputValue('#to')).toBe(range.to.slice(0, 10));

      const charts = (await page.evaluate(READ_CHARTS)) as Record<string, Drawn>;
      expect(Object.keys(charts).sort()).toEqual(['chart-curve', 'chart-feedback', 'chart-funnel', 'chart-variants']);

      // (a) Repayment curve by stage: days 0..7, one line per stage in the order loans meet them.
      const curve = charts['chart-curve'];
      expect(curve.type).toBe('line');
      expect(curve.labels).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
      expect(curve.datasets.map((d) => d.label)).toEqual(['pre-due (6 loans)', 'due (5 loans)', 'overdue (2 loans)']);
      expect(curve.datasets[0].data).toEqual(group('pre-due').curve.map((p) => p.share));
      expect(curve.datasets[0].data).toEqual([0, 1 / 6, 2 / 6, 2 / 6, 2 / 6, 2 / 6, 2 / 6, 2 / 6]);
      expect(curve.datasets[0].data.at(-1)).toBeCloseTo(2 / 6, 12);
      expect(curve.datasets[1].data).toEqual(group('due').curve.map((p) => p.share));
      expect(curve.datasets[2].data.at(-1)).toBe(0.5); // L4 paid 5 days after the overdue message
      expect(curve).toMatchObject({ drawn: 'true', points: '24' });

      // (b) The funnel: messages sent and delivered, loans paid within 7 days.
      const funnel = charts['chart-funnel'];
      expect(funnel.labels).toEqual(['Messages sent', 'Messages delivered', 'Loans paid within 7 days']);
      expect(funnel.datasets[0].data).toEqual([13, 10, 3]);
      expect(funnel).toMatchObject({ drawn: 'true', points: '3' });
      expect(await page.locator('#funnel-caption').textContent()).toContain(
        '3 of 6 loans messaged paid within 7 days (50.0%)',
      );

      // (c) Variant B against A: 2 of 3 loans against 1 of 3, too few to tell.
      const variants = charts['chart-variants'];
      expect(variants.labels).toEqual(['Variant A (3 loans)', 'Variant B (3 loans)']);
      expect(variants.datasets[0].data).toEqual([2 / 3, 1 / 3]);
      expect(variants).toMatchObject({ drawn: 'true', points: '2' });
      expect(await page.locator('#variant-note').isVisible()).toBe(true);
      expect(await page.locator('#variant-note').textContent()).toContain('Too small to tell');
      expect(await page.locator('#variant-verdict').textContent()).toMatch(/^Too few loans to tell/);
      expect(await page.locator('#variant-difference').textContent()).toBe('−33.3 points');
      expect(await page.locator('#variant-p').textContent()).toBe(report.comparison.pValue!.toFixed(3));
      expect(await page.locator('#variant-ci').textContent()).toMatch(/^−\d+\.\d points to \+\d+\.\d points$/);

      // (d) Ratings: pre-due 5/4 (L6), due 3/3 (L4), none for overdue.
      const feedback = charts['chart-feedback'];
      expect(feedback.labels).toEqual([
        ['pre-due', '1 rating'],
        ['due', '1 rating'],
        ['overdue', '0 ratings'],
      ]);
      expect(feedback.datasets).toEqual([
        { label: 'Clarity', data: [5, 3, null] },
        { label: 'Tone', data: [4, 3, null] },
      ]);
      expect(feedback).toMatchObject({ drawn: 'true', points: '4' });

      // The table by stage, amounts from minor units.
      const row = async (g: string) =>
        (await page.locator(`#stage-table tr[data-group="${g}"] > *`).allTextContents()).map((t) => t.trim());
      expect(await row('pre-due')).toEqual([
        'pre-due',
        '6',
        '5 (83%)',
        '6',
        '1 (17%)',
        '2 (33%)',
        '2 (33%)',
        'CNY 500.00USD 200.00',
        '21.0 hours',
        '0.0% (0)',
        '0.0% (0)',
      ]);
      expect(await row('overdue')).toContain('5.0 days');
      expect((await row('all')).slice(0, 7)).toEqual([
        'All stages',
        '13',
        '10 (77%)',
        '6',
        '2 (33%)',
        '2 (33%)',
        '3 (50%)',
      ]);
      expect(await page.locator('#sum-amount').textContent()).toBe('CNY 1,000.00USD 400.00');

      expect(consoleErrors).toEqual([]);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(statSync(SCREENSHOT).size).toBeGreaterThan(20_000);
    } finally {
      await context.close();
    }
  });

  it('says so when the range has no reminders, and when the figures cannot be loaded', async () => {
    const credentials = { username: 'dashboard', password: ANALYST };
    const empty = new URLSearchParams({
      from: new Date(s.t0 + 15 * DAY).toISOString(),
      to: new Date(s.t0 + 16 * DAY).toISOString(),
    });
    const quiet = await openDashboard(credentials, `?${empty}`);
    await quiet.page.locator('#status', { hasText: /^No reminders/ }).waitFor();
    expect(await quiet.page.locator('#content').isVisible()).toBe(false);
    expect(quiet.consoleErrors).toEqual([]);
    await quiet.context.close();

    const broken = await openDashboard(credentials, '?from=2026-02-30&to=2026-03-01');
    await broken.page.locator('#status.is-error').waitFor();
    expect(await broken.page.locator('#status').textContent()).toMatch(
      /^The figures could not be loaded \(HTTP 400\): invalid from/,
    );
    await broken.context.close();
  });
});
