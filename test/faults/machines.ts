// Several machines, as a lender would run the service: N worker processes and M API instances,
// each with a DATA_DIR of its own that nothing may write (made immutable), sharing nothing but one
// PostgreSQL database (DATABASE_URL) and one Temporal server. The outbox file is the one thing on
// a common disk: it stands in for the SMS gateway every machine calls.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOutbox, type OutboxLine } from '../../src/sms/outbox';
import { temporalCliPath } from '../../src/temporal/binaries';
import { devServerArgs } from '../../src/temporal/dev-server';
import { freePortBlock, startTemporalCluster, type TemporalCluster } from '../../scripts/lib/temporal-cluster';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { freePort, ROOT } from '../helpers/stack';
import { ManagedProcess, sleep, until, untilTemporalServes } from './harness';

export interface MachinesOptions {
  name: string;
  workers: number;
  apis: number;
  /** The provider's pace across all workers (SMS_RATE_PER_SECOND). */
  smsPerSecond: number;
  /** Policies written beside the repository's, for the APIs to offer; asked for just before the APIs start. */
  policies?: () => ReadonlyArray<{ id: string }>;
  /**
   * Which Temporal: the CLI's dev server, or the Temporal server built from Go modules on the same
   * PostgreSQL (scripts/lib/temporal-cluster.ts, as docker-compose.yml runs it).
   */
  temporal: 'dev-server' | 'cluster';
}

/** Makes a folder that no process, root included, can write: immutable where the file system allows. */
function readOnly(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o555);
  if (process.getuid?.() === 0) execFileSync('chattr', ['+i', dir]);
}

function writable(dir: string): void {
  if (process.getuid?.() === 0) execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
  chmodSync(dir, 0o755);
}

export class Machines {
  readonly dir = mkdtempSync(join(tmpdir(), 'machines-'));
  readonly taskQueue = `machines-${randomUUID().slice(0, 8)}`;
  readonly apiKey = randomBytes(24).toString('hex');
  readonly callbackToken = randomBytes(24).toString('hex');
  readonly outboxPath = join(this.dir, 'gateway', 'outbox.jsonl');
  readonly workers: ManagedProcess[] = [];
  readonly apis: ManagedProcess[] = [];
  readonly apiPorts: number[] = [];
  private readonly dataDirs: string[] = [];
  private readonly policiesDir = join(this.dir, 'policies');
  private readonly secrets = {
    PAYLOAD_KEYS: `machines:${randomBytes(32).toString('base64')}`,
    PHONE_INDEX_KEY: randomBytes(24).toString('hex'),
    CODEC_UI_TOKEN: randomBytes(24).toString('hex'),
    WEBHOOK_SECRETS: randomBytes(24).toString('hex'),
  };
  private server?: ManagedProcess;
  private cluster?: TemporalCluster;
  temporalAddress = '';

  private constructor(
    private readonly opts: MachinesOptions,
    readonly pg: TestPostgres,
  ) {}

  static async start(opts: MachinesOptions): Promise<Machines> {
    const m = new Machines(opts, await startPostgres());
    try {
      await m.boot();
    } catch (err) {
      await m.stop();
      throw err;
    }
    return m;
  }

  private async boot(): Promise<void> {
    mkdirSync(join(this.dir, 'gateway'));
    mkdirSync(this.policiesDir);
    cpSync(join(ROOT, 'policies'), this.policiesDir, { recursive: true });
    if (this.opts.temporal === 'cluster') {
      const admin = new URL(this.pg.url);
      admin.pathname = '/postgres';
      this.cluster = await startTemporalCluster({
        postgresAdminUrl: admin.toString(),
        port: await freePortBlock(),
        historyShards: 16,
        namespace: 'default',
        dir: join(this.dir, 'temporal'),
      });
      this.temporalAddress = this.cluster.address;
    } else {
      const [port, uiPort] = [await freePort(), await freePort()];
      this.server = new ManagedProcess(
        'temporal dev server',
        temporalCliPath(),
        () =>
          devServerArgs({ port, uiPort, dbFile: join(this.dir, 'temporal.db'), namespace: 'default', headless: true }),
        () => ({ PATH: process.env.PATH, HOME: process.env.HOME }),
      );
      this.server.start();
      this.temporalAddress = `127.0.0.1:${port}`;
    }
    await untilTemporalServes(this.temporalAddress, 120_000, () => this.server?.assertRunning());
    for (let i = 0; i < this.opts.workers; i++) this.workers.push(this.machine(`worker-${i + 1}`, 'src/worker.ts'));
    for (let i = 0; i < this.opts.apis; i++) {
      const port = await freePort();
      this.apiPorts.push(port);
      this.apis.push(this.machine(`api-${i + 1}`, 'src/server.ts', { PORT: String(port) }));
    }
    // The first worker registers the search attributes; the others and the APIs follow.
    await this.startWorker(0);
    for (const p of this.opts.policies?.() ?? [])
      writeFileSync(join(this.policiesDir, `${p.id}.json`), JSON.stringify(p));
    await Promise.all([
      ...this.workers.slice(1).map((_, i) => this.startWorker(i + 1)),
      ...this.apis.map((_, i) => this.startApi(i)),
    ]);
  }

  /** One machine's process: its own read-only DATA_DIR, the shared database, explicit secrets. */
  private machine(name: string, entry: string, extra: NodeJS.ProcessEnv = {}): ManagedProcess {
    const dataDir = join(this.dir, name, 'data');
    readOnly(dataDir);
    this.dataDirs.push(dataDir);
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) =>
          !/^(TEMPORAL_|SMS_|TWILIO_|ALIYUN_|TENCENT_|DATABASE_URL$|PAYLOAD_KEY|API_KEYS$|WEBHOOK_|PHONE_INDEX|OUTBOX_|SEND_LEDGER|OPERATIONS_|EVENT_STORE)/.test(
            k,
          ),
      ),
    );
    const env = {
      ...inherited,
      ...this.secrets,
      TEMPORAL_ADDRESS: this.temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: this.taskQueue,
      DATABASE_URL: this.pg.url,
      DATA_DIR: dataDir,
      OUTBOX_PATH: this.outboxPath,
      SMS_PROVIDER: 'outbox',
      SMS_RATE_PER_SECOND: String(this.opts.smsPerSecond),
      SMS_CALLBACK_TOKEN: this.callbackToken,
      POLICIES_DIR: this.policiesDir,
      API_KEYS: `machines:${this.apiKey}:loans:write+loans:read`,
      HOST: '127.0.0.1',
      RATE_LIMIT_PER_MINUTE: '1000000',
      LOG_LEVEL: 'info',
      ...extra,
    };
    return new ManagedProcess(
      name,
      process.execPath,
      () => ['--import', 'tsx', entry],
      () => env,
    );
  }

  async startWorker(i: number, timeoutMs = 120_000): Promise<void> {
    const w = this.workers[i];
    w.start();
    await until(
      `${w.name} to poll`,
      () => {
        w.assertRunning();
        return this.workerReady(i);
      },
      timeoutMs,
    );
  }

  /** The worker's current run has started polling its queues. */
  workerReady(i: number): boolean {
    return this.workers[i].said('"worker running"');
  }

  async startApi(i: number, timeoutMs = 60_000): Promise<void> {
    this.apis[i].start();
    await until(
      `${this.apis[i].name} to answer /readyz`,
      async () => {
        this.apis[i].assertRunning();
        return (await this.readyz(i)) === 200;
      },
      timeoutMs,
    );
  }

  private async readyz(i: number): Promise<number> {
    try {
      return (await fetch(`${this.apiUrl(i)}/readyz`, { signal: AbortSignal.timeout(2_000) })).status;
    } catch {
      return 0;
    }
  }

  apiUrl(i: number): string {
    return `http://127.0.0.1:${this.apiPorts[i]}`;
  }

  /**
   * A request as a load balancer would pass it on: to instance `first`, and to the next one when
   * that does not answer (killed) or answers 502-504. Resolves with the status and who answered.
   */
  async request(
    first: number,
    path: string,
    init: { method: string; body?: string; contentType?: string },
  ): Promise<{ status: number; instance: number; body: unknown }> {
    for (let round = 0; round < 40; round++) {
      for (let k = 0; k < this.apis.length; k++) {
        const i = (first + k) % this.apis.length;
        try {
          const res = await fetch(`${this.apiUrl(i)}${path}`, {
            method: init.method,
            headers: {
              authorization: `Bearer ${this.apiKey}`,
              ...(init.body ? { 'content-type': init.contentType ?? 'application/json' } : {}),
            },
            body: init.body,
            signal: AbortSignal.timeout(30_000),
          });
          const text = await res.text();
          if (res.status >= 502 && res.status <= 504) continue;
          return { status: res.status, instance: i, body: text ? (JSON.parse(text) as unknown) : undefined };
        } catch {
          // Not answering: the next instance.
        }
      }
      await sleep(500);
    }
    throw new Error(`no API instance answered ${init.method} ${path}`);
  }

  outbox(): OutboxLine[] {
    return readOutbox(this.outboxPath);
  }

  /** Output of every process, for a failure's message. */
  output(): string {
    return [this.server, ...this.workers, ...this.apis]
      .filter((p): p is ManagedProcess => !!p)
      .map((p) => `--- ${p.name} ---\n${p.output().slice(-3_000)}`)
      .join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.workers, ...this.apis].map((p) => p.kill('SIGTERM')));
    await this.server?.kill('SIGTERM');
    await this.cluster?.stop();
    await this.pg.stop();
    for (const d of this.dataDirs) writable(d);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
