import { CarBufferReader } from '@ipld/car/buffer-reader'
import * as dagCbor from '@ipld/dag-cbor'
import { base58btc } from 'multiformats/bases/base58'
import { base64, base64pad } from 'multiformats/bases/base64'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'

/** What the gateway reads of a Storacha agent key and delegation without loading the client. */
export interface StorachaIdentity {
  /** The agent's did:key (from the key). */
  agent: string
  /** The space the proof delegates (the `with` of its first capability, as the client reads it). */
  space: string
}

const CAR_CODEC = 0x0202
/** ucanto's ed25519 signer export: varint(0x1300) ‖ private key ‖ varint(0xed) ‖ public key. */
const SIGNER_LENGTH = 68
const PUBLIC_KEY_OFFSET = 34

/**
 * Reads the agent DID from `key` and the space DID from `proof`, and checks the proof is delegated
 * to that agent. Throws a TypeError naming the field; messages never quote either secret.
 */
export function readStorachaIdentity (key: string, proof: string): StorachaIdentity {
  const agent = agentDid(key)
  const ucan = delegation(proof)
  const audience = ucan.aud instanceof Uint8Array ? `did:key:${base58btc.encode(ucan.aud)}` : undefined
  if (audience !== agent) {
    throw invalidConfig('proof', `is delegated to ${audience ?? 'an audience that is not a did:key'}, not to the agent of key (${agent})`)
  }
  const first = Array.isArray(ucan.att) ? ucan.att[0] as { with?: unknown } | undefined : undefined
  const space = first?.with
  if (typeof space !== 'string' || !/^did:key:z[1-9A-HJ-NP-Za-km-z]+$/.test(space)) {
    throw invalidConfig('proof', 'does not delegate a space (its first capability is not on a did:key)')
  }
  return { agent, space }
}

function agentDid (key: string): string {
  let bytes: Uint8Array
  try {
    bytes = base64pad.decode(key)
  } catch {
    throw invalidConfig('key', 'is not a multibase base64pad string (the "M…" line `storacha key create` prints)')
  }
  if (bytes.byteLength !== SIGNER_LENGTH || bytes[0] !== 0x80 || bytes[1] !== 0x26 || bytes[34] !== 0xed || bytes[35] !== 0x01) {
    throw invalidConfig('key', 'is not an ed25519 private key as `storacha key create` prints it')
  }
  return `did:key:${base58btc.encode(bytes.subarray(PUBLIC_KEY_OFFSET))}`
}

/** The root UCAN of a delegation as `storacha delegation create --base64` prints it (or the older plain base64 CAR). */
function delegation (proof: string): Record<string, unknown> {
  let car: Uint8Array | undefined
  try {
    const cid = CID.parse(proof, base64)
    if (cid.code === CAR_CODEC && cid.multihash.code === identity.code) car = cid.multihash.digest
  } catch {}
  try {
    car ??= base64.baseDecode(proof)
    const reader = CarBufferReader.fromBytes(car)
    const blocks = new Map(reader.blocks().map(block => [block.cid.toString(), block.bytes]))
    const [root] = reader.getRoots()
    const variant = root === undefined ? undefined : dagCbor.decode<Record<string, unknown>>(blocks.get(root.toString()) ?? new Uint8Array())
    const link = variant === undefined ? undefined : Object.entries(variant).find(([name]) => name.startsWith('ucan@'))?.[1]
    // An archive's root names the UCAN; in the older export the UCAN is the last block.
    const bytes = link instanceof CID ? blocks.get(link.toString()) : reader.blocks().at(-1)?.bytes
    const ucan = bytes === undefined ? undefined : dagCbor.decode<unknown>(bytes)
    if (ucan === null || typeof ucan !== 'object' || !('att' in ucan)) throw new Error('no UCAN')
    return ucan as Record<string, unknown>
  } catch {
    throw invalidConfig('proof', 'is not a base64 UCAN delegation (as `storacha delegation create <agent-did> --base64` prints it)')
  }
}

export function invalidConfig (field: string, problem: string): TypeError {
  return Object.assign(new TypeError(`Storacha archive target: ${field} ${problem}`), { code: 'ERR_INVALID_ARCHIVE_CONFIG' })
}
