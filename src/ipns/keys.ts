import { createPrivateKey, createPublicKey, hkdfSync, sign, type KeyObject } from 'node:crypto'
import { ipnsNameFromMultihash, ipnsNameOf } from './name.js'

/** A key that names and signs IPNS records. */
export interface IpnsKey {
  /** The IPNS name (`k51...`). */
  readonly name: string
  /** The name's multihash: the public key's protobuf inlined (identity), or its sha2-256. */
  readonly multihash: Uint8Array
  /** The label the key was derived for; undefined for the node's own key. */
  readonly label: string | undefined
  /** The public key as libp2p marshals it (protobuf `PublicKey`), embedded in records when not inlined in the name. */
  readonly publicKey: Uint8Array
  /** Signs `data` as libp2p signs with this key type (Ed25519: the plain 64-byte signature). */
  sign(data: Uint8Array): Promise<Uint8Array>
}

/**
 * The node's private key as `loadOrCreateIpfsKey` returns it (a libp2p `PrivateKey` of any type):
 * only what naming needs, so this module never loads libp2p.
 */
export interface NodePrivateKey {
  /** The key's raw bytes: what labelled keys are derived from. */
  readonly raw: Uint8Array
  readonly publicKey: { readonly type: string, readonly raw: Uint8Array, toMultihash(): { readonly bytes: Uint8Array } }
  sign(data: Uint8Array): Uint8Array | Promise<Uint8Array>
}

/** HKDF salt: keys derived for IPNS names by this project, version 1 of the scheme. */
const DERIVATION_SALT = 's3-ipfs-gateway/ipns-key/v1'
/** PKCS #8 DER for an Ed25519 private key, up to the 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
/** libp2p's protobuf `PublicKey` for Ed25519, up to the 32 key bytes: Type = 1 (Ed25519), Data of length 32. */
const ED25519_PUBLIC_KEY_PROTOBUF_PREFIX = Uint8Array.of(0x08, 0x01, 0x12, 0x20)
/** libp2p's protobuf `KeyType` enum. */
const KEY_TYPES: Record<string, number> = { RSA: 0, Ed25519: 1, secp256k1: 2, ECDSA: 3 }

/** The node's own key as an IPNS key: its name is the node's peer id (as a CID). */
export function nodeIpnsKey (nodeKey: NodePrivateKey): IpnsKey {
  return {
    ...ipnsNameFromMultihash(nodeKey.publicKey.toMultihash().bytes),
    label: undefined,
    publicKey: publicKeyProtobuf(nodeKey.publicKey),
    sign: async (data) => await nodeKey.sign(data),
  }
}

/**
 * An Ed25519 key for `label` (e.g. a bucket name), derived from the node's private key: the same
 * node key and label give the same key, hence the same IPNS name, on every start and every host
 * holding that node key; nothing more is stored. The seed is HKDF-SHA-256 over the node key's raw
 * bytes, with a salt naming this scheme and the label (UTF-8) as the info: a name does not reveal
 * the node key, nor the key of another label.
 */
export function deriveIpnsKey (nodeKey: Pick<NodePrivateKey, 'raw'>, label: string): IpnsKey {
  const seed = Buffer.from(hkdfSync('sha256', nodeKey.raw, DERIVATION_SALT, Buffer.from(label, 'utf8'), 32))
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  const publicKey = new Uint8Array([...ED25519_PUBLIC_KEY_PROTOBUF_PREFIX, ...rawEd25519PublicKey(privateKey)])
  return {
    ...ipnsNameOf(publicKey),
    label,
    publicKey,
    sign: async (data) => new Uint8Array(sign(null, data, privateKey)),
  }
}

/** libp2p's protobuf `PublicKey { KeyType Type = 1; bytes Data = 2; }` for a key given as its type and raw bytes. */
function publicKeyProtobuf (key: { readonly type: string, readonly raw: Uint8Array }): Uint8Array {
  const type = KEY_TYPES[key.type]
  if (type === undefined) throw new TypeError(`Unknown libp2p key type ${key.type}`)
  return new Uint8Array([0x08, type, 0x12, ...varint(key.raw.byteLength), ...key.raw])
}

function varint (n: number): number[] {
  const out: number[] = []
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n & 0x7f) | 0x80)
  out.push(n)
  return out
}

function rawEd25519PublicKey (privateKey: KeyObject): Uint8Array {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  return spki.subarray(spki.byteLength - 32)
}

/**
 * The node's IPNS keys: its own, and one derived per label, remembered once derived so a name can
 * be mapped back to its label.
 */
export class IpnsKeyring {
  /** The node's own key. */
  readonly self: IpnsKey
  private readonly nodeKey: NodePrivateKey
  private readonly byLabel = new Map<string, IpnsKey>()
  private readonly byName = new Map<string, IpnsKey>()

  constructor (nodeKey: NodePrivateKey) {
    this.nodeKey = nodeKey
    this.self = nodeIpnsKey(nodeKey)
    this.byName.set(this.self.name, this.self)
  }

  /** The key derived for `label` (see `deriveIpnsKey`). */
  key (label: string): IpnsKey {
    let key = this.byLabel.get(label)
    if (key === undefined) {
      key = deriveIpnsKey(this.nodeKey, label)
      this.byLabel.set(label, key)
      this.byName.set(key.name, key)
    }
    return key
  }

  /**
   * The key named `name` (canonical, as `parseIpnsName` gives it): the node's own, one derived
   * before, or else the first of `labels` whose key has that name (each derived and remembered on
   * the way; about 0.1 ms a label). Undefined when none has it.
   */
  async find (name: string, labels: Iterable<string> | AsyncIterable<string> = []): Promise<IpnsKey | undefined> {
    const known = this.byName.get(name)
    if (known !== undefined) return known
    for await (const label of labels) {
      if (this.byLabel.has(label)) continue
      const key = this.key(label)
      if (key.name === name) return key
    }
    return undefined
  }
}
