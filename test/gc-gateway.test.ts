/**
 * Garbage collection and pins through the whole gateway: a property test of random S3 histories
 * with gc() between steps, GC racing uploads, and pins reconciled after a simulated crash.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import * as dagPb from '@ipld/dag-pb'
import test from 'ava'
import fc from 'fast-check'
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  GetObjectCommand, ListObjectVersionsCommand, PutBucketVersioningCommand, PutObjectCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { CID } from 'multiformats/cid'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { collectBytes } from '../src/content/bytes.js'
import type { SweepableBlockstore } from '../src/content/gc.js'
import type { Pinner } from '../src/content/pins.js'
import { createGateway } from '../src/gateway.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import type { MetadataStore } from '../src/metadata/metadata-store.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import type { Gateway } from '../src/types.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { deterministicBytes, s3Client, s3Error } from './helpers/s3.js'

const MiB = 1024 * 1024
const BUCKET = 'gc-bucket'

/** Bodies shared across keys and operations, so DAGs share blocks; some span several blocks. */
const BODIES = [
  Buffer.alloc(0),
  Buffer.from('small shared body'),
  deterministicBytes('gc-a', MiB + 17), // two leaves under one node
  deterministicBytes('gc-b', 2 * MiB), // two full leaves
]
/** The first part of multipart uploads: >= 5 MiB, and shares its leaves with BODIES[3]'s content only by chance. */
const PART1 = deterministicBytes('gc-part', 5 * MiB)
const KEYS = ['a', 'b', 'dir/c']

async function bytesOf (s3: S3Client, Key: string, VersionId?: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key, VersionId }))
  return Buffer.from(await res.Body!.transformToByteArray())
}

/** Multihash keys of every block reachable from the referenced roots. */
async function reachable (metadata: MetadataStore, blockstore: SweepableBlockstore): Promise<Set<string>> {
  const seen = new Set<string>()
  const visit = async (cid: CID): Promise<void> => {
    const key = Buffer.from(cid.multihash.bytes).toString('base64')
    if (seen.has(key)) return
    seen.add(key)
    if (cid.code !== dagPb.code) return
    const node = dagPb.decode(await collectBytes(blockstore.get(cid)))
    for (const link of node.Links) await visit(link.Hash)
  }
  for await (const root of metadata.referencedCids()) await visit(CID.parse(root))
  return seen
}

async function stored (blockstore: SweepableBlockstore): Promise<Set<string>> {
  const out = new Set<string>()
  for await (const block of blockstore.listBlocks()) out.add(Buffer.from(block.cid.multihash.bytes).toString('base64'))
  return out
}

type Op =
  | { kind: 'put', key: number, body: number }
  | { kind: 'copy', from: number, to: number }
  | { kind: 'delete', key: number }
  | { kind: 'deleteVersion', key: number, pick: number }
  | { kind: 'multipart', key: number, body: number }
  | { kind: 'versioning', status: 'Enabled' | 'Suspended' }
  | { kind: 'gc' }

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), key: fc.nat(KEYS.length - 1), body: fc.nat(BODIES.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('copy' as const), from: fc.nat(KEYS.length - 1), to: fc.nat(KEYS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat(KEYS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deleteVersion' as const), key: fc.nat(KEYS.length - 1), pick: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('multipart' as const), key: fc.nat(KEYS.length - 1), body: fc.nat(BODIES.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('versioning' as const), status: fc.constantFrom('Enabled' as const, 'Suspended' as const) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'gc' as const }) },
)

/** What the bucket must hold: each key's versions, newest first (body undefined = delete marker). */
type Model = Map<string, Array<{ versionId: string, body?: Buffer }>>

test('property: random histories of put, copy, delete, versioned delete, multipart and suspend keep every version readable; gc leaves exactly the reachable blocks', async t => {
  await fc.assert(fc.asyncProperty(fc.array(opArbitrary, { minLength: 4, maxLength: 14 }), async (ops) => {
    const blockstore = new MemoryBlockstore()
    const metadata = new MemoryMetadataStore()
    const gateway = createGateway({ blockstore, metadata })
    const host = await nodeHost.start(gateway, '')
    const s3 = s3Client(host.url)
    try {
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }))
      const model: Model = new Map()
      let versioning: 'Unversioned' | 'Enabled' | 'Suspended' = 'Unversioned'
      const write = (key: string, versionId: string | undefined, body: Buffer | undefined): void => {
        const chain = (model.get(key) ?? []).filter(v => versioning === 'Enabled' || v.versionId !== 'null')
        chain.unshift({ versionId: versionId ?? 'null', body })
        model.set(key, chain)
      }

      for (const op of ops) {
        switch (op.kind) {
          case 'put': {
            const out = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEYS[op.key], Body: BODIES[op.body] }))
            write(KEYS[op.key], out.VersionId, BODIES[op.body])
            break
          }
          case 'copy': {
            const latest = model.get(KEYS[op.from])?.[0]
            const copy = s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: KEYS[op.to], CopySource: `${BUCKET}/${KEYS[op.from]}`, MetadataDirective: 'REPLACE' }))
            if (latest?.body === undefined) {
              t.is((await s3Error(copy)).code, 'NoSuchKey')
            } else {
              write(KEYS[op.to], (await copy).VersionId, latest.body)
            }
            break
          }
          case 'delete': {
            const out = await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: KEYS[op.key] }))
            if (versioning === 'Unversioned') {
              model.set(KEYS[op.key], (model.get(KEYS[op.key]) ?? []).filter(v => v.versionId !== 'null'))
            } else {
              write(KEYS[op.key], out.VersionId, undefined)
            }
            break
          }
          case 'deleteVersion': {
            const chain = model.get(KEYS[op.key]) ?? []
            if (chain.length === 0) break
            const victim = chain[op.pick % chain.length]
            await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: KEYS[op.key], VersionId: victim.versionId }))
            model.set(KEYS[op.key], chain.filter(v => v !== victim))
            break
          }
          case 'multipart': {
            const key = KEYS[op.key]
            const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }))
            const p1 = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 1, Body: PART1 }))
            const p2 = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 2, Body: BODIES[op.body] }))
            const out = await s3.send(new CompleteMultipartUploadCommand({
              Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] },
            }))
            write(key, out.VersionId, Buffer.concat([PART1, BODIES[op.body]]))
            break
          }
          case 'versioning':
            await s3.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: op.status } }))
            versioning = op.status
            break
          case 'gc': {
            const report = await gateway.gc({ gracePeriodMs: 0 })
            t.deepEqual(report.blocks?.missing, [])
            // Nothing unreferenced remains, and nothing referenced is gone.
            t.deepEqual([...await stored(blockstore)].sort(), [...await reachable(metadata, blockstore)].sort())
            break
          }
        }

        // After every step, the bucket holds exactly the model's versions, each byte-identical.
        const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET }))
        const actual = new Map<string, string[]>()
        for (const v of [...(listed.Versions ?? []), ...(listed.DeleteMarkers ?? [])]) {
          actual.set(v.Key as string, [...(actual.get(v.Key as string) ?? []), `${v.VersionId as string}${(listed.DeleteMarkers ?? []).includes(v) ? ':marker' : ''}`])
        }
        for (const key of KEYS) {
          const expected = (model.get(key) ?? []).map(v => `${v.versionId}${v.body === undefined ? ':marker' : ''}`).sort()
          t.deepEqual((actual.get(key) ?? []).sort(), expected, `${key} after ${JSON.stringify(op)}`)
          for (const v of model.get(key) ?? []) {
            if (v.body !== undefined) t.true((await bytesOf(s3, key, v.versionId)).equals(v.body), `${key}@${v.versionId}`)
          }
        }
      }
    } finally {
      s3.destroy()
      await host.close()
      await gateway.close()
    }
  }), { numRuns: 12 })
})

test('gc running in a loop while uploads (single and multipart) stream loses nothing in flight or committed', async t => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-gc-race-'))
  const blockstore = new FsBlockstore({ path: join(dir, 'blocks') })
  const metadata = new SqliteMetadataStore({ path: join(dir, 'meta.db'), synchronous: 'NORMAL' })
  const gateway = createGateway({ blockstore, metadata })
  const host: RunningHost = await nodeHost.start(gateway, '')
  const s3 = s3Client(host.url)
  t.teardown(async () => { s3.destroy(); await host.close(); await gateway.close(); await rm(dir, { recursive: true, force: true }) })
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }))
  // Garbage to collect meanwhile: an object written and deleted.
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'garbage', Body: deterministicBytes('garbage', 3 * MiB) }))
  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'garbage' }))

  const bodies = new Map<string, Buffer>()
  for (let i = 0; i < 8; i++) bodies.set(`single-${i}`, deterministicBytes(`race-${i % 3}`, (i + 1) * 700_000)) // shared prefixes
  bodies.set('multi', deterministicBytes('race-multi', 13 * MiB + 5))
  let uploading = true
  const runs: number[] = []
  const collector = (async () => {
    while (uploading) {
      const report = await gateway.gc({ gracePeriodMs: 0 })
      t.deepEqual(report.blocks?.missing, [])
      runs.push(report.blocks?.deleted ?? 0)
      await new Promise(resolve => setImmediate(resolve))
    }
  })()
  await Promise.all([...bodies].map(async ([Key, Body]) => {
    if (Key === 'multi') {
      await new Upload({ client: s3, params: { Bucket: BUCKET, Key, Body }, partSize: 5 * MiB, queueSize: 3 }).done()
    } else {
      // Trickled, so each upload spans several collections: its early blocks are older than a
      // later collection's start, and only its write session keeps them.
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: Readable.from(trickle(Body)), ContentLength: Body.length }))
    }
  }))
  uploading = false
  await collector
  const final = await gateway.gc({ gracePeriodMs: 0 })
  t.true(runs.length >= 2, `gc ran ${runs.length} times during the uploads`)
  t.true(runs.some(n => n > 0) || (final.blocks?.deleted ?? 0) > 0, 'the deleted object was collected')
  for (const [Key, Body] of bodies) t.true((await bytesOf(s3, Key)).equals(Body), Key)
  t.deepEqual([...await stored(blockstore)].sort(), [...await reachable(metadata, blockstore)].sort())
})

async function * trickle (body: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < body.length; i += 256 * 1024) {
    yield body.subarray(i, i + 256 * 1024)
    await new Promise(resolve => setTimeout(resolve, 15))
  }
}

/** A MemoryBlockstore that also pins, as a networked IPFS node does. */
class PinningBlockstore extends MemoryBlockstore implements Pinner {
  readonly pins = new Set<string>()
  async pin (cid: CID): Promise<void> { this.pins.add(cid.toV1().toString()) }
  async unpin (cid: CID): Promise<void> { this.pins.delete(cid.toV1().toString()) }
  async * pinned (): AsyncIterable<CID> { for (const p of [...this.pins]) yield CID.parse(p) }
}

test('on a pinning store, pins follow references, and reconcile repairs a crash between commit and pin', async t => {
  const blockstore = new PinningBlockstore()
  const metadata = new MemoryMetadataStore()
  const gateway = createGateway({ blockstore, metadata })
  const host = await nodeHost.start(gateway, '')
  const s3 = s3Client(host.url)
  t.teardown(async () => { s3.destroy(); await host.close(); await gateway.close() })
  const referenced = async (): Promise<string[]> => {
    const out: string[] = []
    for await (const cid of metadata.referencedCids()) out.push(CID.parse(cid).toV1().toString())
    return out.sort()
  }
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }))
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'one', Body: 'first' }))
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'two', Body: 'second' }))
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'one', Body: 'replaced' }))
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp' }))
  await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'mp', UploadId, PartNumber: 1, Body: 'a part' }))
  t.deepEqual([...blockstore.pins].sort(), await referenced())
  t.is(blockstore.pins.size, 3) // 'replaced', 'second' and the part
  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'two' }))
  t.deepEqual([...blockstore.pins].sort(), await referenced())

  // A crash after a commit and before its pin, and one before an unpin:
  const [lost] = await referenced()
  blockstore.pins.delete(lost)
  const stale = (await new MemoryBlockstore().put(CID.parse('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'), new Uint8Array())).toString()
  blockstore.pins.add(stale)
  const report = await gateway.gc({ gracePeriodMs: 0 })
  t.deepEqual(report.pins, { pinned: 1, unpinned: 1, total: 2 })
  t.deepEqual([...blockstore.pins].sort(), await referenced())

  // A gateway starting on the same stores reconciles by itself (close waits for it).
  blockstore.pins.delete(lost)
  blockstore.pins.add(stale)
  await createGateway({ blockstore, metadata: new MemoryMetadataStoreView(metadata) }).close()
  t.deepEqual([...blockstore.pins].sort(), await referenced())
})

/** The same metadata under a second gateway whose close must not close the shared store. */
class MemoryMetadataStoreView extends MemoryMetadataStore {
  constructor (private readonly inner: MetadataStore) { super() }
  override referencedCids (): AsyncIterable<string> { return this.inner.referencedCids() }
  override async refCount (cid: string): Promise<number> { return await this.inner.refCount(cid) }
}
