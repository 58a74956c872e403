/**
 * The Storacha archive target against `@storacha/upload-api`'s in-memory Storacha service, driven
 * through the real `@storacha/client`; see test/helpers/storacha.ts for what is real and what
 * stands in (the gateway, the deal). CARs come from the gateway's own ContentStore.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CarBufferReader } from '@ipld/car/buffer-reader'
import * as Ed25519 from '@storacha/client/principal/ed25519'
import test, { type ExecutionContext } from 'ava'
import { MemoryBlockstore } from 'blockstore-core'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { parseStorachaArchiveConfig, StorachaArchiveTarget, type StorachaArchiveConfig } from '../src/archive/storacha-target.js'
import { ContentStore } from '../src/content/content-store.js'
import { startStoracha } from './helpers/storacha.js'
import type { ArchiveLocation } from '../src/archive/target.js'

/** Shards of about one 256 KiB block each. */
const SHARD_SIZE = 300 * 1024

async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** `size` pseudo-random bytes. */
function bytesOf (size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size)
  let x = seed
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}

/**
 * A CAR of `bytes` (or `size` pseudo-random bytes) as the gateway exports it, and its root; under the v0 profile
 * (256 KiB chunks), so that a few hundred KiB make several blocks.
 */
async function carOf (content: number | Uint8Array, seed = 1): Promise<{ cid: CID, car: Buffer }> {
  const bytes = typeof content === 'number' ? bytesOf(content, seed) : content
  const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile: 'unixfs-v0-2015' })
  const { cid } = await store.add([bytes])
  return { cid, car: await collect(await store.exportCar(cid)) }
}

async function * once (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

async function scratch (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'storacha-target-test-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

function strings (location: ArchiveLocation, field: string): string[] {
  return location[field] as string[]
}

test('a small CAR: put, then get gives the same bytes; the service holds the upload, its shard blob and piece', async t => {
  const storacha = await startStoracha(t)
  const tmpDir = await scratch(t)
  const target = new StorachaArchiveTarget({ ...storacha.config, tmpDir })
  t.is(target.name, `storacha:${storacha.space}`)
  const { cid, car } = await carOf(100_000)

  const location = await target.put(cid, once(car))
  t.is(location.root, cid.toString())
  t.is(location.space, storacha.space)
  t.is(strings(location, 'shards').length, 1)
  t.is(strings(location, 'pieces').length, 1)
  t.deepEqual(await readdir(tmpDir), [], 'the spooled shard is removed')

  const space = storacha.space
  t.deepEqual(await storacha.context.uploadTable.exists(space, cid), { ok: true })
  t.truthy((await storacha.context.registry.find(space, CID.parse(strings(location, 'shards')[0]).multihash)).ok)

  t.deepEqual(await collect(await target.get(cid, location)), car)
})

test('a CAR of several shards: each shard names the root, and get re-assembles the exact CAR', async t => {
  const storacha = await startStoracha(t)
  const target = new StorachaArchiveTarget({ ...storacha.config, shardSize: SHARD_SIZE })
  const { cid, car } = await carOf(700_000)

  const location = await target.put(cid, once(car))
  const shards = strings(location, 'shards')
  t.true(shards.length >= 3, `${shards.length} shards`)
  t.is(strings(location, 'pieces').length, shards.length)
  for (const shard of shards) {
    const response = await fetch(`${storacha.gatewayUrl}/ipfs/${shard}`)
    const bytes = new Uint8Array(await response.arrayBuffer())
    t.true(bytes.byteLength <= SHARD_SIZE)
    t.deepEqual(CarBufferReader.fromBytes(bytes).getRoots().map(String), [cid.toString()])
  }
  t.deepEqual(await collect(await target.get(cid, location)), car)
})

test('two versions that differ in their first bytes share no shard: deleting one leaves the other whole', async t => {
  const storacha = await startStoracha(t)
  const target = new StorachaArchiveTarget({ ...storacha.config, shardSize: SHARD_SIZE })
  // Same size, same blocks after the first chunk: the client's own sharding would give both the
  // same middle shard, whose removal with one version would take it from the other.
  const v1 = bytesOf(700_000, 3)
  const v2 = Uint8Array.from(v1)
  v2[0] ^= 0xff
  const one = await carOf(v1)
  const two = await carOf(v2)
  const first = await target.put(one.cid, once(one.car))
  const second = await target.put(two.cid, once(two.car))
  t.deepEqual(strings(first, 'shards').filter(shard => strings(second, 'shards').includes(shard)), [])

  await target.delete(one.cid, first)
  for (const shard of strings(second, 'shards')) {
    t.truthy((await storacha.context.registry.find(storacha.space, CID.parse(shard).multihash)).ok, shard)
  }
  t.deepEqual(await collect(await target.get(two.cid, second)), two.car)
})

test('putting the same CID again is harmless: same location, one set of shards in the upload', async t => {
  const storacha = await startStoracha(t)
  const target = new StorachaArchiveTarget({ ...storacha.config, shardSize: SHARD_SIZE })
  const { cid, car } = await carOf(600_000)

  const first = await target.put(cid, once(car))
  const again = await target.put(cid, once(car))
  t.deepEqual(again, first)
  const upload = await storacha.context.uploadTable.get(storacha.space, cid)
  t.deepEqual(upload.ok?.shards?.map(String).sort(), [...strings(first, 'shards')].sort())
  t.deepEqual(await collect(await target.get(cid, again)), car)
})

test('a CAR whose header names another root is refused before anything is stored', async t => {
  const storacha = await startStoracha(t)
  const target = new StorachaArchiveTarget(storacha.config)
  const { cid } = await carOf(1000, 1)
  const { car: other } = await carOf(1000, 2)
  await t.throwsAsync(target.put(cid, once(other)), { instanceOf: TypeError, message: /roots/ })
  t.deepEqual(await storacha.context.uploadTable.exists(storacha.space, cid), { ok: false })
})

test('delete removes the upload and its shard blobs; get is then ERR_NOT_FOUND; deleting again is fine', async t => {
  const storacha = await startStoracha(t)
  const target = new StorachaArchiveTarget({ ...storacha.config, shardSize: SHARD_SIZE })
  const { cid, car } = await carOf(600_000)
  const location = await target.put(cid, once(car))
  const space = storacha.space

  await target.delete(cid, location)
  t.deepEqual(await storacha.context.uploadTable.exists(space, cid), { ok: false })
  for (const shard of strings(location, 'shards')) {
    t.is((await storacha.context.registry.find(space, CID.parse(shard).multihash)).error?.name, 'EntryNotFound')
  }
  const err = await t.throwsAsync(target.get(cid, location))
  t.is((err as { code?: string }).code, 'ERR_NOT_FOUND')
  await t.notThrowsAsync(target.delete(cid, location))
  t.false((await target.status(cid, location)).stored)
})

test('get of a shard the gateway does not have is ERR_NOT_FOUND', async t => {
  const storacha = await startStoracha(t)
  const target = new StorachaArchiveTarget(storacha.config)
  const { cid, car } = await carOf(10_000)
  const location = await target.put(cid, once(car))
  // The upload exists, but the location lists a shard nobody stored.
  const missing = CID.create(1, 0x0202, await sha256.digest(new TextEncoder().encode('no such shard'))).toString()
  const err = await t.throwsAsync(target.get(cid, { ...location, shards: [missing] }))
  t.is((err as { code?: string }).code, 'ERR_NOT_FOUND')
})

test('status: stored, the pieces, and the deal filecoin/info reports once the storefront knows one', async t => {
  const storacha = await startStoracha(t)
  const target = new StorachaArchiveTarget(storacha.config)
  const { cid, car } = await carOf(50_000)
  const location = await target.put(cid, once(car))
  const [piece] = strings(location, 'pieces')

  const before = await target.status(cid, location)
  t.true(before.stored)
  t.deepEqual(before.pieces, [piece])
  t.deepEqual(before.deals, [])

  await storacha.seedDeal(piece, strings(location, 'shards')[0])
  // The client sends filecoin/info without a nonce and the service answers an invocation it has
  // seen with its stored receipt: the same query within the same second would get the old answer.
  await new Promise(resolve => setTimeout(resolve, 1010 - Date.now() % 1000))
  const after = await target.status(cid, location)
  t.deepEqual(after.deals, [{ piece, provider: 'f11111', dealId: '111', state: 'active' }])
  t.deepEqual(after.detail?.aggregates, [{ piece, aggregate: piece }])
})

test('parse: each bad field is a TypeError naming it, and no message quotes the key or the proof', async t => {
  const storacha = await startStoracha(t)
  const { config } = storacha
  t.deepEqual(parseStorachaArchiveConfig(JSON.parse(JSON.stringify(config))), config)

  const stranger = await Ed25519.generate()
  const cases: Array<[string, unknown]> = [
    ['configuration', null],
    ['type', { ...config, type: 's3' }],
    ['key', { ...config, key: undefined }],
    ['key', { ...config, key: 'not a key' }],
    ['key', { ...config, key: 'M' + Buffer.from('too short').toString('base64') }],
    ['proof', { ...config, proof: 'bm90IGEgcHJvb2Y' }],
    ['proof', { ...config, proof: await storacha.proofFor(stranger.did()) }],
    ['serviceUrl', { ...config, serviceUrl: 'ftp://example.com' }],
    ['serviceDid', { ...config, serviceDid: 'up.storacha.network' }],
    ['shardSize', { ...config, shardSize: 1000 }],
    ['retries', { ...config, retries: -1 }],
  ]
  for (const [field, json] of cases) {
    const err = t.throws(() => parseStorachaArchiveConfig(json), { instanceOf: TypeError }, field)
    t.regex(err?.message ?? '', new RegExp(`\\b${field}\\b`), field)
    t.false(err?.message.includes(config.key.slice(4, 20)) ?? true, `${field}: no key in the message`)
    t.false(err?.message.includes(config.proof.slice(8, 24)) ?? true, `${field}: no proof in the message`)
  }
  t.throws(() => new StorachaArchiveTarget({ ...config, proof: 'x' }), { instanceOf: TypeError, message: /proof/ })
})

test('a well-formed proof the space did not issue is refused by the service', async t => {
  const storacha = await startStoracha(t)
  const impostor = await Ed25519.generate()
  const agentDid = Ed25519.parse(storacha.config.key).did()
  const config: StorachaArchiveConfig = { ...storacha.config, proof: await storacha.proofFor(agentDid, impostor) }
  const target = new StorachaArchiveTarget(config)
  t.is(target.name, `storacha:${storacha.space}`)
  const { cid, car } = await carOf(5_000)
  const err = await t.throwsAsync(target.put(cid, once(car)))
  t.is((err?.cause as { name?: string } | undefined)?.name, 'Unauthorized')
  t.deepEqual(await storacha.context.uploadTable.exists(storacha.space, cid), { ok: false })
})

test('an unreachable service: every method rejects promptly, and the spooled shard is removed', async t => {
  t.timeout(60_000, 'an unreachable service must not hang')
  const storacha = await startStoracha(t)
  const closed = http.createServer()
  await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise(resolve => closed.close(resolve))
  const tmpDir = await scratch(t)
  const target = new StorachaArchiveTarget({ ...storacha.config, serviceUrl: `http://127.0.0.1:${port}`, tmpDir })
  const { cid, car } = await carOf(5_000)
  const location = { space: storacha.space, root: cid.toString(), shards: ['bagbaieracm4rgjambe5gvlytocivcftd7bk33yahb3qvh65qibgqgisu7neq'], pieces: [] }

  await t.throwsAsync(target.put(cid, once(car)))
  t.deepEqual(await readdir(tmpDir), [])
  await t.throwsAsync(target.get(cid, location))
  await t.throwsAsync(target.delete(cid, location))
  await t.throwsAsync(target.status(cid, location))
})

test('an aborted signal rejects before any I/O', async t => {
  const storacha = await startStoracha(t)
  const target = new StorachaArchiveTarget(storacha.config)
  const { cid, car } = await carOf(5_000)
  const signal = AbortSignal.abort(new Error('stop'))
  await t.throwsAsync(target.put(cid, once(car), { signal }), { message: 'stop' })
  await t.throwsAsync(target.get(cid, { shards: ['x'] }, { signal }), { message: 'stop' })
  t.deepEqual(await storacha.context.uploadTable.exists(storacha.space, cid), { ok: false })
})
