// s3-ipfs-gateway/helia: an embedded IPFS node that serves the gateway's blocks over bitswap, and
// fetches blocks and DAGs from replica nodes when asked to. helia and libp2p are optional peer
// dependencies, loaded only when a node starts.
import { fetchDagInto, fetchVerified, type BlockRetriever, type FetchBlockOptions, type FetchDagOptions, type FetchDagResult, type WritableBlocks } from './fetch.js'
import { loadOrCreateIpfsKey, type PrivateKey } from './key.js'
import { missingPackages } from './packages.js'
import { installPromiseWithResolvers } from './polyfill.js'
import { ReadOnlyBlockstore, type ServedBlocks } from './read-only-blockstore.js'
import type { AbortOptions } from '../types.js'
import type { CID } from 'multiformats/cid'

export { loadOrCreateIpfsKey }
export type { FetchBlockOptions, FetchDagOptions, FetchDagResult, PrivateKey, ServedBlocks, WritableBlocks }

/** The default listen address: loopback only, like the standalone server's HTTP default. */
const DEFAULT_IPFS_LISTEN = ['/ip4/127.0.0.1/tcp/4001']

/** What the TCP transport can listen on. */
const TCP_LISTEN = /^\/ip[46]\/[^/]+\/tcp\/\d{1,5}$/

/**
 * How long a peer that asked for a block and got it is not sent it again (bitswap's default is 5 s).
 * Helia's bitswap never cancels a want it was served, so a replica that fetches a block again soon
 * after (a read repair of a block it fetched moments ago) would wait that long: replicas are
 * served again at once instead.
 */
const DO_NOT_RESEND_BLOCK_WINDOW_MS = 0
/** A replica peer that dropped is dialled again for a fetch, for at most this long... */
const REDIAL_TIMEOUT_MS = 10_000
/** ...and after a failed dial, not again before this many ms. */
const REDIAL_BACKOFF_MS = 5_000

export interface IpfsNodeInit {
  /**
   * The blocks to serve: pass the gateway's own blockstore (the one given to `createGateway`), so
   * peers get exactly the blocks behind every `x-amz-meta-cid`. Serving calls only `get` and `has`
   * (a local `has`: serving never searches the network). Only `fetchDag` writes: `put` (required
   * by it), `delete` (to replace a corrupt interior node) and `flush` when the store has them. The
   * node never lists or garbage-collects blocks.
   */
  blockstore: WritableBlocks
  /**
   * TCP multiaddrs to accept peers on, e.g. `/ip4/0.0.0.0/tcp/4001` or `/ip6/::/tcp/4001`.
   * Port 0 picks a free port (read it back from `multiaddrs`).
   * Default `['/ip4/127.0.0.1/tcp/4001']`.
   */
  listen?: string[]
  /**
   * The node's identity: its peer id is this key's. Keep one with `loadOrCreateIpfsKey(path)` for
   * a peer id that stays the same across restarts (what peers, peering lists and `/p2p/` addresses
   * name). Default: a new Ed25519 key on every start.
   */
  privateKey?: PrivateKey
}

/** What `connect` did with each address. */
export interface ConnectResult {
  /** Addresses dialled, now remembered as replica peers. */
  connected: string[]
  /** Addresses that could not be dialled (not remembered), with why. */
  failed: Array<{ address: string, error: Error }>
}

/**
 * A running node. It serves the blockstore's blocks to peers that connect to it, and fetches
 * blocks from peers only when asked to (`fetchBlock`, `fetchDag`).
 */
export interface IpfsNode {
  /** The node's peer id (`12D3KooW...`): `init.privateKey`'s, else a new one on every start. */
  readonly peerId: string
  /**
   * The addresses peers dial, each ending in `/p2p/<peerId>` (a wildcard listen address is
   * expanded to this host's interface addresses), e.g. for `ipfs swarm connect` or a peering list.
   */
  readonly multiaddrs: string[]
  /** Peer ids of the peers connected now (replica peers and peers that dialled this node). */
  readonly peers: string[]
  /**
   * Dials `addresses` (multiaddrs ending in `/p2p/<peer id>`, e.g. another node's `multiaddrs`)
   * and remembers each peer reached as a replica peer: every fetch starts a new dial to a replica
   * peer whose connection dropped (without waiting for it: wants reach the peer once it is
   * connected; after a failed dial, that peer is not dialled again for 5 s). An address that cannot be dialled (no `/p2p/`, refused,
   * this node itself) is reported in `failed` and otherwise ignored; `connect` never rejects for
   * one. An aborted signal rejects with its reason.
   */
  connect(addresses: string[], options?: AbortOptions): Promise<ConnectResult>
  /**
   * Closes the connections to `peers` (peer ids or multiaddrs ending in `/p2p/<peer id>`) and
   * forgets them as replica peers. Unknown or unconnected peers are ignored.
   */
  disconnect(peers: string[], options?: AbortOptions): Promise<void>
  /**
   * Fetches one block over bitswap from the connected peers, never from the local blockstore (the
   * caller found it missing or corrupt there), and resolves to its bytes once they hash to `cid`.
   * Nothing is stored. An identity CID resolves to its digest at once. Rejects with code
   * ERR_BLOCK_UNAVAILABLE when no peer sent it within `timeoutMs` (default 30,000); an aborted
   * signal rejects with its reason.
   *
   * @example
   * ```ts
   * const blockstore = new FailoverBlockstore(fs, { fetchBlock: ipfs.fetchBlock })
   * ```
   */
  fetchBlock(cid: CID, options?: FetchBlockOptions): Promise<Uint8Array>
  /**
   * Makes the whole DAG under `root` (dag-pb and raw blocks: UnixFS) present in the blockstore:
   * dials `origins` (as `connect`), then walks the DAG, fetching every block the blockstore does
   * not have, verifying it and `put`ting it, a few at a time (`concurrency`, default 12). Blocks
   * already present are walked too (interior nodes are read and checked locally, a corrupt one is
   * fetched and replaced), so a partial DAG is completed and a complete one costs no fetch. Memory
   * holds the blocks in flight and the links along the walk, never the DAG. Fetched blocks are
   * flushed when the store has `flush`, so the DAG is durable once this resolves.
   *
   * Rejects with code ERR_BLOCKSTORE_READ_ONLY when the blockstore has no `put`,
   * ERR_UNSUPPORTED_CODEC for a block of another codec, ERR_BLOCK_UNAVAILABLE when a block did
   * not arrive within `timeoutMs` (each block's own time), or an aborted signal's reason. Blocks
   * stored before a failure stay (a later call resumes from them).
   */
  fetchDag(root: CID, options?: FetchDagOptions): Promise<FetchDagResult>
  /** Closes every connection and the listeners. The blockstore is left open. Repeated calls return the same promise. */
  stop(): Promise<void>
}

/**
 * Starts a Helia node that answers bitswap wants from `init.blockstore`, on TCP (noise, yamux,
 * identify). It has no bootstrap peers, no peer discovery and no routing: it announces nothing and
 * is reached by dialling one of its `multiaddrs`.
 *
 * On Node 20 this installs a global `Promise.withResolvers` polyfill (native from Node 22), which
 * helia needs. Rejects, with an install hint, when the optional peer packages are missing.
 *
 * @example
 * ```ts
 * import { createGateway, FsBlockstore } from 's3-ipfs-gateway'
 * import { startIpfsNode } from 's3-ipfs-gateway/helia'
 *
 * const blockstore = new FsBlockstore({ path: './data/blocks' })
 * const gateway = createGateway({ blockstore })
 * const ipfs = await startIpfsNode({ blockstore, listen: ['/ip4/0.0.0.0/tcp/4001'] })
 * console.log(ipfs.multiaddrs) // peers: `ipfs swarm connect <addr>`, then `ipfs cat <x-amz-meta-cid>`
 * // on shutdown:
 * await ipfs.stop()
 * await gateway.close()
 * ```
 *
 * @example Replicas: copy an object's DAG from another gateway's node, and repair reads from it
 * ```ts
 * const fs = new FsBlockstore({ path: './data/blocks' })
 * const ipfs = await startIpfsNode({ blockstore: fs, listen: ['/ip4/0.0.0.0/tcp/4001'] })
 * await ipfs.fetchDag(CID.parse(cid), { origins: ['/ip4/10.0.0.2/tcp/4001/p2p/12D3KooW...'] })
 * const gateway = createGateway({ blockstore: new FailoverBlockstore(fs, { fetchBlock: ipfs.fetchBlock }) })
 * ```
 */
export async function startIpfsNode (init: IpfsNodeInit): Promise<IpfsNode> {
  const listen = [...init.listen ?? DEFAULT_IPFS_LISTEN]
  if (listen.length === 0) throw listenAddressError('`listen` needs at least one TCP multiaddr')
  for (const address of listen) {
    if (!TCP_LISTEN.test(address)) throw listenAddressError(`Unsupported IPFS listen address "${address}": expected /ip4/<address>/tcp/<port> or /ip6/<address>/tcp/<port>`)
  }
  installPromiseWithResolvers()
  // Imported only now: after the polyfill, and never by users who do not start a node.
  // @multiformats/multiaddr is a dependency of helia and libp2p, so present wherever they are.
  const [{ createHeliaLight }, { withLibp2pLight }, { withBitswap }, { tcp }, { identify }, { noise }, { yamux }, { multiaddr }] = await Promise.all([
    import('helia'), import('@helia/libp2p'), import('@helia/bitswap'), import('@libp2p/tcp'), import('@libp2p/identify'),
    import('@chainsafe/libp2p-noise'), import('@chainsafe/libp2p-yamux'), import('@multiformats/multiaddr'),
  ]).catch((err: unknown) => { throw missingPackages(err) })

  const light = createHeliaLight({ blockstore: new ReadOnlyBlockstore(init.blockstore) })
  // Fetching asks the bitswap broker directly: Helia's own networked get would store the block
  // through its blockstore, which is read-only here.
  let bitswap: BlockRetriever = {}
  const addBlockBroker = light.addBlockBroker.bind(light)
  light.addBlockBroker = (broker) => {
    if (typeof broker === 'object' && broker.name === 'bitswap') bitswap = broker
    addBlockBroker(broker)
  }
  const helia = withBitswap(withLibp2pLight(light, {
    privateKey: init.privateKey,
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  }), { doNotResendBlockWindow: DO_NOT_RESEND_BLOCK_WINDOW_MS })
  try {
    await helia.start()
  } catch (err) {
    await helia.stop().catch(() => {})
    throw listenError(listen, err)
  }
  const libp2p = helia.libp2p
  const peerId = libp2p.peerId.toString()
  type Address = ReturnType<typeof multiaddr>
  type Peer = Parameters<typeof libp2p.getConnections>[0] & object
  /** Replica peers by peer id: the address they were reached at, and when a failed one may be dialled again. */
  const replicas = new Map<string, { peer: Peer, address: Address, retryAt: number }>()
  const redialling = new Set<string>()

  // Started, not awaited: a want reaches a peer as soon as its connection is up, and a replica that
  // is down (or slow to dial) must not hold up the others. One that failed is left alone a while.
  const redialReplicas = (): void => {
    const now = Date.now()
    for (const [id, replica] of replicas) {
      if (redialling.has(id) || replica.retryAt > now || libp2p.getConnections(replica.peer).length > 0) continue
      redialling.add(id)
      libp2p.dial(replica.address, { signal: AbortSignal.timeout(REDIAL_TIMEOUT_MS) }).then(
        () => { replica.retryAt = 0 },
        () => { replica.retryAt = Date.now() + REDIAL_BACKOFF_MS },
      ).finally(() => { redialling.delete(id) })
    }
  }

  const connect = async (addresses: string[], options: AbortOptions = {}): Promise<ConnectResult> => {
    options.signal?.throwIfAborted()
    const result: ConnectResult = { connected: [], failed: [] }
    await Promise.all(addresses.map(async (address) => {
      try {
        if (!/\/p2p\/[^/]+$/.test(address)) throw new TypeError(`${address} does not end in /p2p/<peer id>`)
        const parsed = multiaddr(address)
        const connection = await libp2p.dial(parsed, { signal: options.signal })
        replicas.set(connection.remotePeer.toString(), { peer: connection.remotePeer, address: parsed, retryAt: 0 })
        result.connected.push(address)
      } catch (err) {
        result.failed.push({ address, error: err instanceof Error ? err : new Error(String(err)) })
      }
    }))
    options.signal?.throwIfAborted()
    return result
  }

  const fetchBlock = async (cid: CID, options: FetchBlockOptions = {}): Promise<Uint8Array> =>
    await fetchVerified(cid, bitswap, redialReplicas, options)

  let stopping: Promise<void> | undefined
  return {
    peerId,
    get multiaddrs () {
      return libp2p.getMultiaddrs().map(String)
    },
    get peers () {
      return libp2p.getPeers().map(String)
    },
    connect,
    async disconnect (peers, options = {}) {
      options.signal?.throwIfAborted()
      const ids = new Set(peers.map(peer => peer.replace(/^.*\/p2p\//, '')))
      for (const id of ids) replicas.delete(id)
      await Promise.all(libp2p.getPeers().filter(peer => ids.has(peer.toString())).map(async peer => { await libp2p.hangUp(peer, options) }))
    },
    fetchBlock,
    async fetchDag (root, options = {}) {
      if (options.origins !== undefined && options.origins.length > 0) await connect(options.origins, options)
      return await fetchDagInto(root, init.blockstore, fetchBlock, bitswap, options)
    },
    stop: () => (stopping ??= helia.stop().then(() => {})),
  }
}

function listenAddressError (message: string): TypeError {
  return Object.assign(new TypeError(`startIpfsNode: ${message}`), { code: 'ERR_IPFS_LISTEN_ADDRESS' })
}

/**
 * libp2p reports failed listens as one message holding every address's error and stack; keep the
 * `<address>: <reason>` lines (e.g. EADDRINUSE), the rest stays in `cause`.
 */
function listenError (listen: string[], err: unknown): unknown {
  const e = err as { name?: unknown, message?: unknown }
  if (e.name !== 'UnsupportedListenAddressesError' || typeof e.message !== 'string') return err
  const reasons = e.message.split('\n').filter(line => /^ {2}\//.test(line)).map(line => line.trim())
  return Object.assign(
    new Error(`The IPFS node cannot listen: ${reasons.length === 0 ? listen.join(', ') : reasons.join('; ')}`, { cause: err }),
    { code: 'ERR_IPFS_LISTEN' },
  )
}
