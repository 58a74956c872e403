/**
 * Bucket lifecycle rules through the AWS SDK over loopback HTTP: the configuration API with S3's
 * validation errors, x-amz-expiration, and the background pass (a durable job) applying Expiration,
 * ExpiredObjectDeleteMarker, NoncurrentVersionExpiration (NewerNoncurrentVersions) and
 * AbortIncompleteMultipartUpload on unversioned, versioned and suspended buckets, after which gc
 * frees the blocks. The gateway's clock is the test's: days pass when the test says so. On the
 * standalone server's storage (PackBlockstore + SQLite), in memory, and on PostgreSQL.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test, { type ExecutionContext } from 'ava'
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, UploadPartCommand, DeleteBucketLifecycleCommand, DeleteObjectCommand, GetBucketLifecycleConfigurationCommand,
  HeadObjectCommand, ListMultipartUploadsCommand, ListObjectVersionsCommand, PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand,
  PutObjectCommand, type LifecycleRule, type S3Client,
} from '@aws-sdk/client-s3'
import { CID } from 'multiformats/cid'
import { createGateway } from '../src/gateway.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { parseLifecycleConfiguration, toStoredLifecycle } from '../src/lifecycle/configuration.js'
import { LIFECYCLE, lifecycleHandler } from '../src/lifecycle/pass.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import type { MetadataStore } from '../src/metadata/metadata-store.js'
import { dueAfter, expirationHeader } from '../src/lifecycle/rules.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { PostgresMetadataStore } from '../src/metadata/postgres.js'
import { postgresProblem, whenServices, dropPostgresSchema } from './helpers/services.js'
import type { Gateway } from '../src/types.js'
import { blockstoreUnderTest } from './helpers/blockstore.js'
import { AWS_CLI, awsCliEnv } from './helpers/aws-cli.js'
import { nodeHost } from './helpers/hosts.js'
import { captureHeaders, s3Client, s3Error } from './helpers/s3.js'
import { signedFetch } from './helpers/sign.js'

const DAY = 86_400_000
const run = promisify(execFile)
const PG_URL = process.env.S3IPFS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const pgProblem = await postgresProblem(PG_URL)
const LABELS = ['disk+sqlite', 'memory', ...(pgProblem === undefined ? ['postgres'] : [])]
whenServices('lifecycle on PostgreSQL', pgProblem, () => {})

interface Target { name: string, s3: S3Client, url: string, gateway: Gateway, advance: (days: number) => Promise<void>, has: (cid: string) => Promise<boolean>, capture: ReturnType<typeof captureHeaders> }
const targets: Target[] = []
const cleanup: Array<() => Promise<void>> = []

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-lifecycle-'))
  cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
  for (const name of LABELS) {
    // Noon UTC, so that "a day later, at the next midnight" is unambiguous.
    let clock = Math.floor(Date.now() / DAY) * DAY + DAY / 2
    const blockstore = name === 'memory' ? new MemoryBlockstore() : blockstoreUnderTest(join(dir, `blocks-${name}`))
    const schema = `s3ipfs_lc_${randomBytes(6).toString('hex')}`
    const metadata: MetadataStore = name === 'memory'
      ? new MemoryMetadataStore()
      : name === 'postgres' ? new PostgresMetadataStore({ connectionString: PG_URL, schema }) : new SqliteMetadataStore({ path: join(dir, 'meta.db') })
    if (name === 'postgres') {
      cleanup.push(async () => { await dropPostgresSchema(PG_URL, schema) })
    }
    const gateway = createGateway({
      blockstore,
      metadata,
      now: () => new Date(clock),
      signatureClock: () => new Date(),
      jobs: { pollMs: 25 },
    })
    const host = await nodeHost.start(gateway, '')
    const s3 = s3Client(host.url)
    targets.push({
      name,
      s3,
      url: host.url,
      gateway,
      advance: async (days) => {
        // Days pass only between job runs: a run claimed before the jump would see its lease (taken
        // on the old clock) expire at once, and a second worker would run the same pass beside it.
        await settled(metadata, () => new Date(clock))
        clock += days * DAY
      },
      has: async (cid) => await blockstore.has(CID.parse(cid)),
      capture: captureHeaders(s3),
    })
    cleanup.push(async () => { s3.destroy(); await host.close(); await gateway.close() })
  }
})
test.after.always(async () => {
  for (const c of cleanup.reverse()) await c()
})

function each (title: string, fn: (t: ExecutionContext, target: Target) => Promise<void>): void {
  for (const label of LABELS) {
    test.serial(`${label}: ${title}`, async (t) => {
      const target = targets.find(x => x.name === label)
      if (target === undefined) throw new Error('no target')
      await fn(t, target)
    })
  }
}

/** Until no job is running and none is due on the gateway's clock (what a clock jump may not interrupt). */
async function settled (metadata: MetadataStore, now: () => Date): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const jobs = await metadata.listJobs({ limit: 1000 })
    if (jobs.every(job => job.state === 'failed' || (job.state === 'ready' && job.runAt > now()))) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error('background jobs did not settle within 10 s')
}

/** Waits (polling) until `check` holds: the pass is a background job. */
async function eventually (t: ExecutionContext, what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) { t.pass(what); return }
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  t.fail(`${what}: not within 10 s`)
}

async function versions (s3: S3Client, Bucket: string, Prefix: string): Promise<string[]> {
  const list = await s3.send(new ListObjectVersionsCommand({ Bucket, Prefix }))
  return [
    ...(list.Versions ?? []).map(v => ({ key: v.Key, id: v.VersionId, latest: v.IsLatest, marker: false, at: v.LastModified })),
    ...(list.DeleteMarkers ?? []).map(v => ({ key: v.Key, id: v.VersionId, latest: v.IsLatest, marker: true, at: v.LastModified })),
  ].sort((a, b) => (a.key ?? '').localeCompare(b.key ?? '') || (b.at?.getTime() ?? 0) - (a.at?.getTime() ?? 0) || (a.marker === b.marker ? 0 : a.marker ? -1 : 1))
    .map(v => `${v.key}:${v.marker ? 'marker' : v.id === 'null' ? 'null' : 'version'}${v.latest === true ? '*' : ''}`)
}

test('configuration: every filter form parses; S3\'s errors for each bad combination', t => {
  const xml = (rules: string): Uint8Array => Buffer.from(`<LifecycleConfiguration>${rules}</LifecycleConfiguration>`)
  const ok = parseLifecycleConfiguration(xml(
    '<Rule><ID>a</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule>' +
    '<Rule><ID>b</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Disabled</Status><NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays><NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>' +
    '<Rule><ID>c</ID><Prefix>old/</Prefix><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>' +
    '<Rule><Filter/><Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration></Rule>'))
  t.deepEqual(ok.rules.map(r => [r.id.length > 0, r.enabled, r.filter.prefix, r.filter.tags, r.legacyPrefix]), [
    [true, true, 'logs/', [], false], [true, false, 'p/', [['k', 'v']], false], [true, true, 'old/', [], true], [true, true, undefined, [], false],
  ])
  const cases: Array<[string, string]> = [
    ['', 'MalformedXML'],
    ['<Rule><Filter/><Expiration><Days>1</Days></Expiration></Rule>', 'MalformedXML'],
    ['<Rule><Filter/><Status>On</Status><Expiration><Days>1</Days></Expiration></Rule>', 'MalformedXML'],
    ['<Rule><Filter/><Status>Enabled</Status><Expiration><Days>0</Days></Expiration></Rule>', 'InvalidArgument'],
    ['<Rule><Filter/><Status>Enabled</Status><Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>', 'MalformedXML'],
    ['<Rule><Filter/><Status>Enabled</Status><Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration></Rule>', 'InvalidArgument'],
    ['<Rule><Filter/><Status>Enabled</Status></Rule>', 'InvalidRequest'],
    ['<Rule><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>', 'InvalidRequest'],
    ['<Rule><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>', 'InvalidRequest'],
    ['<Rule><Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>', 'MalformedXML'],
    ['<Rule><Prefix>a</Prefix><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>', 'MalformedXML'],
    ['<Rule><Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>', 'InvalidArgument'],
    ['<Rule><ID>x</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule><Rule><ID>x</ID><Filter/><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>', 'InvalidArgument'],
    ['<Rule><Filter/><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>', 'InvalidArgument'],
    ['<Rule><Filter/><Status>Enabled</Status><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>', 'NotImplemented'],
  ]
  for (const [rules, code] of cases) {
    const err = t.throws(() => parseLifecycleConfiguration(xml(rules)), undefined, rules) as { code?: string }
    t.is(err.code, code, rules)
  }
})

test('days round up to the next day boundary (midnight UTC), as S3 counts them; x-amz-expiration names the earliest rule', t => {
  const modified = new Date('2024-03-01T15:20:00Z')
  t.is(dueAfter(modified, 1, DAY).toISOString(), '2024-03-03T00:00:00.000Z')
  t.is(dueAfter(new Date('2024-03-01T00:00:00Z'), 1, DAY).toISOString(), '2024-03-02T00:00:00.000Z')
  t.is(dueAfter(modified, 2, 10_000).toISOString(), '2024-03-01T15:20:20.000Z')
  const config = parseLifecycleConfiguration(Buffer.from('<LifecycleConfiguration>' +
    '<Rule><ID>slow rule</ID><Filter/><Status>Enabled</Status><Expiration><Days>10</Days></Expiration></Rule>' +
    '<Rule><ID>fast</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>' +
    '<Rule><ID>off</ID><Filter/><Status>Disabled</Status><Expiration><Days>0001</Days></Expiration></Rule></LifecycleConfiguration>'))
  t.deepEqual(expirationHeader(config, { key: 'tmp/x', size: 1, lastModified: modified }, DAY),
    { 'x-amz-expiration': 'expiry-date="Sun, 03 Mar 2024 00:00:00 GMT", rule-id="fast"' })
  t.deepEqual(expirationHeader(config, { key: 'other', size: 1, lastModified: modified }, DAY),
    { 'x-amz-expiration': 'expiry-date="Tue, 12 Mar 2024 00:00:00 GMT", rule-id="slow%20rule"' })
})

each('the configuration API: put, get back, x-amz-expiration on PUT/HEAD, delete; S3 errors through the SDK', async (t, { s3, url, capture }) => {
  const Bucket = `lc-api-${targets.findIndex(x => x.url === url)}`
  await s3.send(new CreateBucketCommand({ Bucket }))
  t.deepEqual(await s3Error(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))), { code: 'NoSuchLifecycleConfiguration', status: 404 })
  const Rules: LifecycleRule[] = [
    { ID: 'logs', Filter: { Prefix: 'logs/' }, Status: 'Enabled', Expiration: { Days: 30 } },
    { ID: 'tagged', Filter: { And: { Prefix: 'p/', Tags: [{ Key: 'k', Value: 'v' }], ObjectSizeLessThan: 100 } }, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 5, NewerNoncurrentVersions: 2 } },
    { ID: 'markers', Filter: {}, Status: 'Enabled', Expiration: { ExpiredObjectDeleteMarker: true }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 } },
  ]
  await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket, LifecycleConfiguration: { Rules } }))
  const got = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))
  t.deepEqual(got.Rules, Rules)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'logs/today', Body: 'x' }))
  t.regex(capture.last()['x-amz-expiration'] ?? '', /^expiry-date="[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} 00:00:00 GMT", rule-id="logs"$/)
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'logs/today' }))
  t.is(head.Expiration, capture.last()['x-amz-expiration'])
  t.is((await s3.send(new CopyObjectCommand({ Bucket, Key: 'logs/copy', CopySource: `${Bucket}/logs/today` }))).Expiration, head.Expiration)
  const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'logs/multi' }))
  const part = await s3.send(new UploadPartCommand({ Bucket, Key: 'logs/multi', UploadId: upload.UploadId, PartNumber: 1, Body: 'm' }))
  const completed = await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'logs/multi', UploadId: upload.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }))
  t.is(completed.Expiration, head.Expiration)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'other', Body: 'x' }))
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'other' }))).Expiration, undefined)
  t.deepEqual(await s3Error(s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket, LifecycleConfiguration: { Rules: [{ ID: 'z', Filter: {}, Status: 'Enabled', Expiration: { Days: 0 } }] } }))),
    { code: 'InvalidArgument', status: 400 })
  t.deepEqual(await s3Error(s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket, LifecycleConfiguration: { Rules: [{ ID: 't', Filter: {}, Status: 'Enabled', Transitions: [{ Days: 30, StorageClass: 'GLACIER' }] }] } }))),
    { code: 'NotImplemented', status: 501 })
  t.deepEqual((await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))).Rules, Rules, 'a refused configuration changes nothing')
  const malformed = await signedFetch({ method: 'PUT', url: `${url}/${Bucket}?lifecycle`, body: '<LifecycleConfiguration><Rule><Status>Enabled</Status></Rule>' })
  t.is(malformed.status, 400)
  t.regex(await malformed.text(), /<Code>MalformedXML<\/Code>/)
  t.is((await s3.send(new DeleteBucketLifecycleCommand({ Bucket }))).$metadata.httpStatusCode, 204)
  t.deepEqual(await s3Error(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))), { code: 'NoSuchLifecycleConfiguration', status: 404 })
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'logs/today' }))).Expiration, undefined)
})

each('unversioned: due objects are removed, others stay; stale uploads are aborted; gc frees their blocks', async (t, { s3, gateway, advance, has, capture }) => {
  const Bucket = `lc-plain-${targets.findIndex(x => x.gateway === gateway)}`
  await s3.send(new CreateBucketCommand({ Bucket }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'tmp/old', Body: 'expires' }))
  const cid = capture.last()['x-ipfs-path']?.replace('/ipfs/', '') ?? ''
  await s3.send(new PutObjectCommand({ Bucket, Key: 'tmp/big', Body: 'x'.repeat(200) }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'keep', Body: 'stays' }))
  await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'tmp/upload' }))
  await s3.send(new PutBucketLifecycleConfigurationCommand({
    Bucket,
    LifecycleConfiguration: {
      Rules: [
        { ID: 'tmp', Filter: { And: { Prefix: 'tmp/', ObjectSizeLessThan: 100 } }, Status: 'Enabled', Expiration: { Days: 1 } },
        { ID: 'uploads', Filter: { Prefix: 'tmp/' }, Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 } },
      ],
    },
  }))
  t.deepEqual(await versions(s3, Bucket, ''), ['keep:null*', 'tmp/big:null*', 'tmp/old:null*'])
  await advance(2)
  await eventually(t, 'the due object is removed', async () => (await versions(s3, Bucket, '')).join() === 'keep:null*,tmp/big:null*')
  t.is((await s3.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads?.length, 1, 'the upload is not due before its second day')
  await advance(1)
  await eventually(t, 'the stale upload is aborted', async () => ((await s3.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads ?? []).length === 0)
  t.true(await has(cid))
  await gateway.gc({ gracePeriodMs: 0 })
  t.false(await has(cid), 'gc freed the expired object\'s blocks')
})

each('versioned: current versions get a delete marker, noncurrent ones go after their days keeping the newest, lone markers go', async (t, { s3, gateway, advance }) => {
  const Bucket = `lc-versioned-${targets.findIndex(x => x.gateway === gateway)}`
  await s3.send(new CreateBucketCommand({ Bucket }))
  await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }))
  for (const body of ['v1', 'v2', 'v3']) await s3.send(new PutObjectCommand({ Bucket, Key: 'doc', Body: body }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'gone', Body: 'g' }))
  await s3.send(new DeleteObjectCommand({ Bucket, Key: 'gone' }))
  t.deepEqual(await versions(s3, Bucket, ''), ['doc:version*', 'doc:version', 'doc:version', 'gone:marker*', 'gone:version'])
  await s3.send(new PutBucketLifecycleConfigurationCommand({
    Bucket,
    LifecycleConfiguration: {
      Rules: [
        { ID: 'current', Filter: { Prefix: 'doc' }, Status: 'Enabled', Expiration: { Days: 1 } },
        { ID: 'noncurrent', Filter: {}, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 1 } },
        { ID: 'markers', Filter: {}, Status: 'Enabled', Expiration: { ExpiredObjectDeleteMarker: true } },
      ],
    },
  }))
  await advance(2)
  // doc: v3 expires (a delete marker on top); v1 is beyond the one newest noncurrent version kept.
  // gone: its one noncurrent version is the newest, kept by NewerNoncurrentVersions; so is its marker.
  await eventually(t, 'the first pass', async () => (await versions(s3, Bucket, 'doc')).join() === 'doc:marker*,doc:version,doc:version')
  t.deepEqual(await versions(s3, Bucket, 'gone'), ['gone:marker*', 'gone:version'], 'the newest noncurrent version is kept')
  await s3.send(new PutBucketLifecycleConfigurationCommand({
    Bucket,
    LifecycleConfiguration: {
      Rules: [
        { ID: 'noncurrent', Filter: {}, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 1 } },
        { ID: 'markers', Filter: {}, Status: 'Enabled', Expiration: { ExpiredObjectDeleteMarker: true } },
      ],
    },
  }))
  await advance(2)
  await eventually(t, 'noncurrent versions go, then the lone markers', async () => {
    await advance(1)
    return (await versions(s3, Bucket, '')).length === 0
  })
})

each('suspended: an expired current version becomes the null delete marker; versioned history stays', async (t, { s3, gateway, advance }) => {
  const Bucket = `lc-suspended-${targets.findIndex(x => x.gateway === gateway)}`
  await s3.send(new CreateBucketCommand({ Bucket }))
  await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'versioned' }))
  await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Suspended' } }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'null version' }))
  t.deepEqual(await versions(s3, Bucket, ''), ['k:null*', 'k:version'])
  await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket, LifecycleConfiguration: { Rules: [{ ID: 'e', Filter: {}, Status: 'Enabled', Expiration: { Days: 1 } }] } }))
  await advance(2)
  await eventually(t, 'the null version is replaced by a null delete marker', async () => (await versions(s3, Bucket, '')).join() === 'k:marker*,k:version')
})

test.serial('the AWS CLI sets, reads and deletes a lifecycle configuration', async t => {
  const aws = AWS_CLI
  if (!existsSync(aws)) {
    if (process.env.CI === 'true') throw new Error(`${aws} is missing; .ci/run installs it`)
    t.log('skipped: the AWS CLI is not installed')
    t.pass()
    return
  }
  const { url, s3 } = targets[0]
  await s3.send(new CreateBucketCommand({ Bucket: 'lc-cli' }))
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-lc-cli-'))
  try {
    const file = join(dir, 'lifecycle.json')
    await writeFile(file, JSON.stringify({ Rules: [{ ID: 'cli', Filter: { Prefix: 'x/' }, Status: 'Enabled', Expiration: { Days: 7 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }] }))
    const { AWS_CA_BUNDLE: _ignored, ...inherited } = process.env
    const env = { ...inherited, ...awsCliEnv() }
    const cli = async (...args: string[]): Promise<string> => (await run(aws, ['--endpoint-url', url, ...args], { env, timeout: 120_000 })).stdout
    await cli('s3api', 'put-bucket-lifecycle-configuration', '--bucket', 'lc-cli', '--lifecycle-configuration', `file://${file}`)
    const got = JSON.parse(await cli('s3api', 'get-bucket-lifecycle-configuration', '--bucket', 'lc-cli')) as { Rules: unknown[] }
    t.deepEqual(got.Rules, [{ ID: 'cli', Filter: { Prefix: 'x/' }, Status: 'Enabled', Expiration: { Days: 7 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }])
    await s3.send(new PutObjectCommand({ Bucket: 'lc-cli', Key: 'x/y', Body: 'z' }))
    const head = JSON.parse(await cli('s3api', 'head-object', '--bucket', 'lc-cli', '--key', 'x/y')) as { Expiration?: string }
    t.regex(head.Expiration ?? '', /rule-id="cli"/)
    await cli('s3api', 'delete-bucket-lifecycle', '--bucket', 'lc-cli')
    await t.throwsAsync(cli('s3api', 'get-bucket-lifecycle-configuration', '--bucket', 'lc-cli'), { message: /NoSuchLifecycleConfiguration/ })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('a lifecycle day of one second (S3IPFS_LIFECYCLE_DAY_SECONDS) lets rules act in seconds on the real clock', async t => {
  const gateway = createGateway({ lifecycleDaySeconds: 1, jobs: { pollMs: 50 } })
  const host = await nodeHost.start(gateway, '')
  const s3 = s3Client(host.url)
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'lc-fast' }))
    await s3.send(new PutObjectCommand({ Bucket: 'lc-fast', Key: 'short-lived', Body: 'x' }))
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'lc-fast', LifecycleConfiguration: { Rules: [{ ID: 'one-day', Filter: {}, Status: 'Enabled', Expiration: { Days: 1 } }] } }))
    await eventually(t, 'expired after a "day" or two of one second', async () => (await versions(s3, 'lc-fast', '')).length === 0)
  } finally {
    s3.destroy()
    await host.close()
    await gateway.close()
  }
})

test('a pass saves its place after each page: a run cut short (a killed process) resumes where it stopped and does each change once', async t => {
  const metadata = new MemoryMetadataStore()
  const now = new Date('2030-06-01T12:00:00Z')
  await metadata.createBucket({ name: 'b', owner: 'o', created: now, region: 'us-east-1', versioning: 'Unversioned', config: {
    lifecycle: toStoredLifecycle(parseLifecycleConfiguration(Buffer.from('<LifecycleConfiguration><Rule><ID>all</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>'))),
  } })
  const old = new Date(now.getTime() - 3 * DAY)
  for (let i = 0; i < 7; i++) {
    await metadata.putObject({ bucket: 'b', key: `k${i}`, versionId: 'null', deleteMarker: false, cid: `cid-${i}`, size: 1, etag: 'e', lastModified: old, owner: 'o', headers: {}, metadata: {}, tags: [] })
  }
  const deletes: string[] = []
  const counted = new Proxy(metadata, {
    get (target, name, receiver) {
      if (name === 'deleteObject') return async (...args: Parameters<MemoryMetadataStore['deleteObject']>) => { deletes.push(args[1]); return await target.deleteObject(...args) }
      const value = Reflect.get(target, name, receiver) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  const handler = lifecycleHandler({ metadata: counted, dayMs: DAY, newVersionId: () => 'v', pageSize: 2, runMs: 0 })
  let payload: Record<string, unknown> = {}
  const runs: Array<Record<string, unknown>> = []
  for (let run = 0; run < 20; run++) {
    const job = { id: '1', kind: LIFECYCLE, key: 'b', payload, state: 'leased' as const, attempts: 1, runAt: now, created: now, updated: now }
    const outcome = await handler(job, { signal: new AbortController().signal, now: () => now })
    if (outcome?.state !== 'retry') throw new Error('a pass always waits for its next run')
    runs.push(outcome.payload ?? {})
    if (outcome.runAt > now) break
    payload = outcome.payload ?? {}
  }
  t.true(runs.length >= 4, 'seven keys, two per page: the pass took several runs')
  t.deepEqual(runs[runs.length - 1], {}, 'a finished pass starts afresh next time')
  t.deepEqual(deletes, ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6'], 'each key expired once, in order, across the runs')
  t.is((await metadata.listVersions('b', { limit: 10 })).length, 0)
})
