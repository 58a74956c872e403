/**
 * Scrubbing: a flipped byte in a stored block is found by the scrub job, repaired from a replica
 * (a second, real Helia node holding the DAG) and reported; without a replica it is reported lost.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decode as decodePb } from '@ipld/dag-pb'
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { createGateway } from '../src/gateway.js'
import { startIpfsNode } from '../src/helia/index.js'
import type { IpfsPeer } from '../src/federation/index.js'
import { tempDir } from './helpers/child.js'
import { nodeHost } from './helpers/hosts.js'
import { parseSamples } from './helpers/metrics-text.js'
import { deterministicBytes, s3Client } from './helpers/s3.js'

const ADMIN = 'scrub-admin'
const MIB = 1024 * 1024

function blockFile (fs: FsBlockstore, cid: CID): string {
  const name = base32.baseEncode(cid.multihash.bytes)
  return join(fs.path, name.slice(-3, -1), `${name}.data`)
}

async function setup (t: ExecutionContext, ipfs?: IpfsPeer & { blockstore?: FsBlockstore }, fs?: FsBlockstore) {
  const blockstore = fs ?? new FsBlockstore({ path: join(await tempDir(t), 'blocks') })
  const gateway = createGateway({ blockstore, ipfs, adminToken: ADMIN, scrub: { bytesPerSecond: 1e9, intervalMs: 3_600_000 }, jobs: { pollMs: 50 } })
  const host = await nodeHost.start(gateway, '', { adminPath: '/-' })
  const s3 = s3Client(host.url)
  t.teardown(async () => { s3.destroy(); await host.close(); await gateway.close() })
  const body = deterministicBytes('scrub', 2 * MIB + 12345)
  await s3.send(new CreateBucketCommand({ Bucket: 'scrubbed' }))
  await s3.send(new PutObjectCommand({ Bucket: 'scrubbed', Key: 'object', Body: body }))
  const root = CID.parse((await s3.send(new HeadObjectCommand({ Bucket: 'scrubbed', Key: 'object' }))).Metadata?.cid as string)
  const leaves = decodePb(await readFile(blockFile(blockstore, root))).Links.map((link) => link.Hash)
  const admin = async (method: string, path: string): Promise<any> => {
    const response = await fetch(`${host.origin}/-${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } })
    return await response.json()
  }
  const metrics = async (): Promise<string> => await (await fetch(`${host.origin}/-/metrics`)).text()
  const pass = async (): Promise<any> => {
    const before = (await admin('GET', '/scrub')).progress?.lastPass?.finished ?? 0
    t.like(await admin('POST', '/scrub'), { started: true })
    for (let i = 0; i < 600; i++) {
      const progress = (await admin('GET', '/scrub')).progress
      if ((progress?.lastPass?.finished ?? 0) > before) return progress.lastPass
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error('no scrub pass finished')
  }
  return { blockstore, s3, body, root, leaves, admin, pass, metrics }
}

test('a clean store scrubs clean; a flipped byte with no replica is reported lost, in the pass report and the metrics', async (t) => {
  const { blockstore, leaves, pass, metrics, admin } = await setup(t)
  t.is(leaves.length, 3)
  t.like(await pass(), { roots: 1, blocks: 4, repaired: 0, lost: 0 })
  const file = blockFile(blockstore, leaves[1])
  const bytes = await readFile(file)
  bytes[1000] ^= 0x01
  await writeFile(file, bytes)
  const report = await pass()
  t.like(report, { roots: 1, blocks: 4, repaired: 0, lost: 1 })
  t.deepEqual(report.lostBlocks, [leaves[1].toString()])
  t.is(parseSamples(await metrics()).get('s3ipfs_scrub_findings_total{reason="corrupt",result="lost"}'), 1)
  t.like(await admin('GET', '/scrub'), { enabled: true, state: 'ready' })
})

test('with an IPFS node but no peer, a read of a corrupt block fails without starting a fetch that cannot succeed, and the scrubber reports it lost', async (t) => {
  const fs = new FsBlockstore({ path: join(await tempDir(t), 'blocks') })
  const lonely = await startIpfsNode({ blockstore: fs, listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.teardown(async () => { await lonely.stop() })
  // The node as the gateway sees it, counting the fetches asked of it.
  let fetches = 0
  const counted: IpfsPeer = {
    get multiaddrs () { return lonely.multiaddrs },
    get peers () { return lonely.peers },
    fetchBlock: async (cid, options) => { fetches++; return await lonely.fetchBlock(cid, options) },
  }
  const { s3, leaves, pass } = await setup(t, counted, fs)
  t.deepEqual(lonely.peers, [])
  const file = blockFile(fs, leaves[0])
  const bytes = await readFile(file)
  bytes[3] ^= 0x10
  await writeFile(file, bytes)
  const error = await t.throwsAsync(async () => {
    const object = await s3.send(new GetObjectCommand({ Bucket: 'scrubbed', Key: 'object' }))
    await object.Body?.transformToByteArray()
  })
  t.truthy(error)
  t.is(fetches, 0, 'no fetch was started: nobody could answer it')
  t.like(await pass(), { repaired: 0, lost: 1 })
})

test('a flipped byte is repaired from a replica\'s node over bitswap: the block file is right again and the object reads back whole', async (t) => {
  t.timeout(120_000)
  const fs = new FsBlockstore({ path: join(await tempDir(t), 'blocks') })
  const local = await startIpfsNode({ blockstore: fs, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const replicaStore = new MemoryBlockstore()
  const replica = await startIpfsNode({ blockstore: replicaStore, listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.teardown(async () => { await local.stop(); await replica.stop() })
  const { s3, body, root, leaves, pass, metrics } = await setup(t, local, fs)
  // The replica holds the DAG, fetched from this node (as a pinning service would).
  await replica.fetchDag(root, { origins: local.multiaddrs, timeoutMs: 30_000 })
  await local.connect(replica.multiaddrs)

  const file = blockFile(fs, leaves[2])
  const good = await readFile(file)
  const bad = Buffer.from(good)
  bad[7] ^= 0x80
  await writeFile(file, bad)
  const report = await pass()
  t.like(report, { roots: 1, blocks: 4, repaired: 1, lost: 0 })
  t.true((await readFile(file)).equals(good), 'the block file holds the right bytes again')
  const object = await s3.send(new GetObjectCommand({ Bucket: 'scrubbed', Key: 'object' }))
  t.true(Buffer.from(await object.Body?.transformToByteArray() ?? []).equals(body))
  const samples = parseSamples(await metrics())
  t.is(samples.get('s3ipfs_scrub_findings_total{reason="corrupt",result="repaired"}'), 1)
  t.is(samples.get('s3ipfs_block_repairs_total{reason="corrupt",result="repaired"}'), 1)
})
