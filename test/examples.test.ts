import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { s3Client, s3Error } from './helpers/s3.js'

/** The examples, relative to the repository root (the child's working directory, where tsconfig.json is). */
const EXAMPLES = {
  express: 'examples/express.ts',
  fastify: 'examples/fastify.ts',
  'node-http': 'examples/node-http.ts',
} as const

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const START_TIMEOUT = 60_000
const EXIT_TIMEOUT = 15_000
// `ipfs add --cid-version 1 --raw-leaves` of "hello world" (no newline)
const HELLO = 'hello world'
const HELLO_CID = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'

interface Exit { code: number | null, signal: NodeJS.Signals | null }

interface Child {
  proc: ChildProcess
  output(): string
  /** Resolves with the first match of `re` in stdout; rejects when the child exits first or after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>
  /** Resolves when the child has exited and its stdio closed; rejects after `ms`. */
  exited(ms?: number): Promise<Exit>
}

const children = new Set<ChildProcess>()

function kill (proc: ChildProcess): void {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
}

test.after.always(() => { for (const proc of children) kill(proc) })

/** Runs `node --import tsx <file>`, killed in the test's teardown whatever happens. */
function run (t: ExecutionContext, file: string, env: Record<string, string>): Child {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(S3IPFS_|S3_|PORT$|DATA_DIR$)/.test(k)))
  const proc = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(proc)
  t.teardown(() => { kill(proc); children.delete(proc) })

  let stdout = ''
  let stderr = ''
  const listeners = new Set<() => void>()
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout += s; for (const l of listeners) l() })
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const closed = new Promise<Exit>((resolve) => { proc.once('close', (code, signal) => { resolve({ code, signal }) }) })
  const output = (): string => `stdout:\n${stdout}\nstderr:\n${stderr}`

  return {
    proc,
    output,
    waitFor: async (re, ms = START_TIMEOUT) => await new Promise((resolve, reject) => {
      const check = (): void => {
        const m = stdout.match(re)
        if (m !== null) { done(); resolve(m) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`no ${re} within ${ms} ms\n${output()}`)) }, ms)
      const onExit = (): void => { done(); reject(new Error(`exited before printing ${re}\n${output()}`)) }
      const done = (): void => { clearTimeout(timer); listeners.delete(check); proc.off('close', onExit) }
      listeners.add(check)
      proc.once('close', onExit)
      check()
    }),
    exited: async (ms = EXIT_TIMEOUT) => {
      let timer: NodeJS.Timeout | undefined
      try {
        return await Promise.race([
          closed,
          new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`still running ${ms} ms later\n${output()}`)) }, ms) }),
        ])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-example-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Starts an example and returns its endpoint, as printed. */
async function start (t: ExecutionContext, file: string, env: Record<string, string> = {}): Promise<{ child: Child, endpoint: string, dataDir: string }> {
  const dataDir = await tempDir(t)
  const child = run(t, file, { PORT: '0', DATA_DIR: dataDir, ...env })
  const [, endpoint] = await child.waitFor(/^listening on (http:\/\/127\.0\.0\.1:(\d+)\/s3)$/m)
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
