import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { REPO_ROOT, spawnChild, tempDir } from './helpers/child.js'
import type { Child } from './helpers/child.js'
import { s3Client, s3Error } from './helpers/s3.js'

/** The examples, relative to the repository root (the child's working directory, where tsconfig.json is). */
const EXAMPLES = {
  express: 'examples/express.ts',
  fastify: 'examples/fastify.ts',
  'node-http': 'examples/node-http.ts',
} as const

const START_TIMEOUT = 60_000
const EXIT_TIMEOUT = 15_000
// `ipfs add --cid-version 1 --raw-leaves` of "hello world" (no newline)
const HELLO = 'hello world'
const HELLO_CID = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'

/** Runs `node --import tsx <file>` without inherited S3IPFS_*, S3_*, PORT or DATA_DIR; killed in the test's teardown whatever happens. */
function run (t: ExecutionContext, file: string, env: Record<string, string>): Child {
  return spawnChild(t, process.execPath, ['--import', 'tsx', file], {
    cwd: REPO_ROOT,
    env,
    dropEnv: /^(S3IPFS_|S3_|PORT$|DATA_DIR$)/,
    timeouts: { start: START_TIMEOUT, exit: EXIT_TIMEOUT },
  })
}

/** Starts an example and returns its endpoint, as printed. */
async function start (t: ExecutionContext, file: string, env: Record<string, string> = {}): Promise<{ child: Child, endpoint: string, dataDir: string }> {
  const dataDir = await tempDir(t, 's3ipfs-example-')
  const child = run(t, file, { PORT: '0', DATA_DIR: dataDir, ...env })
  const [, endpoint] = await child.waitFor('stdout', /^listening on (http:\/\/127\.0\.0\.1:(\d+)\/s3)$/m)
  t.not(endpoint, 'http://127.0.0.1:0/s3', 'prints the port it got, not PORT=0')
  return { child, endpoint, dataDir }
}

async function stop (t: ExecutionContext, child: Child): Promise<void> {
  child.proc.kill('SIGTERM')
  const exit = await child.exited()
  t.deepEqual(exit, { code: 0, signal: null }, child.output())
}

for (const [name, file] of Object.entries(EXAMPLES)) {
  test(`${name} example: S3 round trip through the real SDK, then a clean exit on SIGTERM`, async (t) => {
    t.timeout(START_TIMEOUT + EXIT_TIMEOUT + 30_000)
    const { child, endpoint, dataDir } = await start(t, file)
    const s3 = s3Client(endpoint)
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'photos' }))
      await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'dir/hello.txt', Body: HELLO, ContentType: 'text/plain' }))
      const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'dir/hello.txt' }))
      t.is(await got.Body?.transformToString(), HELLO)
      t.is(got.ContentType, 'text/plain')
      t.is(got.Metadata?.cid, HELLO_CID)
      const list = await s3.send(new ListObjectsV2Command({ Bucket: 'photos' }))
      t.deepEqual(list.Contents?.map(o => [o.Key, o.Size]), [['dir/hello.txt', HELLO.length]])

      // the host keeps its own routes outside /s3
      const home = await fetch(endpoint.replace(/\/s3$/, '/'))
      t.is(home.status, 200)
      t.is(await home.text(), 'S3 API at /s3\n')

      // and serves the admin endpoints under /-/
      const origin = endpoint.replace(/\/s3$/, '')
      const ready = await fetch(`${origin}/-/ready`)
      t.is(ready.status, 200)
      t.like(await ready.json(), { status: 'ready' })
      const metrics = await (await fetch(`${origin}/-/metrics`)).text()
      t.regex(metrics, /^s3ipfs_requests_total\{operation="PutObject",code="200"\} 1$/m)
    } finally {
      s3.destroy()
    }
    t.true(existsSync(join(dataDir, 'meta.db')), 'metadata lives in DATA_DIR')
    t.true(existsSync(join(dataDir, 'blocks')), 'blocks live in DATA_DIR')
    await stop(t, child)
  })
}

test('examples take their key pair from S3_ACCESS_KEY / S3_SECRET_KEY', async (t) => {
  t.timeout(START_TIMEOUT + EXIT_TIMEOUT + 30_000)
  const { child, endpoint } = await start(t, EXAMPLES['node-http'], { S3_ACCESS_KEY: 'EXAMPLEENVKEY', S3_SECRET_KEY: 'example-env-secret' })
  const own = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'EXAMPLEENVKEY', secretAccessKey: 'example-env-secret' },
    maxAttempts: 1,
  })
  const fallback = s3Client(endpoint)
  try {
    await own.send(new CreateBucketCommand({ Bucket: 'env-keys' }))
    t.like(await s3Error(fallback.send(new ListObjectsV2Command({ Bucket: 'env-keys' }))), { code: 'InvalidAccessKeyId', status: 403 })
  } finally {
    own.destroy()
    fallback.destroy()
  }
  await stop(t, child)
})
