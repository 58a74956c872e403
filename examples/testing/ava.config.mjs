// The ava example's config: `npx ava --config examples/testing/ava.config.mjs` from the repository root.
// In your own project this goes in package.json's "ava" key or ava.config.mjs (tsx: `npm install -D tsx`).
export default {
  files: ['examples/testing/*.ava.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false, // tsx's loader is registered per process
}
