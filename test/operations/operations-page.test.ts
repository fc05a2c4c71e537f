// The operations page in a real headless Chromium (Debian's `chromium`, driven by playwright-core)
// against a real Temporal dev server and a real worker: a borrower's dispute hands a loan over, the
// page (signed in with HTTP Basic as mei, an API key as the password) shows it in the queue, mei
// claims it and resolves it by resuming the loan, which the loan then shows. A wrong number refused
// a resume shows the loan's refusal in the page; a key without operations:write is told it may only
// look; and a Chinese reader gets the page in Chinese, drawn with a CJK font. Screenshots are kept
// in test/artifacts/.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { MASKED } from '../../src/api/use-cases/operations-inbox';
import { EncryptionCodec, parsePayloadKeys } from '../../src/codec/encryption';
import { openAuditTrail, type AuditTrail } from '../../src/operations/audit';
import { createLogger } from '../../src/log';
import { openOperationsQueue, type OperationsQueue, type OperationsQueueOptions } from '../../src/operations/queue';
import { loanDueIn, startApiServer, withKey, type ApiServer } from '../helpers/api';
import { chromiumPath, launchChromium } from '../helpers/browser';
import { POLICIES } from '../helpers/temporal';

const OPS = 'operations-page-key-0123456789abc';
const VIEWER = 'operations-viewer-0123456789abcd';
const WRITER = 'writer-key-0123456789abcdef01234';
const ARTIFACTS = join(__dirname, '..', 'artifacts');
const UI = 'http://temporal-ui.example:8080';
const codec = new EncryptionCodec(parsePayloadKeys(`k1:${randomBytes(32).toString('base64')}`));
const queueOptions: OperationsQueueOptions = { codec };

let server: ApiServer;
let appQueue: OperationsQueue;
let trail: AuditTrail;
let app: Express;
let http: Server;
let base: string;
let browser: Browser;

beforeAll(async () => {
  chromiumPath(); // fails at once, naming the package, when there is no Chromium
  const at = { sqlitePath: join(mkdtempSync(join(tmpdir(), 'ops-page-')), 'operations.sqlite') };
  server = await startApiServer('ops-page', undefined, openOperationsQueue(at, queueOptions));
  // The API reads the same store the worker files into (another connection to it).
  appQueue = openOperationsQueue(at, queueOptions);
  trail = openAuditTrail(at);
  app = createApp({
    client: server.env.client,
    taskQueue: server.taskQueue,
    lender: { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' },
    policies: POLICIES,
    log: createLogger('info', 'ops-page-test', server.logStream),
    apiKeys: [
      { name: 'ops-desk', key: OPS, scopes: ['operations:read', 'operations:write', 'loans:read'] },
      { name: 'ops-viewer', key: VIEWER, scopes: ['operations:read'] },
      { name: 'ledger', key: WRITER, scopes: ['loans:write', 'loans:read'] },
    ],
    webhookSecrets: ['whsec-ops-page-0123456789abcdef01'],
    rateLimitPerMinute: 100_000,
    operations: appQueue,
    payloadCodec: codec,
    temporalUi: { url: `${UI}/`, namespace: 'default' },
    audit: trail,
  });
  http = await new Promise<Server>((ok, fail) => {
    const srv = app.listen(0, '127.0.0.1', () => ok(srv));
    srv.once('error', fail);
  });
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((ok) => (http ? http.close(() => ok()) : ok()));
  await appQueue?.close();
  await trail?.close();
  await server?.stop();
  await server?.operations.close();
});

const ledger = withKey(() => app, WRITER);
const desk = withKey(() => app, OPS);
const basic = (key: string, user = 'mei') => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;

interface Item {
  id: string;
  loanId: string;
  kind: string;
  state: string;
  assignee: string | null;
  resolution: string | null;
}

/** Starts a loan and has the borrower answer `answer`; the item the worker files for it. */
async function handOver(prefix: string, answer: Record<string, unknown>): Promise<Item> {
  const loan = loanDueIn(prefix, 14);
  await ledger.post('/v1/loans').send(loan).expect(201);
  await ledger.post(`/v1/loans/${loan.loanId}/feedback`).send(answer).expect(202);
  const until = Date.now() + 30_000;
  for (;;) {
    const res = await desk.get(`/v1/operations/items?loanId=${loan.loanId}`).expect(200);
    const [item] = (res.body as { items: Item[] }).items;
    if (item) return item;
    if (Date.now() > until) throw new Error(`no item filed for ${loan.loanId}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function openPage(
  credentials: { username: string; password: string },
  locale: string,
  query = '',
): Promise<{ context: BrowserContext; page: Page; status: number | undefined; consoleErrors: string[] }> {
  const context = await browser.newContext({
    httpCredentials: credentials,
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
    locale,
    timezoneId: 'UTC',
  });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    // A refused action's 4xx is reported by Chromium as a failed resource: expected, and shown.
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  try {
    const res = await page.goto(`${base}/operations/${query}`);
    await page.locator('body[data-loaded="true"]').waitFor({ timeout: 20_000 });
    return { context, page, status: res?.status(), consoleErrors };
  } catch (err) {
    await context.close();
    throw err;
  }
}

const row = (page: Page, item: Item) => page.locator(`#items tr[data-item-id="${item.id}"]`);

describe('the operations page’s door', () => {
  it('asks a browser to sign in, refuses a key without operations:read, serves only its own files', async () => {
    const anonymous = await fetch(`${base}/operations/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="loan-reminders operations", charset="UTF-8"');
    expect(anonymous.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const ledgerKey = await fetch(`${base}/operations/`, { headers: { authorization: basic(WRITER) } });
    expect(ledgerKey.status).toBe(403);
    expect(((await ledgerKey.json()) as { detail: string }).detail).toContain('operations:read');
    for (const path of ['assets/operations.js', 'api/items', 'api/summary', 'api/me']) {
      expect((await fetch(`${base}/operations/${path}`)).status, path).toBe(401);
    }

    const redirect = await fetch(`${base}/operations?lang=zh-CN`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/operations/?lang=zh-CN');

    const auth = { authorization: basic(OPS) };
    const page = await fetch(`${base}/operations/`, { headers: auth });
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-language')).toBe('en-US');
    // Strict CSP: scripts from the API's own origin only, none inline.
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).not.toMatch(/<script>|on(click|load)=/);
    const zh = await fetch(`${base}/operations/`, {
      headers: { ...auth, 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.5' },
    });
    expect(zh.headers.get('content-language')).toBe('zh-CN');
    expect(await zh.text()).toContain('<html lang="zh-CN"');
    const chosen = await fetch(`${base}/operations/?lang=en-US`, { headers: { ...auth, 'accept-language': 'zh-CN' } });
    expect(chosen.headers.get('content-language')).toBe('en-US');

    expect((await fetch(`${base}/operations/assets/package.json`, { headers: auth })).status).toBe(404);
    const me = await fetch(`${base}/operations/api/me`, { headers: auth });
    expect(await me.json()).toEqual({ user: 'mei', scopes: ['operations:read', 'operations:write', 'loans:read'] });
    // The page's actions are the inbox's: the same scope, and JSON only (a cross-site form cannot post).
    const viewer = await fetch(`${base}/operations/api/items/x/claim`, {
      method: 'POST',
      headers: { authorization: basic(VIEWER), 'content-type': 'application/json' },
      body: '{}',
    });
    expect(viewer.status).toBe(403);
    const form = await fetch(`${base}/operations/api/items/x/claim`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
    });
    expect(form.status).toBe(415);
  });
});

describe('the operations page in Chromium', () => {
  it('shows a dispute in the queue; mei claims it, reads the loan masked and resolves it by resuming', async () => {
    const item = await handOver('OPS-PAGE-D', { kind: 'dispute', reason: '这不是我的贷款 13912345678' });
    const { context, page, status, consoleErrors } = await openPage({ username: 'mei', password: OPS }, 'en-GB');
    try {
      expect(status).toBe(200);
      expect(await page.title()).toBe('Operations inbox · loan-reminders');
      expect(await page.locator('#signed-in').textContent()).toBe('Signed in as mei');
      expect(await page.locator('#read-only').isVisible()).toBe(false);
      const queue = page.locator('#queues tr[data-kind="dispute"][data-state="open"] td');
      expect((await queue.allTextContents())[0]).toBe('dispute');
      expect(Number((await queue.allTextContents())[2])).toBeGreaterThanOrEqual(1);

      const r = row(page, item);
      await r.waitFor();
      expect(await r.locator('td.kind').textContent()).toBe('dispute');
      expect(await r.locator('td.loan').textContent()).toBe(item.loanId);
      expect(await r.locator('td.age').textContent()).toMatch(/^\d+ min$/);
      expect(await r.locator('td.state').textContent()).toBe('open');
      expect(await r.locator('td.assignee').textContent()).toBe('—');
      expect(await r.locator('a.temporal-ui').getAttribute('href')).toBe(
        `${UI}/namespaces/default/workflows/${encodeURIComponent(`loan-${item.loanId}`)}`,
      );

      await r.locator('button[data-action="claim"]').click();
      await page.locator('#message.is-ok').waitFor();
      await expect.poll(() => r.locator('td.assignee').textContent()).toBe('mei');
      expect(await r.locator('td.state').textContent()).toBe('claimed');

      // The loan, as operations see it: paused for the dispute, the borrower's words masked.
      await r.locator('button[data-action="loan"]').click();
      await page.locator('#loan-panel').waitFor();
      expect(await page.locator('#loan-panel').getAttribute('data-loan-id')).toBe(item.loanId);
      const facts = await page.locator('#loan-facts').textContent();
      expect(facts).toContain('Paused fordispute');
      expect(facts).toContain('CNY 5,000.00');
      const answers = await page.locator('#loan-answers').textContent();
      expect(answers).toContain(MASKED);
      expect(await page.content()).not.toContain('13912345678');

      await r.locator('button[data-action="resolve"]').click();
      await page.locator('#resolve-panel').waitFor();
      await page.selectOption('#resolution', 'resume');
      expect(await page.locator('#field-phone').isVisible()).toBe(false);
      expect(await page.locator('#field-date').isVisible()).toBe(false);
      await page.fill('#note', 'statement checked with the borrower');
      await page.click('#resolve-submit');
      await page.locator('#message.is-ok', { hasText: /^Resolved/ }).waitFor();
      expect(await page.locator('#message').textContent()).toBe(
        `Resolved (Resume the reminders): loan ${item.loanId} is now active.`,
      );
      await r.waitFor({ state: 'detached' });
      // The loan shown is read again: no longer paused.
      await expect.poll(() => page.locator('#loan-facts').textContent()).toContain('Paused fornone');
      expect(await page.locator('#loan-facts').textContent()).toContain('Statusactive');
      expect(consoleErrors).toEqual([]);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'operations.png'), fullPage: true });
    } finally {
      await context.close();
    }

    const loan = await ledger.get(`/v1/loans/${item.loanId}`).expect(200);
    expect(loan.body.pause).toBeNull();
    const done = await desk.get(`/v1/operations/items/${encodeURIComponent(item.id)}`).expect(200);
    expect(done.body).toMatchObject({ state: 'resolved', resolution: 'resume', assignee: 'mei' });
    expect(done.body.outcome).toMatchObject({ accepted: true, resumed: true, pause: null });

    // The page's actions are in the audit trail as the API's are: mei's, with the key's name.
    const pageRecords = async () =>
      (await trail.find({ loanId: item.loanId, limit: 100 })).filter((r) => r.itemId === item.id);
    await expect.poll(async () => (await pageRecords()).length).toBe(2);
    const byPage = await pageRecords();
    expect(byPage.map((r) => [r.action, r.actorKey, r.actorUser, r.outcome])).toEqual([
      ['claimInboxItem', 'ops-desk', 'mei', 'accepted'],
      ['resolveInboxItem', 'ops-desk', 'mei', 'accepted'],
    ]);
    expect(byPage[1].what).toMatchObject({ resolution: 'resume' });
    expect(JSON.stringify(byPage)).not.toContain('statement checked');
  });

  it('shows the loan’s refusal when a wrong number is resolved by resuming, and asks for the new number', async () => {
    const item = await handOver('OPS-PAGE-W', { kind: 'wrong-number' });
    const { context, page } = await openPage({ username: 'mei', password: OPS }, 'en-US');
    try {
      const r = row(page, item);
      await r.locator('button[data-action="resolve"]').click();
      await page.selectOption('#resolution', 'resume');
      await page.click('#resolve-submit');
      await page.locator('#message.is-error').waitFor();
      expect(await page.locator('#message').textContent()).toMatch(
        /^Refused \(HTTP 422\): the loan refused the resume: /,
      );
      // The refusal stays on the item, for whoever looks next.
      await expect
        .poll(() => r.locator('.refusal').textContent())
        .toMatch(/^Last attempt refused \(Resume the reminders, HTTP 422\): /);
      expect(await r.locator('td.state').textContent()).toBe('open');

      // A new number needs the phone: its field is shown for that resolution only.
      await page.selectOption('#resolution', 'new-number');
      expect(await page.locator('#field-phone').isVisible()).toBe(true);
      await page.selectOption('#resolution', 'promise');
      expect(await page.locator('#field-phone').isVisible()).toBe(false);
      expect(await page.locator('#field-date').isVisible()).toBe(true);
      await page.selectOption('#resolution', 'new-number');
      await page.fill('#phone', '+8613700137000');
      await page.click('#resolve-submit');
      await page.locator('#message.is-ok', { hasText: /^Resolved \(New phone number\)/ }).waitFor();
      await r.waitFor({ state: 'detached' });
    } finally {
      await context.close();
    }
    const done = await desk.get(`/v1/operations/items/${encodeURIComponent(item.id)}`).expect(200);
    expect(done.body).toMatchObject({ state: 'resolved', resolution: 'new-number', assignee: 'mei' });
  });

  it('tells a key without operations:write that it may only look', async () => {
    const item = await handOver('OPS-PAGE-V', { kind: 'hardship', note: 'lost my job' });
    const { context, page } = await openPage({ username: 'wang', password: VIEWER }, 'en-US');
    try {
      expect(await page.locator('#read-only').isVisible()).toBe(true);
      expect(await page.locator('#read-only').textContent()).toContain('operations:write');
      const r = row(page, item);
      expect(await r.locator('button[data-action="claim"]').isDisabled()).toBe(true);
      expect(await r.locator('button[data-action="resolve"]').isDisabled()).toBe(true);
      expect(await r.locator('button[data-action="loan"]').isDisabled()).toBe(false);
    } finally {
      await context.close();
    }
  });

  it('renders in Chinese for a Chinese reader, with a CJK font, and keeps a screenshot', async () => {
    const item = await handOver('OPS-PAGE-Z', { kind: 'dispute', reason: 'not mine' });
    const { context, page, consoleErrors } = await openPage({ username: 'mei', password: OPS }, 'zh-CN');
    try {
      expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
      expect(await page.title()).toBe('运营待办 · loan-reminders');
      expect(await page.locator('h1').textContent()).toBe('运营待办');
      expect(await page.locator('#items th').allTextContents()).toEqual([
        '类型',
        '贷款',
        '已等待',
        '截止时间',
        '状态',
        '处理人',
        '操作',
      ]);
      const r = row(page, item);
      expect(await r.locator('td.kind').textContent()).toBe('争议');
      expect(await r.locator('td.state').textContent()).toBe('待认领');
      expect(await r.locator('td.age').textContent()).toMatch(/^\d+ 分钟$/);
      expect(await r.locator('button[data-action="claim"]').textContent()).toBe('认领');
      await r.locator('button[data-action="claim"]').click();
      await page.locator('#message.is-ok', { hasText: /^已认领/ }).waitFor();
      await expect.poll(() => r.locator('td.assignee').textContent()).toBe('mei');

      // The heading is drawn with a font that has the glyphs, not as empty boxes.
      const cdp = await context.newCDPSession(page);
      const { root } = (await cdp.send('DOM.getDocument')) as { root: { nodeId: number } };
      const { nodeId } = (await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: 'h1' })) as {
        nodeId: number;
      };
      await cdp.send('CSS.enable');
      const { fonts } = (await cdp.send('CSS.getPlatformFontsForNode', { nodeId })) as {
        fonts: Array<{ familyName: string; glyphCount: number }>;
      };
      const cjk = fonts.filter((f) => /CJK|WenQuanYi|Source Han|Droid Sans Fallback|Hei|Ming|Song/i.test(f.familyName));
      expect(
        cjk.reduce((n, f) => n + f.glyphCount, 0),
        JSON.stringify(fonts),
      ).toBe(4);

      expect(consoleErrors).toEqual([]);
      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'operations-zh-CN.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(20_000);
    } finally {
      await context.close();
    }
  });
});

// A CJK font on the machine, or the Chinese page is drawn as boxes: named here, like Chromium.
beforeAll(() => {
  const zh = execFileSync('fc-list', [':lang=zh', 'family'], { encoding: 'utf8' }).trim();
  if (!zh) throw new Error('no CJK font: install one (Debian: apt-get install fonts-wqy-zenhei)');
});
