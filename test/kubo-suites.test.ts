/**
 * The S3 behaviour suites that run on FsBlockstore (multipart, versioning, CAR, /ipfs sources) run
 * again with content on an IPFS node over the Kubo RPC API (js-ipfs 0.66.1): a child ava run with
 * S3IPFS_TEST_IPFS_API set, so test/helpers/blockstore.ts gives them a KuboBlockstore. The S3 API
 * suite itself runs on the node in s3-api-kubo.test.ts. One file at a time: the node is one
 * js-ipfs process, and this runs beside the rest of `npm test` on a 2-core machine.
 */
import { join } from 'node:path'
import test from 'ava'
import { REPO_ROOT, spawnChild } from './helpers/child.js'
import { jsIpfsProblem, startJsIpfs } from './helpers/js-ipfs.js'
import { whenServices } from './helpers/services.js'

const SUITES = ['test/multipart.test.ts', 'test/versioning.test.ts', 'test/car.test.ts', 'test/ipfs-source.test.ts']

whenServices('S3 suites on KuboBlockstore (js-ipfs)', jsIpfsProblem(), () => {
  test('multipart, versioning, CAR and /ipfs suites pass with content on the IPFS node', async t => {
    const daemon = await startJsIpfs(15040)
    t.teardown(async () => { await daemon.close() })
    const child = spawnChild(t, process.execPath, [join(REPO_ROOT, 'node_modules/ava/entrypoints/cli.mjs'), '--timeout', '5m', '--concurrency', '1', ...SUITES], {
      cwd: REPO_ROOT,
      env: { S3IPFS_TEST_IPFS_API: daemon.apiUrl },
      timeouts: { start: 60_000, exit: 15 * 60_000 },
    })
    const exit = await child.exited()
    const passed = /^\s*(\d+) tests? passed\s*$/m.exec(child.stdout() + child.stderr())
    t.log(passed?.[0]?.trim() ?? 'no summary')
    t.deepEqual(exit, { code: 0, signal: null }, child.output())
    t.true(Number(passed?.[1] ?? 0) >= 70, 'the suites ran (75 tests today)')
  })
})
