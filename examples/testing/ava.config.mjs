// The ava example's config: `npx ava --config examples/testing/ava.config.mjs` from the repository root.
// In your own project this goes in package.json's "ava" key or ava.config.mjs (tsx: `npm install -D tsx`).
export default {
  files: ['examples/testing/*.ava.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false, // tsx's loader is registered per process
  timeout: '60s', // ava's default (10 s without progress) is short for a loaded CI machine compiling TypeScript on the fly
}
