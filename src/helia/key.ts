import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { missingPackages } from './packages.js'
import { installPromiseWithResolvers } from './polyfill.js'

export type { PrivateKey }

/**
 * The node's private key from `path`: the key libp2p marshals (its protobuf `PrivateKey`, any key
 * type libp2p reads), or, when there is no such file, a new Ed25519 key written there (mode 0600;
 * the directory is created). A key made once keeps the peer id on every later start.
 *
 * The file appears whole or not at all, and never replaces one already there: when two processes
 * make a key at the same time, both resolve to the one that was written first.
 *
 * Rejects with code ERR_IPFS_KEY when the file exists but does not hold a libp2p private key (it is
 * left as it is), and with the file system's error when it cannot be read or written.
 *
 * @example
 * ```ts
 * const privateKey = await loadOrCreateIpfsKey('./data/ipfs.key')
 * const ipfs = await startIpfsNode({ blockstore, privateKey }) // the same peer id after a restart
 * ```
 */
export async function loadOrCreateIpfsKey (path: string): Promise<PrivateKey> {
  installPromiseWithResolvers()
  // @libp2p/crypto comes with libp2p (a dependency of @helia/libp2p): loaded only when a key is.
  const keys = await import('@libp2p/crypto/keys').catch((err: unknown) => { throw missingPackages(err) })
  const existing = await readKey(path, keys)
  if (existing !== undefined) return existing
  const key = await keys.generateKeyPair('Ed25519')
  await mkdir(dirname(path), { recursive: true })
  // Written in full to a temporary name, synced, then linked into place: a crash leaves no partial
  // key, and link (unlike rename) fails when another process linked its key first.
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  const file = await open(temp, 'wx', 0o600)
  try {
    await file.writeFile(keys.privateKeyToProtobuf(key))
    await file.sync()
  } finally {
    await file.close()
  }
  try {
    await link(temp, path)
    return key
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EEXIST') throw err
    return await readKey(path, keys) ?? key
  } finally {
    await unlink(temp).catch(() => {})
  }
}

type Keys = typeof import('@libp2p/crypto/keys')

async function readKey (path: string, keys: Keys): Promise<PrivateKey | undefined> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return undefined
    throw err
  }
  try {
    return keys.privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw Object.assign(
      new Error(`${path} is not a libp2p private key (protobuf-encoded, as libp2p marshals keys): restore it, or remove it to start with a new peer id`, { cause: err }),
      { code: 'ERR_IPFS_KEY' },
    )
  }
}
