import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { inlinesPublicKey } from './name.js'
import type { IpnsKey } from './keys.js'

/** The media type of a marshaled IPNS record (the protobuf `IpnsEntry`). */
export const IPNS_RECORD_CONTENT_TYPE = 'application/vnd.ipfs.ipns-record'
/** Readers reject records larger than this (IPNS record spec). */
export const MAX_IPNS_RECORD_SIZE = 10 * 1024

export interface IpnsRecordInit {
  /** Signs the record; the record's name is this key's. */
  key: IpnsKey
  /** The content the name points to: the record's value is `/ipfs/<value>`. */
  value: CID
  /**
   * Orders records of one name: readers keep the record with the highest. It must grow with each
   * new value; a value's creation time in ms does, across restarts, without storing anything.
   */
  sequence: bigint
  /** How long from `now` the record is valid (its EOL validity). */
  validityMs: number
  /** How long readers may use the record before asking for a newer one (its TTL). */
  ttlMs: number
  /** The time the record is signed at, in ms since the epoch (default `Date.now()`). */
  now?: number
}

export interface SignedIpnsRecord {
  /** The IPNS name (`k51...`). */
  readonly name: string
  readonly value: CID
  readonly sequence: bigint
  /** The end of the record's validity, in ms since the epoch. */
  readonly validUntil: number
  readonly ttlMs: number
  /** The marshaled record (`application/vnd.ipfs.ipns-record`). */
  readonly bytes: Uint8Array
}

const UINT64_MAX = (1n << 64n) - 1n
const EOL = 0
const V2_SIGNATURE_PREFIX = new TextEncoder().encode('ipns-signature:')

/**
 * Makes and signs an IPNS record (https://specs.ipfs.tech/ipns/ipns-record/) with both signatures,
 * as current IPFS implementations make them: the signed DAG-CBOR `data` and signature V2, and the
 * legacy protobuf fields with signature V1 for older readers. The public key is embedded when the
 * name does not inline it.
 */
export async function signIpnsRecord (init: IpnsRecordInit): Promise<SignedIpnsRecord> {
  const { key, value, sequence } = init
  if (sequence < 0n || sequence > UINT64_MAX) throw new RangeError(`An IPNS sequence is a uint64, not ${sequence}`)
  if (!(init.validityMs > 0) || !(init.ttlMs >= 0)) throw new RangeError('validityMs must be positive and ttlMs not negative')
  const now = init.now ?? Date.now()
  const validUntil = now + Math.floor(init.validityMs)
  const ttlNs = BigInt(Math.floor(init.ttlMs)) * 1_000_000n
  const valueBytes = new TextEncoder().encode(`/ipfs/${value.toString()}`)
  const validity = new TextEncoder().encode(rfc3339Nano(validUntil))

  const data = dagCbor.encode({ Value: valueBytes, Validity: validity, ValidityType: EOL, Sequence: sequence, TTL: ttlNs })
  const signatureV2 = await key.sign(concat(V2_SIGNATURE_PREFIX, data))
  const signatureV1 = await key.sign(concat(valueBytes, validity, new TextEncoder().encode('EOL')))

  const writer = new ProtobufWriter()
  writer.bytes(1, valueBytes)
  writer.bytes(2, signatureV1)
  writer.varint(3, BigInt(EOL))
  writer.bytes(4, validity)
  writer.varint(5, sequence)
  writer.varint(6, ttlNs)
  if (!inlinesPublicKey(key)) writer.bytes(7, key.publicKey)
  writer.bytes(8, signatureV2)
  writer.bytes(9, data)
  const bytes = writer.finish()
  if (bytes.byteLength > MAX_IPNS_RECORD_SIZE) throw new RangeError(`The IPNS record is ${bytes.byteLength} bytes, over the ${MAX_IPNS_RECORD_SIZE} readers accept`)
  return { name: key.name, value, sequence, validUntil, ttlMs: Math.floor(init.ttlMs), bytes }
}

/** RFC 3339 in UTC with nanoseconds, as the IPNS record spec writes validity. */
function rfc3339Nano (ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000000Z')
}

function concat (...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts)
}

/** Just enough protobuf for IpnsEntry: varint and length-delimited fields, written in field order. */
class ProtobufWriter {
  private readonly parts: Uint8Array[] = []

  varint (field: number, value: bigint): void {
    this.parts.push(varint(BigInt(field << 3)), varint(value))
  }

  bytes (field: number, value: Uint8Array): void {
    this.parts.push(varint(BigInt((field << 3) | 2)), varint(BigInt(value.byteLength)), value)
  }

  finish (): Uint8Array {
    return new Uint8Array(Buffer.concat(this.parts))
  }
}

function varint (value: bigint): Uint8Array {
  const out: number[] = []
  do {
    let byte = Number(value & 0x7fn)
    value >>= 7n
    if (value > 0n) byte |= 0x80
    out.push(byte)
  } while (value > 0n)
  return Uint8Array.from(out)
}
