/**
 * Conditional writes (If-None-Match: *, If-Match) through the AWS SDK over loopback HTTP, on each
 * metadata store: the condition is checked again in the commit's transaction, so racing writers
 * cannot both win. A store wrapper holds every commit of a race until all writers have reached it
 * (so each has passed the early check before the body), or runs a competing change just before a
 * commit: the outcome then rests on the store's check alone, whatever the timing.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import pg from 'pg'
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  GetObjectCommand, ListPartsCommand, PutObjectCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3'
import { createGateway } from '../src/gateway.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import type { MetadataStore } from '../src/metadata/metadata-store.js'
import { PostgresMetadataStore } from '../src/metadata/postgres.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { nodeHost } from './helpers/hosts.js'
import { s3Client, s3Error } from './helpers/s3.js'
import { postgresProblem, whenServices } from './helpers/services.js'

const URL = process.env.S3IPFS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Runs before each putObject / completeUpload reaches the store (set by a test, one at a time). */
type BeforeCommit = (method: 'putObject' | 'completeUpload', store: MetadataStore) => Promise<void>

/** The store with a hook in front of its two commits of object versions. */
function withHook (store: MetadataStore): { store: MetadataStore, hook: { before?: BeforeCommit } } {
  const hook: { before?: BeforeCommit } = {}
  const wrapped = new Proxy(store, {
    get (target, name, receiver) {
      if (name === 'putObject' || name === 'completeUpload') {
        return async (...args: unknown[]) => {
          await hook.before?.(name, target)
          return await (target[name] as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        }
      }
      const value = Reflect.get(target, name, receiver) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { store: wrapped, hook }
}

/** Holds the first `n` calls until all `n` have arrived. */
function barrier (n: number): BeforeCommit {
  let arrived = 0
  let release = (): void => {}
  const all = new Promise<void>((resolve) => { release = resolve })
  return async () => {
    if (++arrived === n) release()
    if (arrived <= n) await all
  }
}

interface Target { name: string, open: () => Promise<{ store: MetadataStore, close: () => Promise<void> }> }

const targets: Target[] = [
  { name: 'memory', open: async () => ({ store: new MemoryMetadataStore(), close: async () => {} }) },
  {
    name: 'sqlite',
    open: async () => {
      const dir = await mkdtemp(join(tmpdir(), 's3ipfs-cond-'))
      // The durable default: concurrent commits share group transactions.
      return { store: new SqliteMetadataStore({ path: join(dir, 'meta.db') }), close: async () => rm(dir, { recursive: true, force: true }) }
    },
  },
]

const postgres = await postgresProblem(URL)
whenServices('conditional writes on PostgreSQL', postgres, () => {
  suite({
    name: 'postgres',
    open: async () => {
      const schema = `s3ipfs_cond_${randomBytes(6).toString('hex')}`
      // Several connections, so that racing commits run in concurrent transactions.
      const store = new PostgresMetadataStore({ connectionString: URL, schema, max: 6 })
      return {
        store,
        close: async () => {
          const client = new pg.Client({ connectionString: URL })
          await client.connect()
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
          await client.end()
        },
      }
    },
  })
})
for (const target of targets) suite(target)

function suite (target: Target): void {
  const it = (title: string, fn: (t: ExecutionContext, s3: S3Client, hook: { before?: BeforeCommit }) => Promise<void>): void => {
    test(`${target.name}: ${title}`, async (t) => {
      const opened = await target.open()
      const { store, hook } = withHook(opened.store)
      const gateway = createGateway({ metadata: store })
      const host = await nodeHost.start(gateway, '')
      const s3 = s3Client(host.url)
      t.teardown(async () => { s3.destroy(); await host.close(); await gateway.close(); await opened.close() })
      await s3.send(new CreateBucketCommand({ Bucket: 'bkt' }))
      await fn(t, s3, hook)
    })
  }

  const body = async (s3: S3Client, Key: string): Promise<string | undefined> =>
    await (await s3.send(new GetObjectCommand({ Bucket: 'bkt', Key }))).Body?.transformToString()

  it('racing PutObject If-None-Match: * writers: exactly one 200, every other 412 PreconditionFailed', async (t, s3, hook) => {
    const n = 8
    hook.before = barrier(n)
    const outcomes = await Promise.allSettled(Array.from({ length: n }, async (_, i) =>
      await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'lock', Body: `writer ${i}`, IfNoneMatch: '*' }))))
    const won = outcomes.flatMap((o, i) => o.status === 'fulfilled' ? [i] : [])
    t.is(won.length, 1)
    for (const o of outcomes) {
      if (o.status === 'rejected') t.deepEqual(await s3Error(Promise.reject(o.reason)), { code: 'PreconditionFailed', status: 412 })
    }
    hook.before = undefined
    t.is(await body(s3, 'lock'), `writer ${won[0]}`)
    // Once it exists, a new writer is refused before its body is stored.
    t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'lock', Body: 'late', IfNoneMatch: '*' }))), { code: 'PreconditionFailed', status: 412 })
  })

  it('racing PutObject If-Match writers holding the same ETag: one replaces it, the others get 412', async (t, s3, hook) => {
    const { ETag } = await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'k', Body: 'v0' }))
    const n = 6
    hook.before = barrier(n)
    const outcomes = await Promise.allSettled(Array.from({ length: n }, async (_, i) =>
      await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'k', Body: `v1 by ${i}`, IfMatch: ETag }))))
    t.is(outcomes.filter((o) => o.status === 'fulfilled').length, 1)
    for (const o of outcomes) {
      if (o.status === 'rejected') t.deepEqual(await s3Error(Promise.reject(o.reason)), { code: 'PreconditionFailed', status: 412 })
    }
  })

  it('PutObject If-Match: a matching ETag writes, another ETag is 412, a missing key 404 NoSuchKey, a key deleted during the write 409', async (t, s3, hook) => {
    const { ETag } = await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'k', Body: 'one' }))
    const second = await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'k', Body: 'two', IfMatch: ETag }))
    t.is(await body(s3, 'k'), 'two')
    t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'k', Body: 'three', IfMatch: ETag }))), { code: 'PreconditionFailed', status: 412 })
    t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'absent', Body: 'x', IfMatch: ETag }))), { code: 'NoSuchKey', status: 404 })
    t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'absent', Body: 'x', IfMatch: '*' }))), { code: 'NoSuchKey', status: 404 })
    // A delete that succeeds after the write's early check and before its commit.
    hook.before = async (_method, store) => { hook.before = undefined; await store.deleteObject('bkt', 'k') }
    t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'k', Body: 'four', IfMatch: second.ETag }))),
      { code: 'ConditionalRequestConflict', status: 409 })
    t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'k' }))), { code: 'NoSuchKey', status: 404 }, 'the write did not happen')
  })

  it('CompleteMultipartUpload If-None-Match: * on a key that exists is 412, and the upload stays: it completes or aborts later', async (t, s3, hook) => {
    const start = async (Key: string): Promise<{ UploadId: string, Parts: Array<{ PartNumber: number, ETag?: string }> }> => {
      const { UploadId = '' } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key }))
      const { ETag } = await s3.send(new UploadPartCommand({ Bucket: 'bkt', Key, UploadId, PartNumber: 1, Body: `part of ${Key}` }))
      return { UploadId, Parts: [{ PartNumber: 1, ETag }] }
    }
    await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'k', Body: 'there first' }))
    const upload = await start('k')
    const complete = (IfNoneMatch?: string, id = upload): CompleteMultipartUploadCommand => new CompleteMultipartUploadCommand({
      Bucket: 'bkt', Key: 'k', UploadId: id.UploadId, MultipartUpload: { Parts: id.Parts }, IfNoneMatch,
    })
    t.deepEqual(await s3Error(s3.send(complete('*'))), { code: 'PreconditionFailed', status: 412 })
    t.is((await s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'k', UploadId: upload.UploadId }))).Parts?.length, 1, 'the upload is still in progress')
    t.is(await body(s3, 'k'), 'there first')
    t.is((await s3.send(complete())).$metadata.httpStatusCode, 200)
    t.is(await body(s3, 'k'), 'part of k')

    // The key appears between Complete's early check and its commit: refused at commit, upload kept.
    const racing = await start('r')
    hook.before = async (method, store) => {
      if (method !== 'completeUpload') return
      hook.before = undefined
      const existing = await store.getObject('bkt', 'k')
      if (existing !== undefined) await store.putObject({ ...existing, key: 'r' })
    }
    t.deepEqual(await s3Error(s3.send(new CompleteMultipartUploadCommand({
      Bucket: 'bkt', Key: 'r', UploadId: racing.UploadId, MultipartUpload: { Parts: racing.Parts }, IfNoneMatch: '*',
    }))), { code: 'PreconditionFailed', status: 412 })
    t.is(await body(s3, 'r'), 'part of k', 'the object that won stays')
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'bkt', Key: 'r', UploadId: racing.UploadId }))
    t.deepEqual(await s3Error(s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'r', UploadId: racing.UploadId }))), { code: 'NoSuchUpload', status: 404 })
  })

  it('CompleteMultipartUpload If-Match: 412 on another ETag; 409 when the object is deleted during the Complete, and the upload is gone', async (t, s3, hook) => {
    const { ETag } = await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'k', Body: 'v0' }))
    const { UploadId = '' } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'k' }))
    const part = await s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'k', UploadId, PartNumber: 1, Body: 'v1' }))
    const complete = (IfMatch: string | undefined): CompleteMultipartUploadCommand => new CompleteMultipartUploadCommand({
      Bucket: 'bkt', Key: 'k', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] }, IfMatch,
    })
    t.deepEqual(await s3Error(s3.send(complete('"0123456789abcdef0123456789abcdef"'))), { code: 'PreconditionFailed', status: 412 })
    hook.before = async (method, store) => {
      if (method !== 'completeUpload') return
      hook.before = undefined
      await store.deleteObject('bkt', 'k')
    }
    t.deepEqual(await s3Error(s3.send(complete(ETag))), { code: 'ConditionalRequestConflict', status: 409 })
    t.deepEqual(await s3Error(s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'k', UploadId }))), { code: 'NoSuchUpload', status: 404 },
      'S3 has the client start a new upload')
  })

  it('CopyObject honours If-None-Match: * and If-Match on the destination', async (t, s3, hook) => {
    await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'src', Body: 'source' }))
    const dst = await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'dst', Body: 'dest' }))
    t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket: 'bkt', Key: 'dst', CopySource: 'bkt/src', IfNoneMatch: '*' }))), { code: 'PreconditionFailed', status: 412 })
    t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket: 'bkt', Key: 'dst', CopySource: 'bkt/src', IfMatch: '"ffffffffffffffffffffffffffffffff"' }))), { code: 'PreconditionFailed', status: 412 })
    t.is(await body(s3, 'dst'), 'dest')
    await s3.send(new CopyObjectCommand({ Bucket: 'bkt', Key: 'dst', CopySource: 'bkt/src', IfMatch: dst.ETag }))
    t.is(await body(s3, 'dst'), 'source')
    await s3.send(new CopyObjectCommand({ Bucket: 'bkt', Key: 'new', CopySource: 'bkt/src', IfNoneMatch: '*' }))
    t.is(await body(s3, 'new'), 'source')
    // Racing copies to one new key: one wins.
    hook.before = barrier(4)
    const outcomes = await Promise.allSettled(Array.from({ length: 4 }, async () =>
      await s3.send(new CopyObjectCommand({ Bucket: 'bkt', Key: 'raced', CopySource: 'bkt/src', IfNoneMatch: '*' }))))
    t.is(outcomes.filter((o) => o.status === 'fulfilled').length, 1)
  })
}
