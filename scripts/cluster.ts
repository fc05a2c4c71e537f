// `npm run cluster -- --workers N --apis M`: the whole service as several machines would run it,
// on this one and without Docker. PostgreSQL (a folder under data/cluster/, or --database-url), a
// Temporal server on it (scripts/lib/temporal-cluster.ts, built from Go modules on first use), the
// Web UI when it was built, N workers and M API instances (ports 3000...), each with a DATA_DIR of
// its own: they share nothing but PostgreSQL and Temporal (and the outbox file, as in Compose).
// Secrets are generated once into data/cluster/cluster.env. Ctrl-C or SIGTERM stops everything.
//
// Options (all optional):
//   --workers N           worker processes (1)             --apis M         API processes (1)
//   --database-url URL    an existing PostgreSQL, as its superuser (else a local one in data/cluster/postgres)
//   --temporal-port P     Temporal's frontend (7233; P+1..P+8 for its other services)
//   --ui-port P           the Web UI (8080)                --api-port P     the first API's port (3000)
//   --history-shards S    fixed at the first start (docker-compose.yml's TEMPORAL_HISTORY_SHARDS default)
//   --namespace NS        (default)                        --dir DIR        (data/cluster)
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureRoleAndDatabases, startLocalPostgres, urlFor, type LocalPostgres } from './lib/postgres';
import { startTemporalCluster, type TemporalCluster } from './lib/temporal-cluster';

const ROOT = resolve(__dirname, '..');
const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: '1' },
    apis: { type: 'string', default: '1' },
    'database-url': { type: 'string' },
    'temporal-port': { type: 'string', default: '7233' },
    'ui-port': { type: 'string', default: '8080' },
    'api-port': { type: 'string', default: '3000' },
    'history-shards': { type: 'string' },
    namespace: { type: 'string', default: 'default' },
    dir: { type: 'string', default: join(ROOT, 'data', 'cluster') },
  },
});

const count = (name: string, value: string, min: number): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer of at least ${min}`);
  return n;
};
const workers = count('workers', args.workers, 0);
const apis = count('apis', args.apis, 0);
const temporalPort = count('temporal-port', args['temporal-port'], 1);
const uiPort = count('ui-port', args['ui-port'], 1);
const apiPort = count('api-port', args['api-port'], 1);
const namespace = args.namespace;
const dir = resolve(args.dir);

/** docker-compose.yml's shard count, so a local cluster is shaped like a deployed one. */
function composeHistoryShards(): number {
  const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  const m = /NUM_HISTORY_SHARDS:\s*\$\{TEMPORAL_HISTORY_SHARDS:-(\d+)\}/.exec(text);
  if (!m) throw new Error('docker-compose.yml: no NUM_HISTORY_SHARDS: ${TEMPORAL_HISTORY_SHARDS:-<n>}');
  return Number(m[1]);
}
const historyShards = args['history-shards']
  ? count('history-shards', args['history-shards'], 1)
  : composeHistoryShards();

const say = (msg: string) => process.stderr.write(`[cluster] ${msg}\n`);
const rel = (p: string) => relative(process.cwd(), p) || '.';

/** The cluster's secrets, made once; the file is the cluster's deploy/app.env and .env in one. */
function clusterEnv(file: string): Record<string, string> {
  const hex = (n = 32) => randomBytes(n).toString('hex');
  const wanted: Record<string, () => string> = {
    API_KEYS: () => `cluster:${hex()}:loans:read+loans:write+analytics:read+metrics:read+payloads:decode`,
    WEBHOOK_SECRETS: () => hex(),
    PHONE_INDEX_KEY: () => hex(),
    SMS_CALLBACK_TOKEN: () => hex(24),
    PAYLOAD_KEYS: () => `k1:${randomBytes(32).toString('base64')}`,
    PAYLOAD_KEY_ID: () => 'k1',
    CODEC_UI_TOKEN: () => hex(),
    APP_DB_PASSWORD: () => hex(16),
    TEMPORAL_DB_PASSWORD: () => hex(16),
  };
  const values: Record<string, string> = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
      if (m) values[m[1]] = m[2];
    }
  }
  const missing = Object.keys(wanted).filter((k) => !values[k]);
  const existed = existsSync(file);
  if (missing.length) {
    for (const k of missing) values[k] = wanted[k]();
    const lines = Object.entries(values).map(([k, v]) => `${k}=${v}`);
    writeFileSync(
      file,
      `# Secrets of the local cluster (npm run cluster), made once. Keep them: the payload key decrypts\n` +
        `# what Temporal stores, and the database passwords are set when the roles are created.\n` +
        `${lines.join('\n')}\n`,
      { mode: 0o600 },
    );
    say(`${existed ? 'added' : 'generated'} ${missing.join(', ')} in ${rel(file)}`);
  }
  return values;
}

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
}

function startProcess(name: string, script: string, env: NodeJS.ProcessEnv, logDir: string): Proc {
  const log = join(logDir, `${name}.log`);
  const fd = openSync(log, 'a');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script)], {
      cwd: ROOT,
      env,
      stdio: ['ignore', fd, fd],
    });
    return { name, child, log };
  } finally {
    closeSync(fd);
  }
}

function stopProc(p: Proc, graceMs = 30_000): Promise<void> {
  const { child } = p;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}

async function waitForApi(url: string, p: Proc): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited (${p.child.exitCode}); see ${rel(p.log)}`);
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${p.name} not ready at ${url}/readyz after 120 s; see ${rel(p.log)}`);
}

async function main(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const logDir = join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const envFile = join(dir, 'cluster.env');
  const secrets = clusterEnv(envFile);

  let pg: LocalPostgres | undefined;
  let temporal: TemporalCluster | undefined;
  const procs: Proc[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping: APIs, workers, Temporal, PostgreSQL');
    await Promise.all(procs.filter((p) => p.name.startsWith('api')).map((p) => stopProc(p)));
    await Promise.all(procs.filter((p) => p.name.startsWith('worker')).map((p) => stopProc(p)));
    await temporal?.stop();
    await pg?.stop();
    say('stopped');
    process.exit(code);
  };
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));

  try {
    let adminUrl = args['database-url'];
    if (!adminUrl) {
      pg = await startLocalPostgres({ dir: join(dir, 'postgres') });
      adminUrl = pg.adminUrl;
      say(`PostgreSQL on 127.0.0.1:${pg.port} (data ${rel(pg.dataDir)}, log ${rel(pg.logFile)})`);
    }
    await ensureRoleAndDatabases(adminUrl, 'loan_reminders', secrets.APP_DB_PASSWORD, ['loan_reminders']);
    const databaseUrl = urlFor(adminUrl, 'loan_reminders', secrets.APP_DB_PASSWORD, 'loan_reminders');

    const codecEndpoint = `http://localhost:${apiPort}/codec/${secrets.CODEC_UI_TOKEN}`;
    temporal = await startTemporalCluster({
      postgresAdminUrl: adminUrl,
      port: temporalPort,
      uiPort,
      historyShards,
      namespace,
      dir: join(dir, 'temporal'),
      temporalDbPassword: secrets.TEMPORAL_DB_PASSWORD,
      codecEndpoint: apis > 0 ? codecEndpoint : undefined,
      log: (m) => say(m),
    });
    if (temporal.uiMissing) say(`no Web UI: ${temporal.uiMissing}`);

    const { APP_DB_PASSWORD: _a, TEMPORAL_DB_PASSWORD: _t, ...appSecrets } = secrets;
    const common: NodeJS.ProcessEnv = {
      ...process.env,
      ...appSecrets,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: namespace,
      DATABASE_URL: databaseUrl,
      // The one file the machines share, as the outbox volume in docker-compose.yml.
      OUTBOX_PATH: join(dir, 'outbox.jsonl'),
      CODEC_CORS_ORIGINS: `http://localhost:${uiPort},http://127.0.0.1:${uiPort}`,
    };
    for (let i = 1; i <= workers; i++) {
      const dataDir = join(dir, `worker-${i}`);
      mkdirSync(dataDir, { recursive: true });
      procs.push(startProcess(`worker-${i}`, 'src/worker.ts', { ...common, DATA_DIR: dataDir }, logDir));
    }
    const apiUrls: string[] = [];
    for (let i = 1; i <= apis; i++) {
      const dataDir = join(dir, `api-${i}`);
      mkdirSync(dataDir, { recursive: true });
      const port = apiPort + i - 1;
      const env = { ...common, DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(port) };
      procs.push(startProcess(`api-${i}`, 'src/server.ts', env, logDir));
      apiUrls.push(`http://127.0.0.1:${port}`);
    }
    for (const p of procs) {
      p.child.once('exit', (code, signal) => {
        if (stopping) return;
        say(`${p.name} exited (${signal ?? code}); see ${rel(p.log)}. Stopping the cluster.`);
        void stopAll(1);
      });
    }
    await Promise.all(apiUrls.map((url, i) => waitForApi(url, procs[workers + i])));

    const lines = [
      '',
      'loan-reminders cluster is up:',
      `  Temporal     ${temporal.address} (server ${temporal.version}, ${temporal.historyShards} history shards, namespace ${namespace}; healthy ${(temporal.startMs / 1000).toFixed(1)} s after start)`,
      `  Web UI       ${temporal.uiUrl ?? `none (${temporal.uiMissing})`}`,
      `  PostgreSQL   ${pg ? `127.0.0.1:${pg.port}` : new URL(adminUrl).host}: temporal, temporal_visibility, loan_reminders`,
      ...apiUrls.map((u, i) => `  API ${String(i + 1).padEnd(8)} ${u}`),
      `  workers      ${workers} (DATA_DIR ${rel(join(dir, 'worker-<n>'))})`,
      `  secrets      ${rel(envFile)} (API key: API_KEYS, name:key:scopes)`,
      `  outbox       ${rel(join(dir, 'outbox.jsonl'))}`,
      `  logs         ${rel(logDir)}/*.log, ${rel(temporal.serverLog)}${temporal.uiLog ? `, ${rel(temporal.uiLog)}` : ''}`,
      'Ctrl-C stops everything.',
      '',
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } catch (err) {
    say(err instanceof Error ? err.message : String(err));
    await stopAll(1);
  }
}

void main();
