/**
 * The cold cycle through the AWS SDK with a Storacha space as the archive: the target made by
 * `createArchiveTarget` from the JSON `serve --archive FILE` reads, against `@storacha/upload-api`'s
 * in-memory service over loopback (see test/helpers/storacha.ts for what is real and what stands in).
 */
import { CreateBucketCommand, DeleteObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3'
import test from 'ava'
import { CID } from 'multiformats/cid'
import { createArchiveTarget } from '../src/archive/config.js'
import { StorachaArchiveTarget } from '../src/archive/storacha-target.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import { coldCycle, eventually, startArchiveGateway } from './helpers/archive-env.js'
import { startStoracha } from './helpers/storacha.js'

const KIB = 1024
/** The body's 1 MiB chunks cannot share a shard: the CAR is stored as two shards or more. */
const SHARD_SIZE = 1024 * KIB

/** `size` pseudo-random bytes. */
function bytesOf (size: number): Buffer {
  const bytes = Buffer.alloc(size)
  let x = 7
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}

test('cold cycle with a Storacha space as the archive: several shards, status reports the pieces and a deal, deleting the object removes the upload', async t => {
  t.timeout(30_000)
  const storacha = await startStoracha(t)
  const config = JSON.parse(JSON.stringify({ ...storacha.config, shardSize: SHARD_SIZE })) as unknown
  const target = createArchiveTarget(config)
  t.true(target instanceof StorachaArchiveTarget, 'createArchiveTarget accepts the Storacha configuration')
  t.is(target.name, `storacha:${storacha.space}`)
  t.teardown(async () => { await target.close?.() })

  const metadata = new MemoryMetadataStore()
  const env = await startArchiveGateway(target, { metadata })
  t.teardown(async () => { await env.close() })
  await env.s3.send(new CreateBucketCommand({ Bucket: 'cold-b' }))
  const cidOf = async (): Promise<CID> =>
    CID.parse((await env.s3.send(new HeadObjectCommand({ Bucket: 'cold-b', Key: 'cold' }))).Metadata?.cid as string)
  const uploaded = async (cid: CID): Promise<boolean> => (await storacha.context.uploadTable.exists(storacha.space, cid)).ok === true

  const body = bytesOf(2 * 1024 * KIB + 17)
  await coldCycle(t, env, 'cold-b', body, async () => await uploaded(await cidOf()))

  const cid = await cidOf()
  const record = await metadata.getArchive(cid.toString())
  t.is(record?.target, target.name)
  const location = record?.location ?? {}
  const shards = location.shards as string[]
  const pieces = location.pieces as string[]
  t.true(shards.length >= 2, `${shards.length} shards`)
  t.is(pieces.length, shards.length)
  const upload = await storacha.context.uploadTable.get(storacha.space, cid)
  t.deepEqual(upload.ok?.shards?.map(String).sort(), [...shards].sort(), 'the upload lists the shards the location records')

  await storacha.seedDeal(pieces[0], shards[0])
  const status = await target.status?.(cid, location)
  t.true(status?.stored)
  t.deepEqual(status?.pieces, pieces)
  t.deepEqual(status?.deals, [{ piece: pieces[0], provider: 'f11111', dealId: '111', state: 'active' }])

  await env.s3.send(new DeleteObjectCommand({ Bucket: 'cold-b', Key: 'cold' }))
  await eventually(t, 'deleting the object removes its upload from the space', async () => !await uploaded(cid))
  await eventually(t, 'and the archive record', async () => await metadata.getArchive(cid.toString()) === undefined)
  for (const shard of shards) {
    t.is((await storacha.context.registry.find(storacha.space, CID.parse(shard).multihash)).error?.name, 'EntryNotFound', `shard ${shard} removed`)
  }
  t.false((await target.status?.(cid, location))?.stored)
})
