import { createHash } from 'node:crypto'
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { identity } from 'multiformats/hashes/identity'
import type { MultihashDigest } from 'multiformats/hashes/interface'
import { parseAnyCid } from '../content/cid-text.js'

/** The multicodec of a CID that names a public key (an IPNS name, a peer id as a CID). */
export const LIBP2P_KEY_CODE = 0x72
/** Public keys whose protobuf is at most this long are inlined in the name (identity multihash). */
const MAX_INLINE_KEY_LENGTH = 42
/** libp2p inlines ECDSA keys too (about 100 bytes): names with inlined keys up to this long are read. */
const MAX_IDENTITY_DIGEST = 128
const SHA2_256 = 0x12

/** An IPNS name as parsed from a path or a peer id. */
export interface IpnsName {
  /** The canonical text: a CIDv1 with the libp2p-key codec in base36 (`k51...`), as Kubo prints names. */
  readonly name: string
  /** The multihash of the public key's protobuf: identity (the key inlined) or sha2-256 (RSA). */
  readonly multihash: Uint8Array
}

/**
 * The IPNS name of a public key, given as libp2p marshals public keys (its protobuf `PublicKey`):
 * the key itself for small keys such as Ed25519, else its sha2-256 digest.
 */
export function ipnsNameOf (publicKeyProtobuf: Uint8Array): IpnsName {
  return nameFromDigest(publicKeyProtobuf.byteLength <= MAX_INLINE_KEY_LENGTH
    ? identity.digest(publicKeyProtobuf)
    : Digest.create(SHA2_256, createHash('sha256').update(publicKeyProtobuf).digest()))
}

/** The IPNS name of a peer id given as its multihash bytes (what libp2p's `publicKey.toMultihash()` gives). */
export function ipnsNameFromMultihash (multihash: Uint8Array): IpnsName {
  const name = checked(Digest.decode(multihash))
  if (name === undefined) throw new TypeError('Not the multihash of a public key')
  return name
}

/** True when the name holds its public key (identity multihash): records need not embed it. */
export function inlinesPublicKey (name: IpnsName): boolean {
  return name.multihash[0] === identity.code
}

/**
 * Parses an IPNS name as clients write it: a CIDv1 with the libp2p-key codec in any multibase
 * (`k51...`, `bafz...`), or a peer id (`12D3KooW...`, `Qm...`: a base58btc multihash). Returns
 * undefined for anything else, including CIDs of content and multihashes other than identity
 * (an inlined key) and sha2-256.
 */
export function parseIpnsName (text: string): IpnsName | undefined {
  try {
    if (text.startsWith('1') || text.startsWith('Qm')) return checked(Digest.decode(base58btc.baseDecode(text)))
    const cid = parseAnyCid(text)
    if (cid.version !== 1 || cid.code !== LIBP2P_KEY_CODE) return undefined
    return checked(cid.multihash)
  } catch {
    return undefined
  }
}

function checked (digest: MultihashDigest): IpnsName | undefined {
  if (digest.code === identity.code && digest.size > 0 && digest.size <= MAX_IDENTITY_DIGEST) return nameFromDigest(digest)
  if (digest.code === SHA2_256 && digest.size === 32) return nameFromDigest(digest)
  return undefined
}

function nameFromDigest (digest: MultihashDigest): IpnsName {
  return { name: CID.createV1(LIBP2P_KEY_CODE, digest).toString(base36), multihash: digest.bytes }
}
