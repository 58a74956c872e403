import { createHash, createHmac, randomBytes } from 'node:crypto'
import { open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import Database from 'better-sqlite3'
import type { CID } from 'multiformats/cid'
import { startServer } from '../bin/server.js'
import type { AuditEntry } from '../src/audit.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { tempDir as makeTempDir } from './helpers/child.js'
import type { Child, Exit } from './helpers/child.js'
import { cli, client, escape, EXIT_TIMEOUT, serve, START_TIMEOUT, stop } from './helpers/serve-process.js'
import type { Served } from './helpers/serve-process.js'
import { parseSamples } from './helpers/metrics-text.js'
import { credentials, deterministicBytes, md5Hex, s3Error } from './helpers/s3.js'
import type { GatewayGcReport } from '../src/types.js'

const HELLO = 'hello world'
// `ipfs add --cid-version 1 --raw-leaves` / `ipfs add --cid-version 0` of "hello world" (no newline)
const HELLO_CID_V1 = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'
const HELLO_CID_V0 = 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD'

async function tempDir (t: ExecutionContext): Promise<string> {
  return await makeTempDir(t, 's3ipfs-cli-')
}

/** Runs a command that exits by itself (not `serve`). */
async function run (t: ExecutionContext, args: string[], env: Record<string, string> = {}): Promise<{ exit: Exit, stdout: string, stderr: string }> {
  const child = cli(t, args, env)
  const exit = await child.exited(START_TIMEOUT)
  return { exit, stdout: child.stdout(), stderr: child.stderr() }
}

/** `gc --json ...` on `dataDir`, expected to succeed. */
async function gcJson (t: ExecutionContext, dataDir: string, args: string[]): Promise<GatewayGcReport> {
  const { exit, stdout, stderr } = await run(t, ['gc', '--data-dir', dataDir, '--json', ...args])
  t.deepEqual(exit, { code: 0, signal: null }, `stdout:\n${stdout}\nstderr:\n${stderr}`)
  return JSON.parse(stdout) as GatewayGcReport
}

/** The blocks of `dataDir`'s PackBlockstore, as hex multihashes, from its index. */
async function blockFiles (dataDir: string): Promise<string[]> {
  const db = new Database(join(dataDir, 'blocks', 'index.db'), { readonly: true })
  try {
    return (db.prepare('SELECT hex(mh) AS mh FROM blocks ORDER BY mh').all() as Array<{ mh: string }>).map(r => r.mh)
  } finally {
    db.close()
  }
}

/** Lose a block as a disk would: its bytes in the pack overwritten and its index row gone. */
async function loseBlock (dataDir: string, hexMh: string): Promise<void> {
  const db = new Database(join(dataDir, 'blocks', 'index.db'))
  try {
    const row = db.prepare('SELECT pack, offset, length FROM blocks WHERE hex(mh) = ?').get(hexMh) as { pack: number, offset: number, length: number }
    const file = await open(join(dataDir, 'blocks', 'packs', `${row.pack.toString(16).padStart(10, '0')}.pack`), 'r+')
    await file.write(Buffer.alloc(row.length), 0, row.length, row.offset)
    await file.close()
    db.prepare('DELETE FROM blocks WHERE hex(mh) = ?').run(hexMh)
  } finally {
    db.close()
  }
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

test('--log-level info logs a JSON line per request on stderr with the request id the client got; --admin-listen and --metrics-token from the environment', async (t) => {
  t.timeout(START_TIMEOUT + EXIT_TIMEOUT + 30_000)
  const served = await serve(t, await tempDir(t), ['--log-level', 'info'], { S3IPFS_ADMIN_LISTEN: '127.0.0.1:0', S3IPFS_METRICS_TOKEN: 'scrape-me' })
  const admin = served.child.stdout().match(/admin listener:\s+(http:\/\/127\.0\.0\.1:\d+)\/-\//)
  t.truthy(admin, served.child.stdout())
  const s3 = client(t, served.endpoint, served)
  const created = await s3.send(new CreateBucketCommand({ Bucket: 'logged' }))
  const [, line] = await served.child.waitFor('stderr', /^(\{.*"msg":"request".*\})$/m)
  const entry = JSON.parse(line) as Record<string, unknown>
  t.like(entry, { level: 30, requestId: created.$metadata.requestId, method: 'PUT', operation: 'CreateBucket', bucket: 'logged', status: 200, principal: served.accessKeyId })
  for (const origin of [served.endpoint, admin?.[1] ?? '']) {
    t.is((await fetch(`${origin}/-/healthy`)).status, 200)
    t.is((await fetch(`${origin}/-/metrics`)).status, 401)
    const metrics = await fetch(`${origin}/-/metrics`, { headers: { authorization: 'Bearer scrape-me' } })
    t.regex(await metrics.text(), /^s3ipfs_requests_total\{operation="CreateBucket",code="200"\} 1$/m)
  }
  s3.destroy()
  await stop(t, served.child)
})

test('serve: an unknown --log-level or a malformed --admin-listen is a usage error (exit 2)', async (t) => {
  for (const args of [['--log-level', 'loud'], ['--admin-listen', 'nowhere']]) {
    const { exit, stderr } = await run(t, ['serve', '--port', '0', '--data-dir', await tempDir(t), ...args])
    t.deepEqual(exit, { code: 2, signal: null }, stderr)
    t.regex(stderr, /Unknown log level|Invalid admin address/)
  }
})

test('serve: federation flags are checked before anything starts: a bad --replicas, an unreadable or malformed --pinning-services file, a bad --scrub-rate (exit 2)', async (t) => {
  const dir = await tempDir(t)
  const malformed = join(dir, 'services.json')
  await writeFile(malformed, JSON.stringify([{ name: 'x', endpoint: 'ftp://nowhere', token: 't' }]))
  const cases: Array<[string[], RegExp]> = [
    [['--replicas', 'two'], /--replicas takes MIN or MIN:MAX/],
    [['--replicas', '3:1'], /max must be an integer from min to 20/],
    [['--pinning-services', join(dir, 'missing.json')], /Cannot read the pinning services file/],
    [['--pinning-services', malformed], /must hold a JSON list of \{ "name", "endpoint" \(http\(s\) URL\), "token" \}/],
    [['--scrub-rate', 'fast'], /Invalid scrub rate/],
  ]
  for (const [args, message] of cases) {
    const { exit, stderr } = await run(t, ['serve', '--port', '0', '--data-dir', dir, ...args])
    t.deepEqual(exit, { code: 2, signal: null }, stderr)
    t.regex(stderr, message)
  }
})

test('serve: --archive and S3IPFS_ARCHIVE files are checked before anything starts (exit 2), secrets never echoed', async (t) => {
  const dir = await tempDir(t)
  const file = async (name: string, value: unknown): Promise<string> => {
    const path = join(dir, name)
    await writeFile(path, typeof value === 'string' ? value : JSON.stringify(value))
    return path
  }
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--archive', join(dir, 'missing.json')], {}, /Cannot read the archive configuration file/],
    [['--archive', await file('list.json', [])], {}, /must hold a JSON object naming the target/],
    [['--archive', await file('type.json', { type: 'tape' })], {}, /"type" must be one of "s3", "storacha", "pinning-service"/],
    [[], { S3IPFS_ARCHIVE: await file('s3.json', { type: 's3', endpoint: 'http://127.0.0.1:1', accessKeyId: 'AKIA', secretAccessKey: 'TOP-SECRET-VALUE' }) }, /bucket/],
  ]
  for (const [args, env, message] of cases) {
    const { exit, stderr } = await run(t, ['serve', '--port', '0', '--data-dir', dir, ...args], env)
    t.deepEqual(exit, { code: 2, signal: null }, stderr)
    t.regex(stderr, message)
    t.notRegex(stderr, /TOP-SECRET-VALUE/)
  }
})

test('serve: --tls-cert and --tls-key (or S3IPFS_TLS_*) go together; an unreadable or non-PEM file exits 2 before listening, quoting nothing of it', async (t) => {
  const dir = await tempDir(t)
  const notPem = join(dir, 'not-pem.key')
  await writeFile(notPem, 'TOP-SECRET-VALUE\n')
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--tls-cert', join(dir, 'cert.pem')], {}, /--tls-cert \(S3IPFS_TLS_CERT\) needs --tls-key \(S3IPFS_TLS_KEY\) too/],
    [[], { S3IPFS_TLS_KEY: notPem }, /--tls-key \(S3IPFS_TLS_KEY\) needs --tls-cert \(S3IPFS_TLS_CERT\) too/],
    [['--tls-cert', join(dir, 'missing.pem'), '--tls-key', notPem], {}, /Cannot read the TLS certificate file \S+missing\.pem: ENOENT/],
    [['--tls-cert', notPem, '--tls-key', notPem], { S3IPFS_TLS_CERT: join(dir, 'ignored.pem') }, /The TLS certificate file \S+not-pem\.key holds no PEM block/],
  ]
  for (const [args, env, message] of cases) {
    const { exit, stdout, stderr } = await run(t, ['serve', '--port', '0', '--data-dir', dir, ...args], env)
    t.deepEqual(exit, { code: 2, signal: null }, stderr)
    t.regex(stderr, message)
    t.notRegex(stderr, /TOP-SECRET-VALUE/)
    t.notRegex(stdout, /listening on/)
  }
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

test('gc beside a running serve frees exactly the deleted object, keeps the rest readable, and exits 1 on data loss', async (t) => {
  t.timeout(START_TIMEOUT + EXIT_TIMEOUT + 5 * START_TIMEOUT)
  const dataDir = await tempDir(t)
  const served = await serve(t, dataDir, [], { S3IPFS_ACCESS_KEY: credentials.accessKeyId, S3IPFS_SECRET_KEY: credentials.secretAccessKey })
  const s3 = client(t, served.endpoint, credentials)
  await s3.send(new CreateBucketCommand({ Bucket: 'collect' }))
  // Several chunks under a dag-pb root, stored once for both keys; the distinct object is one raw block.
  const shared = deterministicBytes('cli-gc-shared', 3 * 1024 * 1024 + 17)
  const distinct = deterministicBytes('cli-gc-distinct', 200_000)
  await s3.send(new PutObjectCommand({ Bucket: 'collect', Key: 'a', Body: shared }))
  await s3.send(new PutObjectCommand({ Bucket: 'collect', Key: 'b', Body: shared }))
  await s3.send(new PutObjectCommand({ Bucket: 'collect', Key: 'c', Body: distinct }))
  await s3.send(new DeleteObjectCommand({ Bucket: 'collect', Key: 'c' }))
  const before = await blockFiles(dataDir)

  const dry = await gcJson(t, dataDir, ['--grace-period', '0', '--dry-run'])
  t.like(dry.blocks, { roots: 1, candidates: 1, deleted: 0, freedBytes: 0, swept: false, missing: [], corrupt: [] })
  t.deepEqual(await blockFiles(dataDir), before, '--dry-run deletes nothing')

  const metricsFile = join(await tempDir(t), 's3ipfs-gc.prom')
  const first = await gcJson(t, dataDir, ['--grace-period', '0', '--metrics-file', metricsFile])
  t.like(first.blocks, { roots: 1, scanned: before.length, marked: before.length - 1, deleted: 1, freedBytes: distinct.length, keptRecent: 0, swept: true, missing: [], corrupt: [] })
  t.is((await blockFiles(dataDir)).length, before.length - 1)

  for (const key of ['a', 'b']) {
    const got = await s3.send(new GetObjectCommand({ Bucket: 'collect', Key: key }))
    t.true(Buffer.from(await got.Body!.transformToByteArray()).equals(shared), key)
  }

  const second = await run(t, ['gc', '--data-dir', dataDir, '--grace-period', '0', '--metrics-file', metricsFile])
  t.deepEqual(second.exit, { code: 0, signal: null }, second.stderr)
  t.regex(second.stdout, /grace period 0\)/)
  t.regex(second.stdout, /blocks deleted: +0$/m)
  t.regex(second.stdout, /bytes freed: +0 B$/m)
  t.is(second.stderr, '')

  // Losing a block of a live object must not look like success.
  await loseBlock(dataDir, (await blockFiles(dataDir))[0])
  const succeeded = parseSamples(await readFile(metricsFile, 'utf8'))
  t.is(succeeded.get('s3ipfs_gc_runs_total{result="ok"}'), 2, 'counters go on across runs')
  t.is(succeeded.get('s3ipfs_gc_freed_bytes_total'), distinct.length)
  t.is(succeeded.get('s3ipfs_gc_missing_blocks'), 0)
  const lastSuccess = succeeded.get('s3ipfs_gc_last_success_timestamp_seconds') ?? 0
  t.true(lastSuccess > Date.now() / 1000 - 600)
  const lost = await run(t, ['gc', '--data-dir', dataDir, '--grace-period', '0', '--json', '--metrics-file', metricsFile])
  t.deepEqual(lost.exit, { code: 1, signal: null }, lost.stdout)
  t.regex(lost.stderr, /DATA LOSS: 1 block/)
  const report = JSON.parse(lost.stdout) as GatewayGcReport
  t.like(report.blocks, { deleted: 0 })
  t.is((report.blocks?.missing.length ?? 0) + (report.blocks?.corrupt.length ?? 0), 1)
  const failed = parseSamples(await readFile(metricsFile, 'utf8'))
  t.is(failed.get('s3ipfs_gc_runs_total{result="ok"}'), 2)
  t.is(failed.get('s3ipfs_gc_runs_total{result="error"}'), 1)
  t.is(failed.get('s3ipfs_gc_missing_blocks'), 1)
  t.is(failed.get('s3ipfs_gc_last_success_timestamp_seconds'), lastSuccess, 'a failed run keeps the last success')

  s3.destroy()
  await stop(t, served.child)
})

test('gc usage errors exit 2; a directory serve never used exits 1 and is left alone', async (t) => {
  const dataDir = await tempDir(t)
  for (const args of [['--grace-period', 'soon'], ['--grace-period', '-1s'], ['--no-such-flag'], ['extra']]) {
    const { exit, stderr } = await run(t, ['gc', '--data-dir', dataDir, ...args])
    t.deepEqual(exit, { code: 2, signal: null }, args.join(' '))
    t.regex(stderr, /Usage: s3-ipfs-gateway gc/)
  }
  const empty = join(dataDir, 'never-served')
  const { exit, stderr } = await run(t, ['gc'], { S3IPFS_DATA_DIR: empty })
  t.deepEqual(exit, { code: 1, signal: null })
  t.regex(stderr, /meta\.db not found/)
  await t.throwsAsync(stat(empty), { code: 'ENOENT' })
})

test('gc --help explains the grace period; the top-level help lists both commands', async (t) => {
  const gc = await run(t, ['gc', '--help'])
  t.is(gc.exit.code, 0)
  t.regex(gc.stdout, /^Usage: s3-ipfs-gateway gc/)
  t.regex(gc.stdout, /--grace-period/)
  t.regex(gc.stdout, /Safe while `serve` runs/)
  const top = await run(t, ['--help'])
  t.is(top.exit.code, 0)
  t.regex(top.stdout, /^ {2}serve /m)
  t.regex(top.stdout, /^ {2}gc /m)
  const none = await run(t, [])
  t.is(none.exit.code, 2, 'no command is a usage error, as before')
})

/** The audit log's entries, one JSON object per line, each line ended. */
async function auditLines (path: string): Promise<AuditEntry[]> {
  const text = await readFile(path, 'utf8')
  if (!text.endsWith('\n')) throw new Error(`${path} does not end with a newline:\n${text}`)
  return text.trimEnd().split('\n').map(line => JSON.parse(line) as AuditEntry)
}

test('serve --users --audit-log --encrypt --allow-insecure-sse-c, then the same from S3IPFS_* after a restart with the same master.key', async (t) => {
  t.timeout(2 * (START_TIMEOUT + EXIT_TIMEOUT) + 30_000)
  const dataDir = await tempDir(t)
  const usersFile = join(dataDir, 'users.json')
  const auditLog = join(dataDir, 'audit.log')
  const erin = { accessKeyId: 'ERINKEY', secretAccessKey: 'erin-secret' }
  await writeFile(usersFile, JSON.stringify({ users: [{ name: 'erin', accessKeys: [erin] }] }))
  const customer = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: randomBytes(32).toString('base64') }

  const first = await serve(t, dataDir, ['--users', usersFile, '--audit-log', auditLog, '--encrypt', '--allow-insecure-sse-c'])
  const banner = first.child.stdout()
  t.regex(banner, /users file: +\S*users\.json$/m)
  t.regex(banner, /audit log: +\S*audit\.log$/m)
  t.regex(banner, /encryption: +every new object \(SSE-S3\)$/m)
  const keyFile = join(dataDir, 'master.key')
  t.is((await stat(keyFile)).mode & 0o777, 0o600)
  const masterKey = await readFile(keyFile, 'utf8')
  t.is(Buffer.from(masterKey.trim(), 'base64').length, 32)

  t.deepEqual((await client(t, first.endpoint, erin).send(new ListBucketsCommand({}))).Buckets ?? [], [], 'a user of the users file, an account of its own')
  const owner = client(t, first.endpoint, first)
  await owner.send(new CreateBucketCommand({ Bucket: 'sealed' }))
  t.is((await owner.send(new PutObjectCommand({ Bucket: 'sealed', Key: 'hello.txt', Body: HELLO }))).ServerSideEncryption, 'AES256')
  await owner.send(new PutObjectCommand({ Bucket: 'sealed', Key: 'customer.txt', Body: HELLO, ...customer }))
  owner.destroy()
  await stop(t, first.child)
  t.deepEqual((await auditLines(auditLog)).map(e => [e.principal, e.operation, e.status]), [
    ['erin', 'ListBuckets', 200],
    [first.accessKeyId, 'CreateBucket', 200],
    [first.accessKeyId, 'PutObject', 200],
    [first.accessKeyId, 'PutObject', 200],
  ])

  const second = await serve(t, dataDir, [], { S3IPFS_USERS: usersFile, S3IPFS_AUDIT_LOG: auditLog, S3IPFS_ENCRYPT: '1' })
  t.is(await readFile(keyFile, 'utf8'), masterKey, 'master.key is made once and reused')
  const again = client(t, second.endpoint, second)
  const got = await again.send(new GetObjectCommand({ Bucket: 'sealed', Key: 'hello.txt' }))
  t.is(await got.Body?.transformToString(), HELLO, 'an SSE-S3 object written before the restart reads back after it')
  t.is(got.ServerSideEncryption, 'AES256')
  t.is((await again.send(new PutObjectCommand({ Bucket: 'sealed', Key: 'second.txt', Body: HELLO }))).ServerSideEncryption, 'AES256', 'S3IPFS_ENCRYPT=1')
  t.deepEqual(await s3Error(again.send(new GetObjectCommand({ Bucket: 'sealed', Key: 'customer.txt', ...customer }))), { code: 'InvalidRequest', status: 400 }, 'SSE-C over plain HTTP, without --allow-insecure-sse-c')
  t.deepEqual((await client(t, second.endpoint, erin).send(new ListBucketsCommand({}))).Buckets ?? [], [], 'S3IPFS_USERS')
  again.destroy()
  await stop(t, second.child)
  t.deepEqual((await auditLines(auditLog)).slice(4).map(e => [e.principal, e.operation, e.status, e.error]), [
    [second.accessKeyId, 'GetObject', 200, undefined],
    [second.accessKeyId, 'PutObject', 200, undefined],
    [second.accessKeyId, 'GetObject', 400, 'InvalidRequest'],
    ['erin', 'ListBuckets', 200, undefined],
  ], 'S3IPFS_AUDIT_LOG appends to the same file')
})

/** ListBuckets signed with Signature Version 2 (`Authorization: AWS key:signature`). */
async function listBucketsV2 (served: Served): Promise<{ status: number, body: string }> {
  const date = new Date().toUTCString()
  const signature = createHmac('sha1', served.secretAccessKey).update(`GET\n\n\n${date}\n/`).digest('base64')
  const res = await fetch(`${served.endpoint}/`, { headers: { date, authorization: `AWS ${served.accessKeyId}:${signature}` } })
  return { status: res.status, body: await res.text() }
}

test('serve accepts Signature Version 2 unless --no-signature-v2 or S3IPFS_SIGNATURE_V2=false; another value is a usage error', async (t) => {
  t.timeout(3 * (START_TIMEOUT + EXIT_TIMEOUT) + 30_000)
  const dataDir = await tempDir(t)
  for (const [args, env, status] of [[[], {}, 200], [['--no-signature-v2'], {}, 400], [[], { S3IPFS_SIGNATURE_V2: 'false' }, 400]] as const) {
    const served = await serve(t, dataDir, [...args], env)
    const res = await listBucketsV2(served)
    t.is(res.status, status, `${args.join(' ')} ${JSON.stringify(env)}: ${res.body}`)
    if (status === 400) t.regex(res.body, /<Code>InvalidRequest<\/Code><Message>The authorization mechanism you have provided is not supported\. Please use AWS4-HMAC-SHA256\.<\/Message>/)
    await stop(t, served.child)
  }
  const { exit, stderr } = await run(t, ['serve', '--port', '0', '--data-dir', dataDir], { S3IPFS_SIGNATURE_V2: 'maybe' })
  t.deepEqual(exit, { code: 2, signal: null }, stderr)
  t.regex(stderr, /Invalid S3IPFS_SIGNATURE_V2 "maybe"/)
})

test('S3IPFS_MASTER_KEY is used instead of <data-dir>/master.key, which is then not made', async (t) => {
  t.timeout(START_TIMEOUT + EXIT_TIMEOUT + 30_000)
  const dataDir = await tempDir(t)
  const served = await serve(t, dataDir, [], { S3IPFS_MASTER_KEY: randomBytes(32).toString('hex') })
  const s3 = client(t, served.endpoint, served)
  await s3.send(new CreateBucketCommand({ Bucket: 'keyed' }))
  t.is((await s3.send(new PutObjectCommand({ Bucket: 'keyed', Key: 'k', Body: HELLO, ServerSideEncryption: 'AES256' }))).ServerSideEncryption, 'AES256')
  t.is(await (await s3.send(new GetObjectCommand({ Bucket: 'keyed', Key: 'k' }))).Body?.transformToString(), HELLO)
  t.is((await s3.send(new PutObjectCommand({ Bucket: 'keyed', Key: 'plain', Body: HELLO }))).ServerSideEncryption, undefined, 'without --encrypt, only when asked')
  s3.destroy()
  await stop(t, served.child)
  await t.throwsAsync(stat(join(dataDir, 'master.key')), { code: 'ENOENT' })
})

test('--ipfs-listen without --encrypt warns that content is public (S3IPFS_PUBLIC_CONTENT); with --encrypt it does not', async (t) => {
  t.timeout(2 * (START_TIMEOUT + EXIT_TIMEOUT) + 30_000)
  const dataDir = await tempDir(t)
  const listen = ['--ipfs-listen', '/ip4/127.0.0.1/tcp/0']
  const open = await serve(t, dataDir, listen)
  await open.child.waitFor('stderr', /\[S3IPFS_PUBLIC_CONTENT\] Warning: the embedded IPFS node serves every stored block/, 10_000)
  await stop(t, open.child)

  const sealed = await serve(t, dataDir, [...listen, '--encrypt'])
  t.regex(sealed.child.stdout(), /ipfs peer id:/)
  await stop(t, sealed.child)
  t.notRegex(sealed.child.stderr(), /S3IPFS_PUBLIC_CONTENT/)
})

test('--audit-log in a directory that does not exist: exit 1 before listening', async (t) => {
  const dataDir = await tempDir(t)
  const { exit, stdout, stderr } = await run(t, ['serve', '--port', '0', '--data-dir', dataDir, '--audit-log', join(dataDir, 'missing', 'audit.log')])
  t.deepEqual(exit, { code: 1, signal: null }, stderr)
  t.regex(stderr, /ENOENT/)
  t.notRegex(stdout, /listening on/)
})

/** A MemoryBlockstore that pins, as a networked IPFS node (the Kubo RPC store) does. */
class PinningBlockstore extends MemoryBlockstore {
  readonly pins = new Map<string, CID>()
  async pin (cid: CID): Promise<void> { this.pins.set(cid.toString(), cid) }
  async unpin (cid: CID): Promise<void> { this.pins.delete(cid.toString()) }
  async * pinned (): AsyncGenerator<CID> { yield * this.pins.values() }
}

test('startServer: a networked (pinning) blockstore without encryption is warned about through the logger; with encrypt it is not', async (t) => {
  for (const encrypt of [false, true]) {
    const warnings: string[] = []
    const running = await startServer({
      port: 0,
      dataDir: await tempDir(t),
      blockstore: new PinningBlockstore(),
      encrypt,
      gateway: { logger: { error: () => {}, warn: (_details, message) => { warnings.push(message ?? '') }, info: () => {} } },
    })
    await running.close()
    if (encrypt) {
      t.deepEqual(warnings, [])
    } else {
      t.is(warnings.length, 1)
      t.regex(warnings[0], /networked IPFS node without encryption/)
    }
  }
})

test('startServer: auditLog and gateway.audit both get every entry', async (t) => {
  const dataDir = await tempDir(t)
  const auditLog = join(dataDir, 'audit.log')
  const seen: AuditEntry[] = []
  const running = await startServer({
    port: 0,
    dataDir,
    auditLog,
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    gateway: { audit: (entry) => { seen.push(entry) } },
  })
  try {
    const s3 = client(t, running.url, credentials)
    await s3.send(new ListBucketsCommand({}))
    t.deepEqual(await s3Error(s3.send(new HeadObjectCommand({ Bucket: 'nowhere', Key: 'k' }))), { code: 'NotFound', status: 404 })
    s3.destroy()
  } finally {
    await running.close()
  }
  const logged = await auditLines(auditLog)
  t.deepEqual(logged.map(e => [e.operation, e.status, e.error]), [['ListBuckets', 200, undefined], ['HeadObject', 404, 'NoSuchBucket']])
  t.deepEqual(seen.map(e => e.requestId), logged.map(e => e.requestId))
})

test('startServer: servers starting together on a fresh data directory agree on one key pair and one master key', async (t) => {
  const dataDir = await tempDir(t)
  const servers = await Promise.all(Array.from({ length: 4 }, async () => await startServer({ port: 0, dataDir })))
  t.teardown(async () => { await Promise.all(servers.map(async (s) => { await s.close() })) })
  const saved = JSON.parse(await readFile(join(dataDir, 'credentials.json'), 'utf8')) as { accessKeyId: string, secretAccessKey: string }
  for (const server of servers) t.deepEqual(server.credentials, saved)
  t.deepEqual((await readdir(dataDir)).filter((name) => name.endsWith('.tmp')), [], 'no temporary file is left')
  // An object encrypted under the master key by one server is read back by another.
  const first = client(t, servers[0].url, saved)
  await first.send(new CreateBucketCommand({ Bucket: 'shared' }))
  await first.send(new PutObjectCommand({ Bucket: 'shared', Key: 'k', Body: 'sealed', ServerSideEncryption: 'AES256' }))
  for (const server of servers.slice(1)) {
    const got = await client(t, server.url, saved).send(new GetObjectCommand({ Bucket: 'shared', Key: 'k' }))
    t.is(await got.Body?.transformToString(), 'sealed')
  }
})
