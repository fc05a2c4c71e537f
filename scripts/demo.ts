// `npm run demo` (with `npm start` running): starts four loans on the demo policy, whose reminders
// are a minute or so apart, and plays a payment, an opt-out and a dispute against them, printing
// each SMS as it lands in the outbox. Watch the same loans in the Web UI meanwhile.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config';
import { maskPhone, workflowIdForLoan } from '../src/domain/loan';
import { localDateOf } from '../src/domain/calendar';
import type { OutboxLine } from '../src/sms/outbox';
import { connectClient } from '../src/temporal/client';
import { borrowerAnswerSignal, loanStatusQuery, resumeUpdate } from '../src/workflows/loan-reminder';

const config = loadConfig();
const api = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${config.http.port}`;
const run = Date.now().toString(36).toUpperCase();
const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));
const t0 = Date.now();
const say = (msg: string) => console.log(`[+${String(Math.round((Date.now() - t0) / 1000)).padStart(3)}s] ${msg}`);

const loans = [
  {
    id: `DEMO-${run}-1`,
    story: 'never pays: every reminder, a final notice, then a hand-over',
    name: '张',
    honorific: '先生',
    phone: '+8613800138001',
    locale: 'zh-CN',
    timezone: 'Asia/Shanghai',
    amount: 500000,
    currency: 'CNY',
  },
  {
    id: `DEMO-${run}-2`,
    story: 'pays half, then the rest: no more reminders, a thank-you',
    name: 'Rivera',
    honorific: 'Ms',
    phone: '+12025550102',
    locale: 'en-US',
    timezone: 'America/New_York',
    amount: 120000,
    currency: 'USD',
  },
  {
    id: `DEMO-${run}-3`,
    story: 'replies 退订 (opt-out): no more SMS',
    name: '李',
    honorific: '女士',
    phone: '+8613800138003',
    locale: 'zh-CN',
    timezone: 'Asia/Shanghai',
    amount: 300000,
    currency: 'CNY',
  },
  {
    id: `DEMO-${run}-4`,
    story: 'disputes the debt: paused until operations resume it',
    name: 'Chen',
    honorific: 'Mr',
    phone: '+12025550104',
    locale: 'en-US',
    timezone: 'America/Los_Angeles',
    amount: 80000,
    currency: 'USD',
  },
] as const;

// The key npm start made for local development, or DEMO_API_KEY for another deployment.
const keyFile = join(config.dataDir, 'dev-api-key');
const apiKey = process.env.DEMO_API_KEY ?? (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : '');

async function post(path: string, body: unknown): Promise<void> {
  const res = await fetch(`${api}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

function pay(loanId: string, paymentId: string, amount: number): Promise<void> {
  return post(`/v1/loans/${loanId}/payments`, { paymentId, amount, paidAt: new Date().toISOString() });
}

let printed = 0;
function printNewSms(): void {
  if (!existsSync(config.outboxPath)) return;
  const lines = readFileSync(config.outboxPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OutboxLine);
  for (const line of lines.filter((l) => l.loanId.startsWith(`DEMO-${run}`)).slice(printed)) {
    printed++;
    // What the borrower reads, with their name masked: even demo output never shows one in clear.
    const loan = loans.find((l) => l.id === line.loanId);
    const body = loan ? line.body.split(loan.name).join('*'.repeat([...loan.name].length)) : line.body;
    say(`SMS ${line.loanId} ${line.stage} to ${maskPhone(line.to)}: ${body}`);
  }
}

async function main(): Promise<void> {
  try {
    await fetch(`${api}/healthz`);
  } catch {
    console.error(`No API at ${api}: start the stack first with \`npm start\` (in another terminal).`);
    process.exit(1);
  }
  const client = await connectClient(config);
  say(`starting ${loans.length} loans on the "demo" policy (reminders at +30s, +1m30s, +2m30s, then every minute)`);
  for (const l of loans) {
    await post('/v1/loans', {
      loanId: l.id,
      policyId: 'demo',
      borrower: { name: l.name, honorific: l.honorific, phone: l.phone, locale: l.locale, timezone: l.timezone },
      amountDue: l.amount,
      currency: l.currency,
      dueDate: localDateOf(Date.now(), l.timezone),
    });
    say(`${l.id}: ${l.story}`);
  }
  say(
    `Web UI: http://localhost:${config.devServer.uiPort}/namespaces/${config.namespace}/workflows?query=${encodeURIComponent(`PolicyId="demo"`)}`,
  );

  const events: Array<[number, string, () => Promise<void>]> = [
    [60, `${loans[1].id} pays half`, () => pay(loans[1].id, 'DEMO-P1', 60000)],
    [
      65,
      `${loans[2].id} replies 退订`,
      () => client.workflow.getHandle(workflowIdForLoan(loans[2].id)).signal(borrowerAnswerSignal, { kind: 'opt-out' }),
    ],
    [
      70,
      `${loans[3].id} disputes the debt`,
      () =>
        client.workflow
          .getHandle(workflowIdForLoan(loans[3].id))
          .signal(borrowerAnswerSignal, { kind: 'dispute', reason: 'demo' }),
    ],
    [120, `${loans[1].id} pays the rest`, () => pay(loans[1].id, 'DEMO-P2', 60000)],
    [
      200,
      `operations resume ${loans[3].id}`,
      async () =>
        void (await client.workflow
          .getHandle(workflowIdForLoan(loans[3].id))
          .executeUpdate(resumeUpdate, { args: [{ note: 'demo' }] })),
    ],
  ];
  const end = 420;
  for (let s = 0; s <= end; s += 5) {
    for (const [at, what, act] of events)
      if (at === s) {
        say(what);
        await act();
      }
    printNewSms();
    await sleep(5);
  }
  for (const l of loans) {
    const st = await client.workflow.getHandle(workflowIdForLoan(l.id)).query(loanStatusQuery);
    say(
      `${l.id}: ${st.status}, ${st.messagesSent.length} SMS, outstanding ${st.outstanding}${st.optedOut ? ', opted out' : ''}${st.pause ? `, paused (${st.pause.kind})` : ''}`,
    );
  }
  say(`outbox: ${config.outboxPath}; hand-overs to operations: ${config.operationsPath}`);
  await client.connection.close();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
