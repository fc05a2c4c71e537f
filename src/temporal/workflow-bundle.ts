// The workflow code as the worker runs it. From the sources (tsx: `npm start`, `npm run worker`,
// the tests) it is bundled at every start, so a change needs no build. `npm run build` bundles it
// once into dist/ (scripts/build-workflow-bundle.ts), and the built worker loads that file
// (`workflowBundle: { codePath }`, as Temporal's production sample does): no bundler at start-up,
// and the code that runs is the code that was built.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleOption, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../codec/encryption';
import { sdkLogger, type Logger } from '../log';

/** The loan workflows' entry point: src/workflows under tsx, dist/workflows once compiled. */
export const WORKFLOWS_PATH = join(__dirname, '..', 'workflows');

/** Where the built worker finds the bundle `npm run build` made: beside the compiled code. */
export const PREBUILT_BUNDLE_PATH = join(__dirname, '..', 'workflow-bundle.js');

/** Bundles the workflows now, with the failure converter the worker's data converter uses. */
export function bundleWorkflows(log: Logger): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    // Failures raised in workflow code are encoded (then encrypted) like the worker's own.
    failureConverterPath: FAILURE_CONVERTER_PATH,
    // The bundler's build report stays out of the logs.
    logger: sdkLogger(log.child({}, { level: 'warn' })),
  });
}

export interface BundleChoice {
  /** Running compiled JavaScript (dist/) rather than the TypeScript sources. */
  compiled: boolean;
  prebuiltPath: string;
}

/**
 * The bundle a worker runs: the compiled worker loads the prebuilt one (and refuses to start
 * without it, rather than bundle in production); the sources are bundled now.
 */
export async function workerWorkflowBundle(
  log: Logger,
  { compiled, prebuiltPath }: BundleChoice = {
    compiled: __filename.endsWith('.js'),
    prebuiltPath: PREBUILT_BUNDLE_PATH,
  },
): Promise<WorkflowBundleOption> {
  if (!compiled) return bundleWorkflows(log);
  if (!existsSync(prebuiltPath))
    throw new Error(`no workflow bundle at ${prebuiltPath}: \`npm run build\` makes it beside the compiled worker`);
  log.info({ codePath: prebuiltPath }, 'workflow bundle prebuilt by npm run build');
  return { codePath: prebuiltPath };
}
