import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import test from 'ava'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { KuboBlockstore, KUBO_ERRORS } from '../src/blockstores/kubo.js'
import { CachedBlockstore } from '../src/blockstores/cached.js'
import { isPinner } from '../src/content/pins.js'
import { bytesOf, makeBlock } from './compliance/blockstore.suite.js'
import { jsIpfsProblem, startJsIpfs } from './helpers/js-ipfs.js'
import type { JsIpfsDaemon } from './helpers/js-ipfs.js'
import { whenServices } from './helpers/services.js'

/** A local RPC server that answers every call with `respond` (a node that lies, or never answers). */
async function fakeNode (respond: (path: string, res: import('node:http').ServerResponse) => void): Promise<{ url: string, close: () => Promise<void> }> {
  const server = createServer((req, res) => { req.resume(); respond(req.url ?? '', res) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => { server.closeAllConnections(); await new Promise<void>((resolve) => server.close(() => { resolve() })) },
  }
}

test('a block whose bytes do not hash to its CID is an error, never returned', async t => {
  const node = await fakeNode((_path, res) => { res.end('not the bytes you asked for') })
  t.teardown(node.close)
  const store = new KuboBlockstore({ url: node.url })
  const { cid } = await makeBlock()
  const err = await t.throwsAsync(async () => bytesOf(store.get(cid)))
  t.is((err as { code?: string }).code, KUBO_ERRORS.corrupt)
})

test('a dag-pb block/put whose first try fails comes through, although the client\'s "protobuf" fallback masks the failure (as js-ipfs answers it)', async t => {
  const block = dagPb.encode(dagPb.prepare({ Data: new Uint8Array([8, 1]) }))
  const cid = CID.createV1(dagPb.code, await sha256.digest(block))
  const calls: string[] = []
  const node = await fakeNode((path, res) => {
    const format = new URL(path, 'http://x').searchParams.get('format') ?? ''
    calls.push(format)
    if (calls.length === 1) {
      res.destroy() // the kept-alive connection closed under the first try
    } else if (format === 'protobuf') {
      res.statusCode = 500
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ Message: 'Failed to put block: No codec found for "protobuf"', Code: 0, Type: 'error' }))
    } else {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ Key: cid.toString(), Size: block.byteLength }))
    }
  })
  t.teardown(node.close)
  const store = new KuboBlockstore({ url: node.url })
  t.true((await store.put(cid, block)).equals(cid))
  t.deepEqual(calls, ['dag-pb', 'protobuf', 'dag-pb'])
})

test('a node that never answers: the call times out with ERR_IPFS_TIMEOUT', async t => {
  const node = await fakeNode(() => { /* never answers */ })
  t.teardown(node.close)
  const store = new KuboBlockstore({ url: node.url, timeoutMs: 300, pinTimeoutMs: 300 })
  const { cid, bytes } = await makeBlock()
  for (const call of [async () => bytesOf(store.get(cid)), async () => store.put(cid, bytes), async () => store.pin(cid)]) {
    const err = await t.throwsAsync(call)
    t.is((err as { code?: string }).code, KUBO_ERRORS.timeout, `${err?.message} (cause: ${String((err?.cause as Error | undefined)?.stack)})`)
  }
})

test('a node that is down: ERR_IPFS_UNAVAILABLE; the caller\'s abort stays an AbortError', async t => {
  const node = await fakeNode(() => {})
  const url = node.url
  await node.close()
  const store = new KuboBlockstore({ url })
  const { cid } = await makeBlock()
  const err = await t.throwsAsync(async () => bytesOf(store.get(cid)))
  t.is((err as { code?: string }).code, KUBO_ERRORS.unavailable)
  const controller = new AbortController()
  controller.abort()
  const aborted = await t.throwsAsync(async () => bytesOf(store.get(cid, { signal: controller.signal })), { any: true })
  t.is((aborted as Error | undefined)?.name, 'AbortError')
})

test('the RPC path gets /api/v0 once, whatever the URL looks like', async t => {
  const paths: string[] = []
  const node = await fakeNode((path, res) => { paths.push(path); res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ ID: '12D3KooWB7AqA4xETCQKrCT4sCsxM1hdEAGXGPSMtQYrLAWrg6NC', AgentVersion: 'fake/1', Addresses: [], Protocols: [], PublicKey: '' })) })
  t.teardown(node.close)
  for (const url of [node.url, `${node.url}/`, `${node.url}/api/v0`, `${node.url}/api/v0/`]) {
    await new KuboBlockstore({ url }).id().catch(() => {})
  }
  t.is(paths.length, 4)
  for (const path of paths) t.regex(path, /^\/api\/v0\/id(\?|$)/)
})

whenServices('KuboBlockstore on js-ipfs', jsIpfsProblem(), () => {
  let daemon: JsIpfsDaemon
  test.before(async () => { daemon = await startJsIpfs(15010) })
  test.after.always(async () => { await daemon?.close() })

  test('raw and dag-pb blocks, CIDv0 and CIDv1, are stored under their multihash and read back verified', async t => {
    const store = new KuboBlockstore({ url: daemon.apiUrl })
    const { cid, bytes } = await makeBlock(200_000)
    t.true((await store.put(cid, bytes)).equals(cid))
    t.deepEqual(await bytesOf(store.get(cid)), Buffer.from(bytes))
    t.true(await store.has(cid))
    const node = dagPb.encode(dagPb.prepare({ Data: new Uint8Array([8, 2]), Links: [{ Hash: cid, Tsize: bytes.byteLength }] }))
    const digest = await sha256.digest(node)
    for (const version of [0, 1] as const) {
      const nodeCid = CID.create(version, dagPb.code, digest)
      await store.put(nodeCid, node)
      t.deepEqual(await bytesOf(store.get(nodeCid)), Buffer.from(node))
    }
    // Same bytes under another codec: the node keys by multihash, so the block is there.
    t.deepEqual(await bytesOf(store.get(CID.createV1(raw.code, digest))), Buffer.from(node))
  })

  test('a 1 MiB block (the unixfs-v1-2025 chunk) is accepted', async t => {
    const store = new KuboBlockstore({ url: daemon.apiUrl })
    const { cid, bytes } = await makeBlock(1024 * 1024)
    await store.put(cid, bytes)
    t.deepEqual(await bytesOf(store.get(cid)), Buffer.from(bytes))
  })

  test('pins carry the gateway\'s mark: pinned() lists ours and never the node\'s other pins', async t => {
    const store = new KuboBlockstore({ url: daemon.apiUrl, pinName: 'pins-test' })
    const other = new KuboBlockstore({ url: daemon.apiUrl, pinName: 'someone-else' })
    t.true(isPinner(store))
    const ours = await makeBlock()
    const theirs = await makeBlock()
    await store.put(ours.cid, ours.bytes)
    await other.put(theirs.cid, theirs.bytes)
    await store.pin(ours.cid)
    await other.pin(theirs.cid)
    const listed = async (s: KuboBlockstore): Promise<string[]> => { const out: string[] = []; for await (const c of s.pinned()) out.push(c.toString()); return out }
    t.deepEqual(await listed(store), [ours.cid.toString()])
    t.deepEqual(await listed(other), [theirs.cid.toString()])
    await store.unpin(ours.cid)
    await store.unpin(ours.cid) // not pinned any more: harmless
    t.deepEqual(await listed(store), [])
    t.deepEqual(await listed(other), [theirs.cid.toString()])
  })

  test('a pinned block cannot be deleted by the node; once unpinned it can', async t => {
    const store = new KuboBlockstore({ url: daemon.apiUrl, pinName: 'delete-test' })
    const { cid, bytes } = await makeBlock()
    await store.put(cid, bytes)
    await store.pin(cid)
    await t.throwsAsync(async () => { await store.delete(cid) })
    t.true(await store.has(cid))
    await store.unpin(cid)
    await store.delete(cid)
    const err = await t.throwsAsync(async () => bytesOf(new KuboBlockstore({ url: daemon.apiUrl, timeoutMs: 500 }).get(cid)))
    t.is((err as { code?: string }).code, KUBO_ERRORS.timeout, 'js-ipfs looks for an absent block until the timeout')
  })

  test('CachedBlockstore in front keeps the pins and serves repeats from memory', async t => {
    const store = new CachedBlockstore(new KuboBlockstore({ url: daemon.apiUrl }))
    t.true(isPinner(store))
    const { cid, bytes } = await makeBlock(50_000)
    await store.put(cid, bytes)
    await bytesOf(store.get(cid))
    await bytesOf(store.get(cid))
    t.is(store.metrics.misses, 1)
    t.is(store.metrics.hits, 1)
  })
})
