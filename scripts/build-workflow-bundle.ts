// `npm run build` step 3: the workflow code bundled once, as a worker bundles it from the sources
// at start, into dist/workflow-bundle.js beside the compiled worker, which loads it from there (see
// src/temporal/workflow-bundle.ts). `tsx scripts/build-workflow-bundle.ts <file>` writes elsewhere.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createLogger } from '../src/log';
import { bundleWorkflows } from '../src/temporal/workflow-bundle';

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? join(__dirname, '..', 'dist', 'workflow-bundle.js'));
  const { code } = await bundleWorkflows(createLogger('warn', 'build'));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, code);
  console.log(`workflow bundle: ${out} (${Math.round(Buffer.byteLength(code) / 1024)} kB)`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
