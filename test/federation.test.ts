/**
 * Federation end to end, with real `serve` processes on loopback, each with its own data
 * directory and embedded Helia node: gateway A keeps replicas on gateway B through B's Pinning
 * Service API. B fetches every DAG from A over bitswap and verifies it; A reports COMPLETED; with
 * A's blocks deleted from disk, every object still reads back whole through A (failover to B's
 * node, then repair). And SIGKILL while replication jobs are in flight: after a restart every
 * object is replicated, each exactly once at B.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import Database from 'better-sqlite3'
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import pg from 'pg'
import { PackBlockstore } from '../src/blockstores/pack.js'
import { ContentStore } from '../src/content/content-store.js'
import { PinningServiceClient } from '../src/federation/pinning-client.js'
import type { PinStatus } from '../src/federation/pinning-api.js'
import type { Child } from './helpers/child.js'
import { deterministicBytes } from './helpers/s3.js'
import { postgresProblem, whenServices } from './helpers/services.js'

const CREDENTIALS = { accessKeyId: 'FEDERATIONTEST000000', secretAccessKey: 'federation-test-secret-00000000000000000' }
const PINS_TOKEN = 'b-pins-token-1234'
const LISTEN = '/ip4/127.0.0.1/tcp/0'
const PG_URL = process.env.S3IPFS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const MIB = 1024 * 1024
/** The empty file under the default profile (CIDv1, raw leaves). */
const EMPTY_RAW = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
const unreachable = await postgresProblem(PG_URL)
// Imported after the await, as in multi-process.test.ts: child.js declares an ava hook when it loads,
// and every declaration must come in the same turn.
const { REPO_ROOT, spawnChild, tempDir } = await import('./helpers/child.js')

interface Gateway { child: Child, endpoint: string, s3: S3Client, dataDir: string }

async function serve (t: ExecutionContext, dataDir: string, args: string[], env: Record<string, string> = {}): Promise<Gateway> {
  const child = spawnChild(t, process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'serve', '--port', '0', '--data-dir', dataDir, '--ipfs-listen', LISTEN, '--log-level', 'warn', ...args], {
    cwd: REPO_ROOT,
    env: { S3IPFS_ACCESS_KEY: CREDENTIALS.accessKeyId, S3IPFS_SECRET_KEY: CREDENTIALS.secretAccessKey, S3IPFS_ENCRYPT: '0', ...env },
    dropEnv: /^S3IPFS_/,
    timeouts: { start: 90_000, exit: 30_000 },
  })
  await child.waitFor('stdout', /aws --endpoint-url \S+/)
  const endpoint = child.stdout().match(/listening on (http:\/\/127\.0\.0\.1:\d+)\s*$/m)?.[1]
  if (endpoint === undefined) throw new Error(`unexpected banner:\n${child.output()}`)
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: CREDENTIALS })
  t.teardown(() => { s3.destroy() })
  return { child, endpoint, s3, dataDir }
}

async function startB (t: ExecutionContext): Promise<Gateway> {
  return await serve(t, await tempDir(t, 's3ipfs-fed-b-'), ['--pins-token', PINS_TOKEN])
}

async function servicesFile (t: ExecutionContext, b: Gateway): Promise<string> {
  const file = join(await tempDir(t, 's3ipfs-fed-conf-'), 'services.json')
  await writeFile(file, JSON.stringify([{ name: 'gateway-b', endpoint: `${b.endpoint}/-`, token: PINS_TOKEN }]))
  return file
}

async function until<T> (what: string, probe: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const status = async (g: Gateway, key: string): Promise<string | undefined> =>
  (await g.s3.send(new HeadObjectCommand({ Bucket: 'fed', Key: key }))).ReplicationStatus

async function read (g: Gateway, key: string): Promise<Buffer> {
  const object = await g.s3.send(new GetObjectCommand({ Bucket: 'fed', Key: key }))
  return Buffer.from(await object.Body?.transformToByteArray() ?? [])
}

/** Every pin B holds, in any state. */
async function pinsAt (b: Gateway): Promise<PinStatus[]> {
  const client = new PinningServiceClient({ name: 'b', endpoint: `${b.endpoint}/-`, token: PINS_TOKEN })
  const all: PinStatus[] = []
  for await (const pin of client.listAll({ status: ['queued', 'pinning', 'pinned', 'failed'] })) all.push(pin)
  return all
}

/** B holds exactly `objects` pins, one per CID, all pinned: no request was sent twice. */
async function onePinEach (t: ExecutionContext, b: Gateway, objects: number): Promise<void> {
  const pins = await pinsAt(b)
  const perCid = new Map<string, number>()
  for (const pin of pins) perCid.set(pin.pin.cid, (perCid.get(pin.pin.cid) ?? 0) + 1)
  t.is(perCid.size, objects)
  t.deepEqual([...perCid.values()].filter((n) => n !== 1), [], 'no CID was pinned twice')
  t.deepEqual(pins.filter((pin) => pin.status !== 'pinned').map((pin) => pin.status), [], 'every pin is pinned')
}

/** The blocks a serve's PackBlockstore holds, as base32 multihashes (from its index). */
function blockFiles (dataDir: string): string[] {
  const db = new Database(join(dataDir, 'blocks', 'index.db'), { readonly: true })
  try {
    return (db.prepare('SELECT mh FROM blocks').all() as Array<{ mh: Buffer }>).map(r => base32.baseEncode(r.mh))
  } finally {
    db.close()
  }
}

/** Every block of a running serve lost: its index forgets them all (their bytes are garbage in the packs now). */
function loseAllBlocks (dataDir: string): void {
  const db = new Database(join(dataDir, 'blocks', 'index.db'))
  try {
    db.prepare('DELETE FROM blocks').run()
  } finally {
    db.close()
  }
}

test('A replicates to B through B\'s Pinning Service API; B holds each DAG, verified; with A\'s blocks deleted, reads fail over to B and repair A', async (t) => {
  t.timeout(300_000)
  const b = await startB(t)
  const a = await serve(t, await tempDir(t, 's3ipfs-fed-a-'), ['--pinning-services', await servicesFile(t, b), '--replicas', '1'])
  await a.s3.send(new CreateBucketCommand({ Bucket: 'fed' }))
  const bodies = new Map<string, Buffer>([
    ['small.txt', Buffer.from('a few bytes, one block')],
    ['three-mib.bin', deterministicBytes('fed-3mib', 3 * MIB + 4321)],
    ['empty', Buffer.alloc(0)],
  ])
  for (const [key, body] of bodies) await a.s3.send(new PutObjectCommand({ Bucket: 'fed', Key: key, Body: body }))
  for (const key of bodies.keys()) await until(`${key} COMPLETED`, async () => await status(a, key) === 'COMPLETED' ? true : undefined)

  // B pinned each root, and its own blocks hold the whole DAG: read back through a content store on B's directory.
  const pins = await pinsAt(b)
  const bStore = new PackBlockstore({ path: join(b.dataDir, 'blocks') })
  t.teardown(async () => { await bStore.close() })
  const bBlocks = new ContentStore({ blockstore: bStore })
  for (const [key, body] of bodies) {
    const cid = (await a.s3.send(new HeadObjectCommand({ Bucket: 'fed', Key: key }))).Metadata?.cid as string
    const pinned = pins.filter((pin) => pin.pin.cid === cid)
    t.is(pinned.length, 1, key)
    t.is(pinned[0].status, 'pinned', key)
    t.true(pinned[0].delegates.some((address) => address.includes('/p2p/')), 'B names its node as a delegate')
    const chunks: Uint8Array[] = []
    for await (const chunk of bBlocks.cat(cid)) chunks.push(chunk)
    t.true(Buffer.concat(chunks).equals(body), `B holds ${key}'s whole DAG`)
  }

  // Every block file of A gone: reads fail over to B's node over bitswap, and put the blocks back.
  const before = blockFiles(a.dataDir)
  t.true(before.length >= 5)
  loseAllBlocks(a.dataDir)
  for (const [key, body] of bodies) t.true((await read(a, key)).equals(body), `${key} reads back whole`)
  // An empty object is answered without reading its block: that one block stays away until something reads it.
  const empty = base32.baseEncode(CID.parse(EMPTY_RAW).multihash.bytes)
  t.deepEqual(blockFiles(a.dataDir).sort(), before.filter((mh) => mh !== empty).sort(), 'A\'s blockstore holds every block read again')
})

test('SIGKILL while replication jobs are in flight: after a restart every object is replicated, each exactly once at B', async (t) => {
  t.timeout(300_000)
  const b = await startB(t)
  const dataDir = await tempDir(t, 's3ipfs-fed-a-')
  const args = ['--pinning-services', await servicesFile(t, b)]
  // Claims run out after 2 s (S3IPFS_JOB_LEASE): the restarted process takes the killed one's jobs then.
  const a = await serve(t, dataDir, args, { S3IPFS_JOB_LEASE: '2s' })
  await a.s3.send(new CreateBucketCommand({ Bucket: 'fed' }))
  const keys = Array.from({ length: 20 }, (_, i) => `object-${i}`)
  await Promise.all(keys.map(async (key) => await a.s3.send(new PutObjectCommand({ Bucket: 'fed', Key: key, Body: `${key} ${randomBytes(8).toString('hex')}` }))))
  a.child.proc.kill('SIGKILL')
  await a.child.exited()
  const again = await serve(t, dataDir, args, { S3IPFS_JOB_LEASE: '2s' })
  for (const key of keys) await until(`${key} COMPLETED`, async () => await status(again, key) === 'COMPLETED' ? true : undefined)
  await onePinEach(t, b, keys.length)
})

whenServices('federation on PostgreSQL', unreachable, () => {
  test('two gateway processes share one PostgreSQL queue: one is SIGKILLed mid-work, the other finishes every job, each exactly once at B', async (t) => {
    t.timeout(300_000)
    const schema = `s3ipfs_fed_${randomBytes(6).toString('hex')}`
    const db = new pg.Pool({ connectionString: PG_URL, max: 1 })
    db.on('error', () => {})
    t.teardown(async () => { await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`); await db.end() })
    const b = await startB(t)
    const dataDir = await tempDir(t, 's3ipfs-fed-shared-')
    const args = ['--pinning-services', await servicesFile(t, b), '--metadata', `${PG_URL}?schema=${schema}`]
    const env = { S3IPFS_JOB_LEASE: '2s' }
    const [one, two] = [await serve(t, dataDir, args, env), await serve(t, dataDir, args, env)]
    await one.s3.send(new CreateBucketCommand({ Bucket: 'fed' }))
    const keys = Array.from({ length: 30 }, (_, i) => `shared-${i}`)
    await Promise.all(keys.map(async (key, i) => await (i % 2 === 0 ? one : two).s3.send(new PutObjectCommand({ Bucket: 'fed', Key: key, Body: `${key} ${randomBytes(8).toString('hex')}` }))))
    one.child.proc.kill('SIGKILL')
    await one.child.exited()
    for (const key of keys) await until(`${key} COMPLETED`, async () => await status(two, key) === 'COMPLETED' ? true : undefined)
    await onePinEach(t, b, keys.length)
    const { rows } = await db.query(`SELECT kind, state, count(*)::int AS n FROM "${schema}".jobs WHERE kind = 'replicate' GROUP BY kind, state`)
    t.deepEqual(rows, [], 'no replication job is left')
  })
})
