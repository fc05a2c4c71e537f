// The real stack as separate processes, for fault tests: the Temporal CLI dev server on a SQLite
// file, the worker (`src/worker.ts`) and the API (`src/server.ts`), each configured only through
// its environment, as in production. Any of them can be killed (SIGKILL, SIGTERM) and started
// again on the same files and ports; the test reads what came out of it: the SMS outbox, the event
// store and the loans' workflows.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SIGNATURE_HEADER, signatureHeader } from '../../src/api/signature';
import { loadConfig } from '../../src/config';
import { workflowIdForLoan } from '../../src/domain/loan';
import { readOutbox, type OutboxLine } from '../../src/sms/outbox';
import { SqliteEventStore } from '../../src/store/event-store-sql';
import { SqliteSendLedger, type SendRecord } from '../../src/store/send-ledger';
import type { EventKind, LoanEvent } from '../../src/store/events';
import { temporalCliPath } from '../../src/temporal/binaries';
import { devServerArgs } from '../../src/temporal/dev-server';
import { connectClient } from '../../src/temporal/client';
import type { LoanStatus } from '../../src/workflows/messages';
import { freePort, ROOT, until } from '../helpers/stack';

// ---- Child processes: every one tracked, so none outlives the test run ----

const live = new Set<ChildProcess>();

function killAllNow(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

let exitHooked = false;
/**
 * afterAll stops the stack; these catch what afterAll cannot: a test process that exits early or
 * is interrupted. An orphaned dev server would hold its port and keep the machine busy.
 */
function hookProcessExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllNow();
      process.kill(process.pid, signal); // then as if we had not listened
    });
  }
}

/** How much of a process's output is kept for error messages: the end is what explains a failure. */
const OUTPUT_TAIL = 20_000;

/** One program of the stack, which can be started, killed and started again with the same settings. */
export class ManagedProcess {
  private child?: ChildProcess;
  private exit?: Promise<void>;
  private tail = '';
  /** The beginning of the current run's output: what it said while starting. */
  private head = '';
  /** How many times it has been started. */
  starts = 0;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: () => string[],
    private readonly env: () => NodeJS.ProcessEnv,
  ) {}

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines it printed (JSON logs at warn and above; the dev server's errors). */
  output(): string {
    return this.tail;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    hookProcessExit();
    // One process, not a wrapper with a child of its own, so a signal reaches the program itself.
    const child = spawn(this.command, this.args(), { cwd: ROOT, env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.head = '';
    const keep = (d: Buffer) => {
      this.tail = (this.tail + d.toString('utf8')).slice(-OUTPUT_TAIL);
      if (this.head.length < OUTPUT_TAIL) this.head += d.toString('utf8');
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    live.add(child);
    this.exit = new Promise((done) =>
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.tail += `\n[${this.name} exited: ${signal ?? `code ${code}`}]\n`;
        done();
      }),
    );
    this.child = child;
    this.starts++;
  }

  /** Sends the signal and waits until the process is gone; a SIGTERM not obeyed in time becomes a SIGKILL. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', graceMs = 20_000): Promise<void> {
    if (!this.running || !this.child) return;
    const child = this.child;
    child.kill(signal);
    if (signal === 'SIGKILL') return this.exit;
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(timer);
  }

  /** Whether the current run has printed this (while starting: the head of its output is kept). */
  said(text: string): boolean {
    return this.running && this.head.includes(text);
  }

  /** Fails with its output when it has exited: a process that dies at start-up should say why. */
  assertRunning(): void {
    if (!this.running) throw new Error(`${this.name} is not running:\n${this.tail}`);
  }
}

// ---- Small waiting helpers ----

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export { until };

/** Runs `fn` over the items, at most `concurrency` at a time, results in order (as the batch route does). */
export async function inPool<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const work = async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i]);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, work));
  return results;
}

/** Waits until the Temporal server at `address` answers for the default namespace. */
export async function untilTemporalServes(address: string, timeoutMs: number, alive: () => void): Promise<void> {
  await until(
    `the Temporal server on ${address}`,
    async () => {
      alive();
      try {
        const connection = await Connection.connect({ address, connectTimeout: 1_000 });
        try {
          await connection.workflowService.getSystemInfo({});
          await connection.workflowService.describeNamespace({ namespace: 'default' });
          return true;
        } finally {
          await connection.close();
        }
      } catch {
        return false;
      }
    },
    timeoutMs,
    250,
  );
}

// ---- The stack ----

export interface StackOptions {
  /** Prefix of the temporary folder that holds every file of the stack. */
  name: string;
  /** Policies written beside the repository's (policies/*.json, as the file's JSON), for the API to offer. */
  policies?: ReadonlyArray<{ id: string }>;
  /** The SMS provider's pace across workers (SMS_RATE_PER_SECOND). */
  smsPerSecond?: number;
  /** `--sqlite-pragma` values for the dev server's file (default: those `npm start` uses). */
  sqlitePragmas?: readonly string[];
}

export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
}

const TaskQueueType = temporal.api.enums.v1.TaskQueueType;

export class FaultStack {
  readonly dir: string;
  readonly taskQueue = `faults-${randomUUID().slice(0, 8)}`;
  readonly apiKey = randomBytes(24).toString('hex');
  readonly webhookSecret = randomBytes(24).toString('hex');
  readonly paths: {
    temporalDb: string;
    policies: string;
    outbox: string;
    sendLedger: string;
    operations: string;
    events: string;
    phoneIndex: string;
  };
  readonly server: ManagedProcess;
  readonly worker: ManagedProcess;
  readonly api: ManagedProcess;
  // Fixed for the stack's life, so a restarted process reads what the previous one wrote.
  private readonly payloadKeys = `faults:${randomBytes(32).toString('base64')}`;
  private readonly secrets = {
    phoneIndex: randomBytes(24).toString('hex'),
    smsCallback: randomBytes(24).toString('hex'),
    codecUi: randomBytes(24).toString('hex'),
  };
  private client?: Client;

  private constructor(
    private readonly opts: StackOptions,
    readonly ports: { temporal: number; ui: number; api: number },
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `${opts.name}-`));
    this.paths = {
      temporalDb: join(this.dir, 'temporal.db'),
      policies: join(this.dir, 'policies'),
      outbox: join(this.dir, 'outbox.jsonl'),
      sendLedger: join(this.dir, 'sends.sqlite'),
      operations: join(this.dir, 'operations.sqlite'),
      events: join(this.dir, 'events.sqlite'),
      phoneIndex: join(this.dir, 'phone-index.sqlite'),
    };
    mkdirSync(this.paths.policies);
    cpSync(join(ROOT, 'policies'), this.paths.policies, { recursive: true });
    for (const p of opts.policies ?? []) writeFileSync(join(this.paths.policies, `${p.id}.json`), JSON.stringify(p));

    this.server = new ManagedProcess(
      'temporal dev server',
      temporalCliPath(),
      () =>
        devServerArgs({
          port: this.ports.temporal,
          uiPort: this.ports.ui,
          dbFile: this.paths.temporalDb,
          namespace: 'default',
          headless: true,
          sqlitePragmas: opts.sqlitePragmas,
        }),
      () => ({ PATH: process.env.PATH, HOME: process.env.HOME }),
    );
    const node = (entry: string) => () => ['--import', 'tsx', entry];
    this.worker = new ManagedProcess('worker', process.execPath, node('src/worker.ts'), () => this.env());
    this.api = new ManagedProcess('API', process.execPath, node('src/server.ts'), () => this.env());
  }

  /** Starts the dev server, then the worker and the API, and waits until all three serve. */
  static async start(opts: StackOptions): Promise<FaultStack> {
    const ports: number[] = [];
    while (ports.length < 3) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const stack = new FaultStack(opts, { temporal: ports[0], ui: ports[1], api: ports[2] });
    try {
      await stack.startServer();
      await Promise.all([stack.startWorker(), stack.startApi()]);
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  }

  get temporalAddress(): string {
    return `127.0.0.1:${this.ports.temporal}`;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.ports.api}`;
  }

  /**
   * The worker's and the API's environment: every file in the stack's folder, explicit keys and
   * secrets (no development files). Inherited settings that would point elsewhere (another
   * Temporal, a PostgreSQL event store, a real SMS gateway) are dropped.
   */
  env(): NodeJS.ProcessEnv {
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => !/^(TEMPORAL_|SMS_|TWILIO_|ALIYUN_|TENCENT_|DATABASE_URL$|PAYLOAD_KEY|API_KEYS$|WEBHOOK_)/.test(k),
      ),
    );
    return {
      ...inherited,
      TEMPORAL_ADDRESS: this.temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: this.taskQueue,
      DATA_DIR: this.dir,
      PAYLOAD_KEYS: this.payloadKeys,
      OUTBOX_PATH: this.paths.outbox,
      SEND_LEDGER_PATH: this.paths.sendLedger,
      OPERATIONS_PATH: this.paths.operations,
      EVENT_STORE_PATH: this.paths.events,
      PHONE_INDEX_PATH: this.paths.phoneIndex,
      PHONE_INDEX_KEY: this.secrets.phoneIndex,
      SMS_CALLBACK_TOKEN: this.secrets.smsCallback,
      CODEC_UI_TOKEN: this.secrets.codecUi,
      POLICIES_DIR: this.paths.policies,
      API_KEYS: `faults:${this.apiKey}:loans:write+loans:read`,
      WEBHOOK_SECRETS: this.webhookSecret,
      HOST: '127.0.0.1',
      PORT: String(this.ports.api),
      TEMPORAL_UI_PORT: String(this.ports.ui),
      SMS_PROVIDER: 'outbox',
      SMS_RATE_PER_SECOND: String(this.opts.smsPerSecond ?? 20),
      // Fault tests send bursts far above any real caller's rate; the limiter is not under test.
      RATE_LIMIT_PER_MINUTE: '1000000',
      LOG_LEVEL: 'warn',
    };
  }

  // ---- Starting, stopping, waiting ----

  async startServer(timeoutMs = 60_000): Promise<void> {
    this.server.start();
    await this.waitServerReady(timeoutMs);
  }

  /** Stops the dev server (SIGTERM: orderly; SIGKILL: a crash) and waits until it is gone. */
  async stopServer(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    await this.server.kill(signal);
  }

  async startWorker(timeoutMs = 120_000): Promise<void> {
    this.worker.start();
    await this.waitWorkerPolling(timeoutMs);
  }

  async killWorker(): Promise<void> {
    await this.worker.kill('SIGKILL');
  }

  async startApi(timeoutMs = 60_000): Promise<void> {
    this.api.start();
    await this.waitApiReady(timeoutMs);
  }

  async killApi(): Promise<void> {
    await this.api.kill('SIGKILL');
  }

  /** The dev server answers on gRPC and its namespace is there (it is the last thing it creates). */
  async waitServerReady(timeoutMs = 60_000): Promise<void> {
    await untilTemporalServes(this.temporalAddress, timeoutMs, () => this.server.assertRunning());
  }

  /** /readyz answers 200: the API is listening and reaches Temporal. */
  async waitApiReady(timeoutMs = 60_000): Promise<void> {
    await until(
      'the API to be ready',
      async () => {
        this.api.assertRunning();
        return (await this.apiReady()) === 200;
      },
      timeoutMs,
      200,
    );
  }

  /** /readyz's status now, or 0 when nothing answers in time. */
  async apiReady(timeoutMs = 5_000): Promise<number> {
    try {
      const res = await fetch(`${this.apiUrl}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  /**
   * The worker process polls both of its task queues. Told apart by its identity (`pid@host`), so
   * the pollers a killed worker left behind, which the server lists for a while, do not count.
   */
  async waitWorkerPolling(timeoutMs = 120_000): Promise<void> {
    await until(
      'the worker to poll its task queues',
      async () => {
        this.worker.assertRunning();
        return this.workerPolling(this.worker.pid!);
      },
      timeoutMs,
      500,
    );
  }

  async workerPolling(pid: number): Promise<boolean> {
    try {
      const client = await this.temporal();
      const queues = [
        { name: this.taskQueue, type: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW },
        { name: `${this.taskQueue}-sms`, type: TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY },
      ];
      for (const q of queues) {
        const res = await client.workflowService.describeTaskQueue({
          namespace: 'default',
          taskQueue: { name: q.name },
          taskQueueType: q.type,
        });
        if (!res.pollers?.some((p) => p.identity?.startsWith(`${pid}@`))) return false;
      }
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Starts whatever is not running. A test that failed half-way (a process left down) must not
   * sink the tests after it, which share the stack.
   */
  async ensureRunning(): Promise<void> {
    if (!this.server.running) await this.startServer();
    await Promise.all([
      this.worker.running ? undefined : this.startWorker(),
      this.api.running ? this.waitApiReady() : this.startApi(),
    ]);
  }

  /** Kills every process of the stack, closes the test's own connection and removes the files. */
  async stop(opts: { keepFiles?: boolean } = {}): Promise<void> {
    await Promise.all([this.api.kill('SIGKILL'), this.worker.kill('SIGKILL')]);
    await this.server.kill('SIGKILL');
    await this.client?.connection.close().catch(() => undefined);
    this.client = undefined;
    if (!opts.keepFiles) rmSync(this.dir, { recursive: true, force: true });
  }

  // ---- What came out: outbox, event store, workflows ----

  /** The SMS outbox, optionally only the messages of loans whose id starts with a prefix. */
  outbox(loanIdPrefix = ''): OutboxLine[] {
    return readOutbox(this.paths.outbox).filter((l) => l.loanId.startsWith(loanIdPrefix));
  }

  /** Events from the store the worker writes (opened for the read, then closed, as a reporting tool would). */
  async events(loanIdPrefix = '', kinds?: readonly EventKind[]): Promise<LoanEvent[]> {
    const store = new SqliteEventStore(this.paths.events);
    try {
      const all = await store.between(0, 8_640_000_000_000_000, kinds);
      return all.filter((e) => e.loanId.startsWith(loanIdPrefix));
    } finally {
      await store.close();
    }
  }

  /** The send ledger's records of these keys (when each send began, whether the provider accepted it). */
  async sends(keys: readonly string[]): Promise<Map<string, SendRecord>> {
    const ledger = new SqliteSendLedger(this.paths.sendLedger);
    try {
      const records = await Promise.all(keys.map(async (k) => [k, await ledger.get(k)] as const));
      return new Map(records.flatMap(([k, r]) => (r ? [[k, r] as const] : [])));
    } finally {
      await ledger.close();
    }
  }

  /**
   * A Temporal client of the test's own, configured from the same environment as the worker and
   * the API (same address, same payload keys), so it reads the loans' encrypted state as they do.
   */
  async temporal(): Promise<Client> {
    this.client ??= await connectClient(loadConfig(this.env()));
    return this.client;
  }

  async describeLoan(loanId: string): Promise<WorkflowExecutionDescription | undefined> {
    const client = await this.temporal();
    try {
      return await client.workflow.getHandle(workflowIdForLoan(loanId)).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** The loan's final state: the workflow's result, once it has completed (waits for it). */
  async loanResult(loanId: string, timeoutMs: number): Promise<LoanStatus> {
    const client = await this.temporal();
    const handle = client.workflow.getHandle(workflowIdForLoan(loanId));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`loan ${loanId} did not complete in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return (await Promise.race([handle.result(), timeout])) as LoanStatus;
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- The API, as a client of it would call it ----

  async call<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiAnswer<T>> {
    const res = await fetch(`${this.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** Starts loans through POST /v1/loans/batch (1,000 at most per request); fails unless all start. */
  async startLoans(loans: readonly object[]): Promise<void> {
    for (let i = 0; i < loans.length; i += 1000) {
      const chunk = loans.slice(i, i + 1000);
      const res = await this.call<{ started: number; failed: number; results: unknown[] }>('POST', '/v1/loans/batch', {
        loans: chunk,
      });
      if (res.status !== 200 || res.body.started !== chunk.length) {
        throw new Error(`batch start: HTTP ${res.status}, ${JSON.stringify(res.body).slice(0, 2000)}`);
      }
    }
  }

  /** GET /v1/loans/:loanId: the running loan's status, as the loan system sees it. */
  getLoan(loanId: string): Promise<ApiAnswer<LoanStatus & { nextReminderAt: string | null }>> {
    return this.call('GET', `/v1/loans/${encodeURIComponent(loanId)}`);
  }

  /**
   * One delivery of a signed payment webhook, signed at the moment of sending as a processor does
   * on every attempt. Resolves with the status; rejects when nothing answered (connection refused
   * or reset, timeout).
   */
  async postWebhook(rawBody: string, timeoutMs = 15_000): Promise<number> {
    const res = await fetch(`${this.apiUrl}/v1/webhooks/payments`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signatureHeader(this.webhookSecret, rawBody),
      },
      body: rawBody,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    return res.status;
  }
}
