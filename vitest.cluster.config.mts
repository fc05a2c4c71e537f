import { defineConfig } from 'vitest/config';

// `npm run test:cluster`: a real Temporal server on PostgreSQL, built from Go modules
// (test/cluster), and the several-machines fault test on it. Separate from `npm test` and
// `.ci/run`: the first run builds the server (about 12 minutes on 2 cores). One file at a time.
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts', 'test/faults/machines.test.ts'],
    env: { FAULTS_TEMPORAL: 'cluster' },
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 1_800_000,
    hookTimeout: 30 * 60_000,
    pool: 'forks',
  },
});
