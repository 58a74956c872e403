/** The packages `startIpfsNode` loads (optional peer dependencies of s3-ipfs-gateway). */
const IPFS_NODE_PACKAGES = [
  'helia', '@helia/libp2p', '@helia/bitswap', '@libp2p/tcp', '@libp2p/identify', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-yamux',
] as const

/** A failed import of an optional peer package, as an error that says what to install (code ERR_IPFS_NODE_PACKAGES). */
export function missingPackages (err: unknown): unknown {
  if ((err as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') return err
  return Object.assign(
    new Error(`s3-ipfs-gateway/helia needs its optional peer dependencies: npm install ${IPFS_NODE_PACKAGES.join(' ')}`, { cause: err }),
    { code: 'ERR_IPFS_NODE_PACKAGES' },
  )
}
