// `npm run demo` (with `npm start` running): starts four loans on the demo policy, whose reminders
// are a minute or so apart, and plays a payment, an opt-out and a dispute against them, printing
// each SMS as it lands in the outbox. Watch the same loans in the Web UI meanwhile. Everything goes
// through the API, as the loan system and operations would, with the typed client (src/client).
// Beside them, a cohort of simulated borrowers (DEMO_COHORT, default 80) answers its reminders as
// people might: some pay, in full or in part, some rate the message, a few opt out or dispute; so
// the dashboard (/dashboard/) has a history worth looking at when the demo ends.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config';
import { apiClient, type paths } from '../src/client';
import { maskPhone } from '../src/domain/loan';
import { localDateOf } from '../src/domain/calendar';
import { abVariant } from '../src/domain/variants';
import type { OutboxLine } from '../src/sms/outbox';

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

const client = apiClient(api, apiKey);

/** The answer's data, or an error naming the call and the problem the API answered. */
async function ok<T>(what: string, call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok || data === undefined) throw new Error(`${what}: ${response.status} ${JSON.stringify(error)}`);
  return data;
}

const loanPath = (loanId: string) => ({ params: { path: { loanId } } });

async function pay(loanId: string, paymentId: string, amount: number): Promise<void> {
  await ok(
    `payment ${paymentId}`,
    client.POST('/v1/loans/{loanId}/payments', {
      ...loanPath(loanId),
      body: { paymentId, amount, paidAt: new Date().toISOString() },
    }),
  );
}

type Feedback = paths['/v1/loans/{loanId}/feedback']['post']['requestBody']['content']['application/json'];

async function answer(loanId: string, body: Feedback): Promise<void> {
  await ok(`answer of ${loanId}`, client.POST('/v1/loans/{loanId}/feedback', { ...loanPath(loanId), body }));
}

// ---- The cohort: simulated borrowers, answering through the API as the loan system would ----

const COHORT = Number(process.env.DEMO_COHORT ?? 80);
const cohortId = (i: number) => `DEMO-${run}-C${String(i).padStart(3, '0')}`;
/** How likely a borrower pays soon after each stage's message: earlier and friendlier works better. */
const PAYS_AFTER: Record<string, number> = {
  'pre-due': 0.3,
  due: 0.3,
  overdue: 0.2,
  'overdue-weekly': 0.12,
  'final-notice': 0.15,
};
const cohortSeen = new Set<string>();
const cohortDone = new Set<string>();
const reactions: Array<{ at: number; act: () => Promise<void> }> = [];
const chance = (p: number) => Math.random() < p;

function cohortLoans() {
  return Array.from({ length: COHORT }, (_, i) => {
    const zh = i % 2 === 0;
    const timezone = zh ? 'Asia/Shanghai' : 'America/New_York';
    return {
      loanId: cohortId(i),
      policyId: 'demo',
      borrower: zh
        ? { name: '王', honorific: '女士', phone: `+86139${String(10_000_000 + i)}`, locale: 'zh-CN', timezone }
        : {
            name: 'Garcia',
            honorific: 'Mr',
            phone: `+1212555${String(1000 + i).slice(-4)}`,
            locale: 'en-US',
            timezone,
          },
      amountDue: zh ? 200_000 + 10_000 * (i % 7) : 50_000 + 5_000 * (i % 5),
      currency: zh ? 'CNY' : 'USD',
      dueDate: localDateOf(Date.now(), timezone),
    };
  });
}

/** Decides how a cohort borrower answers a message that has just arrived, and when. */
function react(line: OutboxLine, amountDue: number): void {
  if (cohortDone.has(line.loanId) || line.stage === 'thank-you') return;
  const id = line.loanId;
  const later = (seconds: number, act: () => Promise<void>) => reactions.push({ at: Date.now() + seconds * 1000, act });
  const feedback = (body: Feedback) => () => answer(id, body);
  // The simulation assumes variant B's wording persuades a little better, for the A/B panel to show.
  const boost = abVariant(id) === 'B' ? 1.3 : 1;
  if (chance(0.35)) {
    const clarity = 3 + Math.floor(Math.random() * 3);
    const tone = 2 + Math.floor(Math.random() * 4);
    later(5 + Math.random() * 20, feedback({ kind: 'rating', messageKey: line.idempotencyKey, clarity, tone }));
  }
  if (chance((PAYS_AFTER[line.stage] ?? 0.1) * boost)) {
    cohortDone.add(id);
    const full = chance(0.7);
    later(5 + Math.random() * 40, () => pay(id, `${id}-${line.stage}`, full ? amountDue : Math.ceil(amountDue / 2)));
    if (!full) cohortDone.delete(id); // may pay the rest after a later reminder
  } else if (chance(0.04)) {
    cohortDone.add(id);
    later(5 + Math.random() * 20, feedback({ kind: 'opt-out', answerId: `${id}-stop` }));
  } else if (chance(0.02)) {
    cohortDone.add(id);
    later(5 + Math.random() * 20, feedback({ kind: 'dispute', answerId: `${id}-dispute` }));
  }
}

async function runCohort(amounts: Map<string, number>): Promise<void> {
  if (!existsSync(config.outboxPath)) return;
  const lines = readFileSync(config.outboxPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OutboxLine)
    .filter((l) => amounts.has(l.loanId) && !cohortSeen.has(l.idempotencyKey));
  for (const line of lines) {
    cohortSeen.add(line.idempotencyKey);
    react(line, amounts.get(line.loanId)!);
  }
  const due = reactions.filter((r) => r.at <= Date.now());
  for (const r of due) {
    reactions.splice(reactions.indexOf(r), 1);
    // A loan that has ended meanwhile refuses; the demo goes on.
    await r.act().catch(() => undefined);
  }
}

let printed = 0;
function printNewSms(): void {
  if (!existsSync(config.outboxPath)) return;
  const lines = readFileSync(config.outboxPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OutboxLine);
  // The four story loans only; the cohort's messages are for the dashboard.
  const story = lines.filter((l) => loans.some((loan) => loan.id === l.loanId));
  for (const line of story.slice(printed)) {
    printed++;
    // What the borrower reads, with their name masked: even demo output never shows one in clear.
    const loan = loans.find((l) => l.id === line.loanId)!;
    const body = line.body.split(loan.name).join('*'.repeat([...loan.name].length));
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
  say(`starting ${loans.length} loans on the "demo" policy (reminders at +30s, +1m30s, +2m30s, then every minute)`);
  for (const l of loans) {
    await ok(
      `loan ${l.id}`,
      client.POST('/v1/loans', {
        body: {
          loanId: l.id,
          policyId: 'demo',
          borrower: { name: l.name, honorific: l.honorific, phone: l.phone, locale: l.locale, timezone: l.timezone },
          amountDue: l.amount,
          currency: l.currency,
          dueDate: localDateOf(Date.now(), l.timezone),
        },
      }),
    );
    say(`${l.id}: ${l.story}`);
  }
  const cohort = cohortLoans();
  const amounts = new Map(cohort.map((l) => [l.loanId, l.amountDue]));
  if (cohort.length) {
    await ok('the cohort', client.POST('/v1/loans/batch', { body: { loans: cohort } }));
    say(`and ${cohort.length} simulated borrowers (${cohortId(0)}...), who answer their reminders as people might`);
  }
  say(
    `Web UI: http://localhost:${config.devServer.uiPort}/namespaces/${config.namespace}/workflows?query=${encodeURIComponent(`PolicyId="demo"`)}`,
  );

  const events: Array<[number, string, () => Promise<void>]> = [
    [60, `${loans[1].id} pays half`, () => pay(loans[1].id, 'DEMO-P1', 60000)],
    [65, `${loans[2].id} replies 退订`, () => answer(loans[2].id, { kind: 'opt-out', answerId: 'DEMO-STOP' })],
    [
      70,
      `${loans[3].id} disputes the debt`,
      () => answer(loans[3].id, { kind: 'dispute', answerId: 'DEMO-DISPUTE', reason: 'demo' }),
    ],
    [120, `${loans[1].id} pays the rest`, () => pay(loans[1].id, 'DEMO-P2', 60000)],
    [
      200,
      `operations resume ${loans[3].id}`,
      async () =>
        void (await ok(
          `resume ${loans[3].id}`,
          client.POST('/v1/loans/{loanId}/resume', { ...loanPath(loans[3].id), body: { note: 'demo' } }),
        )),
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
    await runCohort(amounts);
    await sleep(5);
  }
  for (const l of loans) {
    const st = await ok(`loan ${l.id}`, client.GET('/v1/loans/{loanId}', loanPath(l.id)));
    say(
      `${l.id}: ${st.status}, ${st.messagesSent.length} SMS, outstanding ${st.outstanding}${st.optedOut ? ', opted out' : ''}${st.pause ? `, paused (${st.pause.kind})` : ''}`,
    );
  }
  say(`outbox: ${config.outboxPath}; hand-overs to operations: ${config.operationsPath}`);
  say(`dashboard: ${api}/dashboard/ (any user name; the password is the API key in ${keyFile})`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
