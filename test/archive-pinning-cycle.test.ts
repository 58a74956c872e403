/**
 * The cold cycle (test/helpers/archive-env.ts) with a PinningArchiveTarget: gateway A archives to
 * gateway B's Pinning Service API, B fetching the DAG from A's Helia node over bitswap; the restore
 * reads it back from B's node. Deleting the object then withdraws the pin at B.
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import test from 'ava'
import { CreateBucketCommand, DeleteObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3'
import { CID } from 'multiformats/cid'
import { createServer } from '../adapters/node.js'
import { PinningArchiveTarget } from '../src/archive/pinning-target.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { createGateway } from '../src/gateway.js'
import { startIpfsNode } from '../src/helia/index.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import { coldCycle, eventually, startArchiveGateway } from './helpers/archive-env.js'
import { deterministicBytes } from './helpers/s3.js'

const LOOPBACK_ANY_PORT = '/ip4/127.0.0.1/tcp/0'
const PINS_TOKEN = 'archive-cycle-pins-token-51fa'

test('cold cycle on a pinning service (another gateway\'s /-): pinned at B over bitswap → freed → restored from B → expired; deleted → the pin leaves B', async t => {
  t.timeout(30_000)
  // Gateway B: its own blockstore, metadata and node, serving the Pinning Service API.
  const storeB = new MemoryBlockstore()
  const pinsB = new MemoryMetadataStore()
  const nodeB = await startIpfsNode({ blockstore: storeB, listen: [LOOPBACK_ANY_PORT] })
  t.teardown(async () => { await nodeB.stop() })
  const gatewayB = createGateway({ blockstore: storeB, metadata: pinsB, ipfs: nodeB, pinsToken: PINS_TOKEN, jobs: { pollMs: 25 } })
  t.teardown(async () => { await gatewayB.close() })
  const server = createServer(gatewayB, { adminPath: '/-' })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => { server.close(resolve) })
  })
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/-`

  // Gateway A: its node serves A's own blockstore, for B to fetch from.
  const storeA = new MemoryBlockstore()
  const metadataA = new MemoryMetadataStore()
  const nodeA = await startIpfsNode({ blockstore: storeA, listen: [LOOPBACK_ANY_PORT] })
  t.teardown(async () => { await nodeA.stop() })
  const target = new PinningArchiveTarget({ type: 'pinning-service', endpoint, token: PINS_TOKEN, timeoutMs: 15_000 }, nodeA)
  const env = await startArchiveGateway(target, { blockstore: storeA, metadata: metadataA, ipfs: nodeA })
  t.teardown(async () => { await env.close() })

  await env.s3.send(new CreateBucketCommand({ Bucket: 'cold-b' }))
  const body = deterministicBytes('archive-pinning-cycle', 1_500_000)
  const pinned = async (): Promise<number> => (await pinsB.listPins({ status: ['pinned'], limit: 10 })).count
  await coldCycle(t, env, 'cold-b', body, async () => await pinned() === 1)

  const cid = (await env.s3.send(new HeadObjectCommand({ Bucket: 'cold-b', Key: 'cold' }))).Metadata?.cid as string
  const pins = await pinsB.listPins({ limit: 10 })
  t.is(pins.count, 1, 'one pin request at B through the whole cycle')
  const [pin] = pins.results
  t.like(pin, { cid, name: `s3ipfs-archive:${cid}`, status: 'pinned', origins: nodeA.multiaddrs }, 'one pin at B: the object\'s root, named by A, fetched from A')
  const record = await metadataA.getArchive(cid)
  t.like(record, { target: target.name, location: { requestid: pin.requestId, delegates: nodeB.multiaddrs } })
  t.like(await target.status(CID.parse(cid), record?.location ?? {}), { stored: true, detail: { status: 'pinned' } })

  await env.s3.send(new DeleteObjectCommand({ Bucket: 'cold-b', Key: 'cold' }))
  await eventually(t, 'deleting the archived object withdraws its pin from B', async () => (await pinsB.listPins({ limit: 10 })).count === 0)
  await eventually(t, 'and A drops the archive record', async () => await metadataA.getArchive(cid) === undefined)
  t.like(await target.status(CID.parse(cid), record?.location ?? {}), { stored: false, detail: { status: 'absent' } })
  await gatewayB.gc({ gracePeriodMs: 0 })
  t.false(await storeB.has(CID.parse(cid)), 'unpinned: B\'s gc frees the DAG')
})
