/**
 * Runs the docs' samples that are marked to run (test/doc-samples.test.ts type-checks them all):
 *
 * - `<!-- sample: serve id=NAME endpoint=URL [access-key=K secret-key=S] [ready=PATH] -->`: a
 *   server. It runs as a child process (`node --import tsx`, the project's tsconfig `paths` mapping
 *   `s3-ipfs-gateway` to the sources) in an empty directory, with the endpoint's port replaced by a
 *   free one wherever it appears in the code. The test waits until a signed ListBuckets answers,
 *   then does CreateBucket, PutObject and GetObject with the real SDK and checks the bytes and the
 *   CID; `ready` is fetched and must answer 200.
 * - `<!-- sample: run [against=NAME] [stdout="text"] -->`: a program that must exit 0 (and print
 *   `text`). With `against`, it runs while that server sample runs, its port replaced likewise;
 *   a shell block then runs under bash with the AWS CLI (skipped with the reason when it is absent,
 *   a failure under S3IPFS_REQUIRE_SERVICES=1).
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY } from '../src/index.js'
import { AWS_CLI } from './helpers/aws-cli.js'
import { REPO_ROOT, spawnChild } from './helpers/child.js'
import type { Child } from './helpers/child.js'
import { codeBlocks, markdownFiles, readMarkdown } from './helpers/markdown.js'
import type { CodeBlock } from './helpers/markdown.js'

const TIMEOUT = 90_000
// `ipfs add --cid-version 1 --raw-leaves` of "hello world" (no newline)
const HELLO = 'hello world'
const HELLO_CID = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'

const blocks = markdownFiles().flatMap((f) => codeBlocks(f, readMarkdown(f)))
const servers = blocks.filter((b) => b.marker?.kind === 'serve')
const runs = blocks.filter((b) => b.marker?.kind === 'run')
const at = (b: CodeBlock): string => `${b.file}:${b.line}`

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => { resolve(port) })
    })
  })
}

/** The code with every `:PORT` of the endpoint's port (and a bare `PORT` argument) replaced. */
function withPort (code: string, endpoint: string, port: number): string {
  const old = new URL(endpoint).port
  return code.replace(new RegExp(`(?<=[:( ])${old}(?=\\D)`, 'g'), String(port))
}

/**
 * A fresh directory for a sample under <repo>/.doc-samples/ (git-ignored), so that its imports
 * resolve from the project's node_modules as an application's would from its own; removed afterwards.
 */
async function sampleDir (t: ExecutionContext): Promise<string> {
  const parent = join(REPO_ROOT, '.doc-samples')
  await mkdir(parent, { recursive: true })
  const dir = await mkdtemp(join(parent, 'run-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Writes a TypeScript sample to a fresh directory and runs it there, the project's tsconfig (and its `paths`) applied. */
async function runTs (t: ExecutionContext, b: CodeBlock, code: string, env: Record<string, string> = {}): Promise<Child> {
  const dir = await sampleDir(t)
  const file = join(dir, 'sample.ts')
  await writeFile(file, code)
  return spawnChild(t, process.execPath, ['--import', 'tsx', file], {
    cwd: dir,
    env: { TSX_TSCONFIG_PATH: join(REPO_ROOT, 'tsconfig.json'), ...env },
    dropEnv: /^(S3IPFS_|AWS_)/,
    timeouts: { start: TIMEOUT, exit: TIMEOUT },
  })
}

interface Running { endpoint: string, credentials: { accessKeyId: string, secretAccessKey: string } }

/** Starts a server sample and checks it serves S3 (and its readiness path); it is killed in the test's teardown. */
async function startServer (t: ExecutionContext, b: CodeBlock): Promise<Running> {
  const attrs = b.marker?.attrs ?? {}
  const port = await freePort()
  const endpoint = withPort(attrs.endpoint, attrs.endpoint, port)
  const credentials = { accessKeyId: attrs['access-key'] ?? DEFAULT_ACCESS_KEY_ID, secretAccessKey: attrs['secret-key'] ?? DEFAULT_SECRET_ACCESS_KEY }
  const child = await runTs(t, b, withPort(b.code, attrs.endpoint, port))
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1 })
  t.teardown(() => { s3.destroy() })
  const deadline = Date.now() + TIMEOUT
  for (;;) {
    try {
      await s3.send(new ListBucketsCommand({}))
      break
    } catch (err) {
      const code = (err as { code?: string }).code
      if (child.proc.exitCode !== null) t.fail(`${at(b)}: the sample exited before serving\n${child.output()}`)
      if ((code !== 'ECONNREFUSED' && code !== 'ECONNRESET') || Date.now() > deadline) throw new Error(`${at(b)}: ${String(err)}\n${child.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  await s3.send(new CreateBucketCommand({ Bucket: 'sample-check' }))
  await s3.send(new PutObjectCommand({ Bucket: 'sample-check', Key: 'hello.txt', Body: HELLO }))
  const got = await s3.send(new GetObjectCommand({ Bucket: 'sample-check', Key: 'hello.txt' }))
  t.is(await got.Body?.transformToString(), HELLO, `${at(b)}: the object reads back`)
  t.is(got.Metadata?.cid, HELLO_CID, `${at(b)}: its CID is the one ipfs add gives`)
  if (attrs.ready !== undefined) {
    const res = await fetch(new URL(attrs.ready, endpoint))
    t.is(res.status, 200, `${at(b)}: GET ${attrs.ready}`)
  }
  return { endpoint, credentials }
}

test('there are server samples for each adapter, and programs that run', (t) => {
  for (const adapter of ['express', 'fastify', 'node']) {
    t.true(servers.some((b) => b.code.includes(`'s3-ipfs-gateway/${adapter}'`)), `a served sample mounting s3-ipfs-gateway/${adapter}`)
  }
  t.true(runs.length >= 3)
  const ids = servers.map((b) => b.marker?.attrs.id)
  t.is(new Set(ids).size, ids.length, 'server ids are unique')
  for (const b of runs) {
    const against = b.marker?.attrs.against
    if (against !== undefined) t.true(ids.includes(against), `${at(b)}: against=${against} names no server sample`)
  }
})

for (const b of servers) {
  test(`serves: ${at(b)} (${b.marker?.attrs.id})`, async (t) => {
    t.timeout(TIMEOUT * 2)
    await startServer(t, b)
  })
}

for (const b of runs) {
  const against = b.marker?.attrs.against
  test(`runs: ${at(b)}${against === undefined ? '' : ` against ${against}`}`, async (t) => {
    t.timeout(TIMEOUT * 3)
    const server = servers.find((s) => s.marker?.attrs.id === against)
    let code = b.code
    let env: Record<string, string> = {}
    if (server !== undefined) {
      const running = await startServer(t, server)
      code = withPort(code, server.marker?.attrs.endpoint ?? '', Number(new URL(running.endpoint).port))
      env = { AWS_ACCESS_KEY_ID: running.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: running.credentials.secretAccessKey, AWS_REGION: 'us-east-1' }
    }
    let child: Child
    if (b.lang === 'ts') {
      child = await runTs(t, b, code, env)
    } else if (b.lang === 'sh') {
      if (!existsSync(AWS_CLI)) {
        if (process.env.S3IPFS_REQUIRE_SERVICES === '1') t.fail(`${AWS_CLI} is missing (S3IPFS_REQUIRE_SERVICES=1)`)
        else t.log(`skipped: ${AWS_CLI} is not installed (Debian's awscli; .ci/run installs it)`)
        return
      }
      const dir = await sampleDir(t)
      // the machine's AWS configuration stays out; the sample's own exports win over these
      child = spawnChild(t, 'bash', ['-euo', 'pipefail', '-c', code.replace(/(^|\n)aws /g, `$1${AWS_CLI} `)], {
        cwd: dir,
        env: { ...env, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_PAGER: '' },
        dropEnv: /^(AWS_|S3IPFS_)/,
        timeouts: { start: TIMEOUT, exit: TIMEOUT },
      })
    } else {
      t.fail(`${at(b)}: cannot run a "${b.lang}" block`)
      return
    }
    const exit = await child.exited()
    t.deepEqual(exit, { code: 0, signal: null }, `${at(b)}\n${child.output()}`)
    const expected = b.marker?.attrs.stdout
    if (expected !== undefined) t.true(child.stdout().includes(expected), `${at(b)}: prints ${expected}\n${child.output()}`)
  })
}
