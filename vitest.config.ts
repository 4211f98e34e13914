import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Every socket a test opens must stay on 127.0.0.0/8 or ::1 (see the file).
    setupFiles: ['test/helpers/loopback-guard.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file has its own database and Redis prefix, so files run in parallel safely.
    pool: 'forks',
    fileParallelism: true,
  },
});
