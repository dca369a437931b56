import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'passes/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // Two test files at a time even on a 2-core machine (vitest's default there is one): most of the
    // suite's long files wait on child processes (g++, Verilator, yosys) or on onnxruntime sessions,
    // so a second worker shortens the run without any test asserting a time.
    maxWorkers: 2,
  },
});
