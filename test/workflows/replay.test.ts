// Loans started by earlier releases must keep running on the current code: their recorded
// histories replay without a non-determinism error.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../helpers/temporal';

const DIR = join(__dirname, '..', 'fixtures', 'histories');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

describe('replay of recorded histories', () => {
  it('has at least one recorded lifecycle', () => {
    expect(files).toContain('loan-lifecycle-v1.json');
  });

  it.each(files)('%s replays on the current workflow code', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(join(DIR, file), 'utf8')));
    expect(history.events?.length).toBeGreaterThan(50);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  });

  it('catches an incompatible change: the same history fails against a workflow that sends differently', async () => {
    const history = historyFromJSON(JSON.parse(readFileSync(join(DIR, 'loan-lifecycle-v1.json'), 'utf8')));
    const { bundleWorkflowCode } = await import('@temporalio/worker');
    const broken = await bundleWorkflowCode({
      workflowsPath: join(__dirname, '..', 'fixtures', 'incompatible-workflow.ts'),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    });
    await expect(Worker.runReplayHistory({ workflowBundle: broken }, history)).rejects.toThrow(
      /[Nn]ondeterminism|DeterminismViolation/,
    );
  });
});
