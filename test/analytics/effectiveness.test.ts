// The effectiveness figures of a known history (test/helpers/analytics-scenario.ts), built by real
// workflows on the time-skipping server, checked figure by figure against numbers worked out by
// hand; the same on the SQLite file and on a real PostgreSQL.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { effectiveness, type EffectivenessReport, type Figures } from '../../src/analytics/effectiveness';
import { createLogger } from '../../src/log';
import { PostgresEventStore, SqliteEventStore } from '../../src/store/event-store-sql';
import type { EventStore } from '../../src/store/events';
import { DAY, runScenario, type Scenario } from '../helpers/analytics-scenario';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { POLICIES, TEST_LENDER, timeSkippingEnv } from '../helpers/temporal';

const ANALYST = 'analyst-key-0123456789abcdef0123';
const WRITER = 'writer-key-0123456789abcdef012345';

let env: TestWorkflowEnvironment;
let pg: TestPostgres;

beforeAll(async () => {
  [env, pg] = await Promise.all([timeSkippingEnv(), startPostgres()]);
});

afterAll(async () => {
  await env?.teardown();
  await pg?.stop();
});

const stores: Array<[string, () => EventStore]> = [
  ['SQLite', () => new SqliteEventStore(join(mkdtempSync(join(tmpdir(), 'loan-reminders-events-')), 'events.sqlite'))],
  ['PostgreSQL', () => new PostgresEventStore(pg.url)],
];

describe.each(stores)('effectiveness on %s', (_name, open) => {
  let store: EventStore;
  let s: Scenario;
  let byStage: EffectivenessReport;
  const group = (r: EffectivenessReport, g: string): Figures => {
    const f = r.groups.find((x) => x.group === g);
    if (!f) throw new Error(`no group ${g} in ${r.groups.map((x) => x.group).join(', ')}`);
    return f;
  };

  beforeAll(async () => {
    store = open();
    s = await runScenario(env, store);
    byStage = await effectiveness(store, { fromMs: s.t0 - DAY, toMs: s.t0 + 20 * DAY, groupBy: 'stage' });
  }, 180_000);

  afterAll(async () => {
    await store?.close();
  });

  it('stores every loan’s life, without names or phone numbers', async () => {
    const [L1] = s.ids;
    const kinds = (await store.forLoan(L1)).map((e) => e.kind);
    expect(kinds).toEqual([
      'loan-started',
      'reminder-planned',
      'message-sent',
      'message-delivered',
      'reminder-planned',
      'payment',
      'completed',
      'message-sent',
      'message-delivered',
    ]);
    const all = await store.between(s.t0 - DAY, s.t0 + 30 * DAY);
    const text = JSON.stringify(all);
    for (const pii of s.personalData) expect(text).not.toContain(pii);
    expect(text).not.toContain('I repaid at the branch'); // a dispute's reason is the borrower's own words
  });

  it('counts an event once however often it is written', async () => {
    const events = await store.forLoan(s.ids[1]);
    expect(await store.append(events)).toBe(0);
    expect(await store.forLoan(s.ids[1])).toEqual(events);
  });

  it('groups by stage: sent, delivered, paid within 1/3/7 days, amounts, time to pay, answers, ratings', () => {
    expect(byStage.groups.map((g) => g.group)).toEqual(['due', 'overdue', 'pre-due']); // no thank-you
    const pre = group(byStage, 'pre-due');
    expect(pre).toMatchObject({
      messagesSent: 6,
      messagesDelivered: 5,
      loansMessaged: 6,
      paidInFull: { d1: 1, d3: 1, d7: 1 }, // L1 after 6 h
      paidInPart: { d1: 0, d3: 1, d7: 1 }, // L2's half after 36 h
      amountRecovered: { USD: 20_000, CNY: 50_000 },
      optOuts: 0,
      complaints: 0,
      ratings: { count: 1, clarity: 5, tone: 4 }, // L6
    });
    expect(pre.deliveryRate).toBeCloseTo(5 / 6, 9);
    expect(pre.repaymentRate.d1).toBeCloseTo(1 / 6, 9);
    expect(pre.repaymentRate.d3).toBeCloseTo(2 / 6, 9);
    expect(pre.repaymentRate.d7).toBeCloseTo(2 / 6, 9);
    expect(pre.medianHoursToPay).toBeCloseTo((6 + 36) / 2, 1);
    expect(pre.curve.map((p) => p.share)).toEqual([0, 1 / 6, 2 / 6, 2 / 6, 2 / 6, 2 / 6, 2 / 6, 2 / 6]);

    const due = group(byStage, 'due');
    expect(due).toMatchObject({
      messagesSent: 5, // L1 had paid
      messagesDelivered: 4,
      loansMessaged: 5,
      paidInFull: { d1: 1, d3: 1, d7: 1 }, // L2's rest after 12 h; L5 paid 10 days later: not attributed
      paidInPart: { d1: 0, d3: 0, d7: 0 },
      amountRecovered: { CNY: 50_000 },
      optOuts: 1, // L3
      complaints: 1, // L5
      ratings: { count: 1, clarity: 3, tone: 3 }, // L4
    });
    expect(due.repaymentRate.d7).toBeCloseTo(1 / 5, 9);
    expect(due.optOutRate).toBeCloseTo(1 / 5, 9);
    expect(due.complaintRate).toBeCloseTo(1 / 5, 9);
    expect(due.medianHoursToPay).toBeCloseTo(12, 1);

    const overdue = group(byStage, 'overdue');
    expect(overdue).toMatchObject({
      messagesSent: 2, // L4 and L6: L2 paid, L3 opted out, L5 disputes
      messagesDelivered: 1,
      loansMessaged: 2,
      paidInFull: { d1: 0, d3: 0, d7: 1 }, // L4 after 5 days
      paidInPart: { d1: 0, d3: 0, d7: 0 },
      amountRecovered: { USD: 20_000 },
      ratings: { count: 0, clarity: null, tone: null },
    });
    expect(overdue.medianHoursToPay).toBeCloseTo(120, 1);
    expect(overdue.repaymentRate).toEqual({ d1: 0, d3: 0, d7: 0.5 });
  });

  it('totals over all messages', () => {
    const t = byStage.totals;
    expect(t).toMatchObject({
      group: 'all',
      messagesSent: 13,
      messagesDelivered: 10,
      loansMessaged: 6,
      paidInFull: { d1: 2, d3: 2, d7: 3 }, // L1, L2 (12 h after due), then L4
      paidInPart: { d1: 0, d3: 0, d7: 0 },
      amountRecovered: { USD: 40_000, CNY: 100_000 }, // L5's 100,000 is not attributed
      optOuts: 1,
      complaints: 1,
      ratings: { count: 2, clarity: 4, tone: 3.5 },
    });
    expect(t.medianHoursToPay).toBeCloseTo((12 + 36) / 2, 1); // of 6, 12, 36, 120 hours
    expect(t.repaymentRate.d7).toBeCloseTo(3 / 6, 9);
  });

  it('groups by variant, locale and policy, and compares B with A', async () => {
    const range = { fromMs: s.t0 - DAY, toMs: s.t0 + 20 * DAY };
    const byVariant = await effectiveness(store, { ...range, groupBy: 'variant' });
    expect(byVariant.groups.map((g) => [g.group, g.messagesSent, g.loansMessaged, g.paidInFull.d7])).toEqual([
      ['A', 5, 3, 2], // L1: 1, L2: 2, L3: 2 messages; L1 and L2 paid
      ['B', 8, 3, 1], // L4: 3, L5: 2, L6: 3; L4 paid
    ]);
    const c = byVariant.comparison;
    expect(c.a).toEqual({ successes: 2, trials: 3, rate: 2 / 3 });
    expect(c.b).toEqual({ successes: 1, trials: 3, rate: 1 / 3 });
    expect(c.difference).toBeCloseTo(-1 / 3, 9);
    expect(c.enoughData).toBe(false);
    expect(c.verdict).toMatch(/^Too few loans to tell/);

    const byLocale = await effectiveness(store, { ...range, groupBy: 'locale' });
    expect(byLocale.groups.map((g) => [g.group, g.messagesSent, g.loansMessaged, g.paidInFull.d7])).toEqual([
      ['en-US', 4, 2, 2], // L1: 1, L4: 3
      ['zh-CN', 9, 4, 1],
    ]);
    const byPolicy = await effectiveness(store, { ...range, groupBy: 'policy' });
    expect(byPolicy.groups).toEqual([{ ...byPolicy.totals, group: 'analytics' }]);
  });

  it('leaves out messages outside the range, but follows payments after it', async () => {
    // Only the first 3 hours: the pre-due messages; L2's half at 37 h still counts for them.
    const early = await effectiveness(store, { fromMs: s.t0, toMs: s.t0 + 3 * 3_600_000, groupBy: 'stage' });
    expect(early.groups.map((g) => g.group)).toEqual(['pre-due']);
    expect(early.totals.paidInPart.d3).toBe(1);
    const none = await effectiveness(store, { fromMs: s.t0 + 15 * DAY, toMs: s.t0 + 16 * DAY, groupBy: 'stage' });
    expect(none.totals.messagesSent).toBe(0);
    expect(none.comparison.verdict).toMatch(/No messages/);
  });

  it('serves the same figures at GET /v1/analytics/effectiveness, as JSON and as CSV', async () => {
    const app = createApp({
      client: env.client,
      taskQueue: 'unused',
      lender: TEST_LENDER,
      policies: POLICIES,
      log: createLogger('silent', 'analytics-test'),
      apiKeys: [
        { name: 'analyst', key: ANALYST, scopes: ['analytics:read'] },
        { name: 'writer', key: WRITER, scopes: ['loans:write'] },
      ],
      webhookSecrets: ['s'.repeat(32)],
      events: store,
    });
    const from = new Date(s.t0 - DAY).toISOString();
    const to = new Date(s.t0 + 20 * DAY).toISOString();
    const auth = { authorization: `Bearer ${ANALYST}` };
    const json = await request(app).get('/v1/analytics/effectiveness').query({ from, to }).set(auth).expect(200);
    expect(json.body).toEqual(JSON.parse(JSON.stringify(byStage)));

    const csv = await request(app)
      .get('/v1/analytics/effectiveness')
      .query({ from, to, groupBy: 'stage' })
      .set({ ...auth, accept: 'text/csv' })
      .expect(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toMatch(/attachment; filename="effectiveness-stage-/);
    const [header, ...rows] = csv.text.split('\r\n');
    const cols = header.split(',');
    expect(cols.slice(0, 5)).toEqual([
      'stage',
      'messages_sent',
      'messages_delivered',
      'delivery_rate',
      'loans_messaged',
    ]);
    const row = (g: string) =>
      Object.fromEntries(
        rows
          .find((r) => r.startsWith(`${g},`))!
          .split(',')
          .map((v, i) => [cols[i], v]),
      );
    expect(row('due')).toMatchObject({
      messages_sent: '5',
      paid_in_full_1d: '1',
      opt_outs: '1',
      amount_recovered_CNY_minor: '50000',
    });
    expect(row('all')).toMatchObject({
      messages_sent: '13',
      loans_messaged: '6',
      avg_tone: '3.5',
      median_hours_to_pay: expect.stringMatching(/^2[34]\.9|^24/),
    });
    expect(csv.text).toMatch(/\r\nloans paying within 7 days of a message,3,2,3,1,/);

    const bad = await request(app)
      .get('/v1/analytics/effectiveness')
      .query({ groupBy: 'colour' })
      .set(auth)
      .expect(400);
    expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(JSON.stringify(bad.body)).toContain('groupBy');
    const backwards = await request(app)
      .get('/v1/analytics/effectiveness')
      .query({ from: to, to: from })
      .set(auth)
      .expect(400);
    expect(JSON.stringify(backwards.body)).toContain('from');
    await request(app).get('/v1/analytics/effectiveness').expect(401);
    await request(app)
      .get('/v1/analytics/effectiveness')
      .set({ authorization: `Bearer ${WRITER}` })
      .expect(403);
  });
});
