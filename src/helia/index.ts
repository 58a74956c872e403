// s3-ipfs-gateway/helia: an embedded IPFS node that serves the gateway's blocks over bitswap.
// helia and libp2p are optional peer dependencies, loaded only when a node starts.
import { installPromiseWithResolvers } from './polyfill.js'
import { ReadOnlyBlockstore, type ServedBlocks } from './read-only-blockstore.js'

export type { ServedBlocks }

/** The default listen address: loopback only, like the standalone server's HTTP default. */
const DEFAULT_IPFS_LISTEN = ['/ip4/127.0.0.1/tcp/4001']

/** What the TCP transport can listen on. */
const TCP_LISTEN = /^\/ip[46]\/[^/]+\/tcp\/\d{1,5}$/

/** The packages `startIpfsNode` loads (optional peer dependencies of s3-ipfs-gateway). */
const IPFS_NODE_PACKAGES = [
  'helia', '@helia/libp2p', '@helia/bitswap', '@libp2p/tcp', '@libp2p/identify', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-yamux',
] as const

export interface IpfsNodeInit {
  /**
   * The blocks to serve: pass the gateway's own blockstore (the one given to `createGateway`), so
   * peers get exactly the blocks behind every `x-amz-meta-cid`. Only `get` and `has` are called;
   * the node never writes, deletes, lists or garbage-collects blocks.
   */
  blockstore: ServedBlocks
  /**
   * TCP multiaddrs to accept peers on, e.g. `/ip4/0.0.0.0/tcp/4001` or `/ip6/::/tcp/4001`.
   * Port 0 picks a free port (read it back from `multiaddrs`).
   * Default `['/ip4/127.0.0.1/tcp/4001']`.
   */
  listen?: string[]
}

/** A running node. It serves blocks to peers that connect to it; it fetches nothing itself. */
export interface IpfsNode {
  /** The node's peer id (`12D3KooW...`). A new one on every start. */
  readonly peerId: string
  /**
   * The addresses peers dial, each ending in `/p2p/<peerId>` (a wildcard listen address is
   * expanded to this host's interface addresses), e.g. for `ipfs swarm connect` or a peering list.
   */
  readonly multiaddrs: string[]
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
 */
export async function startIpfsNode (init: IpfsNodeInit): Promise<IpfsNode> {
  const listen = [...init.listen ?? DEFAULT_IPFS_LISTEN]
  if (listen.length === 0) throw listenAddressError('`listen` needs at least one TCP multiaddr')
  for (const address of listen) {
    if (!TCP_LISTEN.test(address)) throw listenAddressError(`Unsupported IPFS listen address "${address}": expected /ip4/<address>/tcp/<port> or /ip6/<address>/tcp/<port>`)
  }
  installPromiseWithResolvers()
  // Imported only now: after the polyfill, and never by users who do not start a node.
  const [{ createHeliaLight }, { withLibp2pLight }, { withBitswap }, { tcp }, { identify }, { noise }, { yamux }] = await Promise.all([
    import('helia'), import('@helia/libp2p'), import('@helia/bitswap'), import('@libp2p/tcp'), import('@libp2p/identify'),
    import('@chainsafe/libp2p-noise'), import('@chainsafe/libp2p-yamux'),
  ]).catch((err: unknown) => { throw missingPackages(err) })

  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: new ReadOnlyBlockstore(init.blockstore) }), {
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  }))
  try {
    await helia.start()
  } catch (err) {
    await helia.stop().catch(() => {})
    throw listenError(listen, err)
  }
  const peerId = helia.libp2p.peerId.toString()
  let stopping: Promise<void> | undefined
  return {
    peerId,
    get multiaddrs () {
      return helia.libp2p.getMultiaddrs().map(String)
    },
    stop: () => (stopping ??= helia.stop().then(() => {})),
  }
}

function missingPackages (err: unknown): unknown {
  if ((err as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') return err
  return Object.assign(
    new Error(`s3-ipfs-gateway/helia needs its optional peer dependencies: npm install ${IPFS_NODE_PACKAGES.join(' ')}`, { cause: err }),
    { code: 'ERR_IPFS_NODE_PACKAGES' },
  )
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
