/**
 * The "Testing your app" examples (examples/testing/): the same small app tested with ava, node:test
 * and vitest through `s3-ipfs-gateway/testing`, each suite run by its own runner as a user runs it.
 */
import { join } from 'node:path'
import test from 'ava'
import { REPO_ROOT, spawnChild } from './helpers/child.js'

const TIMEOUT = 90_000
const TESTS = 5 // in each suite

const SUITES = {
  // npx ava --config examples/testing/ava.config.mjs
  ava: { args: [join(REPO_ROOT, 'node_modules/ava/entrypoints/cli.mjs'), '--config', 'examples/testing/ava.config.mjs'], passed: /^\s*(\d+) tests? passed\s*$/m },
  // node --import tsx --test examples/testing/app.node-test.test.ts
  'node:test': { args: ['--import', 'tsx', '--test', '--test-reporter=tap', 'examples/testing/app.node-test.test.ts'], passed: /^# pass (\d+)$/m },
  // npx vitest run --config examples/testing/vitest.config.ts
  vitest: { args: [join(REPO_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'examples/testing/vitest.config.ts'], passed: /^\s*Tests\s+(\d+) passed \(\1\)\s*$/m },
} as const

for (const [runner, { args, passed }] of Object.entries(SUITES)) {
  test(`examples/testing: the ${runner} suite passes`, async (t) => {
    t.timeout(TIMEOUT + 10_000)
    const child = spawnChild(t, process.execPath, [...args], {
      cwd: REPO_ROOT,
      env: { NO_COLOR: '1' },
      dropEnv: /^(FORCE_COLOR$|NODE_TEST_CONTEXT$|VITEST)/,
      timeouts: { start: TIMEOUT, exit: TIMEOUT },
    })
    const exit = await child.exited()
    t.deepEqual(exit, { code: 0, signal: null }, child.output())
    t.is(child.stdout().match(passed)?.[1], String(TESTS), child.output())
  })
}
