import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Dawn holds one Vulkan instance per process and lavapipe uses every core, so
// GPU suites run one file at a time in forked processes (threads would share
// dawn.node's global state).
export default defineConfig({
  // Tests import src/; package.json "imports" would send #platform to dist/.
  resolve: { alias: { '#platform': fileURLToPath(new URL('./src/platform/node.ts', import.meta.url)) } },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['test/helpers/setup.ts'],
  },
});
