// IPNS names served over the Delegated Routing V1 HTTP API, resolved by a real second Helia peer
// (no DHT) through @helia/ipns and its delegated routing client, over loopback HTTP.
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setMaxListeners } from 'node:events'
import test, { type ExecutionContext } from 'ava'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { loadOrCreateIpfsKey, startIpfsNode } from '../src/helia/index.js'
import { installPromiseWithResolvers } from '../src/helia/polyfill.js'
import { IpnsKeyring, IpnsRecordCache, deriveIpnsKey, ipnsRecordServer, parseIpnsName, signIpnsRecord, type IpnsPublication, type IpnsRecordCacheInit, type IpnsRecordServer } from '../src/ipns/index.js'
import type { S3Request, S3Response } from '../src/types.js'

installPromiseWithResolvers() // helia needs it on Node 20; helia packages are imported dynamically below

const HELLO = new TextEncoder().encode('hello world')
const HELLO_CID = CID.parse('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')
const OTHER_CID = CID.parse('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')

/** Serves `route` under `/-/` and `gatewayRecord` under `/ipns/` on loopback, as the gateway will; `tamper` rewrites bodies. */
async function serve (t: ExecutionContext, server: IpnsRecordServer, tamper?: (body: Uint8Array) => Uint8Array): Promise<string> {
  const http = createServer((incoming: IncomingMessage, res: ServerResponse) => {
    const [path = '/', query = ''] = (incoming.url ?? '/').split('?')
    const req: S3Request = {
      method: incoming.method ?? 'GET',
      path,
      basePath: '',
      query,
      headers: Object.fromEntries(Object.entries(incoming.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v ?? ''])),
      body: (async function * () {})(),
    }
    const answer: Promise<S3Response | undefined> = path.startsWith('/-/')
      ? server.route(req, path.slice(2))
      : path.startsWith('/ipns/') ? server.gatewayRecord(req, path.slice('/ipns/'.length)) : Promise.resolve(undefined)
    answer.then((response) => {
      if (response === undefined) response = { status: 400, headers: {}, body: new TextEncoder().encode('not here\n') }
      let body = response.body as Uint8Array | undefined
      if (body !== undefined && tamper !== undefined && response.status === 200) body = tamper(body)
      res.writeHead(response.status, response.headers)
      res.end(body)
    }, (err: unknown) => { res.writeHead(500); res.end(String(err)) })
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { http.closeAllConnections(); http.close() })
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`
}

/** A fresh Helia peer on loopback TCP (no DHT, no bootstrap) whose only router is the delegated routing client at `routingUrl`. */
async function startResolver (t: ExecutionContext, routingUrl: string, withBlocksFrom?: string) {
  const [{ createHeliaLight }, { withLibp2pLight }, { withBitswap }, { tcp }, { identify }, { noise }, { yamux }, { ipns }, { delegatedHTTPRouter }, { MemoryBlockstore: HeliaMemoryBlockstore }, { multiaddr }] = await Promise.all([
    import('helia'), import('@helia/libp2p'), import('@helia/bitswap'), import('@libp2p/tcp'), import('@libp2p/identify'),
    import('@chainsafe/libp2p-noise'), import('@chainsafe/libp2p-yamux'), import('@helia/ipns'), import('@helia/delegated-routing-client'),
    import('blockstore-core/memory'), import('@multiformats/multiaddr'),
  ])
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: new HeliaMemoryBlockstore(), routers: [delegatedHTTPRouter({ url: routingUrl })] }), {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  }))
  await helia.start()
  t.teardown(async () => { await helia.stop() })
  if (withBlocksFrom !== undefined) await helia.libp2p.dial(multiaddr(withBlocksFrom))
  const names = ipns(helia)
  return {
    helia,
    /** The value the name resolves to (`/ipfs/<cid>`), asking the router again unless `cached`. */
    async resolve (name: string, cached = false): Promise<string> {
      const signal = AbortSignal.timeout(30_000)
      setMaxListeners(Infinity, signal)
      let value = ''
      for await (const result of names.resolve(name, { signal, nocache: !cached })) value = result.value
      return value
    },
  }
}

/** A resolver over a table the test changes: name → publication. */
function table (): { resolve: (name: string) => Promise<IpnsPublication | undefined>, set: (p: IpnsPublication) => void } {
  const map = new Map<string, IpnsPublication>()
  return { resolve: async (name) => map.get(name), set: (p) => { map.set(p.key.name, p) } }
}

async function keyFile (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ipns-key-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return join(dir, 'ipfs.key')
}

test('a second Helia peer resolves the node\'s name and a bucket\'s name through /-/routing/v1/ipns on loopback', async (t) => {
  const keyring = new IpnsKeyring(await loadOrCreateIpfsKey(await keyFile(t)))
  const names = table()
  names.set({ key: keyring.self, value: HELLO_CID, sequence: 1n })
  names.set({ key: keyring.key('photos'), value: OTHER_CID, sequence: 1_700_000_000_000n })
  const base = await serve(t, ipnsRecordServer({ resolve: names.resolve }))
  // The client appends `routing/v1/...` to the URL as text: a path prefix needs its trailing slash.
  const peer = await startResolver(t, `${base}/-/`)
  t.is(await peer.resolve(keyring.self.name), `/ipfs/${HELLO_CID}`)
  t.is(await peer.resolve(keyring.key('photos').name), `/ipfs/${OTHER_CID}`)
  t.not(keyring.key('photos').name, keyring.self.name)
})

test('names stay the same across restarts: the node key is reloaded from its file and labels derive the same keys', async (t) => {
  const path = await keyFile(t)
  const first = new IpnsKeyring(await loadOrCreateIpfsKey(path))
  const before = { self: first.self.name, photos: first.key('photos').name, logs: first.key('logs').name }
  const second = new IpnsKeyring(await loadOrCreateIpfsKey(path))
  t.deepEqual({ self: second.self.name, photos: second.key('photos').name, logs: second.key('logs').name }, before)
  t.not(before.photos, before.logs)
  // The node's own name is its peer id.
  const { peerIdFromString } = await import('@libp2p/peer-id')
  const node = await startIpfsNode({ blockstore: new MemoryBlockstore(), listen: ['/ip4/127.0.0.1/tcp/0'], privateKey: await loadOrCreateIpfsKey(path) })
  t.teardown(async () => { await node.stop() })
  t.is(parseIpnsName(node.peerId)?.name, before.self)
  t.is(peerIdFromString(node.peerId).toCID().toString(), CID.parse(before.self, base36).toString())

  // A record served after the "restart" resolves at the name a peer learnt before it.
  const names = table()
  names.set({ key: second.key('photos'), value: HELLO_CID, sequence: 1n })
  const peer = await startResolver(t, `${await serve(t, ipnsRecordServer({ resolve: names.resolve }))}/-/`)
  t.is(await peer.resolve(before.photos), `/ipfs/${HELLO_CID}`)
})

test('derived names are pinned: the derivation must never change, or published names would move', async (t) => {
  const { generateKeyPairFromSeed } = await import('@libp2p/crypto/keys')
  const nodeKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))
  const keyring = new IpnsKeyring(nodeKey)
  t.deepEqual({ self: keyring.self.name, photos: keyring.key('photos').name, empty: keyring.key('').name }, {
    self: 'k51qzi5uqu5dm0t4vbwri4lkg76q03b4x9tsvekgvbu4zli6454ff7w8wdosa4',
    photos: 'k51qzi5uqu5dgb1st23ow8d0kaekmpyhe6e013lj2o8gswxiz6ix5c9djjmwx8',
    empty: 'k51qzi5uqu5dljufhhobwqiptpwq0b5gdp9yg1npi4odgsyq5mfe443ojh62x7',
  })
  t.is(keyring.self.name, nodeKey.publicKey.toCID().toString(base36))
  t.is(deriveIpnsKey(nodeKey, 'photos').name, keyring.key('photos').name)
  t.is(await keyring.find(keyring.key('logs').name), keyring.key('logs'))
  const fresh = new IpnsKeyring(nodeKey)
  t.is((await fresh.find(keyring.key('b').name, ['a', 'b', 'c']))?.label, 'b')
  t.is(await fresh.find(keyring.key('z').name, ['a', 'b', 'c']), undefined)
})

test('a newer value with a higher sequence wins; a lower sequence served later does not take the name back', async (t) => {
  const keyring = new IpnsKeyring(await loadOrCreateIpfsKey(await keyFile(t)))
  const key = keyring.key('site')
  const names = table()
  // TTL 0: the peer asks the router on every resolve, and picks between its cached record and the router's.
  const base = await serve(t, ipnsRecordServer({ resolve: names.resolve, records: { ttlMs: 0 } }))
  const peer = await startResolver(t, `${base}/-/`)
  names.set({ key, value: HELLO_CID, sequence: 1_000n })
  t.is(await peer.resolve(key.name, true), `/ipfs/${HELLO_CID}`)
  names.set({ key, value: OTHER_CID, sequence: 2_000n })
  t.is(await peer.resolve(key.name, true), `/ipfs/${OTHER_CID}`)
  names.set({ key, value: HELLO_CID, sequence: 1_500n })
  t.is(await peer.resolve(key.name, true), `/ipfs/${OTHER_CID}`)
})

test('the client rejects a tampered record and a record signed by another key', async (t) => {
  const keyring = new IpnsKeyring(await loadOrCreateIpfsKey(await keyFile(t)))
  const names = table()
  names.set({ key: keyring.key('a'), value: HELLO_CID, sequence: 1n })
  // The value rewritten (in the protobuf and the signed data alike), as a man in the middle would.
  const from = Buffer.from(HELLO_CID.toString())
  const to = Buffer.from(OTHER_CID.toString())
  const tampered = await serve(t, ipnsRecordServer({ resolve: names.resolve }), (body) => {
    const copy = Buffer.from(body)
    for (let at = copy.indexOf(from); at !== -1; at = copy.indexOf(from, at + 1)) to.copy(copy, at)
    t.false(copy.equals(Buffer.from(body)))
    return copy
  })
  const peer = await startResolver(t, `${tampered}/-/`)
  await t.throwsAsync(peer.resolve(keyring.key('a').name), { name: 'RecordsFailedValidationError' })

  // A server answering for name `a` with a record of name `b`.
  const wrongKey = await serve(t, ipnsRecordServer({
    resolve: async (name) => name === keyring.key('a').name ? { key: { ...keyring.key('b'), name }, value: OTHER_CID, sequence: 2n } : undefined,
  }))
  const peer2 = await startResolver(t, `${wrongKey}/-/`)
  await t.throwsAsync(peer2.resolve(keyring.key('a').name), { name: 'RecordsFailedValidationError' })
})

test('HTTP: 200 with the record\'s headers, 404 for unknown names, 400 for bad names, 406, 501 for PUT, CORS', async (t) => {
  const [{ ipnsValidator, IPNSEntry }, { createHeliaLight }, { MemoryBlockstore: HeliaMemoryBlockstore }] = await Promise.all([
    import('@helia/ipns'), import('helia'), import('blockstore-core/memory'),
  ])
  const keychain = createHeliaLight({ blockstore: new HeliaMemoryBlockstore() }).keychain
  const keyring = new IpnsKeyring(await loadOrCreateIpfsKey(await keyFile(t)))
  const names = table()
  names.set({ key: keyring.self, value: HELLO_CID, sequence: 42n })
  const base = await serve(t, ipnsRecordServer({ resolve: names.resolve, records: { ttlMs: 120_000 } }))
  const url = `${base}/-/routing/v1/ipns/${keyring.self.name}`

  const ok = await fetch(url, { headers: { accept: 'application/vnd.ipfs.ipns-record' } })
  t.is(ok.status, 200)
  t.is(ok.headers.get('content-type'), 'application/vnd.ipfs.ipns-record')
  t.is(ok.headers.get('cache-control'), 'public, max-age=120')
  t.is(ok.headers.get('access-control-allow-origin'), '*')
  const etag = ok.headers.get('etag') ?? ''
  t.regex(etag, /^".+"$/)
  const bytes = new Uint8Array(await ok.arrayBuffer())
  const routingKey = new Uint8Array([...new TextEncoder().encode('/ipns/'), ...(parseIpnsName(keyring.self.name)?.multihash ?? [])])
  const entry = await ipnsValidator(routingKey, bytes, keychain)
  t.is(entry.sequence, 42n)
  t.is(entry.ttl, 120_000_000_000n)
  t.is(new TextDecoder().decode(entry.value), `/ipfs/${HELLO_CID}`)
  t.truthy(entry.signatureV1)
  t.deepEqual(IPNSEntry.encode(entry), bytes)

  // The same name as a peer id, or in base32; no Accept at all; conditional and HEAD requests.
  const { base58btc } = await import('multiformats/bases/base58')
  const peerId = base58btc.encode(parseIpnsName(keyring.self.name)?.multihash ?? new Uint8Array()).slice(1)
  t.is((await fetch(`${base}/-/routing/v1/ipns/${peerId}`)).status, 200)
  t.is((await fetch(`${base}/-/routing/v1/ipns/${CID.parse(keyring.self.name, base36).toString()}`)).status, 200)
  t.is((await fetch(url, { headers: { 'if-none-match': etag } })).status, 304)
  const head = await fetch(url, { method: 'HEAD' })
  t.is(head.status, 200)
  t.is(head.headers.get('content-length'), String(bytes.byteLength))
  t.is((await head.arrayBuffer()).byteLength, 0)

  const unknown = await fetch(`${base}/-/routing/v1/ipns/${keyring.key('nobody').name}`)
  t.is(unknown.status, 404)
  t.is(unknown.headers.get('cache-control'), 'public, max-age=60')
  t.is((await fetch(`${base}/-/routing/v1/ipns/${HELLO_CID}`)).status, 400)
  t.is((await fetch(`${base}/-/routing/v1/ipns/not-a-name`)).status, 400)
  t.is((await fetch(url, { headers: { accept: 'application/json' } })).status, 406)
  t.is((await fetch(url, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/vnd.ipfs.ipns-record' } })).status, 501)
  t.is((await fetch(`${base}/-/routing/v1/providers/${HELLO_CID}`)).status, 501)
  const preflight = await fetch(url, { method: 'OPTIONS' })
  t.is(preflight.status, 204)
  t.is(preflight.headers.get('access-control-allow-origin'), '*')
})

test('the trustless gateway\'s record response: /ipns/<name> with ?format=ipns-record or the Accept type', async (t) => {
  const keyring = new IpnsKeyring(await loadOrCreateIpfsKey(await keyFile(t)))
  const names = table()
  names.set({ key: keyring.self, value: HELLO_CID, sequence: 1n })
  const base = await serve(t, ipnsRecordServer({ resolve: names.resolve }))
  const viaFormat = await fetch(`${base}/ipns/${keyring.self.name}?format=ipns-record`)
  t.is(viaFormat.status, 200)
  t.is(viaFormat.headers.get('content-type'), 'application/vnd.ipfs.ipns-record')
  t.is(viaFormat.headers.get('content-disposition'), `attachment; filename="${keyring.self.name}.bin"`)
  const viaAccept = await fetch(`${base}/ipns/${keyring.self.name}`, { headers: { accept: 'application/vnd.ipfs.ipns-record' } })
  t.deepEqual(new Uint8Array(await viaAccept.arrayBuffer()), new Uint8Array(await viaFormat.arrayBuffer()))
  // Not asking for a record: left to the gateway (here: 400 "not here").
  t.is(await (await fetch(`${base}/ipns/${keyring.self.name}`)).text(), 'not here\n')
  t.is((await fetch(`${base}/ipns/${keyring.self.name}/a/path?format=ipns-record`)).status, 400)
})

test('verified-fetch resolves ipns://<name> through the same router and fetches the content over bitswap', async (t) => {
  const keyring = new IpnsKeyring(await loadOrCreateIpfsKey(await keyFile(t)))
  const blockstore = new MemoryBlockstore()
  t.true(CID.createV1(raw.code, await sha256.digest(HELLO)).equals(HELLO_CID))
  await blockstore.put(HELLO_CID, HELLO)
  const node = await startIpfsNode({ blockstore, listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.teardown(async () => { await node.stop() })
  const names = table()
  names.set({ key: keyring.key('www'), value: HELLO_CID, sequence: 1n })
  const peer = await startResolver(t, `${await serve(t, ipnsRecordServer({ resolve: names.resolve }))}/-/`, node.multiaddrs[0])
  const { createVerifiedFetch } = await import('@helia/verified-fetch')
  const verifiedFetch = await createVerifiedFetch(peer.helia)
  t.teardown(async () => { await verifiedFetch.stop() })
  // Without a session: a session looks for providers through the routers only, and this router
  // answers IPNS alone (/routing/v1/providers is 501), so blocks come from the peer dialled above.
  const response = await verifiedFetch(`ipns://${keyring.key('www').name}`, { signal: AbortSignal.timeout(30_000), session: false })
  t.is(response.status, 200)
  t.is(await response.text(), 'hello world')
})

test('record cache: one signature per (name, value, sequence) until half the validity is left', async (t) => {
  const keyring = new IpnsKeyring(await loadOrCreateIpfsKey(await keyFile(t)))
  let now = Date.UTC(2030, 0, 1)
  const init: IpnsRecordCacheInit = { validityMs: 1000 * 60 * 60, ttlMs: 60_000, now: () => now }
  const cache = new IpnsRecordCache(init)
  const key = keyring.key('x')
  const first = await cache.record(key, HELLO_CID, 5n)
  now += 20 * 60 * 1000
  t.is(await cache.record(key, HELLO_CID, 5n), first)
  now += 11 * 60 * 1000 // 29 min left
  const resigned = await cache.record(key, HELLO_CID, 5n)
  t.not(resigned, first)
  t.is(resigned.validUntil, now + init.validityMs!)
  t.is((await cache.record(key, OTHER_CID, 5n)).value, OTHER_CID)
  t.is((await cache.record(key, OTHER_CID, 6n)).sequence, 6n)
  // Signing is deterministic (Ed25519): the same inputs give the same bytes.
  const a = await signIpnsRecord({ key, value: HELLO_CID, sequence: 1n, validityMs: 1000, ttlMs: 0, now })
  const b = await signIpnsRecord({ key, value: HELLO_CID, sequence: 1n, validityMs: 1000, ttlMs: 0, now })
  t.deepEqual(a.bytes, b.bytes)
  await t.throwsAsync(signIpnsRecord({ key, value: HELLO_CID, sequence: -1n, validityMs: 1000, ttlMs: 0 }), { instanceOf: RangeError })
})
