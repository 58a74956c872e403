// The vitest example's config: `npx vitest run --config examples/testing/vitest.config.ts`.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  // An installed package needs no alias; in this repository the import means the source.
  resolve: { alias: { 's3-ipfs-gateway/testing': fileURLToPath(new URL('../../src/testing/index.ts', import.meta.url)) } },
  test: {
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['*.vitest.test.ts'],
  },
})
