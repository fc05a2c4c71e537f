// Proof that borrowers' personal data never reaches Temporal in clear: loans live their whole life
// on the real stack (`npm start`: dev server with its SQLite file, worker, API), borrowers answer in
// their own words quoting their own names (an SMS reply through the gateway's inbound webhook, a
// reply, a call-back note and a dispute's reason through the API), then every file the stack wrote
// except the SMS outbox, and everything it logged, is searched for each borrower's name and number. The Web UI, in a real headless Chromium, still shows a loan's input decoded through
// the codec endpoint.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser';
import { freePort, ROOT, startStack, stop, type Stack } from '../helpers/stack';

const BORROWERS = [
  { id: 'P1', name: '欧阳娜娜', phone: '+8613912345671', locale: 'zh-CN', timezone: 'Asia/Shanghai', story: 'pays' },
  {
    id: 'P2',
    name: 'Featherstonehaugh',
    phone: '+12025550188',
    locale: 'en-US',
    timezone: 'America/New_York',
    story: 'opts out',
  },
  {
    id: 'P3',
    name: 'Cholmondeley',
    phone: '+447700900123',
    locale: 'en-US',
    timezone: 'Europe/London',
    story: 'disputes',
  },
  {
    id: 'P4',
    name: '司马相如',
    phone: '+8613700001111',
    locale: 'zh-CN',
    timezone: 'Asia/Shanghai',
    story: 'new number, then pays',
  },
] as const;
const NEW_NUMBER = '+8613700002222';

/** Every form a number or name could take in a file: as given, digits only, national digits, UTF-16. */
function forms(s: string): Buffer[] {
  const variants = new Set([s]);
  if (s.startsWith('+')) {
    variants.add(s.slice(1));
    variants.add(s.slice(1).replace(/^(86|1|44)/, ''));
  }
  return [...variants].flatMap((v) => [Buffer.from(v, 'utf8'), Buffer.from(v, 'utf16le')]);
}

const FAST_POLICY = {
  id: 'privacy',
  description: 'Seconds apart, for the privacy test.',
  anchor: 'loan-start',
  sendTime: '00:00',
  window: { start: '00:00', end: '24:00' },
  points: [
    { stage: 'pre-due', offset: 'PT2S', template: 'pre-due' },
    { stage: 'due', offset: 'PT6S', template: 'due' },
  ],
  caps: [],
  maxLateness: 'PT1M',
  afterLastPoint: { handOver: true, listenFor: 'PT4S' },
  thankYou: true,
  promiseToPay: { grace: 'PT1M', maxAhead: 'P30D' },
  gentleAfterHarshRating: true,
};

let stack: Stack;
let dataDir: string;
let api: string;
let uiPort: number;
let key: string;
const run = Date.now().toString(36).toUpperCase();
const loanId = (b: (typeof BORROWERS)[number]) => `PRIV-${run}-${b.id}`;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function statusOf(b: (typeof BORROWERS)[number]): Promise<{ status: string; messagesSent: unknown[] }> {
  return (await call('GET', `/v1/loans/${loanId(b)}`)).body as { status: string; messagesSent: unknown[] };
}

async function until(what: string, test: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'loan-reminders-privacy-'));
  const policiesDir = join(dataDir, 'policies');
  mkdirSync(policiesDir);
  for (const f of readdirSync(join(ROOT, 'policies'))) copyFileSync(join(ROOT, 'policies', f), join(policiesDir, f));
  writeFileSync(join(policiesDir, 'privacy.json'), JSON.stringify(FAST_POLICY));
  const apiPort = await freePort();
  uiPort = await freePort();
  stack = await startStack({
    DATA_DIR: join(dataDir, 'data'),
    POLICIES_DIR: policiesDir,
    PORT: String(apiPort),
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(uiPort),
    LOG_LEVEL: 'debug',
  });
  api = `http://127.0.0.1:${apiPort}`;
  key = readFileSync(join(dataDir, 'data', 'dev-api-key'), 'utf8').trim();

  for (const b of BORROWERS) {
    const r = await call('POST', '/v1/loans', {
      loanId: loanId(b),
      policyId: 'privacy',
      borrower: { name: b.name, phone: b.phone, locale: b.locale, timezone: b.timezone },
      amountDue: 123_456,
      currency: b.locale === 'zh-CN' ? 'CNY' : 'USD',
      dueDate: new Date().toISOString().slice(0, 10),
    });
    expect(r.status).toBe(201);
  }
  const [p1, p2, p3, p4] = BORROWERS;
  await until('every loan has had its first SMS', async () =>
    (await Promise.all(BORROWERS.map(statusOf))).every((s) => s.messagesSent.length >= 1),
  );
  // Borrowers answer in their own words, quoting their own names and numbers. P1 by SMS, through
  // the Tencent gateway's inbound webhook (whose reply id is built from the sender's number).
  const callbackToken = readFileSync(join(dataDir, 'data', 'dev-sms-callback-token'), 'utf8').trim();
  const inbound = await fetch(`${api}/v1/webhooks/sms/tencent/inbound?token=${callbackToken}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      extend: '',
      mobile: p1.phone.slice(3),
      nationcode: '86',
      sign: '锦程金融',
      text: `我是${p1.name}，明天还款，有事打${p1.phone.slice(3)}`,
      time: Math.floor(Date.now() / 1000),
    }),
  });
  expect(inbound.status).toBe(200);
  expect(
    (await call('POST', `/v1/loans/${loanId(p2)}/feedback`, { kind: 'reply', text: `${p2.name} here, call me` }))
      .status,
  ).toBe(202);
  expect(
    (
      await call('POST', `/v1/loans/${loanId(p4)}/feedback`, {
        kind: 'callback',
        note: `${p4.name}请回电 ${p4.phone}`,
      })
    ).status,
  ).toBe(202);
  await until('P1 has the SMS reply as an answer', async () => {
    const answers = ((await call('GET', `/v1/loans/${loanId(p1)}`)).body as { answers: Array<{ answerId?: string }> })
      .answers;
    return answers.some((a) => a.answerId?.startsWith('tencent:'));
  });
  expect(
    (
      await call('POST', `/v1/loans/${loanId(p1)}/payments`, {
        paymentId: `${run}-1`,
        amount: 123_456,
        paidAt: new Date().toISOString(),
      })
    ).status,
  ).toBe(202);
  expect((await call('POST', `/v1/loans/${loanId(p2)}/feedback`, { kind: 'opt-out' })).status).toBe(202);
  expect(
    (
      await call('POST', `/v1/loans/${loanId(p3)}/feedback`, {
        kind: 'dispute',
        reason: `not mine, ${p3.name} never borrowed`,
      })
    ).status,
  ).toBe(202);
  expect((await call('PATCH', `/v1/loans/${loanId(p4)}`, { borrower: { phone: NEW_NUMBER } })).status).toBe(200);
  await until('P3 is paused', async () => (await statusOf(p3)).status === 'paused');
  expect((await call('POST', `/v1/loans/${loanId(p3)}/close`, { reason: 'cancelled' })).status).toBe(200);
  await until('P4 had its due reminder at the new number', async () => (await statusOf(p4)).messagesSent.length >= 2);
  expect(
    (
      await call('POST', `/v1/loans/${loanId(p4)}/payments`, {
        paymentId: `${run}-4`,
        amount: 123_456,
        paidAt: new Date().toISOString(),
      })
    ).status,
  ).toBe(202);
  await until('every loan has ended', async () =>
    (await Promise.all(BORROWERS.map(statusOf))).every((s) => ['paid', 'closed', 'unresolved'].includes(s.status)),
  );
}, 180_000);

afterAll(async () => {
  if (stack?.child.exitCode === null) stack.child.kill('SIGKILL');
});

describe('privacy on the real stack', () => {
  it('the Web UI shows a loan’s input decoded through the codec endpoint', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const p2 = BORROWERS[1];
      await page.goto(`http://localhost:${uiPort}/namespaces/default/workflows/loan-${loanId(p2)}`);
      // The input is stored encrypted; only the codec endpoint turns it back into the name.
      await page.getByText(p2.name).first().waitFor({ timeout: 60_000 });
      await page.getByText(p2.phone).first().waitFor({ timeout: 10_000 });
      mkdirSync(join(ROOT, 'test', 'artifacts'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'test', 'artifacts', 'temporal-ui-decoded.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 120_000);

  it('the codec endpoint answers only with its token or a key, and only to the UI’s origin', async () => {
    const body = JSON.stringify({ payloads: [] });
    const headers = { 'content-type': 'application/json', origin: `http://localhost:${uiPort}` };
    expect((await fetch(`${api}/codec/decode`, { method: 'POST', headers, body })).status).toBe(401);
    expect((await fetch(`${api}/codec/not-the-token/decode`, { method: 'POST', headers, body })).status).toBe(401);
    const withKey = await fetch(`${api}/codec/decode`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${key}` },
      body,
    });
    expect(withKey.status).toBe(200);
    expect(withKey.headers.get('access-control-allow-origin')).toBe(`http://localhost:${uiPort}`);
    const foreign = await fetch(`${api}/codec/decode`, {
      method: 'POST',
      headers: { ...headers, origin: 'https://elsewhere.example', authorization: `Bearer ${key}` },
      body,
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    // A payload of ours relabelled as not encrypted is refused, by name, not passed on.
    const encoded = await fetch(`${api}/codec/encode`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${key}` },
      body: JSON.stringify({
        payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: 'e30=' }],
      }),
    });
    const [sealed] = ((await encoded.json()) as { payloads: Array<{ metadata: Record<string, string> }> }).payloads;
    const relabelled = { ...sealed, metadata: { ...sealed.metadata, 'encryption-cipher': btoa('NONE') } };
    const refused = await fetch(`${api}/codec/decode`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${key}` },
      body: JSON.stringify({ payloads: [relabelled] }),
    });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/cipher "NONE"/);
  });

  it('no name or number in Temporal’s database, the stores or the logs, after the stack stops', async () => {
    expect(await stop(stack)).toBe(0);
    const data = join(dataDir, 'data');
    // Every file the stack wrote, in any folder, the SQLite journals and the local secrets included;
    // only the outbox, which is what the borrowers receive, holds their names.
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
    const files = walk(data)
      .map((f) => f.slice(data.length + 1))
      .filter((f) => f !== 'outbox.jsonl');
    expect(files).toEqual(
      expect.arrayContaining([
        'temporal.db',
        'events.sqlite',
        'sends.sqlite',
        'phone-index.sqlite',
        'operations.sqlite',
        'rate-limits.sqlite',
      ]),
    );
    const haystacks: Array<[string, Buffer]> = [
      ...files.map((f): [string, Buffer] => [f, readFileSync(join(data, f))]),
      ['the stack’s output (logs)', Buffer.from(stack.output(), 'utf8')],
    ];
    const secrets: string[] = [...BORROWERS.flatMap((b) => [b.name, b.phone]), NEW_NUMBER];
    const found: string[] = [];
    for (const secret of secrets)
      for (const form of forms(secret))
        for (const [where, bytes] of haystacks) if (bytes.includes(form)) found.push(`${secret} in ${where}`);
    expect(found).toEqual([]);
    // The search can find them: the outbox, which is what the borrowers receive, holds every name.
    const outbox = readFileSync(join(data, 'outbox.jsonl'));
    for (const b of BORROWERS) expect(outbox.includes(Buffer.from(b.name))).toBe(true);
    expect(outbox.includes(Buffer.from(NEW_NUMBER))).toBe(true);
    // The borrowers' words reached operations, encrypted: the payload key reads them back.
    const ops =
      readFileSync(join(data, 'operations.sqlite'), 'latin1') +
      readFileSync(join(data, 'operations.sqlite-wal'), { flag: 'a+', encoding: 'latin1' });
    expect(ops).toMatch(/"note":"enc:AES-256-GCM:/);
    const opened = execFileSync(process.execPath, ['--import', 'tsx', 'src/operations/read.ts'], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: data, LOG_LEVEL: 'silent' },
      encoding: 'utf8',
    });
    for (const b of BORROWERS) expect(opened).toContain(b.name);
  }, 60_000);
});
