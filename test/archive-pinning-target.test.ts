/**
 * PinningArchiveTarget against real components: gateway A's blocks served by its own Helia node,
 * and gateway B (createGateway with its own blockstore and Helia node, `pinsToken`) serving the
 * Pinning Service API over HTTP. B pins each root by fetching the DAG from A over bitswap; with
 * A's blocks gone, the CAR is read back from B (over bitswap, or from a trustless gateway on B's
 * blocks) and re-imported whole. Error paths also run against mock-ipfs-pinning-service.
 */
import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { CID } from 'multiformats/cid'
import { createServer } from '../adapters/node.js'
import { PinningArchiveTarget, parsePinningArchiveConfig } from '../src/archive/pinning-target.js'
import type { PinningArchiveConfig } from '../src/archive/pinning-target.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { exportCar } from '../src/content/car-export.js'
import { ContentStore } from '../src/content/content-store.js'
import { PinningServiceClient } from '../src/federation/pinning-client.js'
import type { IpfsPeer } from '../src/federation/index.js'
import { createGateway } from '../src/gateway.js'
import { startIpfsNode } from '../src/helia/index.js'
import type { IpfsNode } from '../src/helia/index.js'
import { pinningProblem, startMockPinningService } from './helpers/pinning.js'
import { whenServices } from './helpers/services.js'
import { deterministicBytes } from './helpers/s3.js'

const LOOPBACK_ANY_PORT = '/ip4/127.0.0.1/tcp/0'
const PINS_TOKEN = 'archive-pins-token-7c1e'
const WRONG_TOKEN = 'not-the-pins-token-93d0'
const BODY = deterministicBytes('pinning-archive', 1_500_000)

async function listen (t: ExecutionContext, server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => { server.close(resolve) })
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

interface Origin { store: MemoryBlockstore, content: ContentStore, node: IpfsNode, cid: CID }

/** Gateway A's side: a 1.5 MB file (a root over 6 leaves of 256 KiB) in a blockstore its node serves. */
async function startOrigin (t: ExecutionContext): Promise<Origin> {
  const store = new MemoryBlockstore()
  const node = await startIpfsNode({ blockstore: store, listen: [LOOPBACK_ANY_PORT] })
  t.teardown(async () => { await node.stop() })
  const content = new ContentStore({ blockstore: store, profile: 'unixfs-v0-2015' })
  const { cid } = await content.add([BODY])
  return { store, content, node, cid }
}

interface Service { endpoint: string, store: MemoryBlockstore, node: IpfsNode }

/** Gateway B: its own blockstore and node, serving the Pinning Service API under /-. */
async function startService (t: ExecutionContext): Promise<Service> {
  const store = new MemoryBlockstore()
  const node = await startIpfsNode({ blockstore: store, listen: [LOOPBACK_ANY_PORT] })
  const gateway = createGateway({ blockstore: store, ipfs: node, pinsToken: PINS_TOKEN, jobs: { pollMs: 50 } })
  t.teardown(async () => {
    await node.stop()
    await gateway.close()
  })
  const base = await listen(t, createServer(gateway, { adminPath: '/-' }))
  return { endpoint: `${base}/-`, store, node }
}

/** A CAR stream that records whether it was read to its end. */
function tracked (source: AsyncIterable<Uint8Array>): { car: AsyncIterable<Uint8Array>, finished: () => boolean } {
  let finished = false
  return {
    car: (async function * () {
      yield * source
      finished = true
    })(),
    finished: () => finished,
  }
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return chunks
}

/** Imports a CAR into a fresh store (every block checked against its CID) and reads the file back. */
async function reimport (chunks: Uint8Array[]): Promise<{ cid: CID, bytes: Buffer }> {
  const content = new ContentStore({ blockstore: new MemoryBlockstore() })
  const imported = await content.importCar((async function * () { yield * chunks })())
  return { cid: imported.cid, bytes: Buffer.concat(await collect(content.cat(imported.cid))) }
}

const config = (endpoint: string, more: Partial<PinningArchiveConfig> = {}): PinningArchiveConfig =>
  ({ type: 'pinning-service', endpoint, token: PINS_TOKEN, ...more })

test('put pins a DAG at B, fetched from A over bitswap; with A\'s blocks gone, get reads it back whole; status, delete, then ERR_NOT_FOUND', async (t) => {
  t.timeout(60_000)
  const [a, b] = await Promise.all([startOrigin(t), startService(t)])
  const target = new PinningArchiveTarget(config(b.endpoint), a.node)
  t.is(target.name, `pinning-service:${new URL(b.endpoint).host}`)

  const sent = tracked(await a.content.exportCar(a.cid))
  const location = await target.put(a.cid, sent.car)
  t.true(sent.finished(), 'the CAR stream was read to its end')
  t.is(typeof location.requestid, 'string')
  t.deepEqual(location.delegates, b.node.multiaddrs, 'B\'s node is the delegate')
  const client = new PinningServiceClient({ name: 'check', endpoint: b.endpoint, token: PINS_TOKEN })
  const pin = await client.get(location.requestid as string)
  t.like(pin, { status: 'pinned', pin: { cid: a.cid.toString(), name: `s3ipfs-archive:${a.cid.toString()}`, origins: a.node.multiaddrs } })
  t.true(Buffer.from(Buffer.concat(await collect(new ContentStore({ blockstore: b.store }).cat(a.cid)))).equals(BODY), 'B holds the whole DAG')

  // Idempotent: the same CID again reuses the pinned request.
  t.deepEqual(await target.put(a.cid, await a.content.exportCar(a.cid)), location)
  t.is((await client.list({ cid: [a.cid.toString()], status: ['queued', 'pinning', 'pinned', 'failed'] })).results.length, 1, 'one request at B')

  // A loses every block: reads come from B only.
  const held = []
  for await (const { cid } of a.store.listBlocks()) held.push(cid)
  t.is(held.length, 7, 'a root over 6 leaves')
  for (const cid of held) a.store.delete(cid)
  await t.throwsAsync(collect(a.content.cat(a.cid)))

  const chunks = await collect(await target.get(a.cid, location))
  const back = await reimport(chunks)
  t.true(back.cid.equals(a.cid), 'the CAR re-imports to the same root')
  t.true(back.bytes.equals(BODY), 'byte for byte')
  t.deepEqual(Buffer.concat(chunks), Buffer.concat(await collect(await exportCar(a.cid, b.store))), 'the same CAR as B\'s own export')

  t.deepEqual(await target.status(a.cid, location), { stored: true, detail: { status: 'pinned', requestid: location.requestid } })
  await target.delete(a.cid, location)
  await target.delete(a.cid, location) // already gone: fine
  t.deepEqual(await target.status(a.cid, location), { stored: false, detail: { status: 'absent', requestid: location.requestid } })
  await t.throwsAsync(target.get(a.cid, location), { code: 'ERR_NOT_FOUND' })
})

test('with a trustless gateway configured, get reads the CAR from <gateway>/ipfs/<cid>?format=car; a 404 there is ERR_NOT_FOUND', async (t) => {
  t.timeout(60_000)
  const [a, b] = await Promise.all([startOrigin(t), startService(t)])
  const asked: Array<{ url?: string, accept?: string }> = []
  // A trustless gateway over B's blocks: the CAR of any CID B holds, 404 otherwise.
  const trustless = await listen(t, createHttpServer((req, res) => {
    asked.push({ url: req.url, accept: req.headers.accept })
    const match = /^\/ipfs\/([^/?]+)\?format=car$/.exec(req.url ?? '')
    const cid = match === null ? undefined : CID.parse(match[1])
    const answer = cid === undefined ? Promise.reject(new Error('bad path')) : exportCar(cid, b.store)
    answer.then(async (car) => {
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' })
      for await (const chunk of car) res.write(chunk)
      res.end()
    }, () => { res.writeHead(404).end() })
  }))
  const target = new PinningArchiveTarget(config(b.endpoint, { gateway: `${trustless}/` }), a.node)
  const location = await target.put(a.cid, await a.content.exportCar(a.cid))
  for await (const { cid } of a.store.listBlocks()) a.store.delete(cid)

  const back = await reimport(await collect(await target.get(a.cid, location)))
  t.true(back.cid.equals(a.cid))
  t.true(back.bytes.equals(BODY))
  t.deepEqual(asked, [{ url: `/ipfs/${a.cid.toString()}?format=car`, accept: 'application/vnd.ipld.car' }])

  // Pinned at the service but absent from the gateway.
  for await (const { cid } of b.store.listBlocks()) b.store.delete(cid)
  await t.throwsAsync(target.get(a.cid, location), { code: 'ERR_NOT_FOUND' })
})

test('a service that refuses the token: put rejects (401) without the token in the message', async (t) => {
  t.timeout(60_000)
  const [a, b] = await Promise.all([startOrigin(t), startService(t)])
  const target = new PinningArchiveTarget(config(b.endpoint, { token: WRONG_TOKEN }), a.node)
  const error = await t.throwsAsync(target.put(a.cid, await a.content.exportCar(a.cid)), { code: 'ERR_PINNING_SERVICE' })
  t.is((error as { status?: number }).status, 401)
  t.false(error?.message.includes(WRONG_TOKEN))
  t.false(error?.message.includes(PINS_TOKEN))
  await t.throwsAsync(target.status(a.cid, { requestid: 'any' }), { code: 'ERR_PINNING_SERVICE' })
})

test('an unreachable endpoint rejects at once, a put whose CAR fails asks nothing, and an aborted signal rejects with its reason', async (t) => {
  const closed = createHttpServer()
  const endpoint = await new Promise<string>((resolve) => {
    closed.listen(0, '127.0.0.1', () => {
      const { port } = closed.address() as AddressInfo
      closed.close(() => { resolve(`http://127.0.0.1:${port}/psa`) })
    })
  })
  const peer: IpfsPeer = { multiaddrs: [] }
  const target = new PinningArchiveTarget(config(endpoint, { timeoutMs: 5_000 }), peer)
  const cid = CID.parse('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')
  t.timeout(60_000, 'an unreachable endpoint must not hang')
  const error = await t.throwsAsync(target.put(cid, (async function * () { yield new Uint8Array(10) })()), { code: 'ERR_PINNING_SERVICE' })
  t.like(error, { reason: 'UNREACHABLE', retryable: true })
  await t.throwsAsync(target.get(cid, { requestid: 'r' }), { code: 'ERR_PINNING_SERVICE' })
  await t.throwsAsync(target.delete(cid, { requestid: 'r' }), { code: 'ERR_PINNING_SERVICE' })

  const broken = (async function * () { yield new Uint8Array(10); throw new Error('block missing at the origin') })()
  await t.throwsAsync(target.put(cid, broken), { message: 'block missing at the origin' })

  const reason = new Error('stop')
  await t.throwsAsync(target.put(cid, broken, { signal: AbortSignal.abort(reason) }), { is: reason })
  await t.throwsAsync(target.get(cid, { requestid: 'r' }, { signal: AbortSignal.abort(reason) }), { is: reason })
  await t.throwsAsync(target.get(cid, {}), { instanceOf: TypeError, message: /requestid/ })
})

test('parsePinningArchiveConfig: defaults kept absent, each bad field named, the token never quoted', (t) => {
  const secret = 'secret-token-value-42'
  t.deepEqual(parsePinningArchiveConfig({ type: 'pinning-service', endpoint: 'https://psa.example/api', token: secret }),
    { type: 'pinning-service', endpoint: 'https://psa.example/api', token: secret })
  const full = { type: 'pinning-service', endpoint: 'http://b:8080/-', token: secret, name: 'b', namePrefix: 'x-', timeoutMs: 1000, gateway: 'https://gw.example' }
  t.deepEqual(parsePinningArchiveConfig(full), full)
  const bad: Array<[unknown, RegExp]> = [
    [null, /object/],
    [[], /object/],
    [{ endpoint: 'https://x', token: secret }, /^type/],
    [{ type: 's3', endpoint: 'https://x', token: secret }, /^type/],
    [{ type: 'pinning-service', token: secret }, /^endpoint/],
    [{ type: 'pinning-service', endpoint: `ftp://${secret}@x`, token: secret }, /^endpoint/],
    [{ type: 'pinning-service', endpoint: 'not a url', token: secret }, /^endpoint/],
    [{ type: 'pinning-service', endpoint: 'https://x' }, /^token/],
    [{ type: 'pinning-service', endpoint: 'https://x', token: '' }, /^token/],
    [{ type: 'pinning-service', endpoint: 'https://x', token: 42 }, /^token/],
    [{ type: 'pinning-service', endpoint: 'https://x', token: secret, name: '' }, /^name/],
    [{ type: 'pinning-service', endpoint: 'https://x', token: secret, namePrefix: 3 }, /^namePrefix/],
    [{ type: 'pinning-service', endpoint: 'https://x', token: secret, timeoutMs: 0 }, /^timeoutMs/],
    [{ type: 'pinning-service', endpoint: 'https://x', token: secret, timeoutMs: 1.5 }, /^timeoutMs/],
    [{ type: 'pinning-service', endpoint: 'https://x', token: secret, gateway: 'ipfs://x' }, /^gateway/],
    [{ type: 'pinning-service', endpoint: 'https://x', token: secret, tokn: secret }, /tokn/],
  ]
  for (const [json, message] of bad) {
    const error = t.throws(() => parsePinningArchiveConfig(json), { instanceOf: TypeError, message }, JSON.stringify(json))
    t.false(error?.message.includes(secret), error?.message)
  }
})

whenServices('pinning archive target against mock-ipfs-pinning-service', pinningProblem(), () => {
  const TOKEN = 'mock-archive-token'
  const ORIGINS = ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf']
  const rawCid = async (seed: string): Promise<CID> => (await new ContentStore({ blockstore: new MemoryBlockstore() }).add([deterministicBytes(seed, 100)])).cid
  const empty = (async function * (): AsyncGenerator<Uint8Array> {})

  test('mock: a pin that stays queued times out and is withdrawn; a failed pin rejects; a pinned one resolves with its delegates', async (t) => {
    t.timeout(90_000)
    const mock = await startMockPinningService(t, { token: TOKEN })
    const client = new PinningServiceClient({ name: 'check', endpoint: mock.endpoint, token: TOKEN })
    const peer: IpfsPeer = { multiaddrs: ORIGINS }

    const queued = await rawCid('mock-queued')
    // The time a pin may take is also each request's (at most): short enough for a test, long
    // enough for the mock's answers on a loaded machine (600 ms was not, in a CI run).
    const slow = new PinningArchiveTarget({ type: 'pinning-service', endpoint: mock.endpoint, token: TOKEN, namePrefix: 'queued-', timeoutMs: 3_000 }, peer)
    await t.throwsAsync(slow.put(queued, empty()), { code: 'ERR_ARCHIVE_TIMEOUT', message: /still queued after 3000 ms/ })
    t.deepEqual((await client.list({ cid: [queued.toString()], status: ['queued', 'pinning', 'pinned', 'failed'] })).results, [], 'the request was withdrawn')

    const failing = await rawCid('mock-failed')
    const failed = new PinningArchiveTarget({ type: 'pinning-service', endpoint: mock.endpoint, token: TOKEN, namePrefix: 'failed-' }, peer)
    await t.throwsAsync(failed.put(failing, empty()), { code: 'ERR_ARCHIVE_PIN_FAILED' })

    const pinned = await rawCid('mock-pinned')
    const quick = new PinningArchiveTarget({ type: 'pinning-service', endpoint: mock.endpoint, token: TOKEN, namePrefix: 'pinned-' }, peer)
    const location = await quick.put(pinned, empty())
    const remote = await client.get(location.requestid as string)
    t.like(remote, { status: 'pinned', pin: { cid: pinned.toString(), name: `pinned-${pinned.toString()}`, origins: ORIGINS } })
    t.deepEqual(location, { requestid: remote.requestid, delegates: remote.delegates })
    t.like(await quick.status(pinned, location), { stored: true, detail: { status: 'pinned' } })
  })
})
