import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // PostgreSQL checked once before any file runs: one line of advice instead of every test failing.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // PGlite instances are memory-hungry and PostgreSQL has 100 connections: keep files few at once.
    maxWorkers: 2,
  },
});
