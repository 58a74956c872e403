import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { deterministicBytes, md5Hex, s3Error } from './helpers/s3.js'

/** The CLI entry point, relative to the repository root (the child's working directory). */
const CLI = 'bin/cli.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const START_TIMEOUT = 60_000
const EXIT_TIMEOUT = 20_000
const HELLO = 'hello world'
// `ipfs add --cid-version 1 --raw-leaves` / `ipfs add --cid-version 0` of "hello world" (no newline)
const HELLO_CID_V1 = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'
const HELLO_CID_V0 = 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD'

interface Exit { code: number | null, signal: NodeJS.Signals | null }

interface Child {
  proc: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves with the first match of `re` in the stream; rejects when the child exits first or after `ms`. */
  waitFor(stream: 'stdout' | 'stderr', re: RegExp, ms?: number): Promise<RegExpMatchArray>
  /** Resolves when the child has exited and its stdio closed; rejects after `ms`. */
  exited(ms?: number): Promise<Exit>
}

const children = new Set<ChildProcess>()

function kill (proc: ChildProcess): void {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
}

test.after.always(() => { for (const proc of children) kill(proc) })

/** Runs `node --import tsx CLI ...args` without any inherited S3IPFS_* setting; killed in teardown whatever happens. */
function cli (t: ExecutionContext, args: string[], env: Record<string, string> = {}): Child {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('S3IPFS_')))
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(proc)
  t.teardown(() => { kill(proc); children.delete(proc) })

  const text = { stdout: '', stderr: '' }
  const listeners = new Set<() => void>()
  for (const stream of ['stdout', 'stderr'] as const) {
    proc[stream]?.setEncoding('utf8').on('data', (s: string) => { text[stream] += s; for (const l of listeners) l() })
  }
  const closed = new Promise<Exit>((resolve) => { proc.once('close', (code, signal) => { resolve({ code, signal }) }) })
  const output = (): string => `stdout:\n${text.stdout}\nstderr:\n${text.stderr}`

  return {
    proc,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    waitFor: async (stream, re, ms = START_TIMEOUT) => await new Promise((resolve, reject) => {
      const check = (): void => {
        const m = text[stream].match(re)
        if (m !== null) { done(); resolve(m) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`no ${re} on ${stream} within ${ms} ms\n${output()}`)) }, ms)
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
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-cli-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

interface Served {
  child: Child
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
}

/** `serve --port 0` on `dataDir`; resolves once the whole banner is out. */
async function serve (t: ExecutionContext, dataDir: string, args: string[] = [], env: Record<string, string> = {}): Promise<Served> {
  const child = cli(t, ['serve', '--port', '0', '--data-dir', dataDir, ...args], env)
  await child.waitFor('stdout', /aws --endpoint-url \S+/)
  const out = child.stdout()
  const endpoint = out.match(/listening on (http:\/\/127\.0\.0\.1:(\d+))\s*$/m)
  const accessKeyId = out.match(/access key:\s+(\S+)/)
  const secretAccessKey = out.match(/secret key:\s+(\S+)/)
  if (endpoint === null || accessKeyId === null || secretAccessKey === null) throw new Error(`unexpected banner:\n${out}`)
  t.not(endpoint[2], '0', 'prints the port it got, not the 0 it was asked for')
  t.regex(out, new RegExp(`aws --endpoint-url ${escape(endpoint[1])}( |$)`, 'm'))
  t.regex(out, new RegExp(`AWS_ACCESS_KEY_ID=${escape(accessKeyId[1])} AWS_SECRET_ACCESS_KEY=${escape(secretAccessKey[1])} `))
  return { child, endpoint: endpoint[1], accessKeyId: accessKeyId[1], secretAccessKey: secretAccessKey[1] }
}

async function stop (t: ExecutionContext, child: Child): Promise<void> {
  child.proc.kill('SIGTERM')
  const exit = await child.exited()
  t.deepEqual(exit, { code: 0, signal: null }, `${child.stdout()}\n${child.stderr()}`)
}

function client (t: ExecutionContext, endpoint: string, credentials: { accessKeyId: string, secretAccessKey: string }): S3Client {
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1 })
  t.teardown(() => { s3.destroy() })
  return s3
}

function escape (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

test('serve generates a key pair once, keeps it in credentials.json (0600) and keeps data across restarts', async (t) => {
  t.timeout(2 * (START_TIMEOUT + EXIT_TIMEOUT) + 30_000)
  const dataDir = await tempDir(t)

  const first = await serve(t, dataDir)
  t.regex(first.accessKeyId, /^[A-Z0-9]{16,}$/)
  t.true(first.secretAccessKey.length >= 30)
  const file = join(dataDir, 'credentials.json')
  t.is((await stat(file)).mode & 0o777, 0o600)
  t.like(JSON.parse(await readFile(file, 'utf8')), { accessKeyId: first.accessKeyId, secretAccessKey: first.secretAccessKey })

  const s3 = client(t, first.endpoint, first)
  await s3.send(new CreateBucketCommand({ Bucket: 'keep' }))
  await s3.send(new PutObjectCommand({ Bucket: 'keep', Key: 'hello.txt', Body: HELLO }))
  const got = await s3.send(new GetObjectCommand({ Bucket: 'keep', Key: 'hello.txt' }))
  t.is(await got.Body?.transformToString(), HELLO)
  t.is(got.Metadata?.cid, HELLO_CID_V1)
  s3.destroy()
  await stop(t, first.child)

  const second = await serve(t, dataDir)
  t.is(second.accessKeyId, first.accessKeyId)
  t.is(second.secretAccessKey, first.secretAccessKey)
  const again = client(t, second.endpoint, second)
  const kept = await again.send(new GetObjectCommand({ Bucket: 'keep', Key: 'hello.txt' }))
  t.is(await kept.Body?.transformToString(), HELLO)
  t.is(kept.Metadata?.cid, HELLO_CID_V1)
  again.destroy()
  await stop(t, second.child)
})

test('S3IPFS_ACCESS_KEY / S3IPFS_SECRET_KEY override the saved key pair', async (t) => {
  t.timeout(START_TIMEOUT + EXIT_TIMEOUT + 30_000)
  const dataDir = await tempDir(t)
  const saved = { accessKeyId: 'S3IPFSSAVEDKEY000000', secretAccessKey: 'saved-secret-saved-secret-saved-secret00' }
  await writeFile(join(dataDir, 'credentials.json'), JSON.stringify(saved), { mode: 0o600 })

  const env = { accessKeyId: 'ENVKEY00000000000000', secretAccessKey: 'env-secret' }
  const served = await serve(t, dataDir, [], { S3IPFS_ACCESS_KEY: env.accessKeyId, S3IPFS_SECRET_KEY: env.secretAccessKey })
  t.is(served.accessKeyId, env.accessKeyId)
  t.is(served.secretAccessKey, env.secretAccessKey)
  await client(t, served.endpoint, env).send(new ListBucketsCommand({}))
  t.like(await s3Error(client(t, served.endpoint, saved).send(new ListBucketsCommand({}))), { code: 'InvalidAccessKeyId', status: 403 })
  await stop(t, served.child)
})

test('--cid-profile unixfs-v0-2015 gives the CIDv0 of `ipfs add --cid-version 0`', async (t) => {
  t.timeout(START_TIMEOUT + EXIT_TIMEOUT + 30_000)
  const served = await serve(t, await tempDir(t), ['--cid-profile', 'unixfs-v0-2015'])
  const s3 = client(t, served.endpoint, served)
  await s3.send(new CreateBucketCommand({ Bucket: 'legacy' }))
  await s3.send(new PutObjectCommand({ Bucket: 'legacy', Key: 'hello', Body: HELLO }))
  t.is((await s3.send(new HeadObjectCommand({ Bucket: 'legacy', Key: 'hello' }))).Metadata?.cid, HELLO_CID_V0)
  s3.destroy()
  await stop(t, served.child)
})

test('--help prints the usage and exits 0', async (t) => {
  const child = cli(t, ['serve', '--help'])
  t.deepEqual(await child.exited(START_TIMEOUT), { code: 0, signal: null })
  t.regex(child.stdout(), /^Usage: s3-ipfs-gateway serve/)
  t.regex(child.stdout(), /--cid-profile/)
})

test('an unknown flag exits non-zero with a message and does not start', async (t) => {
  const child = cli(t, ['serve', '--no-such-flag', '--port', '0', '--data-dir', await tempDir(t)])
  const exit = await child.exited(START_TIMEOUT)
  t.not(exit.code, 0)
  t.not(exit.code, null)
  t.regex(child.stderr(), /no-such-flag/)
  t.notRegex(child.stdout(), /listening on/)
})

test('SIGTERM during a large upload lets it finish, then exits 0; the object is whole after a restart', async (t) => {
  t.timeout(2 * (START_TIMEOUT + EXIT_TIMEOUT) + 60_000)
  const dataDir = await tempDir(t)
  const served = await serve(t, dataDir)
  const s3 = client(t, served.endpoint, served)
  await s3.send(new CreateBucketCommand({ Bucket: 'big' }))

  const MiB = 1024 * 1024
  const data = deterministicBytes('cli-sigterm', 48 * MiB)
  // The body stalls after 16 MiB until the server has taken the signal. That much cannot sit in
  // socket buffers, so by then the server is reading the request.
  let reachedHalf!: () => void
  const halfway = new Promise<void>((resolve) => { reachedHalf = resolve })
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  t.teardown(() => { release() })
  async function * body (): AsyncGenerator<Buffer> {
    for (let offset = 0; offset < data.length; offset += MiB) {
      if (offset === 16 * MiB) { reachedHalf(); await released }
      yield data.subarray(offset, offset + MiB)
    }
  }
  const upload = s3.send(new PutObjectCommand({ Bucket: 'big', Key: 'object.bin', Body: Readable.from(body()), ContentLength: data.length }))
  upload.catch(() => {}) // awaited below; keeps an early rejection from being unhandled

  await Promise.race([halfway, upload.then(() => { throw new Error('upload finished before it was paused') })])
  served.child.proc.kill('SIGTERM')
  await served.child.waitFor('stderr', /SIGTERM/)
  release()

  const put = await upload
  t.is(put.ETag, `"${md5Hex(data)}"`)
  s3.destroy()
  t.deepEqual(await served.child.exited(), { code: 0, signal: null }, `${served.child.stdout()}\n${served.child.stderr()}`)

  const restarted = await serve(t, dataDir)
  const got = await client(t, restarted.endpoint, restarted).send(new GetObjectCommand({ Bucket: 'big', Key: 'object.bin' }))
  t.is(got.ContentLength, data.length)
  const bytes = await got.Body?.transformToByteArray()
  t.is(bytes?.length, data.length)
  t.is(createHash('md5').update(bytes ?? new Uint8Array()).digest('hex'), md5Hex(data))
  await stop(t, restarted.child)
})
