/**
 * Independent S3 clients, as users run them: the AWS CLI (v2, Debian's awscli), s3cmd and rclone,
 * against the gateway on Fs + SQLite over loopback. They sign and frame requests their own way
 * (botocore, s3cmd's own SigV4, the Go SDK), so they catch what one SDK alone would not.
 * `.ci/run` installs them; elsewhere a missing client skips its test with the reason.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test, { type ExecutionContext } from 'ava'
import { createGateway } from '../src/gateway.js'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import type { Gateway } from '../src/types.js'
import { AWS_CLI, awsCliEnv } from './helpers/aws-cli.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { credentials, deterministicBytes, ipfsAddCid } from './helpers/s3.js'

const run = promisify(execFile)
const AWS = AWS_CLI
const S3CMD = '/usr/bin/s3cmd'
const RCLONE = '/usr/bin/rclone'
const HELLO_CID = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'

let dir: string
let gateway: Gateway
let host: RunningHost
let port: string

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3ipfs-clients-'))
  gateway = createGateway({
    blockstore: new FsBlockstore({ path: join(dir, 'blocks') }),
    metadata: new SqliteMetadataStore({ path: join(dir, 'meta.db') }),
  })
  // s3cmd cannot put a path prefix in its endpoint: mount at the root
  host = await nodeHost.start(gateway, '')
  port = new URL(host.url).port
})

test.after.always(async () => {
  await host?.close()
  await gateway?.close()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

/** Skips (visibly) when a client is not installed, except in CI, where .ci/run installs them. */
function available (t: ExecutionContext, binary: string): boolean {
  if (existsSync(binary)) return true
  if (process.env.CI === 'true') throw new Error(`${binary} is missing; .ci/run installs it`)
  t.log(`skipped: ${binary} is not installed (apt-get install awscli s3cmd rclone)`)
  t.pass()
  return false
}

async function sh (binary: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  // A custom CA bundle from the machine's environment means nothing on plain-HTTP loopback, and
  // the AWS Go SDK inside rclone refuses to start with one.
  const { AWS_CA_BUNDLE: _ignored, ...inherited } = process.env
  const { stdout } = await run(binary, args, { env: { ...inherited, ...env }, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 })
  return stdout
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

test('AWS CLI v2: mb, cp up and down, ls, head-object shows the CID, rm, rb', async t => {
  if (!available(t, AWS)) return
  const env = awsCliEnv()
  const aws = async (...args: string[]): Promise<string> => await sh(AWS, ['--endpoint-url', host.url, ...args], env)
  const work = await mkdtemp(join(tmpdir(), 's3ipfs-awscli-'))
  t.teardown(async () => { await rm(work, { recursive: true, force: true }) })
  await writeFile(join(work, 'hello.txt'), 'hello world')
  const big = deterministicBytes('awscli', 5 * 1024 * 1024 + 7) // under the CLI's 8 MiB multipart threshold
  await writeFile(join(work, 'big.bin'), big)
  const huge = deterministicBytes('awscli-multipart', 20 * 1024 * 1024 + 7) // over it: 8 MiB parts
  await writeFile(join(work, 'huge.bin'), huge)

  await aws('s3', 'mb', 's3://aws-cli-bucket')
  await aws('s3', 'cp', join(work, 'hello.txt'), 's3://aws-cli-bucket/dir/hello world.txt')
  await aws('s3', 'cp', join(work, 'big.bin'), 's3://aws-cli-bucket/big.bin')
  const listing = await aws('s3', 'ls', '--recursive', 's3://aws-cli-bucket')
  t.regex(listing, /\s11 dir\/hello world\.txt/)
  t.regex(listing, new RegExp(`\\s${big.length} big\\.bin`))
  const head = JSON.parse(await aws('s3api', 'head-object', '--bucket', 'aws-cli-bucket', '--key', 'dir/hello world.txt')) as { Metadata: Record<string, string>, ContentLength: number }
  t.is(head.Metadata.cid, HELLO_CID)
  t.is(head.ContentLength, 11)
  await aws('s3', 'cp', 's3://aws-cli-bucket/big.bin', join(work, 'back.bin'))
  t.is(sha256(await readFile(join(work, 'back.bin'))), sha256(big))
  // Multipart: the CLI's 8 MiB parts are whole 1 MiB chunks, so the CID is ipfs add's of the file.
  await aws('s3', 'cp', join(work, 'huge.bin'), 's3://aws-cli-bucket/huge.bin')
  const hugeHead = JSON.parse(await aws('s3api', 'head-object', '--bucket', 'aws-cli-bucket', '--key', 'huge.bin')) as { Metadata: Record<string, string>, ContentLength: number, ETag: string }
  t.regex(hugeHead.ETag, /^"[0-9a-f]{32}-3"$/)
  t.is(hugeHead.ContentLength, huge.length)
  t.is(hugeHead.Metadata.cid, await ipfsAddCid(huge))
  await aws('s3', 'cp', 's3://aws-cli-bucket/huge.bin', join(work, 'huge-back.bin'))
  t.is(sha256(await readFile(join(work, 'huge-back.bin'))), sha256(huge))
  const uploads = await aws('s3api', 'list-multipart-uploads', '--bucket', 'aws-cli-bucket')
  t.notRegex(uploads, /UploadId/)
  await aws('s3', 'rm', '--recursive', 's3://aws-cli-bucket')
  t.is((await aws('s3', 'ls', 's3://aws-cli-bucket')).trim(), '')
  await aws('s3', 'rb', 's3://aws-cli-bucket')
  await t.throwsAsync(aws('s3api', 'head-bucket', '--bucket', 'aws-cli-bucket'))
})

test('s3cmd: mb, put, ls, get, info, del', async t => {
  if (!available(t, S3CMD)) return
  const work = await mkdtemp(join(tmpdir(), 's3ipfs-s3cmd-'))
  t.teardown(async () => { await rm(work, { recursive: true, force: true }) })
  const config = join(work, 's3cfg')
  await writeFile(config, [
    '[default]',
    `access_key = ${credentials.accessKeyId}`,
    `secret_key = ${credentials.secretAccessKey}`,
    `host_base = 127.0.0.1:${port}`,
    `host_bucket = 127.0.0.1:${port}`,
    'use_https = False',
    'signature_v2 = False',
    'bucket_location = us-east-1',
    '',
  ].join('\n'))
  const s3cmd = async (...args: string[]): Promise<string> => await sh(S3CMD, ['-c', config, ...args])
  const data = deterministicBytes('s3cmd', 3 * 1024 * 1024 + 11)
  await writeFile(join(work, 'file.bin'), data)
  await s3cmd('mb', 's3://s3cmd-bucket')
  await s3cmd('put', join(work, 'file.bin'), 's3://s3cmd-bucket/some dir/file+1.bin')
  t.regex(await s3cmd('ls', '--recursive', 's3://s3cmd-bucket'), /s3:\/\/s3cmd-bucket\/some dir\/file\+1\.bin/)
  await s3cmd('get', 's3://s3cmd-bucket/some dir/file+1.bin', join(work, 'back.bin'))
  t.is(sha256(await readFile(join(work, 'back.bin'))), sha256(data))
  const info = await s3cmd('info', 's3://s3cmd-bucket/some dir/file+1.bin')
  t.regex(info, /x-amz-meta-cid: baf/)
  await s3cmd('del', 's3://s3cmd-bucket/some dir/file+1.bin')
  // Multipart in 5 MiB chunks
  const large = deterministicBytes('s3cmd-multipart', 12 * 1024 * 1024 + 5)
  await writeFile(join(work, 'large.bin'), large)
  await s3cmd('put', '--multipart-chunk-size-mb=5', join(work, 'large.bin'), 's3://s3cmd-bucket/large.bin')
  t.regex(await s3cmd('info', 's3://s3cmd-bucket/large.bin'), new RegExp(`x-amz-meta-cid: ${await ipfsAddCid(large)}`))
  await s3cmd('get', 's3://s3cmd-bucket/large.bin', join(work, 'large-back.bin'))
  t.is(sha256(await readFile(join(work, 'large-back.bin'))), sha256(large))
  await s3cmd('del', 's3://s3cmd-bucket/large.bin')
  t.is((await s3cmd('ls', '--recursive', 's3://s3cmd-bucket')).trim(), '')
  await s3cmd('rb', 's3://s3cmd-bucket')
})

test('rclone: mkdir, copy, ls, cat, check, delete', async t => {
  if (!available(t, RCLONE)) return
  const work = await mkdtemp(join(tmpdir(), 's3ipfs-rclone-'))
  t.teardown(async () => { await rm(work, { recursive: true, force: true }) })
  const env = {
    RCLONE_CONFIG: '/dev/null',
    RCLONE_CONFIG_GW_TYPE: 's3',
    RCLONE_CONFIG_GW_PROVIDER: 'Other',
    RCLONE_CONFIG_GW_ENDPOINT: host.url,
    RCLONE_CONFIG_GW_ACCESS_KEY_ID: credentials.accessKeyId,
    RCLONE_CONFIG_GW_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    RCLONE_CONFIG_GW_REGION: 'us-east-1',
    RCLONE_CONFIG_GW_FORCE_PATH_STYLE: 'true',
  }
  const rclone = async (...args: string[]): Promise<string> => await sh(RCLONE, args, env)
  await mkdirWithFiles(work)
  await rclone('mkdir', 'gw:rclone-bucket')
  await rclone('copy', join(work, 'src'), 'gw:rclone-bucket/tree')
  const listed = (await rclone('lsf', '-R', 'gw:rclone-bucket')).split('\n').filter(Boolean).sort()
  t.deepEqual(listed, ['tree/', 'tree/a.txt', 'tree/sub/', 'tree/sub/b.bin', 'tree/sub/ünï cödé.txt'].sort())
  t.is(await rclone('cat', 'gw:rclone-bucket/tree/a.txt'), 'hello world')
  await rclone('check', join(work, 'src'), 'gw:rclone-bucket/tree') // compares sizes and MD5 (our ETags)
  // Multipart: a 5 MiB cutoff and chunk size make rclone's Go SDK upload 3 parts, 4 at once.
  const large = deterministicBytes('rclone-multipart', 12 * 1024 * 1024 + 9)
  await writeFile(join(work, 'large.bin'), large)
  await rclone('copyto', '--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M', '--s3-upload-concurrency', '4', join(work, 'large.bin'), 'gw:rclone-bucket/large.bin')
  await rclone('check', '--s3-upload-cutoff', '5M', work, 'gw:rclone-bucket', '--include', 'large.bin')
  await rclone('copyto', 'gw:rclone-bucket/large.bin', join(work, 'large-back.bin'))
  t.is(sha256(await readFile(join(work, 'large-back.bin'))), sha256(large))
  const head = JSON.parse(await rclone('lsjson', '--stat', '--metadata', 'gw:rclone-bucket/large.bin')) as { Metadata?: Record<string, string> }
  t.is(head.Metadata?.cid, await ipfsAddCid(large))
  await rclone('deletefile', 'gw:rclone-bucket/large.bin')
  await rclone('delete', 'gw:rclone-bucket/tree/sub')
  t.deepEqual((await rclone('lsf', '-R', 'gw:rclone-bucket')).split('\n').filter(Boolean).sort(), ['tree/', 'tree/a.txt'])
})

async function mkdirWithFiles (work: string): Promise<void> {
  const { mkdir } = await import('node:fs/promises')
  await mkdir(join(work, 'src', 'sub'), { recursive: true })
  await writeFile(join(work, 'src', 'a.txt'), 'hello world')
  await writeFile(join(work, 'src', 'sub', 'b.bin'), deterministicBytes('rclone', 2 * 1024 * 1024 + 3))
  await writeFile(join(work, 'src', 'sub', 'ünï cödé.txt'), 'unicode name')
}
