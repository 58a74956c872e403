/**
 * S3 behaviour through boto3, the client many S3 users script with, in every boto3 this machine has:
 * the current one (pip) and Debian's (`python3-boto3`, 1.26: older botocore serializes, signs and
 * validates differently). The checks are in test/fixtures/boto3/s3_behaviour.py; each prints
 * "ok NAME" and the first failure exits non-zero with its traceback. `.ci/run` installs Debian's;
 * elsewhere a machine with no boto3 skips with the reason.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test from 'ava'
import { createGateway } from '../src/gateway.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import type { Gateway } from '../src/types.js'
import { blockstoreUnderTest } from './helpers/blockstore.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { credentials } from './helpers/s3.js'

const run = promisify(execFile)
const SCRIPT = join(import.meta.dirname, 'fixtures', 'boto3', 's3_behaviour.py')
const PYTHONS = ['python3', '/usr/bin/python3']

let dir: string
let gateway: Gateway
let host: RunningHost

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3ipfs-boto3-'))
  gateway = createGateway({ blockstore: blockstoreUnderTest(dir), metadata: new SqliteMetadataStore({ path: join(dir, 'meta.db') }) })
  host = await nodeHost.start(gateway, '')
})

test.after.always(async () => {
  await host?.close()
  await gateway?.close()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

/** The boto3 version a Python interpreter imports, or undefined when it has none. */
async function boto3Version (python: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(python, ['-c', 'import boto3, sys; print(boto3.__version__, sys.executable)'], { timeout: 30_000 })
    return stdout.trim()
  } catch {
    return undefined
  }
}

test('boto3 (each installed version): tagging, ownership, GetObjectAttributes, ListBuckets pages, expected owner, listings, metadata, ACLs', async t => {
  const found = new Map<string, string>()
  for (const python of PYTHONS) {
    const version = await boto3Version(python)
    // The same interpreter reached by two names runs once.
    if (version !== undefined && ![...found.values()].includes(version)) found.set(python, version)
  }
  if (found.size === 0) {
    if (process.env.CI === 'true') throw new Error('no Python with boto3; .ci/run installs python3-boto3')
    t.log('skipped: no Python here has boto3 (apt-get install python3-boto3)')
    t.pass()
    return
  }
  for (const [python, version] of found) {
    const { stdout } = await run(python, [SCRIPT], {
      env: { ...process.env, S3_ENDPOINT: host.url, S3_ACCESS_KEY: credentials.accessKeyId, S3_SECRET_KEY: credentials.secretAccessKey },
      timeout: 300_000,
    }).catch((err: { stdout?: string, stderr?: string }) => {
      throw new Error(`boto3 ${version}: ${err.stdout ?? ''}\n${err.stderr ?? ''}`)
    })
    t.log(`boto3 ${version}:\n${stdout.trim()}`)
    t.regex(stdout, /^done boto3 /m, version)
    t.regex(stdout, /^ok get object attributes$/m, version)
  }
})
