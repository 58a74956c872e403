/**
 * pg, @keyv/redis (with keyv) and kubo-rpc-client are optional peer dependencies, loaded on first
 * use. Proven on a copy of the sources whose node_modules lacks them (every other package is a
 * symlink to ours), as in a project that installed s3-ipfs-gateway alone: the library still
 * imports, and each feature that needs one of them, in the library and in `serve`, fails with an
 * error naming the package to install. The same probe on this checkout, where they are installed,
 * reaches the (absent) servers instead.
 */
import { cp, mkdir, readdir, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { REPO_ROOT, spawnChild, tempDir } from './helpers/child.js'

const HIDDEN = ['pg', '@keyv/redis', 'keyv', 'kubo-rpc-client']
const PROBE = join(REPO_ROOT, 'test/fixtures/optional-peers/probe.mjs')
const TIMEOUTS = { start: 60_000, exit: 60_000 }

interface Outcome { ok?: true, code?: string, message?: string }
interface Report { entries: Record<string, number>, postgres: Outcome, kubo: Outcome, redis: Outcome }

/** A copy of the sources beside a node_modules of symlinks to ours, without the HIDDEN packages. */
async function withoutOptionalPeers (t: ExecutionContext): Promise<string> {
  const root = await tempDir(t, 's3ipfs-peers-')
  for (const dir of ['src', 'adapters', 'bin']) await cp(join(REPO_ROOT, dir), join(root, dir), { recursive: true })
  await cp(join(REPO_ROOT, 'package.json'), join(root, 'package.json'))
  const modules = join(REPO_ROOT, 'node_modules')
  await mkdir(join(root, 'node_modules'))
  for (const name of await readdir(modules)) {
    if (!name.startsWith('@')) {
      if (!HIDDEN.includes(name)) await symlink(join(modules, name), join(root, 'node_modules', name))
      continue
    }
    await mkdir(join(root, 'node_modules', name))
    for (const inner of await readdir(join(modules, name))) {
      if (!HIDDEN.includes(`${name}/${inner}`)) await symlink(join(modules, name, inner), join(root, 'node_modules', name, inner))
    }
  }
  return root
}

async function probe (t: ExecutionContext, root: string): Promise<Report> {
  const child = spawnChild(t, process.execPath, ['--import', 'tsx', PROBE, root], { cwd: root, dropEnv: /^S3IPFS_/, timeouts: TIMEOUTS })
  const exit = await child.exited()
  t.is(exit.code, 0, child.output())
  return JSON.parse(child.stdout()) as Report
}

test('without the optional peers the library imports, and each feature names the package to install', async (t) => {
  const root = await withoutOptionalPeers(t)
  const report = await probe(t, root)
  for (const [path, count] of Object.entries(report.entries)) t.true(count > 0, `${path} exports values`)
  for (const [feature, name, what] of [['postgres', 'pg', 'The PostgreSQL metadata store'], ['kubo', 'kubo-rpc-client', 'The Kubo blockstore'], ['redis', '@keyv/redis', 'The Redis block cache']] as const) {
    t.is(report[feature].code, 'ERR_OPTIONAL_PEER_MISSING', JSON.stringify(report[feature]))
    t.true(report[feature].message?.startsWith(what), report[feature].message)
    t.true(report[feature].message?.endsWith(`needs the optional peer dependency ${name}, which is not installed: npm install ${name}`), report[feature].message)
  }
})

test('with the optional peers installed, the same calls reach for their servers', async (t) => {
  const report = await probe(t, REPO_ROOT)
  t.is(report.postgres.code, 'ECONNREFUSED')
  t.is(report.kubo.code, 'ERR_IPFS_UNAVAILABLE')
  // A Redis cache that cannot connect is made anyway (reads go around it).
  t.deepEqual(report.redis, { ok: true })
})

for (const [flag, value, name] of [
  ['--metadata', 'postgres://postgres@127.0.0.1:5432/test', 'pg'],
  ['--ipfs-api', 'http://127.0.0.1:5001', 'kubo-rpc-client'],
  ['--redis', 'redis://127.0.0.1:6379', '@keyv/redis'],
]) {
  test(`serve ${flag} without ${name} stops at start, naming it`, async (t) => {
    const root = await withoutOptionalPeers(t)
    const dataDir = await tempDir(t, 's3ipfs-peers-data-')
    const child = spawnChild(t, process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'serve', '--port', '0', '--data-dir', dataDir, flag, value], {
      cwd: root,
      dropEnv: /^S3IPFS_/,
      timeouts: TIMEOUTS,
    })
    const exit = await child.exited()
    t.is(exit.code, 1, child.output())
    t.regex(child.stderr(), new RegExp(`needs the optional peer dependency ${name}, which is not installed: npm install ${name}\\n$`))
    t.notRegex(child.stderr(), /\n\s+at /, 'a message, not a stack trace')
    t.notRegex(child.stdout(), /listening on/)
  })
}
