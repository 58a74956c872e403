/**
 * S3 versioning through the AWS SDK over loopback HTTP, on the standalone server's storage
 * (FsBlockstore + SQLite) and on the in-memory default.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketCommand,
  DeleteObjectCommand, DeleteObjectsCommand, GetBucketVersioningCommand, GetObjectCommand, GetObjectTaggingCommand,
  HeadObjectCommand, ListObjectsV2Command, ListObjectVersionsCommand, PutBucketVersioningCommand, PutObjectCommand,
  PutObjectTaggingCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3'
import { blockstoreUnderTest } from './helpers/blockstore.js'
import { createGateway } from '../src/gateway.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import type { MetadataStore } from '../src/metadata/metadata-store.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { captureHeaders, s3Client, s3Error } from './helpers/s3.js'
import { signedFetch } from './helpers/sign.js'

interface Target { name: string, s3: S3Client, url: string, metadata: MetadataStore, headers: { last: () => Record<string, string> } }

const targets: Target[] = []
const cleanup: Array<() => Promise<void>> = []

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-versioning-'))
  const sqlite = new SqliteMetadataStore({ path: join(dir, 'meta.db'), synchronous: 'NORMAL' })
  for (const [name, gateway, metadata] of [
    ['disk+sqlite', createGateway({ blockstore: blockstoreUnderTest(dir), metadata: sqlite }), sqlite],
    ['memory', ...(() => { const m = new MemoryMetadataStore(); return [createGateway({ metadata: m }), m] as const })()],
  ] as const) {
    const host: RunningHost = await nodeHost.start(gateway, '')
    const s3 = s3Client(host.url)
    targets.push({ name, s3, url: host.url, metadata: metadata as MetadataStore, headers: captureHeaders(s3) })
    cleanup.push(async () => { s3.destroy(); await host.close(); await gateway.close() })
  }
  cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
})
test.after.always(async () => {
  for (const c of cleanup) await c()
})

let counter = 0
async function versionedBucket (s3: S3Client, status: 'Enabled' | 'Suspended' = 'Enabled'): Promise<string> {
  const Bucket = `versioned-${++counter}`
  await s3.send(new CreateBucketCommand({ Bucket }))
  await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: status } }))
  return Bucket
}

async function text (s3: S3Client, Bucket: string, Key: string, VersionId?: string): Promise<string> {
  const res = await s3.send(new GetObjectCommand({ Bucket, Key, VersionId }))
  return await res.Body!.transformToString()
}

function each (title: string, body: (t: import('ava').ExecutionContext, target: Target) => Promise<void>): void {
  for (const name of ['disk+sqlite', 'memory']) {
    test(`${name}: ${title}`, async t => { await body(t, targets.find(x => x.name === name)!) })
  }
}

each('PutBucketVersioning / GetBucketVersioning: Enabled, Suspended, never back; bad status is MalformedXML', async (t, { s3, url }) => {
  const Bucket = `cfg-${++counter}`
  await s3.send(new CreateBucketCommand({ Bucket }))
  t.is((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status, undefined)
  await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }))
  t.is((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status, 'Enabled')
  await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Suspended' } }))
  t.is((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status, 'Suspended')
  for (const body of ['<VersioningConfiguration><Status>Disabled</Status></VersioningConfiguration>', '<VersioningConfiguration><Status>Enabled</Status>', '']) {
    const res = await signedFetch({ method: 'PUT', url: `${url}/${Bucket}?versioning`, body })
    t.is(res.status, 400, body)
    t.regex(await res.text(), /<Code>MalformedXML<\/Code>/)
  }
  t.is((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status, 'Suspended')
  t.deepEqual(await s3Error(s3.send(new PutBucketVersioningCommand({ Bucket: 'no-such-bucket-v', VersioningConfiguration: { Status: 'Enabled' } }))), { code: 'NoSuchBucket', status: 404 })
})

each('every write is a new version; GET/HEAD by versionId; delete markers; deleting a marker brings the version back', async (t, { s3, headers }) => {
  const Bucket = await versionedBucket(s3)
  const v1 = await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'one' }))
  const v2 = await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'two' }))
  t.truthy(v1.VersionId)
  t.truthy(v2.VersionId)
  t.not(v1.VersionId, v2.VersionId)
  t.regex(v1.VersionId ?? '', /^[A-Za-z0-9._-]+$/)
  t.is(await text(s3, Bucket, 'k'), 'two')
  t.is(await text(s3, Bucket, 'k', v1.VersionId), 'one')
  t.is(headers.last()['x-amz-version-id'], v1.VersionId as string)
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'k', VersionId: v1.VersionId }))
  t.is(head.VersionId, v1.VersionId)
  t.is(head.ContentLength, 3)
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'k', VersionId: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }))), { code: 'NoSuchVersion', status: 404 })

  const del = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k' }))
  t.true(del.DeleteMarker)
  t.truthy(del.VersionId)
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'k' }))), { code: 'NoSuchKey', status: 404 })
  t.is(headers.last()['x-amz-delete-marker'], 'true')
  t.is(headers.last()['x-amz-version-id'], del.VersionId as string)
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'k', VersionId: del.VersionId }))), { code: 'MethodNotAllowed', status: 405 })
  t.is((await s3.send(new ListObjectsV2Command({ Bucket }))).KeyCount, 0)
  t.is(await text(s3, Bucket, 'k', v2.VersionId), 'two') // old versions stay readable

  const undelete = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: del.VersionId }))
  t.true(undelete.DeleteMarker)
  t.is(undelete.VersionId, del.VersionId)
  t.is(await text(s3, Bucket, 'k'), 'two')
  const gone = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: v2.VersionId }))
  t.is(gone.VersionId, v2.VersionId)
  t.is(gone.DeleteMarker, undefined)
  t.is(await text(s3, Bucket, 'k'), 'one')
})

each('suspended buckets write and delete the null version only', async (t, { s3 }) => {
  const Bucket = await versionedBucket(s3)
  const kept = await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'enabled-era' }))
  await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Suspended' } }))
  const n1 = await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'null-1' }))
  t.is(n1.VersionId, 'null')
  const n2 = await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'null-2' }))
  t.is(n2.VersionId, 'null')
  let versions = await s3.send(new ListObjectVersionsCommand({ Bucket }))
  t.deepEqual(versions.Versions?.map(v => [v.VersionId, v.IsLatest]), [['null', true], [kept.VersionId, false]])
  t.is(await text(s3, Bucket, 'k', 'null'), 'null-2')
  const marker = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k' }))
  t.true(marker.DeleteMarker)
  t.is(marker.VersionId, 'null')
  versions = await s3.send(new ListObjectVersionsCommand({ Bucket }))
  t.deepEqual(versions.Versions?.map(v => v.VersionId), [kept.VersionId])
  t.deepEqual(versions.DeleteMarkers?.map(m => [m.VersionId, m.IsLatest]), [['null', true]])
  t.is(await text(s3, Bucket, 'k', kept.VersionId), 'enabled-era')
})

each('CopyObject from a version, tagging by version, DeleteObjects with and without version ids', async (t, { s3 }) => {
  const Bucket = await versionedBucket(s3)
  const v1 = await s3.send(new PutObjectCommand({ Bucket, Key: 'src', Body: 'first' }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'src', Body: 'second' }))
  const copy = await s3.send(new CopyObjectCommand({ Bucket, Key: 'dst', CopySource: `${Bucket}/src?versionId=${v1.VersionId}` }))
  t.is(copy.CopySourceVersionId, v1.VersionId)
  t.truthy(copy.VersionId)
  t.is(await text(s3, Bucket, 'dst'), 'first')

  await s3.send(new PutObjectTaggingCommand({ Bucket, Key: 'src', VersionId: v1.VersionId, Tagging: { TagSet: [{ Key: 'era', Value: 'old' }] } }))
  t.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: 'src', VersionId: v1.VersionId }))).TagSet, [{ Key: 'era', Value: 'old' }])
  t.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: 'src' }))).TagSet, [])

  const result = await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: 'src', VersionId: v1.VersionId }, { Key: 'dst' }] } }))
  const byKey = new Map(result.Deleted?.map(d => [d.Key, d]))
  t.is(byKey.get('src')?.VersionId, v1.VersionId)
  t.true(byKey.get('dst')?.DeleteMarker)
  t.truthy(byKey.get('dst')?.DeleteMarkerVersionId)
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'src', VersionId: v1.VersionId }))), { code: 'NoSuchVersion', status: 404 })
  t.is(await text(s3, Bucket, 'dst', copy.VersionId), 'first')
})

each('ListObjectVersions pages through versions and markers with key and version-id markers', async (t, { s3 }) => {
  const Bucket = await versionedBucket(s3)
  const expected: string[] = []
  for (const key of ['a', 'b/1', 'b/2', 'c']) {
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await s3.send(new PutObjectCommand({ Bucket, Key: key, Body: `${key}${i}` }))).VersionId as string)
    if (key === 'c') ids.push((await s3.send(new DeleteObjectCommand({ Bucket, Key: key }))).VersionId as string)
    expected.push(...ids.reverse().map(id => `${key}:${id}`))
  }
  const all = await s3.send(new ListObjectVersionsCommand({ Bucket }))
  const listed = [...(all.Versions ?? []), ...(all.DeleteMarkers ?? [])].map(v => ({ key: v.Key as string, id: v.VersionId as string, latest: v.IsLatest }))
  const order = (x: { key: string, id: string }) => expected.indexOf(`${x.key}:${x.id}`)
  listed.sort((x, y) => order(x) - order(y))
  t.deepEqual(listed.map(v => `${v.key}:${v.id}`), expected)
  t.deepEqual(listed.filter(v => v.latest === true).map(v => v.key), ['a', 'b/1', 'b/2', 'c'])
  t.deepEqual(all.DeleteMarkers?.map(m => m.Key), ['c'])

  for (const pageSize of [1, 2, 5]) {
    const seen: string[] = []
    let KeyMarker: string | undefined
    let VersionIdMarker: string | undefined
    for (let pages = 0; pages < 40; pages++) {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket, MaxKeys: pageSize, KeyMarker, VersionIdMarker }))
      const entries = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map(v => `${v.Key}:${v.VersionId}`).sort((x, y) => expected.indexOf(x) - expected.indexOf(y))
      t.true(entries.length <= pageSize)
      seen.push(...entries)
      if (page.IsTruncated !== true) break
      KeyMarker = page.NextKeyMarker
      VersionIdMarker = page.NextVersionIdMarker
    }
    t.deepEqual(seen, expected, `pages of ${pageSize}`)
  }

  const rolled = await s3.send(new ListObjectVersionsCommand({ Bucket, Delimiter: '/' }))
  t.deepEqual(rolled.CommonPrefixes?.map(p => p.Prefix), ['b/'])
  t.deepEqual([...new Set(rolled.Versions?.map(v => v.Key))], ['a', 'c'])
  const prefixed = await s3.send(new ListObjectVersionsCommand({ Bucket, Prefix: 'b/' }))
  t.is(prefixed.Versions?.length, 6)
  t.deepEqual(await s3Error(s3.send(new ListObjectVersionsCommand({ Bucket, VersionIdMarker: 'x' }))), { code: 'InvalidArgument', status: 400 })
})

each('a multipart upload in a versioned bucket completes into a new version; versions sharing content survive deletes', async (t, { s3 }) => {
  const Bucket = await versionedBucket(s3)
  const first = await s3.send(new PutObjectCommand({ Bucket, Key: 'same', Body: 'shared bytes' }))
  const second = await s3.send(new PutObjectCommand({ Bucket, Key: 'same', Body: 'shared bytes' }))
  await s3.send(new DeleteObjectCommand({ Bucket, Key: 'same', VersionId: second.VersionId }))
  t.is(await text(s3, Bucket, 'same', first.VersionId), 'shared bytes')

  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'mp' }))
  const part = await s3.send(new UploadPartCommand({ Bucket, Key: 'mp', UploadId, PartNumber: 1, Body: 'multipart body' }))
  const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'mp', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }))
  t.truthy(done.VersionId)
  t.not(done.VersionId, 'null')
  t.is(await text(s3, Bucket, 'mp', done.VersionId), 'multipart body')
})

each('DeleteBucket refuses a bucket holding only old versions and markers', async (t, { s3 }) => {
  const Bucket = await versionedBucket(s3)
  const v = await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'x' }))
  const m = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k' }))
  t.deepEqual(await s3Error(s3.send(new DeleteBucketCommand({ Bucket }))), { code: 'BucketNotEmpty', status: 409 })
  await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: v.VersionId }))
  await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: m.VersionId }))
  await s3.send(new DeleteBucketCommand({ Bucket }))
  t.pass()
})
