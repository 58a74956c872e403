import { createHash, type Hash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { Crc32c } from '@aws-crypto/crc32c'
import { Crc64Nvme } from '@aws-sdk/crc64-nvme'
import type { ChecksumAlgorithm } from '../metadata/metadata-store.js'

export type { ChecksumAlgorithm }

/** Every algorithm S3 accepts in `x-amz-checksum-*`, in the order S3 documents them. */
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256']

/** An incremental digest. `digest()` may be called once, after the last `update()`. */
export interface Hasher {
  update (data: Uint8Array): void
  /** The digest, big-endian bytes. */
  digest (): Promise<Uint8Array>
}

/** Length in bytes of each algorithm's digest (a header value must decode to exactly this). */
export const CHECKSUM_LENGTH: Readonly<Record<ChecksumAlgorithm, number>> = {
  CRC32: 4,
  CRC32C: 4,
  CRC64NVME: 8,
  SHA1: 20,
  SHA256: 32
}

/** `x-amz-checksum-crc32` for `CRC32`, and so on. */
export function checksumHeaderName (algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm.toLowerCase()}`
}

/** The algorithm named by a header like `x-amz-checksum-crc32c` (any case), or undefined. */
export function checksumAlgorithmOfHeader (name: string): ChecksumAlgorithm | undefined {
  const lower = name.toLowerCase()
  if (!lower.startsWith('x-amz-checksum-')) return undefined
  return parseChecksumAlgorithm(lower.slice('x-amz-checksum-'.length))
}

/** Parses an algorithm name as sent in `x-amz-sdk-checksum-algorithm` / `x-amz-checksum-algorithm` (any case). */
export function parseChecksumAlgorithm (value: string): ChecksumAlgorithm | undefined {
  const upper = value.trim().toUpperCase()
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(upper) ? upper as ChecksumAlgorithm : undefined
}

class Crc32Hasher implements Hasher {
  private value = 0
  update (data: Uint8Array): void { this.value = crc32(data, this.value) }
  async digest (): Promise<Uint8Array> { return uint32BE(this.value) }
}

class Crc32cHasher implements Hasher {
  private readonly crc = new Crc32c()
  update (data: Uint8Array): void { this.crc.update(data) }
  async digest (): Promise<Uint8Array> { return uint32BE(this.crc.digest()) }
}

class NodeHasher implements Hasher {
  private readonly hash: Hash
  constructor (name: string) { this.hash = createHash(name) }
  update (data: Uint8Array): void { this.hash.update(data) }
  async digest (): Promise<Uint8Array> { return new Uint8Array(this.hash.digest()) }
}

function uint32BE (n: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n >>> 0)
  return out
}

/** A fresh incremental hasher for one of S3's checksum algorithms. */
export function createChecksumHasher (algorithm: ChecksumAlgorithm): Hasher {
  switch (algorithm) {
    case 'CRC32': return new Crc32Hasher()
    case 'CRC32C': return new Crc32cHasher()
    case 'CRC64NVME': return new Crc64Nvme()
    case 'SHA1': return new NodeHasher('sha1')
    case 'SHA256': return new NodeHasher('sha256')
  }
}

/** One-shot checksum of `data`, base64 as S3 prints it. */
export async function checksumBase64 (algorithm: ChecksumAlgorithm, data: Uint8Array | string): Promise<string> {
  const h = createChecksumHasher(algorithm)
  h.update(typeof data === 'string' ? new TextEncoder().encode(data) : data)
  return toBase64(await h.digest())
}

export function toBase64 (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Decodes a checksum value as a client sent it. Returns undefined when it is not canonical
 * base64 or does not have the algorithm's digest length (S3 answers InvalidRequest then).
 */
export function decodeChecksumValue (algorithm: ChecksumAlgorithm, value: string): Uint8Array | undefined {
  const v = value.trim()
  if (!BASE64.test(v)) return undefined
  const bytes = Buffer.from(v, 'base64')
  return bytes.length === CHECKSUM_LENGTH[algorithm] ? new Uint8Array(bytes) : undefined
}

/** Reflected generator polynomials of the CRCs S3 can combine (init and xorout all ones for each). */
const CRC_POLYNOMIALS = {
  CRC32: { width: 32, poly: 0xEDB88320n },
  CRC32C: { width: 32, poly: 0x82F63B78n },
  CRC64NVME: { width: 64, poly: 0x9A6C9329AC4BC9B5n }
} as const

export type CombinableCrc = keyof typeof CRC_POLYNOMIALS

/**
 * The CRC of `A ‖ B` from `first` = CRC(A), `second` = CRC(B) and the length of B in bytes, without
 * the bytes (zlib's crc32_combine, for any of the three CRCs): what S3 reports as the FULL_OBJECT
 * checksum of a multipart upload. Digests are big-endian bytes, as `createChecksumHasher` gives them.
 * `secondLength` may be any safe integer (beyond 2^32).
 */
export function combineCrc (algorithm: CombinableCrc, first: Uint8Array, second: Uint8Array, secondLength: number): Uint8Array {
  const { width, poly } = CRC_POLYNOMIALS[algorithm]
  const bytes = width / 8
  if (first.byteLength !== bytes || second.byteLength !== bytes) throw new RangeError(`${algorithm} digests are ${bytes} bytes`)
  if (!Number.isSafeInteger(secondLength) || secondLength < 0) throw new RangeError(`Invalid length ${secondLength}`)
  // With all-ones init and xorout, CRC(A ‖ B) = CRC(A)·x^(8|B|) mod P  xor  CRC(B): the register
  // after A, shifted through |B| zero bytes, plus B's own contribution.
  const shift = xPowerMod(8n * BigInt(secondLength), width, poly)
  const combined = gfMultiply(shift, readBigEndian(first), width, poly) ^ readBigEndian(second)
  return writeBigEndian(combined, bytes)
}

/**
 * S3's COMPOSITE checksum of a multipart upload: the algorithm's checksum of the parts' binary
 * checksums concatenated, base64, then `-` and the number of parts. (S3 offers COMPOSITE for
 * CRC32, CRC32C, SHA1 and SHA256; which algorithms to allow is the caller's choice.)
 */
export async function compositeChecksum (algorithm: ChecksumAlgorithm, partDigests: Uint8Array[]): Promise<string> {
  const hasher = createChecksumHasher(algorithm)
  for (const digest of partDigests) hasher.update(digest)
  return `${toBase64(await hasher.digest())}-${partDigests.length}`
}

// Polynomials over GF(2) in reflected bit order, as the CRC register holds them: the most
// significant of `width` bits is the coefficient of x^0, the least significant that of x^(width-1).

/** a·b mod P. */
function gfMultiply (a: bigint, b: bigint, width: number, poly: bigint): bigint {
  let product = 0n
  // Walk a's coefficients from x^0 up while b runs through b·x^0, b·x^1, ... mod P.
  for (let bit = 1n << BigInt(width - 1); bit !== 0n && a !== 0n; bit >>= 1n) {
    if ((a & bit) !== 0n) {
      product ^= b
      a ^= bit
    }
    b = (b & 1n) !== 0n ? (b >> 1n) ^ poly : b >> 1n
  }
  return product
}

/** x^n mod P, by squaring. */
function xPowerMod (n: bigint, width: number, poly: bigint): bigint {
  let result = 1n << BigInt(width - 1) // x^0
  let square = 1n << BigInt(width - 2) // x^1
  while (n > 0n) {
    if ((n & 1n) !== 0n) result = gfMultiply(result, square, width, poly)
    square = gfMultiply(square, square, width, poly)
    n >>= 1n
  }
  return result
}

function readBigEndian (bytes: Uint8Array): bigint {
  let value = 0n
  for (const byte of bytes) value = (value << 8n) | BigInt(byte)
  return value
}

function writeBigEndian (value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(value & 0xffn)
    value >>= 8n
  }
  return out
}
