import { readFileSync } from 'node:fs'
import { defineConfig } from 'tsup'

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as {
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    node: 'adapters/node.ts',
    express: 'adapters/express.ts',
    fastify: 'adapters/fastify.ts',
    testing: 'src/testing/index.ts',
    helia: 'src/helia/index.ts',
    cli: 'bin/cli.ts',
  },
  format: ['esm'],
  dts: true,
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  splitting: true,
  removeNodeProtocol: false,
  // Never bundle a dependency (nor their subpaths, e.g. ipfs-unixfs-importer/chunker).
  external: [
    'express',
    'fastify',
    'better-sqlite3',
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}),
  ].map((name) => new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(/.*)?$`)),
})
