#!/usr/bin/env node
// Builds the Temporal server that docker-compose.yml runs (temporalio/server), its schema tool
// (temporalio/admin-tools' temporal-sql-tool) and, where it can, the Web UI server
// (temporalio/ui), from Go modules with the installed Go toolchain: no Docker, no download other
// than the Go module proxy. The versions are those docker-compose.yml pins.
//
//   node scripts/temporal-server.mjs [--quiet] [--no-ui | --ui-only]   (npm run temporal:server)
//
// Into .tools/temporal-server-<version>/:
//   temporal-server       go.temporal.io/server/cmd/server
//   temporal-sql-tool     go.temporal.io/server/cmd/tools/sql
//   schema/postgresql/v12 the module's PostgreSQL schema, as admin-tools has it in /etc/temporal/schema
// and into .tools/temporal-ui-<version>/temporal-ui-server (github.com/temporalio/ui-server/v2/cmd/server)
// with config/docker.yaml, the module's config template that the temporalio/ui image runs with
// (`ui-server --env docker start`, every setting from a TEMPORAL_* variable).
//
// `go install pkg@version` refuses go.temporal.io/server (its go.mod has replace directives), so
// each is built in a throwaway module under .tools/build-<name>-<version>/ that requires it.
// Skips what is already built. Prints the time taken and the sizes of downloads and binaries.
//
// The Web UI: github.com/temporalio/ui-server/v2 is the Go server of github.com/temporalio/ui and
// its module, as the proxy serves it, carries the built UI (ui/assets/local, embedded with
// go:embed; the same build the Temporal CLI's dev server embeds). When the compose file's UI
// version is not on the proxy, the nearest lower version that is gets built instead (printed).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TOOLS = resolve(process.env.TEMPORAL_TOOLS_DIR ?? join(ROOT, '.tools'));
const SERVER_MODULE = 'go.temporal.io/server';
const UI_MODULE = 'github.com/temporalio/ui-server/v2';

let quiet = false;
const say = (msg) => {
  if (!quiet) process.stderr.write(`[temporal-server] ${msg}\n`);
};

/** The versions docker-compose.yml pins (the defaults of its image tags). */
export function composeVersions(file = join(ROOT, 'docker-compose.yml')) {
  const text = readFileSync(file, 'utf8');
  const pinned = (image, variable) => {
    const re = new RegExp(`image:\\s*${image.replace('/', '\\/')}:\\$\\{${variable}:-([\\w.-]+)\\}`);
    const m = re.exec(text);
    if (!m) throw new Error(`${file}: no image ${image}:\${${variable}:-<version>}`);
    return m[1];
  };
  return {
    server: pinned('temporalio/server', 'TEMPORAL_VERSION'),
    ui: pinned('temporalio/ui', 'TEMPORAL_UI_VERSION'),
  };
}

/** Where the binaries of a server version are (whether or not they are built yet). */
export function serverPaths(version = composeVersions().server) {
  const dir = join(TOOLS, `temporal-server-${version}`);
  return {
    dir,
    server: join(dir, 'temporal-server'),
    sqlTool: join(dir, 'temporal-sql-tool'),
    schema: join(dir, 'schema', 'postgresql', 'v12'),
  };
}

/** The UI server's binary, or why there is none (written by the build). */
export function uiPaths(version = composeVersions().ui) {
  const dir = join(TOOLS, `temporal-ui-${version}`);
  return {
    dir,
    server: join(dir, 'temporal-ui-server'),
    /** The image's config template: run the server with `--root <dir> --env docker start`. */
    dockerConfig: join(dir, 'config', 'docker.yaml'),
    missing: join(dir, 'NOT-BUILT.txt'),
  };
}

function isFile(p) {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function duBytes(p) {
  if (!existsSync(p)) return 0;
  const r = spawnSync('du', ['-sb', p], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.split(/\s/)[0]) : 0;
}

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const secs = (ms) => `${(ms / 1000).toFixed(0)} s`;

function go(args, cwd, opts = {}) {
  const r = spawnSync('go', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', quiet || opts.capture ? 'pipe' : 'inherit', 'pipe'],
    env: { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ''} -buildvcs=false`.trim(), CGO_ENABLED: '0' },
    timeout: 60 * 60_000,
  });
  if (r.error) throw new Error(`go ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = (r.stderr ?? '').trim().split('\n').slice(-15).join('\n');
    const err = new Error(`go ${args.join(' ')} (in ${cwd}) failed with exit ${r.status}:\n${tail}`);
    err.stderr = r.stderr;
    throw err;
  }
  if (!quiet && r.stderr?.trim()) process.stderr.write(r.stderr);
  return (r.stdout ?? '').trim();
}

function goEnv(name) {
  return go(['env', name], ROOT, { capture: true });
}

/** A fresh, empty module under .tools to `go get` into. */
function buildModule(name, version) {
  const dir = join(TOOLS, `build-${name}-${version}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  go(['mod', 'init', `loan-reminders.local/build-${name}`], dir, { capture: true });
  return dir;
}

function buildServer(version) {
  const out = serverPaths(version);
  if (isFile(out.server) && isFile(out.sqlTool) && existsSync(out.schema)) {
    say(`Temporal server ${version}: already built in ${out.dir}`);
    return out;
  }
  const dir = buildModule('temporal-server', version);
  const modCache = goEnv('GOMODCACHE');
  const before = duBytes(modCache);
  const started = Date.now();
  say(`go get ${SERVER_MODULE}@v${version} (in ${dir})`);
  // The packages, not only the module, so go.sum has every dependency they build from.
  go(['get', `${SERVER_MODULE}/cmd/server@v${version}`, `${SERVER_MODULE}/cmd/tools/sql@v${version}`], dir);
  const downloaded = Date.now();
  say(`downloaded in ${secs(downloaded - started)}; module cache grew by ${mb(duBytes(modCache) - before)}`);
  mkdirSync(out.dir, { recursive: true });
  say('go build -p 2 temporal-server');
  go(['build', '-p', '2', '-trimpath', '-ldflags=-s -w', '-o', out.server, `${SERVER_MODULE}/cmd/server`], dir);
  say('go build -p 2 temporal-sql-tool');
  go(['build', '-p', '2', '-trimpath', '-ldflags=-s -w', '-o', out.sqlTool, `${SERVER_MODULE}/cmd/tools/sql`], dir);
  const moduleDir = go(['list', '-m', '-f', '{{.Dir}}', SERVER_MODULE], dir, { capture: true });
  rmSync(join(out.dir, 'schema'), { recursive: true, force: true });
  cpSync(join(moduleDir, 'schema', 'postgresql', 'v12'), out.schema, { recursive: true });
  const built = Date.now();
  say(
    `Temporal server ${version} built in ${secs(built - started)} (download ${secs(downloaded - started)}, ` +
      `compile ${secs(built - downloaded)}): temporal-server ${mb(statSync(out.server).size)}, ` +
      `temporal-sql-tool ${mb(statSync(out.sqlTool).size)}; Go build cache now ${mb(duBytes(goEnv('GOCACHE')))}`,
  );
  writeFileSync(
    join(out.dir, 'build.json'),
    JSON.stringify(
      {
        module: `${SERVER_MODULE}@v${version}`,
        go: go(['version'], ROOT, { capture: true }),
        seconds: { download: (downloaded - started) / 1000, compile: (built - downloaded) / 1000 },
        builtAt: new Date(built).toISOString(),
      },
      null,
      2,
    ) + '\n',
  );
  rmSync(dir, { recursive: true, force: true });
  return out;
}

/** The compose file's UI version if the proxy serves it, else the nearest lower one it serves. */
function servedUiVersion(wanted, dir) {
  const listed = go(['list', '-m', '-versions', UI_MODULE], dir, { capture: true }).split(/\s+/).slice(1);
  if (listed.includes(`v${wanted}`)) return wanted;
  const key = (v) => v.replace(/^v/, '').split(/[.-]/).slice(0, 3).map(Number);
  const cmp = (a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
    return 0;
  };
  const lower = listed.filter((v) => !v.includes('-') && cmp(v, `v${wanted}`) < 0).sort(cmp);
  if (!lower.length) throw new Error(`the Go module proxy serves no ${UI_MODULE} at or below v${wanted}`);
  return lower[lower.length - 1].replace(/^v/, '');
}

function buildUi(version) {
  const out = uiPaths(version);
  if (isFile(out.server) && isFile(out.dockerConfig)) {
    say(`Temporal UI server ${version}: already built in ${out.dir}`);
    return out;
  }
  mkdirSync(out.dir, { recursive: true });
  const started = Date.now();
  const dir = buildModule('temporal-ui', version);
  try {
    const served = servedUiVersion(version, dir);
    if (served !== version) say(`${UI_MODULE}: v${version} is not on the proxy; building v${served}`);
    say(`go get ${UI_MODULE}/cmd/server@v${served}`);
    go(['get', `${UI_MODULE}/cmd/server@v${served}`], dir);
    const moduleDir = go(['list', '-m', '-f', '{{.Dir}}', UI_MODULE], dir, { capture: true });
    const assets = join(moduleDir, 'ui', 'assets');
    const files = existsSync(assets) ? readdirSync(assets, { recursive: true }).length : 0;
    if (files < 10) throw new Error(`${UI_MODULE}@v${served} carries no built UI in ui/assets (${files} files)`);
    say(`the module carries the built UI: ${files} files, ${mb(duBytes(assets))} in ui/assets`);
    go(['build', '-p', '2', '-trimpath', '-ldflags=-s -w', '-o', out.server, `${UI_MODULE}/cmd/server`], dir);
    mkdirSync(dirname(out.dockerConfig), { recursive: true });
    cpSync(join(moduleDir, 'config', 'docker.yaml'), out.dockerConfig);
    rmSync(out.missing, { force: true });
    writeFileSync(join(out.dir, 'build.json'), JSON.stringify({ module: `${UI_MODULE}@v${served}` }, null, 2) + '\n');
    say(`Temporal UI server ${served} built in ${secs(Date.now() - started)}: ${mb(statSync(out.server).size)}`);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    writeFileSync(out.missing, `${why}\n`);
    say(`Temporal UI server not built: ${why}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export function build({ ui = true, server: withServer = true } = {}) {
  const version = go(['version'], ROOT, { capture: true });
  say(`${version}; GOFLAGS=${goEnv('GOFLAGS') || '(none)'}`);
  const versions = composeVersions();
  const started = Date.now();
  const server = withServer ? buildServer(versions.server) : undefined;
  const uiOut = ui ? buildUi(versions.ui) : undefined;
  say(`done in ${secs(Date.now() - started)}`);
  return { versions, server, ui: uiOut };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  quiet = process.argv.includes('--quiet');
  try {
    // --ui-only: the Web UI server alone (test/deploy/temporal-ui-readonly.test.ts needs no more).
    build({ ui: !process.argv.includes('--no-ui'), server: !process.argv.includes('--ui-only') });
  } catch (err) {
    process.stderr.write(`[temporal-server] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
