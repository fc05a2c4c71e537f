// A Temporal server on PostgreSQL, run from the binaries scripts/temporal-server.mjs builds: what
// docker-compose.yml's postgresql (its Temporal part), temporal-schema, temporal, temporal-setup
// and temporal-ui services do, as processes on this machine.
//   1. the `temporal` role and its `temporal` and `temporal_visibility` databases, where missing
//      (deploy/postgres/init-databases.sh);
//   2. the schema, set up or upgraded with temporal-sql-tool (deploy/temporal/setup-schema.sh);
//   3. the server (frontend, history, matching, worker) with a config file written into `dir`,
//      persistence on the postgres12 plugin, deploy/temporal/dynamicconfig.yaml as dynamic config;
//   4. the namespace and the loan search attributes, with the Temporal CLI
//      (deploy/temporal/setup-namespace.sh; the attributes are read from that script);
//   5. the Web UI server, when it was built and a UI port is given.
import { createServer } from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureRoleAndDatabases } from './postgres';

const ROOT = resolve(__dirname, '..', '..');
const TOOLS = resolve(process.env.TEMPORAL_TOOLS_DIR ?? join(ROOT, '.tools'));

export interface TemporalClusterOptions {
  /** The PostgreSQL superuser, e.g. postgres://postgres:pw@127.0.0.1:5432/postgres. */
  postgresAdminUrl: string;
  /** The frontend's gRPC port; history, matching, worker and membership use the next ones (see PORTS). */
  port: number;
  /** The Web UI's HTTP port; no UI when unset or not built. */
  uiPort?: number;
  /** Fixed when the `temporal` database is first set up: later values are ignored by the server. */
  historyShards: number;
  namespace: string;
  /** Config, logs and the server's working folder. */
  dir: string;
  /** The `temporal` role's password (set when the role is created). */
  temporalDbPassword?: string;
  /** How long a finished workflow's history is kept; applies when the namespace is created. */
  retention?: string;
  /** The codec endpoint the Web UI's browser calls (e.g. http://localhost:3000/codec/<token>). */
  codecEndpoint?: string;
  /** Progress messages; default: none. */
  log?: (msg: string) => void;
}

export interface TemporalCluster {
  /** host:port of the frontend. */
  address: string;
  /** http://host:port of the Web UI, when it runs. */
  uiUrl?: string;
  /** Why there is no Web UI, when there is none. */
  uiMissing?: string;
  serverLog: string;
  uiLog?: string;
  version: string;
  /** The shard count the cluster has: the one stored on first start, whatever `historyShards` says. */
  historyShards: number;
  /** Milliseconds from starting the server process to a healthy frontend. */
  startMs: number;
  stop(): Promise<void>;
}

/** Offsets from `port` of each service's ports. */
export const PORTS = {
  frontend: 0,
  history: 1,
  matching: 2,
  worker: 3,
  frontendMembership: 4,
  historyMembership: 5,
  matchingMembership: 6,
  workerMembership: 7,
  frontendHttp: 8,
} as const;

/** The versions docker-compose.yml pins: temporalio/server and temporalio/ui. */
export function composeVersions(): { server: string; ui: string } {
  const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  const pinned = (image: string, variable: string): string => {
    const m = new RegExp(`image:\\s*${image}:\\$\\{${variable}:-([\\w.-]+)\\}`).exec(text);
    if (!m) throw new Error(`docker-compose.yml: no image ${image}:\${${variable}:-<version>}`);
    return m[1];
  };
  return {
    server: pinned('temporalio/server', 'TEMPORAL_VERSION'),
    ui: pinned('temporalio/ui', 'TEMPORAL_UI_VERSION'),
  };
}

export interface TemporalBinaries {
  version: string;
  server: string;
  sqlTool: string;
  schema: string;
  /** The Web UI server, or why there is none. */
  ui: { path: string } | { missing: string };
  /** The Temporal CLI scripts/temporal-binaries.mjs provided (for the namespace setup). */
  cli: string;
}

const isFile = (p: string): boolean => existsSync(p) && statSync(p).isFile();

/** The binaries in .tools, built first by scripts/temporal-server.mjs when missing. */
export function temporalBinaries(opts: { build?: boolean; log?: (msg: string) => void } = {}): TemporalBinaries {
  const versions = composeVersions();
  const dir = join(TOOLS, `temporal-server-${versions.server}`);
  const server = join(dir, 'temporal-server');
  const sqlTool = join(dir, 'temporal-sql-tool');
  const schema = join(dir, 'schema', 'postgresql', 'v12');
  const uiDir = join(TOOLS, `temporal-ui-${versions.ui}`);
  const missing = () => !isFile(server) || !isFile(sqlTool) || !existsSync(schema);
  const manifest = join(TOOLS, 'temporal.json');
  if (missing() || (!isFile(join(uiDir, 'temporal-ui-server')) && !existsSync(join(uiDir, 'NOT-BUILT.txt')))) {
    if (opts.build === false)
      throw new Error(`Temporal server ${versions.server} is not built: npm run temporal:server`);
    opts.log?.(`building Temporal server ${versions.server} from Go modules (scripts/temporal-server.mjs)`);
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'temporal-server.mjs')], { stdio: 'inherit' });
    if (r.status !== 0 || missing()) throw new Error(`scripts/temporal-server.mjs failed (exit ${r.status})`);
  }
  if (!isFile(manifest)) {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'temporal-binaries.mjs')], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`scripts/temporal-binaries.mjs failed (exit ${r.status})`);
  }
  const cli =
    process.env.TEMPORAL_CLI_PATH || (JSON.parse(readFileSync(manifest, 'utf8')) as { cli: { path: string } }).cli.path;
  const uiServer = join(uiDir, 'temporal-ui-server');
  const ui = isFile(uiServer)
    ? { path: uiServer }
    : {
        missing: existsSync(join(uiDir, 'NOT-BUILT.txt'))
          ? readFileSync(join(uiDir, 'NOT-BUILT.txt'), 'utf8').trim()
          : `${uiServer} not built`,
      };
  return { version: versions.server, server, sqlTool, schema, ui, cli };
}

/** The search attributes deploy/temporal/setup-namespace.sh registers, name and CLI type. */
export function setupSearchAttributes(): Array<{ name: string; type: string }> {
  const script = readFileSync(join(ROOT, 'deploy', 'temporal', 'setup-namespace.sh'), 'utf8');
  const list = /^SEARCH_ATTRIBUTES="([^"]*)"$/m.exec(script)?.[1];
  if (!list) throw new Error('deploy/temporal/setup-namespace.sh: no SEARCH_ATTRIBUTES="..." line');
  return list
    .split(/\s+/)
    .filter(Boolean)
    .map((a) => {
      const [name, type] = a.split(':');
      return { name, type };
    });
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

function must(what: string, r: { ok: boolean; out: string }): string {
  if (!r.ok) throw new Error(`${what} failed:\n${r.out.split('\n').slice(-20).join('\n')}`);
  return r.out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** deploy/temporal/setup-schema.sh, with this machine's temporal-sql-tool and schema folder. */
export function setupSchema(bin: TemporalBinaries, db: { host: string; port: number; user: string; password: string }) {
  const sqlTool = (database: string, ...args: string[]) =>
    run(
      bin.sqlTool,
      ['--plugin', 'postgres12', '--ep', db.host, '-p', String(db.port), '-u', db.user, '--db', database, ...args],
      // temporal-sql-tool reads the password from SQL_PASSWORD.
      { SQL_PASSWORD: db.password },
    );
  must('temporal-sql-tool --db temporal setup-schema', sqlTool('temporal', 'setup-schema', '-v', '0.0'));
  must(
    'temporal-sql-tool --db temporal update-schema',
    sqlTool('temporal', 'update-schema', '-d', join(bin.schema, 'temporal', 'versioned')),
  );
  must(
    'temporal-sql-tool --db temporal_visibility setup-schema',
    sqlTool('temporal_visibility', 'setup-schema', '-v', '0.0'),
  );
  must(
    'temporal-sql-tool --db temporal_visibility update-schema',
    sqlTool('temporal_visibility', 'update-schema', '-d', join(bin.schema, 'visibility', 'versioned')),
  );
}

/** The server's config: docker-compose.yml's `temporal` service, on loopback ports from `port`. */
export function serverConfig(o: {
  db: { host: string; port: number; user: string; password: string };
  port: number;
  historyShards: number;
  dynamicConfigFile: string;
}): string {
  const p = (k: keyof typeof PORTS) => o.port + PORTS[k];
  const store = (database: string, maxConns: number) => `
      sql:
        pluginName: postgres12
        databaseName: ${database}
        connectAddr: "${o.db.host}:${o.db.port}"
        connectProtocol: tcp
        user: ${JSON.stringify(o.db.user)}
        password: ${JSON.stringify(o.db.password)}
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: 1h`;
  const service = (grpc: number, membership: number, http?: number) => `
    rpc:
      grpcPort: ${grpc}
      membershipPort: ${membership}
      bindOnIP: 127.0.0.1${http ? `\n      httpPort: ${http}` : ''}`;
  return `# Written by scripts/lib/temporal-cluster.ts; rewritten on every start.
log:
  stdout: true
  level: info
persistence:
  numHistoryShards: ${o.historyShards}
  defaultStore: default
  visibilityStore: visibility
  datastores:
    default:${store('temporal', 20)}
    visibility:${store('temporal_visibility', 10)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
  frontend:${service(p('frontend'), p('frontendMembership'), p('frontendHttp'))}
  history:${service(p('history'), p('historyMembership'))}
  matching:${service(p('matching'), p('matchingMembership'))}
  worker:${service(p('worker'), p('workerMembership'))}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: 127.0.0.1:${p('frontend')}
      httpAddress: 127.0.0.1:${p('frontendHttp')}
dcRedirectionPolicy:
  policy: noop
archival:
  history:
    state: disabled
  visibility:
    state: disabled
namespaceDefaults:
  archival:
    history:
      state: disabled
    visibility:
      state: disabled
dynamicConfigClient:
  filepath: ${JSON.stringify(o.dynamicConfigFile)}
  pollInterval: 60s
`;
}

function uiConfig(o: { port: number; address: string; namespace: string; codecEndpoint?: string }): string {
  return `# Written by scripts/lib/temporal-cluster.ts; rewritten on every start.
temporalGrpcAddress: ${o.address}
host: 127.0.0.1
port: ${o.port}
enableUi: true
defaultNamespace: ${JSON.stringify(o.namespace)}
disableNewsFetch: true
cors:
  cookieInsecure: true
  allowOrigins:
    - http://127.0.0.1:${o.port}
    - http://localhost:${o.port}
auth:
  enabled: false
codec:
  endpoint: ${JSON.stringify(o.codecEndpoint ?? '')}
`;
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts a process with its output appended to a log file. */
function startLogged(cmd: string, args: string[], logFile: string, cwd: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(cmd, args, { cwd, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

function stopProcess(child: ChildProcess, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill('SIGTERM');
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/** A base port whose block (frontend, history, matching, worker, membership, HTTP) is free, below 32768. */
export async function freePortBlock(): Promise<number> {
  const size = Math.max(...Object.values(PORTS)) + 1;
  for (let i = 0; i < 50; i++) {
    // Below 32768: Temporal keeps membership ports in a smallint column.
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const all = await Promise.all(Array.from({ length: size }, (_, k) => portFree(base + k)));
    if (all.every(Boolean)) return base;
  }
  throw new Error('no free block of ports below 32768');
}

export async function startTemporalCluster(opts: TemporalClusterOptions): Promise<TemporalCluster> {
  const log = opts.log ?? (() => {});
  // Temporal's SQL schema stores each service's membership port in a SMALLINT column
  // (cluster_membership.rpc_port): a port above 32767 fails at start ("out of range for type smallint").
  const highest = opts.port + Math.max(...Object.values(PORTS));
  if (opts.port < 1 || highest > 32_767)
    throw new Error(
      `Temporal's ports ${opts.port}..${highest} must lie within 1..32767 (its SQL schema keeps them as smallint)`,
    );
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const bin = temporalBinaries({ log });
  const admin = new URL(opts.postgresAdminUrl);
  const db = {
    host: admin.hostname,
    port: Number(admin.port || 5432),
    user: 'temporal',
    password: opts.temporalDbPassword ?? 'temporal-dev-password',
  };

  log(`databases temporal, temporal_visibility on ${db.host}:${db.port}`);
  await ensureRoleAndDatabases(opts.postgresAdminUrl, db.user, db.password, ['temporal', 'temporal_visibility']);
  log(`schema: temporal-sql-tool ${bin.version} setup-schema, update-schema`);
  setupSchema(bin, db);

  const configFile = join(dir, 'temporal-server.yaml');
  writeFileSync(
    configFile,
    serverConfig({
      db,
      port: opts.port,
      historyShards: opts.historyShards,
      dynamicConfigFile: join(ROOT, 'deploy', 'temporal', 'dynamicconfig.yaml'),
    }),
    { mode: 0o600 },
  );
  const serverLog = join(dir, 'temporal-server.log');
  const address = `127.0.0.1:${opts.port}`;
  const started = Date.now();
  log(`temporal-server ${bin.version} on ${address} (log ${serverLog})`);
  // --config-file replaces 1.32's deprecated --root/--config/--env trio. No authorizer: the frontend
  // listens on loopback only, as the compose file publishes it on 127.0.0.1.
  const server = startLogged(bin.server, ['--config-file', configFile, '--allow-no-auth', 'start'], serverLog, dir);
  const children: ChildProcess[] = [server];
  const stop = async () => {
    for (const child of children.reverse()) await stopProcess(child);
  };

  try {
    const cli = (...args: string[]) => run(bin.cli, ['--address', address, ...args]);
    for (let i = 0; ; i++) {
      if (server.exitCode !== null) throw new Error(`temporal-server exited (${server.exitCode}):\n${tail(serverLog)}`);
      if (cli('operator', 'cluster', 'health').ok) break;
      if (i > 600) throw new Error(`temporal-server did not become healthy in 120 s:\n${tail(serverLog)}`);
      await sleep(200);
    }
    const startMs = Date.now() - started;
    const described = JSON.parse(must('cluster describe', cli('operator', 'cluster', 'describe', '-o', 'json'))) as {
      historyShardCount?: number;
    };
    const historyShards = Number(described.historyShardCount);
    log(`healthy in ${(startMs / 1000).toFixed(1)} s; ${historyShards} history shards`);
    if (historyShards !== opts.historyShards) {
      log(
        `the database was set up with ${historyShards} history shards; ${opts.historyShards} ignored (fixed at first start)`,
      );
    }

    const ns = ['--namespace', opts.namespace];
    // Right after start the frontend may still turn requests away (no matching host yet): retried.
    for (let i = 0; !cli('operator', 'namespace', 'describe', ...ns).ok; i++) {
      const r = cli('operator', 'namespace', 'create', ...ns, '--retention', opts.retention ?? '30d');
      if (r.ok || /already (exists|registered)/i.test(r.out)) break;
      if (i > 30) must(`namespace create ${opts.namespace}`, r);
      await sleep(500);
    }
    // A new namespace takes a few seconds to reach every part of the server.
    let existing = '';
    for (let i = 0; ; i++) {
      const r = cli('operator', 'search-attribute', 'list', ...ns);
      if (r.ok) {
        existing = r.out;
        break;
      }
      if (i > 60) throw new Error(`namespace ${opts.namespace} did not become usable:\n${r.out}`);
      await sleep(500);
    }
    const created: string[] = [];
    for (const { name, type } of setupSearchAttributes()) {
      if (new RegExp(`\\b${name}\\b`).test(existing)) continue;
      must(
        `search-attribute create ${name}`,
        cli('operator', 'search-attribute', 'create', ...ns, '--name', name, '--type', type),
      );
      created.push(name);
    }
    log(`namespace ${opts.namespace} ready${created.length ? ` (registered ${created.join(', ')})` : ''}`);

    let uiUrl: string | undefined;
    let uiLog: string | undefined;
    let uiMissing: string | undefined;
    if (opts.uiPort === undefined) uiMissing = 'no UI port given';
    else if ('missing' in bin.ui) uiMissing = bin.ui.missing;
    else {
      const uiDir = join(dir, 'ui');
      mkdirSync(uiDir, { recursive: true });
      writeFileSync(
        join(uiDir, 'cluster.yaml'),
        uiConfig({ port: opts.uiPort, address, namespace: opts.namespace, codecEndpoint: opts.codecEndpoint }),
        { mode: 0o600 },
      );
      uiLog = join(dir, 'temporal-ui.log');
      const ui = startLogged(bin.ui.path, ['--root', dir, '--config', 'ui', '--env', 'cluster', 'start'], uiLog, dir);
      children.push(ui);
      uiUrl = `http://127.0.0.1:${opts.uiPort}`;
      for (let i = 0; ; i++) {
        if (ui.exitCode !== null) throw new Error(`temporal-ui-server exited (${ui.exitCode}):\n${tail(uiLog)}`);
        const ok = await fetch(`${uiUrl}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        if (i > 150) throw new Error(`temporal-ui-server did not answer /healthz in 30 s:\n${tail(uiLog)}`);
        await sleep(200);
      }
      log(`Web UI on ${uiUrl} (log ${uiLog})`);
    }
    return { address, uiUrl, uiMissing, serverLog, uiLog, version: bin.version, historyShards, startMs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
