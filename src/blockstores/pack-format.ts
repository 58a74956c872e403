/**
 * The on-disk format of a pack file (PackBlockstore): a 16-byte file header, then records appended
 * one after another. A record is
 *
 *   magic "S3PB" (4) | multihash length (u16 BE) | 0 (u16) | data length (u32 BE) | multihash | data
 *
 * Records are only ever appended; nothing in a pack changes once written. The index (SQLite) says
 * where the live ones are; a record the index does not name is garbage, and a record cut short by a
 * crash is simply never indexed. `scanPack` re-reads records after a crash and accepts a record only
 * when it is complete and, for the hash functions we know, its data hashes to its multihash.
 */
import { createHash } from 'node:crypto'
import * as fsCallback from 'node:fs'
import { promisify } from 'node:util'
import * as Digest from 'multiformats/hashes/digest'

export const FILE_MAGIC = Buffer.from('S3IPFSPK', 'latin1')
export const FORMAT_VERSION = 1
export const FILE_HEADER_SIZE = 16
/**
 * Between processes sharing a directory: an unsealed pack whose file has not changed for this long
 * belongs to no live writer (a writer idle for a minute starts a new pack instead of appending).
 */
export const ABANDONED_MS = 10 * 60_000

/** File name of pack `id` in `packs/`. */
export function packName (id: number): string {
  return `${id.toString(16).padStart(10, '0')}.pack`
}

export const PACK_NAME = /^[0-9a-f]{10}\.pack$/
const RECORD_MAGIC = 0x53335042 // "S3PB"
const FIXED = 12
/** Longest multihash a record may carry (sha2-512 is 66 bytes). */
const MAX_MULTIHASH = 128
/** Largest block a record may carry: far above any UnixFS chunk; guards the scan against garbage lengths. */
export const MAX_BLOCK = 64 * 1024 * 1024

export function fileHeader (): Buffer {
  const header = Buffer.alloc(FILE_HEADER_SIZE)
  FILE_MAGIC.copy(header, 0)
  header.writeUInt32BE(FORMAT_VERSION, 8)
  return header
}

export function recordHeader (multihash: Uint8Array, dataLength: number): Buffer {
  const header = Buffer.allocUnsafe(FIXED + multihash.byteLength)
  header.writeUInt32BE(RECORD_MAGIC, 0)
  header.writeUInt16BE(multihash.byteLength, 4)
  header.writeUInt16BE(0, 6)
  header.writeUInt32BE(dataLength, 8)
  header.set(multihash, FIXED)
  return header
}

export function recordHeaderSize (multihash: Uint8Array): number {
  return FIXED + multihash.byteLength
}

/** One complete, verified record found by `scanPack`. */
export interface ScannedRecord {
  multihash: Uint8Array
  /** Offset of the block's data (not of the record) in the file. */
  offset: number
  length: number
}

export interface ScanResult {
  records: ScannedRecord[]
  /** Where the valid records end: a torn or foreign tail starts here. */
  end: number
  /** File size when scanned. */
  size: number
}

const read = promisify(fsCallback.read)

/**
 * Read the records of a pack from `from` (the first record when 0) to the first one that is cut
 * short, does not parse, or (sha2-256/sha2-512/identity) does not hash to its multihash. Reads one
 * record at a time: memory is one block.
 */
export async function scanPack (fd: number, size: number, from = FILE_HEADER_SIZE): Promise<ScanResult> {
  const records: ScannedRecord[] = []
  let offset = Math.max(from, FILE_HEADER_SIZE)
  if (size < FILE_HEADER_SIZE) return { records, end: FILE_HEADER_SIZE, size }
  const fixed = Buffer.alloc(FIXED + MAX_MULTIHASH)
  for (;;) {
    if (offset + FIXED > size) break
    const { bytesRead } = await read(fd, fixed, 0, FIXED, offset)
    if (bytesRead < FIXED || fixed.readUInt32BE(0) !== RECORD_MAGIC) break
    const mhLength = fixed.readUInt16BE(4)
    const length = fixed.readUInt32BE(8)
    if (mhLength === 0 || mhLength > MAX_MULTIHASH || length > MAX_BLOCK) break
    const dataOffset = offset + FIXED + mhLength
    if (dataOffset + length > size) break
    const rest = Buffer.allocUnsafe(mhLength + length)
    const got = await readFully(fd, rest, offset + FIXED)
    if (got < rest.byteLength) break
    const multihash = new Uint8Array(rest.subarray(0, mhLength))
    if (!verifies(multihash, rest.subarray(mhLength))) break
    records.push({ multihash, offset: dataOffset, length })
    offset = dataOffset + length
  }
  return { records, end: offset, size }
}

async function readFully (fd: number, buffer: Buffer, position: number): Promise<number> {
  let total = 0
  while (total < buffer.byteLength) {
    const { bytesRead } = await read(fd, buffer, total, buffer.byteLength - total, position + total)
    if (bytesRead === 0) break
    total += bytesRead
  }
  return total
}

/** Whether a complete record of `multihash` whose data starts at `offset` (and verifies) is in the file. */
export async function recordAt (fd: number, multihash: Uint8Array, offset: number, length: number): Promise<boolean> {
  const start = offset - FIXED - multihash.byteLength
  if (start < FILE_HEADER_SIZE) return false
  const record = Buffer.allocUnsafe(FIXED + multihash.byteLength + length)
  if (await readFully(fd, record, start) < record.byteLength) return false
  if (record.readUInt32BE(0) !== RECORD_MAGIC || record.readUInt16BE(4) !== multihash.byteLength || record.readUInt32BE(8) !== length) return false
  if (!record.subarray(FIXED, FIXED + multihash.byteLength).equals(multihash)) return false
  return verifies(multihash, record.subarray(FIXED + multihash.byteLength))
}

const SHA2_256 = 0x12
const SHA2_512 = 0x13
const IDENTITY = 0x00

/** Whether `data` hashes to `multihash`; true for hash functions we cannot compute (length checks only). */
export function verifies (multihash: Uint8Array, data: Uint8Array): boolean {
  let digest
  try {
    digest = Digest.decode(multihash)
  } catch {
    return false
  }
  switch (digest.code) {
    case SHA2_256: return createHash('sha256').update(data).digest().equals(digest.digest)
    case SHA2_512: return createHash('sha512').update(data).digest().equals(digest.digest)
    case IDENTITY: return Buffer.from(data).equals(digest.digest)
    default: return true
  }
}

/** Whether the first bytes of a file are a pack header of a version we read. */
export function isPackHeader (bytes: Uint8Array): boolean {
  if (bytes.byteLength < FILE_HEADER_SIZE) return false
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return b.subarray(0, 8).equals(FILE_MAGIC) && b.readUInt32BE(8) === FORMAT_VERSION
}
