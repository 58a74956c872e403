import * as dagPb from '@ipld/dag-pb'
import { murmur3128 } from '@multiformats/murmur3'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import type { CidProfileName } from '../content/profiles.js'
import type { AbortOptions } from '../types.js'

/** One link of a directory: a file's root, or a directory written before it. */
export interface DirectoryEntry {
  name: string
  cid: CID
  /** Cumulative size of the DAG under `cid` (the link's Tsize). */
  tsize: number
  /** A directory (the importer leaves these out of the size that decides sharding). */
  dir: boolean
}

/**
 * How directories are laid out, as ipfs-unixfs-importer 17 lays them out under the profile (and
 * Kubo with the same settings): a directory becomes a HAMT (fanout 256, murmur3-x64-64) when its
 * size estimate passes 256 KiB. The estimate counts file links only (the importer's subdirectories
 * have no CID yet when it decides): their name and CID bytes under unixfs-v0-2015 ('links-bytes'),
 * the exact encoded node size under unixfs-v1-2025 ('block-bytes').
 */
export interface DirectoryLayout {
  cidVersion: 0 | 1
  shardSplitStrategy: 'links-bytes' | 'block-bytes'
  shardSplitThresholdBytes: number
}

export function directoryLayout (profile: CidProfileName, overrides: Partial<DirectoryLayout> = {}): DirectoryLayout {
  const base: DirectoryLayout = profile === 'unixfs-v0-2015'
    ? { cidVersion: 0, shardSplitStrategy: 'links-bytes', shardSplitThresholdBytes: 262_144 }
    : { cidVersion: 1, shardSplitStrategy: 'block-bytes', shardSplitThresholdBytes: 262_144 }
  return { ...base, ...overrides }
}

export type PutBlock = (cid: CID, bytes: Uint8Array, options?: AbortOptions) => Promise<void>

const FANOUT = 256
const MURMUR3_X64_64 = 0x22n
const utf8 = new TextEncoder()

function varintLength (n: number): number {
  let length = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    length++
  }
  return length
}

/** Bytes of one length-delimited protobuf field holding `length` bytes. */
const field = (length: number): number => 1 + varintLength(length) + length

/** Whether a directory of `entries` is written as a HAMT under `layout` (see DirectoryLayout). */
export function shouldShard (entries: readonly DirectoryEntry[], layout: DirectoryLayout): boolean {
  let size = layout.shardSplitStrategy === 'links-bytes' ? 0 : field(new UnixFS({ type: 'directory' }).marshal().byteLength)
  for (const entry of entries) {
    if (entry.dir) continue
    const name = utf8.encode(entry.name).byteLength
    size += layout.shardSplitStrategy === 'links-bytes'
      ? name + entry.cid.bytes.byteLength
      : field(field(entry.cid.bytes.byteLength) + field(name) + 1 + varintLength(entry.tsize))
  }
  return size > layout.shardSplitThresholdBytes
}

/** Writes the directory of `entries` (names unique) and returns its root and cumulative size. */
export async function writeDirectory (entries: DirectoryEntry[], layout: DirectoryLayout, put: PutBlock, options?: AbortOptions): Promise<{ cid: CID, tsize: number }> {
  if (!shouldShard(entries, layout)) {
    const links = entries.map((e) => ({ Name: e.name, Hash: e.cid, Tsize: e.tsize }))
    return await writeNode(new UnixFS({ type: 'directory' }), links, layout, put, options)
  }
  const hashed = await Promise.all(entries.map(async (entry) => ({ entry, bytes: utf8.encode(entry.name), hashes: [] as Uint8Array[] })))
  return await writeShard(hashed, 0, layout, put, options)
}

interface Hashed {
  entry: DirectoryEntry
  bytes: Uint8Array
  /** murmur3-x64-64 of the name, then of the name followed by the byte 1, 2, ... as deeper levels need more bits. */
  hashes: Uint8Array[]
}

/** The child index (one byte of the hash: fanout 256) of a name at HAMT level `depth`. */
async function indexAt (item: Hashed, depth: number): Promise<number> {
  const round = Math.floor(depth / 8)
  while (item.hashes.length <= round) {
    const n = item.hashes.length
    const input = n === 0 ? item.bytes : Uint8Array.from([...item.bytes, n])
    item.hashes.push((await murmur3128.encode(input)).subarray(0, 8))
  }
  return item.hashes[round][depth % 8]
}

/** One HAMT node over `items` at `depth`: a slot with one entry links it (label + name), a slot with more links a deeper shard (label). */
async function writeShard (items: Hashed[], depth: number, layout: DirectoryLayout, put: PutBlock, options?: AbortOptions): Promise<{ cid: CID, tsize: number }> {
  const slots = new Map<number, Hashed[]>()
  for (const item of items) {
    const index = await indexAt(item, depth)
    const slot = slots.get(index)
    if (slot === undefined) slots.set(index, [item])
    else slot.push(item)
  }
  let bitfield = 0n
  const links: dagPb.PBLink[] = []
  for (const [index, slot] of slots) {
    bitfield |= 1n << BigInt(index)
    const label = index.toString(16).toUpperCase().padStart(2, '0')
    if (slot.length === 1) {
      links.push({ Name: label + slot[0].entry.name, Hash: slot[0].entry.cid, Tsize: slot[0].entry.tsize })
    } else {
      const shard = await writeShard(slot, depth + 1, layout, put, options)
      links.push({ Name: label, Hash: shard.cid, Tsize: shard.tsize })
    }
  }
  const data = new UnixFS({ type: 'hamt-sharded-directory', data: bigEndian(bitfield), fanout: BigInt(FANOUT), hashType: MURMUR3_X64_64 })
  return await writeNode(data, links, layout, put, options)
}

/** The bitfield as go-unixfs stores it: big-endian, without leading zero bytes (at least one byte). */
function bigEndian (value: bigint): Uint8Array {
  const bytes: number[] = []
  do {
    bytes.unshift(Number(value & 0xffn))
    value >>= 8n
  } while (value > 0n)
  return Uint8Array.from(bytes)
}

async function writeNode (data: UnixFS, links: dagPb.PBLink[], layout: DirectoryLayout, put: PutBlock, options?: AbortOptions): Promise<{ cid: CID, tsize: number }> {
  const bytes = dagPb.encode(dagPb.prepare({ Data: data.marshal(), Links: links }))
  const cid = CID.create(layout.cidVersion, dagPb.code, await sha256.digest(bytes))
  await put(cid, bytes, options)
  return { cid, tsize: links.reduce((sum, link) => sum + (link.Tsize ?? 0), bytes.byteLength) }
}
