import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Workspace packages are consumed from source in tests, so nothing needs building first.
export default defineConfig({
  resolve: {
    alias: {
      '@vireo/api': pkg('api'),
      '@vireo/agent-protocol': pkg('agent-protocol'),
      '@vireo/client': pkg('client'),
      '@vireo/pki': pkg('pki'),
      '@vireo/agent': pkg('agent'),
    },
  },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'test/**/*.test.ts',
      // The portal's component tests (each file picks jsdom with `// @vitest-environment jsdom`).
      'packages/web/src/**/*.test.tsx',
    ],
    exclude: ['**/node_modules/**', '**/dist/**'],
    // Two cores: QEMU (TCG) and PostgreSQL tests compete for CPU, so keep workers few.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    globalSetup: ['test/support/global-setup.ts'],
    // Per-worker agent port slices (see the file for the race it removes).
    setupFiles: ['test/support/worker-ports.ts'],
    reporters: ['default'],
  },
});
