import { createHash } from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import { asyncIterableReader, readBlockHead, readHeader } from '@ipld/car/decoder'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { varint } from 'multiformats'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { collectBytes } from './bytes.js'
import { MAX_DAG_DEPTH } from './car-export.js'
import { WriteBehind, type ImportTarget } from './import.js'
import type { ReadTarget } from './export.js'
import type { AbortOptions } from '../types.js'

/**
 * The bytes are not an acceptable CAR: not CAR v1, not exactly one root, a block that does not
 * hash to its CID, a hash other than sha2-256, a codec other than dag-pb and raw, a block missing
 * under the root, or a root that is not a UnixFS file.
 */
export class InvalidCarError extends Error {
  static readonly NAME = 'InvalidCarError'
  override name = InvalidCarError.NAME
}

/** Largest block accepted (IPFS implementations exchange blocks of at most 2–4 MiB). */
export const MAX_CAR_BLOCK_SIZE = 4 * 1024 * 1024
/** Largest header accepted: one root needs under 100 bytes. */
const MAX_HEADER_SIZE = 64 * 1024

/** Where an import reads back what it stored, and checks blocks the CAR left out. */
export type CarReadTarget = ReadTarget & {
  /** Used, when present, before reading a block the CAR did not carry (a Kubo store may otherwise wait on the network). */
  has?: (cid: CID, options?: AbortOptions) => boolean | Promise<boolean>
}

export interface CarImportOptions extends AbortOptions {
  /**
   * Called with the root CID once the header is read, before any block is stored: a write
   * session's `hold`, which protects the root's whole DAG (blocks already stored included).
   */
  holdRoot?: (cid: CID) => void
  /** Blocks written while the next ones are read and hashed (default 4). */
  writeConcurrency?: number
}

export interface ImportedCar {
  /** The CAR's root: a UnixFS file or a raw leaf. */
  cid: CID
  /** Bytes of the file. */
  size: number
  /** Distinct blocks the CAR carried (by multihash; a repeated section counts once). */
  blocks: number
}

/**
 * Store the blocks of a CAR v1 and return its root as a file: every block is checked against its
 * CID (sha2-256; identity CIDs are checked and not stored) and written as it streams in. Once all
 * are stored and flushed, the DAG under the one root is walked: every block reachable from it
 * must be present (in the CAR, or already stored), dag-pb or raw, and form a UnixFS file whose
 * block sizes add up. Blocks the root does not reach are stored but not checked further; they
 * stay unreferenced garbage for GC.
 *
 * Memory is a few blocks plus one map entry per block, whatever the CAR's size. Rejects with
 * InvalidCarError for a bad CAR; with the source's own error if `source` throws; with the abort
 * reason on abort. Blocks written before a failure are garbage for GC.
 */
export async function importCar (source: AsyncIterable<Uint8Array>, target: ImportTarget, store: CarReadTarget, options: CarImportOptions = {}): Promise<ImportedCar> {
  const signal = options.signal
  signal?.throwIfAborted()
  // Errors from `source` (a request body's checks, a disconnect) pass through unchanged; anything
  // else the decoder throws is the CAR's fault.
  const failed: { error?: unknown, set: boolean } = { set: false }
  const tracked = (async function * () {
    try {
      for await (const chunk of source) yield chunk
    } catch (error) {
      failed.error = error
      failed.set = true
      throw error
    }
  })()
  const decode: Decode = async (what, read) => {
    try {
      return await read()
    } catch (err) {
      if (failed.set) throw failed.error
      signal?.throwIfAborted()
      throw new InvalidCarError(`${what}: ${(err as Error).message}`)
    }
  }

  try {
    return await importBlocks(tracked, decode, target, store, options)
  } finally {
    // Stop reading the source if the CAR was refused part way (a no-op once it is exhausted).
    await tracked.return(undefined).catch(() => {})
  }
}

type Decode = <T>(what: string, read: () => Promise<T>) => Promise<T>

async function importBlocks (source: AsyncIterable<Uint8Array>, decode: Decode, target: ImportTarget, store: CarReadTarget, options: CarImportOptions): Promise<ImportedCar> {
  const signal = options.signal
  const reader = asyncIterableReader(source)
  const header = await decode('Not a CAR v1 (bad header)', async () => {
    const start = await reader.upTo(10)
    if (start.byteLength === 0) throw new Error('the body is empty')
    const [length] = varint.decode(start)
    if (length > MAX_HEADER_SIZE) throw new Error(`a header of ${length} bytes`)
    return await readHeader(reader, 1)
  })
  if (header.roots.length !== 1) throw new InvalidCarError(`The CAR must name exactly one root; it names ${header.roots.length}`)
  const root = CID.asCID(header.roots[0])
  if (root == null) throw new InvalidCarError('The CAR\'s root is not a CID')
  checkCid(root, 'The CAR\'s root')
  options.holdRoot?.(root)

  /** Bytes of each block the CAR carried, by multihash (the blockstore's key). */
  const lengths = new Map<string, number>()
  const writer = new WriteBehind(target, options.writeConcurrency ?? 4, signal)
  try {
    for (;;) {
      signal?.throwIfAborted()
      const block = await decode('Malformed CAR section', async () => await readSection(reader))
      if (block === undefined) break
      checkCid(block.cid, `Block ${block.cid}`)
      verifyBlock(block.cid, block.bytes)
      lengths.set(multihashKey(block.cid), block.bytes.byteLength)
      if (block.cid.multihash.code === identity.code) continue
      await writer.put(block.cid, ownBytes(block.bytes))
    }
    await writer.drain()
    await writer.flushRest()
  } catch (err) {
    await writer.settle()
    throw err
  }
  const size = await fileSize(root, store, lengths, signal)
  return { cid: root, size, blocks: lengths.size }
}

async function readSection (reader: ReturnType<typeof asyncIterableReader>): Promise<{ cid: CID, bytes: Uint8Array } | undefined> {
  if ((await reader.upTo(8)).byteLength === 0) return undefined
  const head = await readBlockHead(reader)
  if (head.blockLength > MAX_CAR_BLOCK_SIZE) {
    throw new Error(`block ${head.cid} is ${head.blockLength} bytes; at most ${MAX_CAR_BLOCK_SIZE} are accepted`)
  }
  if (head.blockLength < 0) throw new Error(`section of block ${head.cid} is shorter than its CID`)
  const cid = CID.asCID(head.cid)
  if (cid == null) throw new Error('section without a CID')
  return { cid, bytes: await reader.exactly(head.blockLength, true) }
}

/** dag-pb or raw, hashed with sha2-256 (or identity): what a UnixFS file is made of. */
function checkCid (cid: CID, what: string): void {
  if (cid.code !== dagPb.code && cid.code !== raw.code) {
    throw new InvalidCarError(`${what} has codec 0x${cid.code.toString(16)}; only dag-pb (0x70) and raw (0x55) are accepted`)
  }
  const hash = cid.multihash.code
  if (hash !== sha256.code && hash !== identity.code) {
    throw new InvalidCarError(`${what} is hashed with multihash 0x${hash.toString(16)}; only sha2-256 (0x12) is accepted`)
  }
  if (hash === sha256.code && cid.multihash.size !== 32) {
    throw new InvalidCarError(`${what} has a sha2-256 digest of ${cid.multihash.size} bytes`)
  }
}

function verifyBlock (cid: CID, bytes: Uint8Array): void {
  const expected = cid.multihash.digest
  const actual = cid.multihash.code === identity.code ? bytes : createHash('sha256').update(bytes).digest()
  if (!Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength).equals(actual)) {
    throw new InvalidCarError(`Block ${cid} does not match its CID: its bytes hash to another digest`)
  }
}

/** The decoder's blocks are views of a larger read buffer: a store that keeps them (memory) must not pin it. */
function ownBytes (bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes)
}

function multihashKey (cid: CID): string {
  return Buffer.from(cid.multihash.bytes.buffer, cid.multihash.bytes.byteOffset, cid.multihash.bytes.byteLength).toString('base64')
}

function isNotFound (err: unknown): boolean {
  const e = err as { name?: unknown, code?: unknown } | null
  return e?.name === 'NotFoundError' || e?.code === 'ERR_NOT_FOUND'
}

/**
 * Walks the DAG under `root` and returns the file's size: every node must be a UnixFS file (or
 * raw) node whose links each hold as many file bytes as its blocksizes say. dag-pb nodes are read
 * from the store; raw leaves are not read when the CAR carried them (their size is known).
 */
async function fileSize (root: CID, store: CarReadTarget, lengths: Map<string, number>, signal?: AbortSignal): Promise<number> {
  /** File bytes under each CID already walked (a repeated subtree is walked once). */
  const sizes = new Map<string, number>()

  const present = async (cid: CID): Promise<boolean> => {
    if (cid.multihash.code === identity.code || lengths.has(multihashKey(cid))) return true
    return store.has === undefined ? true : await store.has(cid, { signal })
  }
  const read = async (cid: CID, parent: CID | undefined): Promise<Uint8Array> => {
    if (cid.multihash.code === identity.code) return cid.multihash.digest
    try {
      if (!(await present(cid))) throw missing(cid, parent)
      return await collectBytes(store.get(cid, { signal }))
    } catch (err) {
      if (isNotFound(err)) throw missing(cid, parent)
      throw err
    }
  }

  const visit = async (cid: CID, parent: CID | undefined, depth: number): Promise<number> => {
    signal?.throwIfAborted()
    const key = cid.toString()
    const known = sizes.get(key)
    if (known !== undefined) return known
    if (parent !== undefined) checkCid(cid, `Block ${cid} (linked from ${parent})`)
    if (depth > MAX_DAG_DEPTH) throw new InvalidCarError(`The DAG is deeper than ${MAX_DAG_DEPTH} levels`)
    let size: number
    if (cid.code === raw.code) {
      size = lengths.get(multihashKey(cid)) ?? (await read(cid, parent)).byteLength
    } else {
      size = await nodeSize(cid, parent, await read(cid, parent), depth)
    }
    sizes.set(key, size)
    return size
  }

  const nodeSize = async (cid: CID, parent: CID | undefined, block: Uint8Array, depth: number): Promise<number> => {
    const what = parent === undefined ? `The CAR's root ${cid}` : `Block ${cid} (linked from ${parent})`
    let node: dagPb.PBNode
    let unixfs: UnixFS
    try {
      node = dagPb.decode(block)
    } catch (err) {
      throw new InvalidCarError(`${what} is not valid dag-pb: ${(err as Error).message}`)
    }
    if (node.Data === undefined) throw new InvalidCarError(`${what} is not a UnixFS node`)
    try {
      unixfs = UnixFS.unmarshal(node.Data)
    } catch (err) {
      throw new InvalidCarError(`${what} is not a UnixFS node: ${(err as Error).message}`)
    }
    if (unixfs.type !== 'file' && unixfs.type !== 'raw') {
      throw new InvalidCarError(`${what} is a UnixFS ${unixfs.type}, not a file`)
    }
    if (node.Links.length !== unixfs.blockSizes.length) {
      throw new InvalidCarError(`${what} has ${node.Links.length} links but ${unixfs.blockSizes.length} block sizes`)
    }
    let size = unixfs.data?.byteLength ?? 0
    for (const [i, link] of node.Links.entries()) {
      const childSize = await visit(link.Hash, cid, depth + 1)
      if (BigInt(childSize) !== unixfs.blockSizes[i]) {
        throw new InvalidCarError(`${what} says link ${i} holds ${unixfs.blockSizes[i]} bytes of the file; it holds ${childSize}`)
      }
      size += childSize
    }
    return size
  }

  return await visit(root, undefined, 0)
}

function missing (cid: CID, parent: CID | undefined): InvalidCarError {
  return new InvalidCarError(parent === undefined
    ? `The CAR is incomplete: its root ${cid} is neither in the CAR nor stored already`
    : `The CAR is incomplete: block ${cid} (linked from ${parent}) is neither in the CAR nor stored already`)
}
