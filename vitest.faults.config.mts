import { defineConfig } from 'vitest/config';

// `npm run test:faults`: the fault suite (test/faults), separate from `npm test`. Each file runs
// real servers and processes of its own; one file at a time, as in the main suite.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/faults/global-setup.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 600_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
