import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fault suite has its own command (`npm run test:faults`, vitest.faults.config.mts).
    exclude: ['test/faults/**', 'test/cluster/**', '**/node_modules/**'],
    // Each file starts its own Temporal server. One file at a time: the time-skipping server's
    // clock is sensitive to a loaded machine (an activity still unclaimed when it skips), and the
    // end-to-end files run whole stacks of their own.
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Servers, workers and native handles need real Node processes, not worker threads.
    pool: 'forks',
  },
});
