import { varint } from 'multiformats'

/**
 * The `Hash` bytes of every link of a dag-pb node, read from its protobuf encoding without
 * decoding the node: no CID, link or node objects, and each hash is a view into `bytes`.
 * Returns undefined for bytes that are not a well-formed dag-pb encoding (truncated fields, wire
 * types dag-pb does not use, fields it does not have), so a caller can treat them as linking to
 * nothing it knows.
 *
 * dag-pb (ipld/specs, "DAG-PB"): PBNode { 2: repeated PBLink Links; 1: bytes Data },
 * PBLink { 1: bytes Hash; 2: string Name; 3: uint64 Tsize }.
 */
export function linkHashes (bytes: Uint8Array): Uint8Array[] | undefined {
  const hashes: Uint8Array[] = []
  const reader = { pos: 0 }
  while (reader.pos < bytes.length) {
    const tag = readTag(bytes, reader, bytes.length)
    if (tag === undefined || (tag & 7) !== LENGTH_DELIMITED) return undefined
    const end = fieldEnd(bytes, reader, bytes.length)
    if (end === undefined) return undefined
    const field = tag >>> 3
    if (field === 2) {
      const hash = linkHash(bytes, reader.pos, end)
      if (hash === false) return undefined
      if (hash !== undefined) hashes.push(hash)
    } else if (field !== 1) {
      return undefined
    }
    reader.pos = end
  }
  return hashes
}

const VARINT = 0
const LENGTH_DELIMITED = 2

/** A PBLink's Hash within [start, end): the bytes, undefined for a link without one, false if malformed. */
function linkHash (bytes: Uint8Array, start: number, end: number): Uint8Array | undefined | false {
  const reader = { pos: start }
  let hash: Uint8Array | undefined
  while (reader.pos < end) {
    const tag = readTag(bytes, reader, end)
    if (tag === undefined) return false
    const field = tag >>> 3
    const wire = tag & 7
    if ((field === 1 || field === 2) && wire === LENGTH_DELIMITED) {
      const next = fieldEnd(bytes, reader, end)
      if (next === undefined) return false
      if (field === 1) hash = bytes.subarray(reader.pos, next)
      reader.pos = next
    } else if (field === 3 && wire === VARINT) {
      if (readVarint(bytes, reader, end) === undefined) return false
    } else {
      return false
    }
  }
  return hash
}

/** A field's key (number and wire type); undefined past 32 bits, which no field number reaches. */
function readTag (bytes: Uint8Array, reader: { pos: number }, limit: number): number | undefined {
  const tag = readVarint(bytes, reader, limit)
  return tag !== undefined && tag <= 0xffffffff ? tag : undefined
}

/** Reads a length prefix at `reader.pos` and returns where the field's bytes end, or undefined past `limit`. */
function fieldEnd (bytes: Uint8Array, reader: { pos: number }, limit: number): number | undefined {
  const length = readVarint(bytes, reader, limit)
  if (length === undefined || reader.pos + length > limit) return undefined
  return reader.pos + length
}

/** An unsigned varint at `reader.pos` (multiformats' reader), or undefined when it is malformed or runs past `limit`. */
function readVarint (bytes: Uint8Array, reader: { pos: number }, limit: number): number | undefined {
  let value: number
  let length: number
  try {
    [value, length] = varint.decode(bytes, reader.pos)
  } catch {
    return undefined
  }
  if (reader.pos + length > limit) return undefined
  reader.pos += length
  return value
}
