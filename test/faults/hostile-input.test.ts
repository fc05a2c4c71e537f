// Fault: hostile input. Thousands of generated requests (fast-check; see hostile-input-requests.ts)
// against the real API, run as its own process (the `startApi` entry point) with a real worker
// process and a Temporal dev server: every route and webhook, malformed JSON, oversized bodies,
// wrong types and content types, invalid UTF-8 and encodings, traversal and injection strings in
// ids, huge and negative numbers, unknown fields, forged / expired / replayed webhook signatures,
// forged SMS callbacks, wrong keys and scopes, hostile headers, malformed HTTP. Valid requests
// with known effects are mixed in. Checked: no 5xx, every error a problem document, the process
// alive, nothing started or signalled in Temporal but what the valid requests asked for (each
// exactly once, replayed webhooks counted once), and the API's heap after GC stable.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replyAnswerId } from '../../src/api/sms-webhooks';
import { EncryptionCodec, encryptedDataConverter, parsePayloadKeys } from '../../src/codec/encryption';
import { SqlitePhoneIndex } from '../../src/store/phone-index';
import { loanStatusQuery, type LoanReminderInput, type LoanStatus } from '../../src/workflows/messages';
import { freePort, ROOT } from '../helpers/stack';
import { devServerEnv, localDate } from '../helpers/temporal';
import {
  hostileRequests,
  validLoan,
  type Effect,
  type HostileCtx,
  type Sent,
  type Spec,
} from './hostile-input-requests';
import { QUICK, recordFault } from './report';

const TOTAL = QUICK ? 2_500 : 10_000;
const SEED = Number(process.env.HOSTILE_SEED ?? 20_261_129);
/** Requests in flight at once. */
const CONCURRENCY = 12;
/** Heap the API may keep after GC once warmed up: its caches (rate-limit window, metrics) are bounded. */
const HEAP_GROWTH_LIMIT = 32 * 1024 * 1024;
const TARGETS = 6;

const KEYS = {
  writer: `writer-${randomBytes(16).toString('hex')}`,
  reader: `reader-${randomBytes(16).toString('hex')}`,
  analytics: `analytics-${randomBytes(16).toString('hex')}`,
  metrics: `metrics-${randomBytes(16).toString('hex')}`,
  decoder: `decoder-${randomBytes(16).toString('hex')}`,
};
const PAYLOAD_KEYS = `hostile:${randomBytes(32).toString('base64')}`;
/** The API's phone index key, which also keys the answer ids it derives from gateways' reply ids. */
const PHONE_INDEX_KEY = randomBytes(32).toString('hex');
const CTX_TOKENS = {
  webhook: `whsec-${randomBytes(16).toString('hex')}`,
  twilio: `twilio-${randomBytes(16).toString('hex')}`,
  callback: `callback-${randomBytes(16).toString('hex')}`,
  codecUi: `codec-ui-${randomBytes(16).toString('hex')}`,
  publicBaseUrl: 'https://reminders.example.test',
};

let env: TestWorkflowEnvironment;
let client: Client;
const codec = new EncryptionCodec(parsePayloadKeys(PAYLOAD_KEYS));
const children: ChildProcess[] = [];
let api: ChildProcess;
let worker: ChildProcess;
let apiExit: { code: number | null; signal: string | null } | undefined;
let apiOutput = '';
let port = 0;

interface MemoryReading {
  rss: number;
  heapUsed: number;
  gc: boolean;
}

function memory(): Promise<MemoryReading> {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('no memory reading from the API')), 30_000);
    const on = (m: { type: string } & MemoryReading) => {
      if (m.type !== 'memory') return;
      clearTimeout(timer);
      api.off('message', on);
      ok(m);
    };
    api.on('message', on);
    api.send({ type: 'memory' });
  });
}

beforeAll(async () => {
  env = await devServerEnv();
  client = new Client({
    connection: env.connection,
    namespace: 'default',
    dataConverter: encryptedDataConverter(codec),
  });
  const dir = mkdtempSync(join(tmpdir(), 'fault-hostile-'));
  port = await freePort();
  const vars: NodeJS.ProcessEnv = {
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_TASK_QUEUE: `hostile-${randomUUID()}`,
    DATA_DIR: dir,
    PAYLOAD_KEYS,
    OUTBOX_PATH: join(dir, 'outbox.jsonl'),
    SEND_LEDGER_PATH: join(dir, 'sends.sqlite'),
    OPERATIONS_PATH: join(dir, 'operations.sqlite'),
    EVENT_STORE_PATH: join(dir, 'events.sqlite'),
    PHONE_INDEX_PATH: join(dir, 'phone-index.sqlite'),
    PHONE_INDEX_KEY,
    SMS_CALLBACK_TOKEN: CTX_TOKENS.callback,
    CODEC_UI_TOKEN: CTX_TOKENS.codecUi,
    API_KEYS: [
      `writer:${KEYS.writer}:loans:write+loans:read`,
      `reader:${KEYS.reader}:loans:read`,
      `analytics:${KEYS.analytics}:analytics:read`,
      `metrics:${KEYS.metrics}:metrics:read`,
      `decoder:${KEYS.decoder}:payloads:decode`,
    ].join(','),
    WEBHOOK_SECRETS: `${CTX_TOKENS.webhook},whsec-previous-${randomBytes(8).toString('hex')}`,
    TWILIO_AUTH_TOKEN: CTX_TOKENS.twilio,
    PUBLIC_BASE_URL: CTX_TOKENS.publicBaseUrl,
    // High enough that no answer is a 429 hiding what the request would have done.
    RATE_LIMIT_PER_MINUTE: '1000000',
    HOST: '127.0.0.1',
    PORT: String(port),
    // Errors only: a line at this level means the API failed a request (or worse).
    LOG_LEVEL: 'error',
  };
  // The worker as `npm run worker` runs it (one process, so the test can stop it).
  worker = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...vars, LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  children.push(worker);
  api = fork(join(__dirname, 'hostile-input-api.ts'), [], {
    cwd: ROOT,
    env: { ...process.env, ...vars },
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.push(api);
  api.stdout?.on('data', (d) => (apiOutput += String(d)));
  api.stderr?.on('data', (d) => (apiOutput += String(d)));
  api.once('exit', (code, signal) => (apiExit = { code, signal }));
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the API did not start:\n${apiOutput}`)), 90_000);
    api.on('message', (m: { type: string }) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        ok();
      }
    });
    api.once('exit', () => fail(new Error(`the API exited:\n${apiOutput}`)));
  });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.all(
    children.map((c) =>
      c.exitCode !== null || c.signalCode !== null
        ? undefined
        : new Promise((r) => {
            const t = setTimeout(() => {
              c.kill('SIGKILL');
            }, 15_000);
            c.once('exit', () => r(clearTimeout(t)));
          }),
    ),
  );
  await env?.teardown();
});

// ---- Sending ----

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function sendHttp(s: Sent): Promise<Answer> {
  return new Promise((ok, fail) => {
    const req = httpRequest(
      // A connection each: a request the server cut short (a body over the limit) never leaves a
      // kept-alive socket for the next one to fail on.
      { host: '127.0.0.1', port, method: s.method, path: s.path, headers: s.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size < 2_000_000) chunks.push(c);
        });
        res.on('end', () =>
          ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', fail);
      },
    );
    req.setTimeout(120_000, () => req.destroy(new Error('timed out')));
    req.on('error', fail);
    // A body too large may be refused (413) and the connection closed while it is still going out.
    req.end(s.body);
  });
}

/**
 * Writes the bytes as they are and reads what comes back: until the server closes, or half a second
 * after the last bytes came (the server may keep the connection open for the next request). The
 * socket is not half-closed: a server may drop requests still being answered when the client ends.
 */
function sendRaw(s: Sent, hangUp: boolean): Promise<Answer | undefined> {
  return new Promise((ok) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let idle: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(idle);
      const statuses = [...data.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((x) => Number(x[1]));
      if (!statuses.length) return ok(undefined);
      // The worst of the answers (a pipelined pair answers twice).
      const status = Math.max(...statuses);
      const fromApp = /x-request-id/i.test(data);
      const type = /content-type: ([^\r\n]*)/i.exec(data)?.[1];
      const body = data.slice(data.indexOf('\r\n\r\n') + 4);
      ok({ status, headers: { 'content-type': type, ...(fromApp ? { 'x-request-id': 'yes' } : {}) }, body });
    };
    socket.setTimeout(120_000, () => socket.destroy());
    socket.on('data', (d) => {
      data += d.toString('latin1');
      clearTimeout(idle);
      idle = setTimeout(() => socket.destroy(), 500);
    });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.write(s.raw!, () => {
      if (hangUp) setTimeout(() => socket.destroy(), 20);
    });
  });
}

// ---- Judging ----

interface Tally {
  requests: number;
  byFamily: Map<string, number>;
  fiveXX: string[];
  notProblem: string[];
  acceptedInvalid: string[];
  validRefused: string[];
  noAnswer: string[];
  effects: Effect[];
  /** Deliveries of a valid request after its first (a webhook replayed byte for byte, a repeat). */
  replays: number;
  /** Answers by family and status, for HOSTILE_DEBUG. */
  statuses: Map<string, Map<number, number>>;
}

const describeReq = (family: string, s: Sent, a?: Answer) =>
  `${family}: ${s.method} ${s.path.slice(0, 120)} -> ${a ? a.status : 'no answer'} ${a?.body.slice(0, 160) ?? ''}`;

function judgeCommon(t: Tally, family: string, s: Sent, a: Answer): void {
  const counts = t.statuses.get(family) ?? new Map<number, number>();
  counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
  t.statuses.set(family, counts);
  if (a.status >= 500) t.fiveXX.push(describeReq(family, s, a));
  // Every error the app itself answers is RFC 9457 problem+json (Node's own parser errors, for
  // bytes that never became a request, have no request id and no body).
  if (a.status >= 400 && a.headers['x-request-id'] !== undefined && s.method !== 'HEAD') {
    const type = String(a.headers['content-type'] ?? '');
    let ok = type.startsWith('application/problem+json');
    if (ok && s.method !== 'RAW') {
      try {
        const p = JSON.parse(a.body) as { status?: unknown; title?: unknown; type?: unknown };
        ok = p.status === a.status && typeof p.title === 'string' && typeof p.type === 'string';
      } catch {
        ok = false;
      }
    }
    if (!ok) t.notProblem.push(describeReq(family, s, a));
  }
}

async function run(spec: Spec, t: Tally): Promise<void> {
  const sent = spec.build(Date.now());
  const expect = spec.expect;
  t.byFamily.set(spec.family, (t.byFamily.get(spec.family) ?? 0) + 1);
  if (sent.raw) {
    t.requests++;
    const noResponseOk = expect.kind === 'any' && expect.noResponseOk === true;
    const a = await sendRaw(sent, noResponseOk);
    if (!a) {
      if (!noResponseOk) t.noAnswer.push(describeReq(spec.family, sent));
      return;
    }
    judgeCommon(t, spec.family, sent, a);
    return;
  }
  const deliveries = expect.kind === 'accept' ? expect.statuses.length : 1;
  const answers: Answer[] = [];
  for (let i = 0; i < deliveries; i++) {
    t.requests++;
    const a = await sendHttp(sent).catch((err: Error) => {
      t.noAnswer.push(`${describeReq(spec.family, sent)} (${err.message})`);
      return undefined;
    });
    if (!a) return;
    judgeCommon(t, spec.family, sent, a);
    answers.push(a);
  }
  const [a] = answers;
  switch (expect.kind) {
    case 'refuse':
      if (a.status < 400) t.acceptedInvalid.push(describeReq(spec.family, sent, a));
      break;
    case 'accept':
      t.replays += answers.length - 1;
      if (answers.some((x, i) => x.status !== expect.statuses[i]))
        t.validRefused.push(`${describeReq(spec.family, sent, a)} [${answers.map((x) => x.status).join(',')}]`);
      else if (expect.effect) t.effects.push(expect.effect);
      break;
    case 'batch': {
      if (a.status !== 200) {
        t.validRefused.push(describeReq(spec.family, sent, a));
        break;
      }
      const results = (JSON.parse(a.body) as { results: Array<{ httpStatus: number }> }).results;
      expect.items.forEach((item, i) => {
        const status = results[i]?.httpStatus;
        if (item.valid) {
          if (status === 201) t.effects.push({ type: 'start', loanId: item.loanId, body: item.body });
          else t.validRefused.push(`${describeReq(spec.family, sent, a)} item ${i}: ${status}`);
        } else if (!(status >= 400))
          t.acceptedInvalid.push(`${describeReq(spec.family, sent, a)} item ${i}: ${status}`);
      });
      break;
    }
    case 'any':
      break;
  }
}

async function runAll(specs: readonly Spec[], t: Tally): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < specs.length; i = next++) await run(specs[i], t);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
}

// ---- What Temporal holds ----

async function decode(payloads: temporal.api.common.v1.IPayload[] | null | undefined): Promise<unknown[]> {
  const decoded = await codec.decode((payloads ?? []) as Payload[]);
  return decoded.map((p) => defaultPayloadConverter.fromPayload(p));
}

interface Seen {
  input?: LoanReminderInput;
  runs: number;
  signals: Array<{ name: string; arg: Record<string, unknown> }>;
  updates: Array<{ name: string; arg: Record<string, unknown> }>;
}

async function temporalState(): Promise<Map<string, Seen>> {
  const seen = new Map<string, Seen>();
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'loanReminder'` })) {
    const entry = seen.get(wf.workflowId) ?? { runs: 0, signals: [], updates: [] };
    entry.runs++;
    seen.set(wf.workflowId, entry);
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    for (const e of history.events ?? []) {
      const started = e.workflowExecutionStartedEventAttributes;
      if (started) entry.input = (await decode(started.input?.payloads))[0] as LoanReminderInput;
      const signal = e.workflowExecutionSignaledEventAttributes;
      if (signal)
        entry.signals.push({
          name: signal.signalName ?? '',
          arg: (await decode(signal.input?.payloads))[0] as Record<string, unknown>,
        });
      const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
      if (update)
        entry.updates.push({
          name: update.name ?? '',
          arg: (await decode(update.args?.payloads))[0] as Record<string, unknown>,
        });
    }
  }
  return seen;
}

const TZ = 'America/New_York';

/** JSON with keys sorted at every level, to compare what was asked with what was started. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

describe('hostile input against every route', () => {
  it(`answers ${TOTAL} generated requests without a 5xx, a crash, an invalid effect or a leak`, async () => {
    let uid = 0;
    const ctx: HostileCtx = {
      keys: KEYS,
      webhookSecret: CTX_TOKENS.webhook,
      twilioToken: CTX_TOKENS.twilio,
      publicBaseUrl: CTX_TOKENS.publicBaseUrl,
      callbackToken: CTX_TOKENS.callback,
      codecUiToken: CTX_TOKENS.codecUi,
      answerIdOf: (provider, providerId) => {
        const index = new SqlitePhoneIndex(':memory:', PHONE_INDEX_KEY);
        try {
          return replyAnswerId(provider, providerId, (purpose, value) => index.keyedId(purpose, value));
        } finally {
          void index.close();
        }
      },
      targets: Array.from({ length: TARGETS }, (_, i) => ({
        loanId: `HT-${i}-${randomUUID().slice(0, 8)}`,
        phone: `+861390000${String(1000 + i)}`,
      })),
      dueDate: localDate(Date.now(), TZ, 30),
      uid: (prefix) => `${prefix}-${(uid++).toString(36)}-${randomUUID().slice(0, 6)}`,
    };

    // The loans the barrage aims at, started as the loan system would; their debt is large enough
    // that the valid payments mixed in never settle it, so every one of them is still counted.
    const targetBodies = new Map<string, Record<string, unknown>>();
    for (const [i, target] of ctx.targets.entries()) {
      const body = {
        ...validLoan(ctx, target.loanId, 0),
        borrower: { name: '李女士', phone: target.phone, locale: 'zh-CN', timezone: 'Asia/Shanghai' },
        amountDue: 900_000_000 + i,
        currency: 'CNY',
      };
      targetBodies.set(target.loanId, body);
      const a = await sendHttp({
        method: 'POST',
        path: '/v1/loans',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.writer}` },
        body: Buffer.from(JSON.stringify(body)),
      });
      expect(a.status).toBe(201);
    }
    // The worker is up once a loan answers its status query.
    for (let i = 0; ; i++) {
      const a = await sendHttp({
        method: 'GET',
        path: `/v1/loans/${ctx.targets[0].loanId}`,
        headers: { authorization: `Bearer ${KEYS.reader}` },
      });
      if (a.status === 200) break;
      if (i > 120) throw new Error(`the worker never answered: ${a.status} ${a.body}`);
      await new Promise((r) => setTimeout(r, 1000));
    }

    const before0 = await temporalState();
    expect([...before0.keys()].sort()).toEqual(ctx.targets.map((x) => `loan-${x.loanId}`).sort());
    const specs = fc.sample(hostileRequests(ctx), { numRuns: TOTAL, seed: SEED });
    const tally: Tally = {
      requests: 0,
      byFamily: new Map(),
      fiveXX: [],
      notProblem: [],
      acceptedInvalid: [],
      validRefused: [],
      noAnswer: [],
      effects: [],
      replays: 0,
      statuses: new Map(),
    };
    const barrageStart = Date.now();
    // Warm up on the first tenth (code paths compiled, pools and caches filled), then measure.
    const warm = Math.floor(TOTAL / 10);
    await runAll(specs.slice(0, warm), tally);
    const before = await memory();
    await runAll(specs.slice(warm), tally);
    const after = await memory();
    const heapGrowth = after.heapUsed - before.heapUsed;
    const requestSeconds = (Date.now() - barrageStart) / 1000;

    // ---- Effects in Temporal: only what the valid requests asked for, each once ----
    const starts = new Map(tally.effects.filter((e) => e.type === 'start').map((e) => [e.loanId, e]));
    // Visibility catches up with the last starts within a few seconds.
    let seen = await temporalState();
    for (let i = 0; i < 10 && [...starts.keys()].some((id) => !seen.has(`loan-${id}`)); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      seen = await temporalState();
    }
    const invalid: string[] = [];
    const expectedIds = new Set([...ctx.targets.map((x) => x.loanId), ...starts.keys()]);
    for (const [workflowId, s] of seen) {
      const loanId = workflowId.replace(/^loan-/, '');
      if (!expectedIds.has(loanId)) {
        invalid.push(`workflow ${workflowId} started by no valid request`);
        continue;
      }
      if (s.runs !== 1) invalid.push(`workflow ${workflowId} has ${s.runs} runs`);
      const body =
        targetBodies.get(loanId) ?? (starts.get(loanId) as { body: Record<string, unknown> } | undefined)?.body;
      if (canonical(s.input?.loan) !== canonical(body))
        invalid.push(`workflow ${workflowId} started with an input other than its request's`);
    }
    let lost = 0;
    for (const id of starts.keys()) if (!seen.has(`loan-${id}`)) lost++;

    // Signals and updates, on every workflow: each one a valid request's (a loan the barrage did not
    // pay or answer, such as those the valid starts made, has none).
    let signalsChecked = 0;
    const effectsOf = (loanId: string) => {
      const mine = tally.effects.filter((e) => e.type !== 'start' && e.loanId === loanId);
      return {
        payments: new Map(mine.flatMap((e) => (e.type === 'payment' ? [[e.paymentId, e] as const] : []))),
        answers: new Set(mine.flatMap((e) => (e.type === 'answer' ? [e.answerId] : []))),
        terms: mine.flatMap((e) => (e.type === 'terms' ? [e.amountDue] : [])),
      };
    };
    for (const [workflowId, s] of seen) {
      const loanId = workflowId.replace(/^loan-/, '');
      const { payments, answers, terms } = effectsOf(loanId);
      for (const sig of s.signals) {
        signalsChecked++;
        if (sig.name === 'paymentReceived') {
          const p = payments.get(String(sig.arg.paymentId));
          if (!p || p.amount !== sig.arg.amount || Object.keys(sig.arg).sort().join() !== 'amount,paidAt,paymentId')
            invalid.push(`${loanId}: payment signal ${JSON.stringify(sig.arg).slice(0, 120)}`);
        } else if (sig.name === 'borrowerAnswer') {
          if (!answers.has(String(sig.arg.answerId)) || sig.arg.kind !== 'callback')
            invalid.push(`${loanId}: answer signal ${JSON.stringify(sig.arg).slice(0, 120)}`);
        } else invalid.push(`${loanId}: signal ${sig.name}`);
      }
      for (const u of s.updates) {
        if (u.name !== 'changeTerms' || !terms.includes(Number(u.arg.amountDue)) || u.arg.dueDate !== undefined)
          invalid.push(`${loanId}: update ${u.name} ${JSON.stringify(u.arg)}`);
      }
      if (s.updates.length !== terms.length)
        invalid.push(`${loanId}: ${s.updates.length} term changes for ${terms.length} valid requests`);
    }

    // The targets' state: each valid payment and answer counted once, nothing else changed.
    let duplicated = 0;
    for (const target of ctx.targets) {
      const { payments, answers, terms } = effectsOf(target.loanId);
      const status: LoanStatus = await client.workflow.getHandle(`loan-${target.loanId}`).query(loanStatusQuery);
      const paidIds = status.payments.map((p) => p.paymentId);
      duplicated += paidIds.length - new Set(paidIds).size;
      const answerIds = status.answers.map((x) => x.answerId);
      duplicated += answerIds.length - new Set(answerIds).size;
      lost += [...payments.keys()].filter((id) => !paidIds.includes(id)).length;
      lost += [...answers].filter((id) => !answerIds.includes(id)).length;
      const amountDue = terms.length ? status.amountDue : (targetBodies.get(target.loanId)!.amountDue as number);
      if (terms.length && !terms.includes(amountDue)) invalid.push(`${target.loanId}: amountDue ${amountDue}`);
      const paid = [...new Set(paidIds)].reduce((sum, id) => sum + (payments.get(id)?.amount ?? 0), 0);
      if (status.outstanding !== amountDue - paid)
        invalid.push(`${target.loanId}: outstanding ${status.outstanding}, expected ${amountDue - paid}`);
      if (status.status !== 'active' || status.optedOut || status.pause || status.numberBlocked)
        invalid.push(`${target.loanId}: ${status.status}, optedOut ${status.optedOut}, pause ${status.pause?.kind}`);
    }

    // ---- The process ----
    const crashed = apiExit !== undefined || api.exitCode !== null;
    // The worker ran every signal the API let through: it must be alive too.
    const workerCrashed = worker.exitCode !== null || worker.signalCode !== null;
    const health = crashed
      ? undefined
      : await sendHttp({ method: 'GET', path: '/healthz', headers: {} }).catch(() => undefined);
    const errorLines = apiOutput.split('\n').filter((l) => /"level":(50|60)/.test(l));

    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
    const violations =
      tally.fiveXX.length +
      (crashed ? 1 : 0) +
      (workerCrashed ? 1 : 0) +
      invalid.length +
      tally.acceptedInvalid.length +
      tally.notProblem.length +
      tally.noAnswer.length;
    recordFault({
      fault: 'Hostile input on every route and webhook',
      injected:
        `${specs.length} generated requests (fast-check seed ${SEED}; ${tally.requests - specs.length} more as ` +
        `replays and repeats) in ${tally.byFamily.size} families: ` +
        [...tally.byFamily.entries()].map(([f, n]) => `${f} ${n}`).join(', '),
      scale: tally.requests,
      lost: lost + tally.validRefused.length,
      duplicated,
      violations,
      detail:
        `5xx ${tally.fiveXX.length}, crash ${crashed ? 1 : 0} (worker ${workerCrashed ? 1 : 0}), invalid effects ${invalid.length}, accepted invalid ` +
        `${tally.acceptedInvalid.length}, non-problem errors ${tally.notProblem.length}, unanswered ` +
        `${tally.noAnswer.length}, error log lines ${errorLines.length}; ${tally.effects.length} valid effects ` +
        `(${tally.replays} replayed deliveries), ` +
        `${before0.size} workflows before, ${seen.size} after, ${signalsChecked} signals checked; heap after GC ${mb(before.heapUsed)} -> ` +
        `${mb(after.heapUsed)} (${heapGrowth >= 0 ? '+' : ''}${mb(heapGrowth)}), RSS ${mb(before.rss)} -> ${mb(after.rss)}; ` +
        `${requestSeconds.toFixed(0)} s of requests`,
    });

    // HOSTILE_DEBUG=<file>: every finding written out, for a reader chasing one down.
    if (process.env.HOSTILE_DEBUG)
      writeFileSync(
        process.env.HOSTILE_DEBUG,
        JSON.stringify(
          {
            ...tally,
            byFamily: undefined,
            statuses: Object.fromEntries([...tally.statuses].map(([f, m]) => [f, Object.fromEntries(m)])),
            invalid,
            errorLines,
          },
          null,
          1,
        ),
      );
    const sample = (xs: string[]) => xs.slice(0, 15);
    expect(sample(tally.fiveXX)).toEqual([]);
    expect(crashed).toBe(false);
    expect(workerCrashed).toBe(false);
    expect(health?.status).toBe(200);
    expect(sample(tally.noAnswer)).toEqual([]);
    expect(sample(tally.notProblem)).toEqual([]);
    expect(sample(tally.acceptedInvalid)).toEqual([]);
    expect(sample(invalid)).toEqual([]);
    expect(sample(tally.validRefused)).toEqual([]);
    expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
    expect(errorLines.slice(0, 5)).toEqual([]);
    expect(before.gc).toBe(true);
    expect(heapGrowth).toBeLessThan(HEAP_GROWTH_LIMIT);
    // The valid requests really were mixed in, and replays among them.
    expect(tally.effects.length).toBeGreaterThan(TOTAL / 40);
    expect(tally.replays).toBeGreaterThan(TOTAL / 100);
    expect(tally.requests).toBeGreaterThanOrEqual(TOTAL);
  });
});
