/**
 * The archive tier through the AWS SDK over loopback HTTP: objects written in GLACIER go to the
 * archive target (their blocks freed by gc), GET and Copy are refused until RestoreObject brings
 * them back (verified, byte-identical) for Days, after which they are archived again; GLACIER_IR
 * reads through; lifecycle Transition and NoncurrentVersionTransition rules move versions; the
 * target down, or a corrupt CAR coming back, changes nothing until it is fixed. The archive target
 * is an S3ArchiveTarget on another gateway (stopped and started at will) and on s3rver.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test, { type ExecutionContext } from 'ava'
import {
  CopyObjectCommand, CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand, PutObjectCommand, RestoreObjectCommand, S3Client,
} from '@aws-sdk/client-s3'
import { randomBytes } from 'node:crypto'
import { S3ArchiveTarget, type S3ArchiveConfig } from '../src/archive/s3-target.js'
import type { MetadataStore } from '../src/metadata/metadata-store.js'
import { archiveJob, ARCHIVE } from '../src/archive/jobs.js'
import { createGateway } from '../src/gateway.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import { PostgresMetadataStore } from '../src/metadata/postgres.js'
import { parseLifecycleConfiguration } from '../src/lifecycle/configuration.js'
import { bodyOf, coldCycle, eventually, startArchiveGateway, startStoppableGateway, storageClass, type ArchiveGateway, type StoppableGateway } from './helpers/archive-env.js'
import { nodeHost } from './helpers/hosts.js'
import { startS3rver } from './helpers/s3rver.js'
import { AWS_CLI, awsCliEnv } from './helpers/aws-cli.js'
import { postgresProblem, whenServices, dropPostgresSchema } from './helpers/services.js'
import { credentials, s3Client, s3Error } from './helpers/s3.js'

const run = promisify(execFile)
const PG_URL = process.env.S3IPFS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const pgProblem = await postgresProblem(PG_URL)
const ARCHIVE_BUCKET = 'archive'
const KIB = 1024

async function carStored (s3: S3Client, prefix = ''): Promise<string[]> {
  const list = await s3.send(new ListObjectsV2Command({ Bucket: ARCHIVE_BUCKET, Prefix: prefix }))
  return (list.Contents ?? []).map(o => o.Key as string)
}

/** Gateway B serving the archive bucket, and gateway A archiving to it through an S3ArchiveTarget (both torn down with the test). */
async function s3ArchivePair (t: ExecutionContext, init: { metadata?: MetadataStore, target?: Partial<S3ArchiveConfig> } = {}): Promise<{ remote: StoppableGateway, env: ArchiveGateway }> {
  const remote = await startStoppableGateway()
  t.teardown(async () => { await remote.close() })
  await remote.s3.send(new CreateBucketCommand({ Bucket: ARCHIVE_BUCKET }))
  const target = new S3ArchiveTarget({ type: 's3', endpoint: remote.url, bucket: ARCHIVE_BUCKET, accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, ...init.target })
  const env = await startArchiveGateway(target, { metadata: init.metadata })
  t.teardown(async () => { await env.close() })
  await env.s3.send(new CreateBucketCommand({ Bucket: 'cold-b' }))
  return { remote, env }
}

test('cold cycle on another gateway as the S3 archive: written GLACIER → archived → refused → restored → identical → extended → expired → deleted', async t => {
  const { remote, env } = await s3ArchivePair(t, { target: { prefix: 'cars/' } })
  const body = randomBytes(300 * KIB)
  await coldCycle(t, env, 'cold-b', body, async () => (await carStored(remote.s3, 'cars/')).length === 1)
  const [key] = await carStored(remote.s3, 'cars/')
  const cid = (await env.s3.send(new HeadObjectCommand({ Bucket: 'cold-b', Key: 'cold' }))).Metadata?.cid
  t.is(key, `cars/${cid}.car`, 'the CAR is stored under the CID')
  const view = await fetch(`${env.url}/-/archive/cids/${cid}`)
  t.is(view.status, 200)
  t.like(await view.json(), { cid, target: 's3:archive', versions: 1, deleting: false, location: { key: `cars/${cid}.car` }, status: { stored: true } })
  t.is((await fetch(`${env.url}/-/archive/cids/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku`)).status, 404)

  await env.s3.send(new DeleteObjectCommand({ Bucket: 'cold-b', Key: 'cold' }))
  await eventually(t, 'deleting the last archived version removes its CAR from the target', async () => (await carStored(remote.s3, 'cars/')).length === 0)
})

whenServices('archive on PostgreSQL', pgProblem, () => {
  test('cold cycle with PostgreSQL metadata (references and records in its transactions)', async t => {
    const schema = `s3ipfs_archive_${randomBytes(6).toString('hex')}`
    const metadata = new PostgresMetadataStore({ connectionString: PG_URL, schema })
    t.teardown(async () => { await dropPostgresSchema(PG_URL, schema) })
    const { remote, env } = await s3ArchivePair(t, { metadata })
    await coldCycle(t, env, 'cold-b', randomBytes(1024 * KIB), async () => (await carStored(remote.s3)).length === 1)
    const cid = (await env.s3.send(new HeadObjectCommand({ Bucket: 'cold-b', Key: 'cold' }))).Metadata?.cid as string
    t.like(await metadata.getArchive(cid), { versions: 1 })
    t.is(await metadata.refCount(cid), 0)
  })
})

test('cold cycle on s3rver as the S3 archive', async t => {
  const s3rver = await startS3rver()
  t.teardown(async () => { await s3rver.close() })
  const admin = new S3Client({
    endpoint: s3rver.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3rver.accessKeyId, secretAccessKey: s3rver.secretAccessKey },
  })
  t.teardown(() => { admin.destroy() })
  await admin.send(new CreateBucketCommand({ Bucket: ARCHIVE_BUCKET }))
  const target = new S3ArchiveTarget({ type: 's3', endpoint: s3rver.endpoint, bucket: ARCHIVE_BUCKET, accessKeyId: s3rver.accessKeyId, secretAccessKey: s3rver.secretAccessKey })
  const env = await startArchiveGateway(target)
  t.teardown(async () => { await env.close() })
  await env.s3.send(new CreateBucketCommand({ Bucket: 'cold-b' }))
  await coldCycle(t, env, 'cold-b', randomBytes(2 * 1024 * KIB + 17), async () => (await carStored(admin)).length === 1)
})

test('lifecycle transitions: GLACIER_IR reads through, GLACIER then DEEP_ARCHIVE (the CAR stored once), noncurrent versions, the 128 KiB default minimum', async t => {
  const { remote, env } = await s3ArchivePair(t)
  const { s3 } = env
  await s3.send(new PutBucketVersioningCommand({ Bucket: 'cold-b', VersioningConfiguration: { Status: 'Enabled' } }))
  await s3.send(new PutBucketLifecycleConfigurationCommand({
    Bucket: 'cold-b',
    LifecycleConfiguration: {
      Rules: [
        { ID: 'ir', Status: 'Enabled', Filter: { Prefix: 'ir/' }, Transitions: [{ Days: 1, StorageClass: 'GLACIER_IR' }] },
        { ID: 'deep', Status: 'Enabled', Filter: { Prefix: 'deep/' }, Transitions: [{ Days: 1, StorageClass: 'GLACIER' }, { Days: 3, StorageClass: 'DEEP_ARCHIVE' }] },
        { ID: 'old', Status: 'Enabled', Filter: { Prefix: 'nc/' }, NoncurrentVersionTransitions: [{ NoncurrentDays: 1, StorageClass: 'GLACIER' }] },
      ],
    },
  }))
  const ir = randomBytes(200 * KIB)
  const deep = randomBytes(150 * KIB)
  await s3.send(new PutObjectCommand({ Bucket: 'cold-b', Key: 'ir/a', Body: ir }))
  await s3.send(new PutObjectCommand({ Bucket: 'cold-b', Key: 'ir/small', Body: randomBytes(10 * KIB) }))
  await s3.send(new PutObjectCommand({ Bucket: 'cold-b', Key: 'deep/a', Body: deep }))
  const first = await s3.send(new PutObjectCommand({ Bucket: 'cold-b', Key: 'nc/a', Body: randomBytes(140 * KIB) }))
  await s3.send(new PutObjectCommand({ Bucket: 'cold-b', Key: 'nc/a', Body: randomBytes(140 * KIB) }))
  const irCid = (await s3.send(new HeadObjectCommand({ Bucket: 'cold-b', Key: 'ir/a' }))).Metadata?.cid as string

  env.advance(2)
  await env.gateway.gc({ gracePeriodMs: 0 }) // nothing archived yet: nothing freed
  t.true(await env.has(irCid))
  await eventually(t, 'the due versions move', async () => await storageClass(s3, 'cold-b', 'ir/a') === 'GLACIER_IR' &&
    await storageClass(s3, 'cold-b', 'deep/a') === 'GLACIER' &&
    (await s3.send(new HeadObjectCommand({ Bucket: 'cold-b', Key: 'nc/a', VersionId: first.VersionId }))).StorageClass === 'GLACIER')
  t.is(await storageClass(s3, 'cold-b', 'ir/small'), 'STANDARD', 'under 128 KiB: not moved by default')
  t.is(await storageClass(s3, 'cold-b', 'nc/a'), 'STANDARD', 'the current version stays')
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'cold-b' }))
  t.deepEqual(listed.Contents?.map(o => [o.Key, o.StorageClass]), [['deep/a', 'GLACIER'], ['ir/a', 'GLACIER_IR'], ['ir/small', 'STANDARD'], ['nc/a', 'STANDARD']])

  await env.gateway.gc({ gracePeriodMs: 0 })
  t.false(await env.has(irCid), 'archived blocks are freed')
  t.true((await bodyOf(s3, 'cold-b', 'ir/a')).equals(ir), 'GLACIER_IR reads through the target without a restore')
  const range = await s3.send(new GetObjectCommand({ Bucket: 'cold-b', Key: 'ir/a', Range: 'bytes=1000-1999' }))
  t.true(Buffer.from(await range.Body!.transformToByteArray()).equals(ir.subarray(1000, 2000)))
  t.like(await s3Error(bodyOf(s3, 'cold-b', 'deep/a')), { code: 'InvalidObjectState' })
  t.like(await s3Error(s3.send(new CopyObjectCommand({ Bucket: 'cold-b', Key: 'copy', CopySource: 'cold-b/deep/a' }))), { code: 'InvalidObjectState', status: 403 })
  const copied = await s3.send(new CopyObjectCommand({ Bucket: 'cold-b', Key: 'ir-copy', CopySource: 'cold-b/ir/a' }))
  t.truthy(copied.CopyObjectResult?.ETag)
  t.is(await storageClass(s3, 'cold-b', 'ir-copy'), 'STANDARD', 'a copy is STANDARD unless the request names a class')
  t.true((await bodyOf(s3, 'cold-b', 'ir-copy')).equals(ir))
  t.like(await s3Error(s3.send(new RestoreObjectCommand({ Bucket: 'cold-b', Key: 'ir/a', RestoreRequest: { Days: 1 } }))), { code: 'InvalidObjectState', status: 403 })
  t.like(await s3Error(s3.send(new RestoreObjectCommand({ Bucket: 'cold-b', Key: 'ir/small', RestoreRequest: { Days: 1 } }))), { code: 'InvalidObjectState', status: 403 })

  const cars = (await carStored(remote.s3)).length
  env.advance(2)
  await eventually(t, 'GLACIER moves on to DEEP_ARCHIVE', async () => await storageClass(s3, 'cold-b', 'deep/a') === 'DEEP_ARCHIVE')
  t.is((await carStored(remote.s3)).length, cars, 'a colder class of archived content stores nothing again')
  const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'cold-b', Prefix: 'nc/' }))
  t.deepEqual(versions.Versions?.map(v => v.StorageClass), ['STANDARD', 'GLACIER'])
})

test('the archive target down during a transition: the version stays STANDARD and readable, the job retries, then it moves', async t => {
  const metadata = new MemoryMetadataStore()
  const { remote, env } = await s3ArchivePair(t, { metadata, target: { timeoutMs: 2000 } })
  const { s3 } = env
  await s3.send(new PutBucketLifecycleConfigurationCommand({
    Bucket: 'cold-b',
    TransitionDefaultMinimumObjectSize: 'varies_by_storage_class',
    LifecycleConfiguration: { Rules: [{ ID: 'g', Status: 'Enabled', Filter: {}, Transitions: [{ Days: 1, StorageClass: 'GLACIER' }] }] },
  }))
  const body = randomBytes(5 * KIB)
  await s3.send(new PutObjectCommand({ Bucket: 'cold-b', Key: 'k', Body: body }))
  await remote.stop()
  env.advance(2)
  const job = archiveJob({ bucket: 'cold-b', key: 'k', versionId: 'null' })
  await eventually(t, 'the transition fails while the target is down', async () => (await metadata.getJob(ARCHIVE, job.key))?.lastError !== undefined)
  t.is(await storageClass(s3, 'cold-b', 'k'), 'STANDARD')
  t.true((await bodyOf(s3, 'cold-b', 'k')).equals(body), 'still readable')
  await remote.start()
  await eventually(t, 'once the target is back, the version moves', async () => await storageClass(s3, 'cold-b', 'k') === 'GLACIER')
  t.is(await metadata.getJob(ARCHIVE, job.key), undefined, 'the job is done')
})

test('a corrupt CAR coming back is refused: nothing commits, the restore stays in progress until the archive holds the right bytes', async t => {
  const metadata = new MemoryMetadataStore()
  const { remote, env } = await s3ArchivePair(t, { metadata })
  const { s3 } = env
  const body = randomBytes(3 * 1024 * KIB)
  await s3.send(new PutObjectCommand({ Bucket: 'cold-b', Key: 'k', Body: body, StorageClass: 'DEEP_ARCHIVE' }))
  const cid = (await s3.send(new HeadObjectCommand({ Bucket: 'cold-b', Key: 'k' }))).Metadata?.cid as string
  await eventually(t, 'archived', async () => (await metadata.getObject('cold-b', 'k'))?.archived === true)
  await env.gateway.gc({ gracePeriodMs: 0 })
  t.false(await env.has(cid))

  const key = `${cid}.car`
  const car = await bodyOf(remote.s3, ARCHIVE_BUCKET, key)
  const corrupt = Buffer.from(car)
  corrupt[corrupt.length - 100] ^= 0xff
  await remote.s3.send(new PutObjectCommand({ Bucket: ARCHIVE_BUCKET, Key: key, Body: corrupt }))

  t.is((await s3.send(new RestoreObjectCommand({ Bucket: 'cold-b', Key: 'k', RestoreRequest: { Days: 1 } }))).$metadata.httpStatusCode, 202)
  const job = archiveJob({ bucket: 'cold-b', key: 'k', versionId: 'null' })
  await eventually(t, 'the restore fails on the corrupt CAR', async () => /does not match|mismatch|hash/i.test((await metadata.getJob(ARCHIVE, job.key))?.lastError ?? ''))
  const head = await s3.send(new HeadObjectCommand({ Bucket: 'cold-b', Key: 'k' }))
  t.is(head.Restore, 'ongoing-request="true"')
  t.like(await s3Error(s3.send(new RestoreObjectCommand({ Bucket: 'cold-b', Key: 'k', RestoreRequest: { Days: 1 } }))), { code: 'RestoreAlreadyInProgress', status: 409 })
  t.like(await s3Error(bodyOf(s3, 'cold-b', 'k')), { code: 'InvalidObjectState' })
  t.is(await metadata.refCount(cid), 0, 'nothing committed')

  await remote.s3.send(new PutObjectCommand({ Bucket: ARCHIVE_BUCKET, Key: key, Body: car }))
  await eventually(t, 'restored once the archive is right', async () =>
    (await s3.send(new HeadObjectCommand({ Bucket: 'cold-b', Key: 'k' }))).Restore?.startsWith('ongoing-request="false"') === true)
  t.true((await bodyOf(s3, 'cold-b', 'k')).equals(body))
  t.is(await metadata.refCount(cid), 1)
})

test('without an archive target: GLACIER and DEEP_ARCHIVE writes and transitions are NotImplemented; label classes still transition', async t => {
  const gateway = createGateway({ jobs: { pollMs: 25 } })
  const host = await nodeHost.start(gateway, '')
  const s3 = s3Client(host.url)
  t.teardown(async () => { s3.destroy(); await host.close(); await gateway.close() })
  await s3.send(new CreateBucketCommand({ Bucket: 'cold-b' }))
  t.like(await s3Error(s3.send(new PutObjectCommand({ Bucket: 'cold-b', Key: 'k', Body: 'x', StorageClass: 'GLACIER' }))), { code: 'NotImplemented', status: 501 })
  t.like(await s3Error(s3.send(new PutBucketLifecycleConfigurationCommand({
    Bucket: 'cold-b', LifecycleConfiguration: { Rules: [{ ID: 'g', Status: 'Enabled', Filter: {}, Transitions: [{ Days: 1, StorageClass: 'DEEP_ARCHIVE' }] }] },
  }))), { code: 'NotImplemented', status: 501 })
  await s3.send(new PutBucketLifecycleConfigurationCommand({
    Bucket: 'cold-b', LifecycleConfiguration: { Rules: [{ ID: 'ia', Status: 'Enabled', Filter: {}, Transitions: [{ Days: 30, StorageClass: 'STANDARD_IA' }] }] },
  }))
  await s3.send(new PutObjectCommand({ Bucket: 'cold-b', Key: 'k', Body: 'x' }))
  t.like(await s3Error(s3.send(new RestoreObjectCommand({ Bucket: 'cold-b', Key: 'k', RestoreRequest: { Days: 1 } }))), { code: 'InvalidObjectState', status: 403 })
  t.like(await s3Error(s3.send(new RestoreObjectCommand({ Bucket: 'cold-b', Key: 'missing', RestoreRequest: { Days: 1 } }))), { code: 'NoSuchKey', status: 404 })
})

test('Transition rules are validated as S3 validates them', t => {
  const xml = (rule: string): Uint8Array => new TextEncoder().encode(`<LifecycleConfiguration><Rule><ID>r</ID><Status>Enabled</Status><Filter/>${rule}</Rule></LifecycleConfiguration>`)
  const parse = (rule: string): unknown => parseLifecycleConfiguration(xml(rule), { archiving: true })
  const code = (rule: string): string | undefined => { try { parse(rule); return undefined } catch (err) { return (err as { code?: string }).code } }
  t.deepEqual((parse('<Transition><Days>0</Days><StorageClass>GLACIER</StorageClass></Transition>') as { rules: Array<{ transitions: unknown }> }).rules[0].transitions,
    [{ days: 0, storageClass: 'GLACIER' }])
  t.is(code('<Transition><Days>1</Days><StorageClass>NOPE</StorageClass></Transition>'), 'MalformedXML')
  t.is(code('<Transition><StorageClass>GLACIER</StorageClass></Transition>'), 'MalformedXML')
  t.is(code('<Transition><Days>1</Days><Date>2030-01-01T00:00:00Z</Date><StorageClass>GLACIER</StorageClass></Transition>'), 'MalformedXML')
  t.is(code('<Transition><Days>-1</Days><StorageClass>GLACIER</StorageClass></Transition>'), 'InvalidArgument')
  t.is(code('<Transition><Days>10</Days><StorageClass>STANDARD_IA</StorageClass></Transition>'), 'InvalidArgument', 'STANDARD_IA waits 30 days')
  t.is(code('<Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition><Transition><Days>2</Days><StorageClass>GLACIER</StorageClass></Transition>'), 'InvalidArgument')
  t.is(code('<Transition><Days>5</Days><StorageClass>GLACIER</StorageClass></Transition><Transition><Days>2</Days><StorageClass>DEEP_ARCHIVE</StorageClass></Transition>'), 'InvalidArgument', 'colder never sooner')
  t.is(code('<Transition><Days>5</Days><StorageClass>GLACIER</StorageClass></Transition><Expiration><Days>5</Days></Expiration>'), 'InvalidArgument')
  t.is(code('<Transition><Date>2030-01-01T00:00:00Z</Date><StorageClass>GLACIER</StorageClass></Transition><Transition><Days>90</Days><StorageClass>DEEP_ARCHIVE</StorageClass></Transition>'), 'InvalidRequest')
  t.is(code('<Transition><Date>2030-01-01T10:00:00Z</Date><StorageClass>GLACIER</StorageClass></Transition>'), 'InvalidArgument', 'midnight only')
  t.is(code('<NoncurrentVersionTransition><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>'), 'MalformedXML')
  t.is(code('<NoncurrentVersionTransition><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>101</NewerNoncurrentVersions><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>'), 'InvalidArgument')
  t.is(code('<NoncurrentVersionTransition><NoncurrentDays>5</NoncurrentDays><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition><NoncurrentVersionExpiration><NoncurrentDays>5</NoncurrentDays></NoncurrentVersionExpiration>'), 'InvalidArgument')
  t.is(code('<Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>'), undefined)
  t.throws(() => parseLifecycleConfiguration(xml('<Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>')), { code: 'NotImplemented' } as never)
})

test('the AWS CLI drives it: a Transition rule moves an object, restore-object brings it back, head-object shows Restore', async t => {
  if (!existsSync(AWS_CLI)) {
    if (process.env.CI === 'true') throw new Error(`${AWS_CLI} is missing; .ci/run installs it`)
    t.log('skipped: the AWS CLI is not installed')
    t.pass()
    return
  }
  const { env } = await s3ArchivePair(t)
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-archive-cli-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const { AWS_CA_BUNDLE: _ignored, ...inherited } = process.env
  const cli = async (...args: string[]): Promise<string> => (await run(AWS_CLI, ['--endpoint-url', env.url, ...args], { env: { ...inherited, ...awsCliEnv() }, timeout: 120_000 })).stdout

  await cli('s3api', 'create-bucket', '--bucket', 'cli-cold')
  const rules = join(dir, 'lifecycle.json')
  await writeFile(rules, JSON.stringify({ Rules: [{ ID: 'to-glacier', Filter: { Prefix: 'logs/' }, Status: 'Enabled', Transitions: [{ Days: 1, StorageClass: 'GLACIER' }] }] }))
  await cli('s3api', 'put-bucket-lifecycle-configuration', '--bucket', 'cli-cold', '--lifecycle-configuration', `file://${rules}`)
  const got = JSON.parse(await cli('s3api', 'get-bucket-lifecycle-configuration', '--bucket', 'cli-cold')) as { Rules: unknown[] }
  t.deepEqual(got.Rules, [{ ID: 'to-glacier', Filter: { Prefix: 'logs/' }, Status: 'Enabled', Transitions: [{ Days: 1, StorageClass: 'GLACIER' }] }])
  const file = join(dir, 'app.log')
  const body = randomBytes(256 * KIB)
  await writeFile(file, body)
  await cli('s3', 'cp', file, 's3://cli-cold/logs/app.log')

  env.advance(2)
  await eventually(t, 'the rule moves the object', async () => await storageClass(env.s3, 'cli-cold', 'logs/app.log') === 'GLACIER')
  const copyBack = join(dir, 'back.log')
  await t.throwsAsync(cli('s3api', 'get-object', '--bucket', 'cli-cold', '--key', 'logs/app.log', copyBack), { message: /InvalidObjectState/ })
  await cli('s3api', 'restore-object', '--bucket', 'cli-cold', '--key', 'logs/app.log', '--restore-request', 'Days=7,GlacierJobParameters={Tier=Bulk}')
  await eventually(t, 'head-object shows the restore done', async () =>
    /ongoing-request="false"/.test((JSON.parse(await cli('s3api', 'head-object', '--bucket', 'cli-cold', '--key', 'logs/app.log')) as { Restore?: string }).Restore ?? ''))
  const head = JSON.parse(await cli('s3api', 'head-object', '--bucket', 'cli-cold', '--key', 'logs/app.log')) as { Restore?: string, StorageClass?: string }
  t.is(head.StorageClass, 'GLACIER')
  t.regex(head.Restore ?? '', /^ongoing-request="false", expiry-date=".+GMT"$/)
  await cli('s3', 'cp', 's3://cli-cold/logs/app.log', copyBack)
  t.true((await readFile(copyBack)).equals(body))
})

test('a restore racing gc never loses blocks: gc runs without pause while the CAR is imported, and the restored copy reads back whole', async t => {
  const metadata = new MemoryMetadataStore()
  const { env } = await s3ArchivePair(t, { metadata })
  const { s3 } = env
  const body = randomBytes(24 * 1024 * KIB)
  await s3.send(new PutObjectCommand({ Bucket: 'cold-b', Key: 'k', Body: body, StorageClass: 'GLACIER' }))
  await eventually(t, 'archived', async () => (await metadata.getObject('cold-b', 'k'))?.archived === true)
  await env.gateway.gc({ gracePeriodMs: 0 })

  let collecting = true
  let runs = 0
  let duringRestore = 0
  const collector = (async () => {
    while (collecting) {
      await env.gateway.gc({ gracePeriodMs: 0 })
      runs++
      if ((await metadata.getObject('cold-b', 'k'))?.restore?.ongoing === true) duringRestore++
      // A gc over memory settles in microtasks: let timers (the job worker's, the test's) run between passes.
      await new Promise(resolve => setImmediate(resolve))
    }
  })()
  await s3.send(new RestoreObjectCommand({ Bucket: 'cold-b', Key: 'k', RestoreRequest: { Days: 1 } }))
  await eventually(t, 'restored while gc runs', async () => (await metadata.getObject('cold-b', 'k'))?.restore?.ongoing === false)
  const afterRestore = runs
  await eventually(t, 'gc ran again after the restore committed', async () => runs > afterRestore + 1)
  collecting = false
  await collector
  t.true(duringRestore > 0, `gc ran ${duringRestore} times while the restore was in progress`)
  t.true((await bodyOf(s3, 'cold-b', 'k')).equals(body), 'every block of the restored copy is there')
})
