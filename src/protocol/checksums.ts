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
