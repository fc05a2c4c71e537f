// Where the Temporal binaries are: an explicit path from the environment, otherwise what
// scripts/temporal-binaries.mjs provided and recorded in the tools folder.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const TOOLS_DIR = resolve(process.env.TEMPORAL_TOOLS_DIR ?? join(__dirname, '..', '..', '.tools'));

interface Manifest {
  cli: { path: string; source: string };
  testServer: { path: string; source: string };
}

function manifest(): Manifest {
  const file = join(TOOLS_DIR, 'temporal.json');
  if (!existsSync(file)) {
    throw new Error(
      `the Temporal binaries are not provided yet: run \`node scripts/temporal-binaries.mjs\` (${file} missing)`,
    );
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Manifest;
}

export function temporalCliPath(): string {
  return process.env.TEMPORAL_CLI_PATH || manifest().cli.path;
}

export function testServerPath(): string {
  return process.env.TEMPORAL_TEST_SERVER_PATH || manifest().testServer.path;
}
