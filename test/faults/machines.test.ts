// Exactly once across machines: three worker processes and two API instances, each with a DATA_DIR
// of its own that nothing may write, one PostgreSQL and one Temporal server. Thousands of reminders
// fall due at one instant; a worker is killed (kill -9) every few seconds and an API instance is
// killed while the gateway's delivery receipts and the borrowers' STOP replies are posted to both
// instances in turn. Every reminder must reach the gateway once, every receipt find its send
// whichever instance took it, every STOP reach its loan, and no store hold a name or number in clear.
import { execFileSync } from 'node:child_process';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextMinuteAfter, oneInstantPolicy } from '../../bench/lib/loans';
import type { OutboxLine } from '../../src/sms/outbox';
import { inPool, sleep } from './harness';
import { Machines } from './machines';
import { recordFault } from './report';

const LOANS = 2_000;
const WORKERS = 3;
const APIS = 2;
/** The provider's pace across the workers: the drain takes LOANS / this seconds at best. */
const SMS_PER_SECOND = 50;
/** One worker killed this often, in turn. */
const KILL_EVERY_MS = 4_000;
/** Every tenth borrower answers STOP once their reminder has arrived. */
const stops = (i: number) => i % 10 === 0;
const NAME = 'Quillfeather';
const phoneOf = (i: number) => `+86139${String(i).padStart(8, '0')}`;
const loanIdOf = (i: number) => `M-${String(i).padStart(5, '0')}`;

let m: Machines;
/** The minute every reminder falls due, set as the APIs start: far enough ahead to start every loan first. */
let due = nextMinuteAfter(0);
const POLICY_ID = 'machines-one-instant';

beforeAll(async () => {
  m = await Machines.start({
    name: 'machines',
    workers: WORKERS,
    apis: APIS,
    smsPerSecond: SMS_PER_SECOND,
    policies: () => {
      due = nextMinuteAfter(30_000 + LOANS * 25);
      return [{ ...oneInstantPolicy(due.toFormat('HH:mm')), id: POLICY_ID }];
    },
    temporal: process.env.FAULTS_TEMPORAL === 'cluster' ? 'cluster' : 'dev-server',
  });
}, 600_000);

afterAll(async () => {
  await m?.stop();
}, 120_000);

async function sql<T>(query: string): Promise<T[]> {
  const c = new Client({ connectionString: m.pg.url });
  await c.connect();
  try {
    return (await c.query(query)).rows as T[];
  } finally {
    await c.end();
  }
}

describe('several machines on one PostgreSQL', () => {
  it(`${LOANS} reminders due at once, workers killed every few seconds, an API instance killed: each sent once, every receipt and STOP honoured`, async () => {
    // ---- Loans, started through both instances ----
    const loans = Array.from({ length: LOANS }, (_, i) => ({
      loanId: loanIdOf(i),
      policyId: POLICY_ID,
      borrower: { name: NAME, phone: phoneOf(i), locale: 'en-US', timezone: 'UTC' },
      amountDue: 125_000,
      currency: 'USD',
      dueDate: due.toISODate(),
    }));
    const chunks = Array.from({ length: Math.ceil(LOANS / 200) }, (_, k) => loans.slice(k * 200, k * 200 + 200));
    await inPool(chunks, 2, async (chunk) => {
      const res = await m.request(chunks.indexOf(chunk), '/v1/loans/batch', {
        method: 'POST',
        body: JSON.stringify({ loans: chunk }),
      });
      const started = (res.body as { started?: number }).started;
      if (res.status !== 200 || started !== chunk.length)
        throw new Error(`batch start: ${res.status} ${JSON.stringify(res.body).slice(0, 1_000)}`);
    });
    expect(Date.now(), 'the loans started before their reminder fell due').toBeLessThan(due.toMillis());
    while (Date.now() < due.toMillis()) await sleep(200);

    // ---- The gateway's callbacks, round-robin to both instances, while machines die ----
    const seen = new Map<string, OutboxLine>();
    const callbacks: Array<Promise<void>> = [];
    const answered = { receipts: 0, stops: 0, failed: [] as string[], byInstance: [0, 0] };
    let turn = 0;
    const post = (path: string, body: unknown, what: 'receipts' | 'stops') =>
      callbacks.push(
        m
          .request(turn++ % APIS, `${path}?token=${m.callbackToken}`, { method: 'POST', body: JSON.stringify(body) })
          .then((r) => {
            if (r.status === 200) {
              answered[what]++;
              answered.byInstance[r.instance]++;
            } else answered.failed.push(`${what} ${r.status} ${JSON.stringify(r.body)}`);
          }),
      );
    const watch = () => {
      for (const line of m.outbox()) {
        if (seen.has(line.idempotencyKey)) continue;
        seen.set(line.idempotencyKey, line);
        post('/v1/webhooks/sms/outbox/status', [{ message_id: line.messageId, status: 'delivered' }], 'receipts');
        const i = Number(line.loanId.slice(2));
        if (stops(i))
          post('/v1/webhooks/sms/outbox/inbound', [{ from: phoneOf(i), text: 'STOP', id: `r-${i}` }], 'stops');
      }
    };

    const started = Date.now();
    let kills = 0;
    let next = WORKERS - 1;
    let apiKilled = false;
    let apiBack = false;
    const deadline = started + 15 * 60_000;
    while (seen.size < LOANS && Date.now() < deadline) {
      const tick = Date.now();
      watch();
      // The next worker in turn that is polling, while another one is too: a machine dies, the
      // service goes on on the others, and the dead one comes back (as a supervisor restarts it).
      const ready = m.workers.map((_, i) => m.workerReady(i));
      const victim = [1, 2, 3].map((k) => (next + k) % WORKERS).find((i) => ready[i]);
      if (victim !== undefined && ready.filter(Boolean).length >= 2) {
        await m.workers[victim].kill('SIGKILL');
        m.workers[victim].start();
        next = victim;
        kills++;
      }
      if (!apiKilled && seen.size > LOANS / 4) {
        await m.apis[0].kill('SIGKILL');
        apiKilled = true;
      }
      if (apiKilled && !apiBack && seen.size > LOANS / 2) {
        await m.startApi(0);
        apiBack = true;
      }
      while (Date.now() - tick < KILL_EVERY_MS && seen.size < LOANS) {
        await sleep(250);
        watch();
      }
    }
    const drained = Date.now();
    if (!apiBack) await m.startApi(0);
    await Promise.all(callbacks);
    // A worker killed between the provider's answer and recording it leaves its send claimed: the
    // attempt's retry records it once the claim runs out (its 30 s start-to-close time), and only
    // then applies the receipt that came before. Wait for that, as long as two claims could take.
    const settling = Date.now();
    // Which kind, should any stay: a send never recorded as accepted, or a receipt kept.
    const unsettled = async () =>
      (
        await sql<{ unaccepted: string; parked: string }>(
          `SELECT (SELECT count(*) FROM sms_sends WHERE state <> 'accepted') AS unaccepted,
                  (SELECT count(*) FROM sms_early_receipts) AS parked`,
        )
      )[0];
    const pending = async () => {
      const u = await unsettled();
      return Number(u.unaccepted) + Number(u.parked);
    };
    while ((await pending()) > 0 && Date.now() - settling < 120_000) await sleep(1_000);
    const settleSeconds = Math.round((Date.now() - settling) / 1000);
    const left = await unsettled();

    // ---- What came out ----
    const lines = m.outbox();
    const perKey = new Map<string, number>();
    for (const l of lines) perKey.set(l.idempotencyKey, (perKey.get(l.idempotencyKey) ?? 0) + 1);
    const keys = loans.map((l) => `${l.loanId}:due@${due.toISODate()}`);
    const lost = keys.filter((k) => !perKey.has(k));
    const twice = [...perKey].filter(([, n]) => n > 1).map(([k]) => k);
    const lastSentMs = Math.max(...lines.map((l) => Date.parse(l.sentAt)));
    const perSecond = Math.round((lines.length / ((lastSentMs - due.toMillis()) / 1000)) * 10) / 10;

    // Every receipt found its send, whichever instance took it.
    const sends = await sql<{ state: string; delivery_status: string | null }>(
      'SELECT state, delivery_status FROM sms_sends',
    );
    const unmatched = sends.filter((s) => s.delivery_status !== 'delivered').length;
    const receiptEvents = await sql<{ n: string }>(
      `SELECT count(*) AS n FROM loan_events WHERE event_id LIKE 'receipt:outbox:%'`,
    );
    // Every STOP reached its loan, whichever instance took it.
    const stopped = loans.filter((_, i) => stops(i)).map((l) => l.loanId);
    const notOptedOut: string[] = [];
    await inPool(stopped, 8, async (loanId) => {
      const r = await m.request(0, `/v1/loans/${loanId}`, { method: 'GET' });
      if ((r.body as { optedOut?: boolean }).optedOut !== true) notOptedOut.push(loanId);
    });
    // No name or number in clear in the shared database (every store the machines wrote).
    const dump = execFileSync('pg_dump', ['--data-only', m.pg.url], { maxBuffer: 512 * 1024 * 1024 }).toString('utf8');
    const inClear = [NAME, phoneOf(7).slice(1), phoneOf(7).slice(3), phoneOf(1234).slice(3)].filter((s) =>
      dump.includes(s),
    );

    const figures = {
      workers: WORKERS,
      apis: APIS,
      loans: LOANS,
      temporal: process.env.FAULTS_TEMPORAL === 'cluster' ? 'Temporal server on PostgreSQL' : 'dev server',
      workerKills: kills,
      apiKills: 1,
      reminderDrainSeconds: Math.round((lastSentMs - due.toMillis()) / 100) / 10,
      remindersPerSecond: perSecond,
      lost: lost.length,
      sentTwice: twice.length,
      receiptsAnswered: answered.receipts,
      receiptsUnmatched: unmatched,
      stopsAnswered: answered.stops,
      stopsNotHonoured: notOptedOut.length,
      callbacksByInstance: answered.byInstance,
      chaosSeconds: Math.round((drained - started) / 1000),
      settleSeconds,
      unsettledSends: Number(left.unaccepted),
      unsettledReceipts: Number(left.parked),
    };
    console.log(`several machines: ${JSON.stringify(figures)}`);
    recordFault({
      fault: 'Several machines',
      injected: `${WORKERS} workers (kill -9 one every ${KILL_EVERY_MS / 1000} s: ${kills}), ${APIS} APIs (one killed), ${figures.temporal}`,
      scale: LOANS,
      lost: lost.length + notOptedOut.length + (LOANS - answered.receipts),
      duplicated: twice.length,
      violations: unmatched + inClear.length + answered.failed.length,
      detail: `${perSecond} reminders/s; receipts ${answered.receipts}/${LOANS} matched ${LOANS - unmatched}; STOPs ${stopped.length - notOptedOut.length}/${stopped.length}`,
    });

    expect(lost, m.output()).toEqual([]);
    expect(twice).toEqual([]);
    expect(lines).toHaveLength(LOANS);
    expect(answered.failed).toEqual([]);
    expect(answered.receipts).toBe(LOANS);
    expect(answered.byInstance.every((n) => n > 0)).toBe(true);
    expect(sends).toHaveLength(LOANS);
    expect(sends.every((s) => s.state === 'accepted')).toBe(true);
    expect(unmatched).toBe(0);
    expect(Number(receiptEvents[0].n)).toBe(LOANS);
    expect(notOptedOut).toEqual([]);
    expect(inClear).toEqual([]);
    expect(kills).toBeGreaterThan(3);
  }, 1_800_000);
});
