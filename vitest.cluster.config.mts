import { defineConfig } from 'vitest/config';

// `npm run test:cluster`: a real Temporal server on PostgreSQL, built from Go modules
// (test/cluster). Separate from `npm test`, where the files skip themselves: the first run builds
// the server (minutes). One file at a time, as in the main suite.
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    env: { LOAN_REMINDERS_CLUSTER_TEST: '1' },
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 30 * 60_000,
    pool: 'forks',
  },
});
