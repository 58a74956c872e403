/**
 * Runs the docs' shell samples marked `<!-- sample: run-shell setup=NAME [expect="regex"] -->`
 * (test/doc-samples.test.ts requires every shell block to be run, here or by
 * test/doc-samples-run.test.ts, or marked `skip` with the reason it cannot run on this machine).
 *
 * NAME picks one of the SETUPS below: what it starts and puts in place before the block runs, the
 * port the docs use for it (replaced by the real one wherever it appears in the block, as `:PORT`
 * or a bare `PORT` argument), the environment variables the block expects, shell functions defined
 * before it, and what it checks afterwards. The block runs under `bash -euo pipefail` in a fresh
 * directory under `.doc-samples/`, with `curl` given `--fail-with-body` (an HTTP error fails the
 * sample; the docs leave it out for readability); it must exit 0 and, with `expect`, print
 * something matching the regex.
 *
 * - `gateway` (docs port 9000): one in-process `startServer` (bin/server.ts) shared by its
 *   samples, with the admin token `a-admin` and pinning services named `gateway-b` and `pinata`
 *   (REPLICATION.md; workers off, so nothing is sent to them). Before: bucket `photos` holds
 *   `2024/cat.png` (image/png, 150 000 bytes, tag project=alpha, ACL public-read), `$CID` is its
 *   CID and `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` the server's keys. After: any `file`,
 *   `file.car`, `private.car` the block wrote hold the object's bytes (a CAR: its single raw block).
 * - `cli` (docs port 9090): `s3-ipfs-gateway` (and `npx s3-ipfs-gateway`) is `bin/cli.ts`;
 *   `serve` without `--help` runs in the background until `/-/ready` answers 200, then gets
 *   SIGTERM and must exit 0 (so a block can list a long-running `serve` beside other commands).
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { startServer } from '../bin/server.js'
import type { RunningServer } from '../bin/server.js'
import { REPO_ROOT, spawnChild } from './helpers/child.js'
import { codeBlocks, markdownFiles, readMarkdown } from './helpers/markdown.js'
import type { CodeBlock } from './helpers/markdown.js'
import { freePort } from './helpers/monitoring.js'

const TIMEOUT = 60_000
const SHELL_LANGS = new Set(['sh', 'bash', 'console'])
const blocks = markdownFiles().flatMap((f) => codeBlocks(f, readMarkdown(f))).filter((b) => b.marker?.kind === 'run-shell')
const at = (b: CodeBlock): string => `${b.file}:${b.line}`

interface Prepared {
  port: number
  env: Record<string, string>
  /** Bash defined before the block. */
  prelude?: string
  /** Checks on the files the block left in its directory. */
  check?: (t: ExecutionContext, dir: string, b: CodeBlock) => Promise<void>
}

interface Setup { docsPort: number, prepare: (t: ExecutionContext) => Promise<Prepared> }

const silent = { error: () => {}, warn: () => {}, info: () => {} }
const CAT = randomBytes(150_000)

/** The shared gateway of the `gateway` setup, started by the first sample that needs it. */
let shared: Promise<{ running: RunningServer, cid: string }> | undefined
const made: string[] = []
test.after.always(async () => {
  if (shared !== undefined) await (await shared).running.close()
  for (const dir of made) await rm(dir, { recursive: true, force: true })
})

/**
 * A fresh directory under <repo>/.doc-samples/ (git-ignored), so that `node --import tsx` resolves
 * from the project's node_modules; removed after the tests.
 */
async function sampleDir (prefix: string): Promise<string> {
  const parent = join(REPO_ROOT, '.doc-samples')
  await mkdir(parent, { recursive: true })
  const dir = await mkdtemp(join(parent, prefix))
  made.push(dir)
  return dir
}

async function sharedGateway (t: ExecutionContext): Promise<{ running: RunningServer, cid: string }> {
  shared ??= (async () => {
    const dataDir = await sampleDir('gateway-')
    const running = await startServer({
      port: 0,
      dataDir,
      adminToken: 'a-admin',
      pinningServices: [
        { name: 'gateway-b', endpoint: 'http://127.0.0.1:9/-', token: 'b-secret' },
        { name: 'pinata', endpoint: 'http://127.0.0.1:9/psa', token: 'p-secret' },
      ],
      workers: false,
      gateway: { logger: silent },
    })
    const s3 = new S3Client({ endpoint: running.url, region: 'us-east-1', forcePathStyle: true, credentials: running.credentials, maxAttempts: 1 })
    await s3.send(new CreateBucketCommand({ Bucket: 'photos' }))
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: '2024/cat.png', Body: CAT, ContentType: 'image/png', Tagging: 'project=alpha', ACL: 'public-read' }))
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: '2024/cat.png' }))
    s3.destroy()
    return { running, cid: head.Metadata?.cid ?? '' }
  })()
  const got = await shared
  t.truthy(got.cid, 'the setup object has a CID')
  return got
}

/** The bytes a file holds, or (a CAR of one raw block) contains. */
async function holdsCat (t: ExecutionContext, dir: string, name: string, car: boolean, b: CodeBlock): Promise<void> {
  const path = join(dir, name)
  if (!existsSync(path)) return
  const bytes = await readFile(path)
  if (car) t.true(bytes.includes(CAT) && bytes.length > CAT.length, `${at(b)}: ${name} is a CAR holding the object's bytes`)
  else t.true(bytes.equals(CAT), `${at(b)}: ${name} is the object's bytes`)
}

const SETUPS: Record<string, Setup> = {
  gateway: {
    docsPort: 9000,
    prepare: async (t) => {
      const { running, cid } = await sharedGateway(t)
      return {
        port: running.port,
        env: { AWS_ACCESS_KEY_ID: running.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: running.credentials.secretAccessKey, CID: cid },
        check: async (t, dir, b) => {
          await holdsCat(t, dir, 'file', false, b)
          await holdsCat(t, dir, 'file.car', true, b)
          await holdsCat(t, dir, 'private.car', true, b)
        },
      }
    },
  },
  cli: {
    docsPort: 9090,
    prepare: async () => {
      const port = await freePort()
      const cli = `node --import tsx ${JSON.stringify(join(REPO_ROOT, 'bin/cli.ts'))}`
      const prelude = `
s3-ipfs-gateway () {
  if [ "$1" = serve ] && [[ " $* " != *" --help "* ]]; then
    ${cli} "$@" & local pid=$!
    until command curl -sf -o /dev/null "http://127.0.0.1:${port}/-/ready"; do kill -0 "$pid" || { wait "$pid"; return 1; }; sleep 0.2; done
    kill -TERM "$pid"; wait "$pid"
  else
    ${cli} "$@"
  fi
}
npx () { "$@"; }
`
      return { port, env: {}, prelude }
    },
  },
}

test('every run-shell sample names a setup and is a shell block', (t) => {
  t.true(blocks.length >= 5, `only ${blocks.length} run-shell samples`)
  for (const b of blocks) {
    t.true(SHELL_LANGS.has(b.lang), `${at(b)}: run-shell on a "${b.lang}" block`)
    t.truthy(SETUPS[b.marker?.attrs.setup ?? ''], `${at(b)}: setup=${b.marker?.attrs.setup} is not one of ${Object.keys(SETUPS).join(', ')}`)
  }
})

for (const b of blocks) {
  const name = b.marker?.attrs.setup ?? ''
  test(`runs: ${at(b)} (setup ${name})`, async (t) => {
    t.timeout(TIMEOUT * 2)
    const setup = SETUPS[name]
    if (setup === undefined) { t.fail(`${at(b)}: no setup ${name}`); return }
    const prepared = await setup.prepare(t)
    const code = b.code.replace(new RegExp(`(?<=[:( ])${setup.docsPort}(?=\\D|$)`, 'gm'), String(prepared.port))
    const dir = await sampleDir('shell-')
    const prelude = `curl () { command curl --fail-with-body "$@"; }\n${prepared.prelude ?? ''}\n`
    const child = spawnChild(t, 'bash', ['-euo', 'pipefail', '-c', prelude + code], {
      cwd: dir,
      env: prepared.env,
      dropEnv: /^(AWS_|S3IPFS_)/,
      timeouts: { start: TIMEOUT, exit: TIMEOUT },
    })
    const exit = await child.exited()
    t.deepEqual(exit, { code: 0, signal: null }, `${at(b)}\n${child.output()}`)
    const expect = b.marker?.attrs.expect
    if (expect !== undefined) t.regex(child.stdout(), new RegExp(expect), `${at(b)}: prints /${expect}/\n${child.output()}`)
    await prepared.check?.(t, dir, b)
  })
}
