import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { createWriter, headerLength } from '@ipld/car/buffer-writer'
import { varint } from 'multiformats'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { collectBytes, concatBytes } from './bytes.js'
import { CorruptContentError, UnsupportedContentError, type ReadTarget } from './export.js'
import type { AbortOptions } from '../types.js'
import type { CID } from 'multiformats/cid'

export interface CarExportOptions extends AbortOptions {
  /**
   * Send a block every time the walk reaches it (the trustless gateway's `dups=y`) rather than the
   * first time only (`dups=n`, the default).
   */
  duplicates?: boolean
  /** `all` (default): every block of the DAG; `block`: the root block alone. */
  scope?: 'all' | 'block'
  /**
   * With scope `all` on a UnixFS file: only the blocks needed to verify these bytes (first and
   * last, inclusive; the trustless gateway's `entity-bytes`): every node on the way to a leaf that
   * overlaps them, skipping subtrees whose bytes (from the file nodes' blocksizes) are all outside.
   */
  range?: { start: number, end: number }
  /** Sibling blocks fetched ahead of the one being sent (default 4). */
  readAhead?: number
  /**
   * Blocks sent first, in order (a path gateway's path: the directories from a root down to the
   * DAG exported, which then need not be that root). The CAR's header names the first of them.
   */
  path?: Array<{ cid: CID, block: Uint8Array }>
}

/** Deeper DAGs are refused: a UnixFS file of 5 TiB is 4 levels deep under 1024-link nodes. */
export const MAX_DAG_DEPTH = 128

/** Blocks up to this size go out in one chunk with their section prefix. */
const COALESCE_LIMIT = 16 * 1024

/** The CAR v1 header (length-prefixed dag-cbor `{ version: 1, roots: [root] }`). */
export function carHeader (root: CID): Uint8Array {
  return createWriter(new ArrayBuffer(headerLength({ roots: [root] })), { roots: [root] }).close()
}

/** The start of a CAR section: varint(length of CID + block), then the CID's bytes. */
export function sectionPrefix (cid: CID, blockLength: number): Uint8Array {
  const length = cid.bytes.byteLength + blockLength
  const prefix = new Uint8Array(varint.encodingLength(length) + cid.bytes.byteLength)
  varint.encodeTo(length, prefix, 0)
  prefix.set(cid.bytes, prefix.byteLength - cid.bytes.byteLength)
  return prefix
}

/**
 * A CAR v1 of the DAG under `root`: the header (roots = [root]), then each block in depth-first
 * pre-order, links in order, as the trustless gateway's `order=dfs` defines it; with `dups=n` a
 * block is sent the first time the walk reaches it, and the subtree under a repeated block is not
 * walked again. Blocks under identity CIDs are never sent (their bytes are in the CID).
 *
 * The root block is read before this resolves, so a missing or non-UnixFS root rejects here
 * (NotFoundError, UnsupportedContentError) rather than after the caller committed to a response.
 * Then blocks are read one at a time as the consumer pulls (plus `readAhead` siblings per level),
 * so memory is a few blocks and, with `dups=n`, one CID string per block sent. A block missing
 * later makes the stream throw the blockstore's error: the CAR so far is truncated, which a
 * client verifying the DAG detects.
 */
export async function exportCar (root: CID, blockstore: ReadTarget, options: CarExportOptions = {}): Promise<AsyncGenerator<Uint8Array>> {
  checkCodec(root)
  const block = await getBlock(root, blockstore, options.signal)
  const walk: Walk = {
    blockstore,
    seen: options.duplicates === true ? undefined : new Set(),
    scope: options.scope ?? 'all',
    range: options.range,
    readAhead: Math.max(1, options.readAhead ?? 4),
    signal: options.signal,
  }
  return carStream(walk, root, block, options.path ?? [])
}

interface Walk {
  blockstore: ReadTarget
  /** CIDs sent so far (dups=n); undefined with dups=y. */
  seen?: Set<string>
  scope: 'all' | 'block'
  range?: { start: number, end: number }
  readAhead: number
  signal?: AbortSignal
}

async function * carStream (walk: Walk, root: CID, block: Uint8Array, path: Array<{ cid: CID, block: Uint8Array }>): AsyncGenerator<Uint8Array> {
  yield carHeader(path[0]?.cid ?? root)
  for (const step of path) {
    walk.seen?.add(step.cid.toString())
    yield concatBytes([sectionPrefix(step.cid, step.block.byteLength), step.block])
  }
  yield * emit(walk, root, block, 0, 0)
}

/** `start`: the offset in the file of this node's first byte (read only with a range). */
async function * emit (walk: Walk, cid: CID, block: Uint8Array, depth: number, start: number): AsyncGenerator<Uint8Array> {
  if (cid.multihash.code !== identity.code) {
    if (walk.seen !== undefined) {
      const key = cid.toString()
      if (walk.seen.has(key)) return
      walk.seen.add(key)
    }
    const prefix = sectionPrefix(cid, block.byteLength)
    if (block.byteLength <= COALESCE_LIMIT) {
      yield concatBytes([prefix, block])
    } else {
      yield prefix
      yield block
    }
  }
  if (cid.code === raw.code || walk.scope === 'block') return
  if (depth >= MAX_DAG_DEPTH) throw new CorruptContentError(`DAG under ${cid} is deeper than ${MAX_DAG_DEPTH} levels`)
  let node: dagPb.PBNode
  try {
    node = dagPb.decode(block)
  } catch (err) {
    throw new CorruptContentError(`Invalid dag-pb block ${cid}: ${(err as Error).message}`)
  }
  const children: CID[] = []
  const offsets: number[] = []
  const listed = new Set<string>()
  const sizes = walk.range === undefined ? undefined : fileBlockSizes(cid, node)
  let position = start + (sizes?.dataLength ?? 0)
  for (const [i, link] of node.Links.entries()) {
    checkCodec(link.Hash)
    const offset = position
    if (sizes !== undefined && walk.range !== undefined) {
      const size = sizes.blockSizes[i]
      position += size
      // Outside the range: neither this child nor anything under it is needed.
      if (offset + size - 1 < walk.range.start || offset > walk.range.end) continue
    }
    if (walk.seen !== undefined) {
      // Sent already, or an earlier sibling: neither the block nor anything under it goes out
      // again (checked once more when its turn comes, as an earlier sibling's subtree may send it).
      const key = link.Hash.toString()
      if (walk.seen.has(key) || listed.has(key)) continue
      listed.add(key)
    }
    children.push(link.Hash)
    offsets.push(offset)
  }
  let index = 0
  for await (const child of fetchAhead(walk, children)) {
    walk.signal?.throwIfAborted()
    yield * emit(walk, child.cid, child.block, depth + 1, offsets[index++])
  }
}

/** A UnixFS file node's own data length and its children's byte counts, for range walks. */
function fileBlockSizes (cid: CID, node: dagPb.PBNode): { dataLength: number, blockSizes: number[] } {
  let unixfs: UnixFS
  try {
    unixfs = UnixFS.unmarshal(node.Data ?? new Uint8Array())
  } catch (err) {
    throw new CorruptContentError(`Invalid UnixFS data in ${cid}: ${(err as Error).message}`)
  }
  if (unixfs.type !== 'file' && unixfs.type !== 'raw') throw new UnsupportedContentError(`${cid} is not a UnixFS file: byte ranges apply to files only`)
  if (unixfs.blockSizes.length !== node.Links.length) throw new CorruptContentError(`${cid} has ${node.Links.length} links but ${unixfs.blockSizes.length} blocksizes`)
  return { dataLength: unixfs.data?.byteLength ?? 0, blockSizes: unixfs.blockSizes.map(Number) }
}

/** Yield each child's block in order while up to `readAhead` later ones are being fetched. */
async function * fetchAhead (walk: Walk, children: CID[]): AsyncGenerator<{ cid: CID, block: Uint8Array }> {
  const pending: Array<Promise<Uint8Array>> = []
  let next = 0
  for (let i = 0; i < children.length; i++) {
    while (next < children.length && next <= i + walk.readAhead) {
      const fetch = getBlock(children[next++], walk.blockstore, walk.signal)
      fetch.catch(() => {}) // awaited below in order; this only keeps an early failure from being "unhandled"
      pending.push(fetch)
    }
    yield { cid: children[i], block: await pending.shift()! }
  }
}

function checkCodec (cid: CID): void {
  if (cid.code !== raw.code && cid.code !== dagPb.code) {
    throw new UnsupportedContentError(`${cid} is not dag-pb or raw (codec 0x${cid.code.toString(16)})`)
  }
}

async function getBlock (cid: CID, blockstore: ReadTarget, signal?: AbortSignal): Promise<Uint8Array> {
  signal?.throwIfAborted()
  if (cid.multihash.code === identity.code) return cid.multihash.digest
  return await collectBytes(blockstore.get(cid, { signal }))
}
