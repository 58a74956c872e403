import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { collectBytes } from './bytes.js'
import { CorruptContentError, UnsupportedContentError } from './export.js'
import { cidProfile } from './profiles.js'
import type { ReadTarget } from './export.js'
import type { ImportTarget } from './import.js'
import type { CidProfile, CidProfileName } from './profiles.js'
import type { AbortOptions } from '../types.js'

/** One part of a multipart object: the root CID of its separate import, and its size in bytes. */
export interface ComposePart {
  cid: CID | string
  size: number
}

export interface ComposeContentOptions extends AbortOptions {
  profile: CidProfileName
}

export interface ComposedContent {
  cid: CID
  /** Bytes of content: the sum of the parts' sizes. */
  size: number
  /**
   * True when `cid` is the CID `ipfs add` (importContent) gives for the concatenated bytes under
   * the profile; false when it is another valid UnixFS file DAG of the same bytes.
   */
  standard: boolean
}

/** How an import chunks and lays out a file: a CID profile without its name. */
export type DagLayout = Pick<CidProfile, 'cidVersion' | 'rawLeaves' | 'chunkSize' | 'maxChildrenPerNode'>

/** A node (or leaf) to link from a parent: what the parent's link and UnixFS blockSizes need. */
export interface DagChild {
  cid: CID
  /** File bytes under the child. */
  contentSize: number
  /** Bytes of every block of the child's DAG (the link's Tsize). */
  dagSize: number
}

/**
 * The root CID of one UnixFS file made of `parts` in order, built from the parts' DAGs without
 * reading their bytes. Parts must have been imported (importContent) as separate files; sizes are
 * the sizes those imports returned. Writes only the new internal nodes (then `flush`es them when
 * the store has `flush`), never a leaf.
 *
 * - One part: its CID, unchanged. `standard` is checked, not assumed: true when the part's DAG is
 *   exactly the profile's import of its bytes (this reads the part's internal nodes).
 * - Every part but the last a whole number of chunks, and every part the profile's balanced import
 *   of its bytes: the parts' leaves are exactly the chunks of the whole object, so the tree is
 *   rebuilt over them as the importer would build it. The CID is the one `ipfs add` gives for the
 *   concatenated bytes; `standard` is true.
 * - Otherwise: a balanced UnixFS file whose children are the parts' roots. A valid DAG of the same
 *   bytes, but not `ipfs add`'s: a part that is not a whole number of chunks ends in a short leaf,
 *   while `ipfs add` of the concatenated bytes would cut a full chunk across the part boundary, so
 *   the leaves themselves differ (and a part built under another profile has other leaves and
 *   nodes). `standard` is false.
 *
 * Reads grow with the number of parts and of their internal nodes, never with bytes; the only
 * leaf read is that of a CIDv0 part of a single chunk (at most one chunk: the root of such a part
 * is its leaf, and only reading it tells a leaf from a node). Empty parts add nothing. Missing
 * blocks reject with the blockstore's NotFoundError, an aborted signal with its reason.
 */
export async function composeContent (parts: ComposePart[], blockstore: ImportTarget & ReadTarget, options: ComposeContentOptions): Promise<ComposedContent> {
  return await composeWithLayout(parts, blockstore, cidProfile(options.profile), options)
}

/**
 * `composeContent` for any chunk size and fan-out (tests build multi-level trees with small ones).
 * Leaves are raw CIDv1 when `rawLeaves`, otherwise dag-pb UnixFS files of `cidVersion`.
 */
export async function composeWithLayout (parts: ComposePart[], blockstore: ImportTarget & ReadTarget, layout: DagLayout, options: AbortOptions = {}): Promise<ComposedContent> {
  const signal = options.signal
  signal?.throwIfAborted()
  const all = parts.map(toPart)
  const size = all.reduce((sum, part) => sum + part.size, 0)
  const walk: Walk = { layout, blockstore, signal, leafDagSizes: new Map() }

  if (all.length === 1) {
    return { cid: all[0].cid, size, standard: await isStandard(walk, all[0]) }
  }
  const filled = all.filter(part => part.size > 0)
  if (filled.length === 0) {
    const { cid, block } = await emptyFile(layout)
    await blockstore.put(cid, block, { signal })
    if (blockstore.flush !== undefined) await blockstore.flush([cid], { signal })
    return { cid, size, standard: true }
  }
  if (filled.length === 1) {
    return { cid: filled[0].cid, size, standard: await isStandard(walk, filled[0]) }
  }

  if (filled.every((part, i) => i === filled.length - 1 || part.size % layout.chunkSize === 0) &&
    filled.every(part => rootLooksStandard(layout, part))) {
    const written: CID[] = []
    try {
      const root = await buildBalanced(concatLeaves(walk, filled), layout, writer(blockstore, written, signal))
      await flush(blockstore, written, signal)
      return { cid: root!.cid, size, standard: true }
    } catch (err) {
      // Nodes written before the mismatch showed up are left as garbage, as a failed import's are.
      if (!(err instanceof NotStandard)) throw err
    }
  }

  const children: DagChild[] = []
  for (const part of filled) children.push(await partAsChild(walk, part))
  const written: CID[] = []
  const root = await buildBalanced(children, layout, writer(blockstore, written, signal))
  await flush(blockstore, written, signal)
  return { cid: root!.cid, size, standard: false }
}

/**
 * Lay `children` out as ipfs-unixfs-importer's balanced layout does with its file reducer: groups
 * of `maxChildrenPerNode` under a UnixFS 'file' node (no data, one blockSize per child, links
 * named '' with Tsize), level by level until one node is left. Children of no content are skipped,
 * as the importer skips empty leaves; a single child is returned as it is (the importer's
 * reduceSingleLeafToSelf); no children gives undefined. Every new node goes through `put`.
 * `children` is read once, in order, and only each level's nodes are held in memory.
 */
export async function buildBalanced (
  children: AsyncIterable<DagChild> | Iterable<DagChild>,
  layout: Pick<DagLayout, 'maxChildrenPerNode' | 'cidVersion'>,
  put: (cid: CID, block: Uint8Array) => Promise<void>
): Promise<DagChild | undefined> {
  const fanout = layout.maxChildrenPerNode
  const reduce = async (group: DagChild[]): Promise<DagChild> => {
    const unixfs = new UnixFS({ type: 'file' })
    let contentSize = 0
    let dagSize = 0
    for (const child of group) {
      unixfs.addBlockSize(BigInt(child.contentSize))
      contentSize += child.contentSize
      dagSize += child.dagSize
    }
    // Already in dag-pb's canonical form (the shape `prepare` gives, links sorted: every name is
    // ''), which `encode` checks. `prepare` would copy each link and sort them again: for a node of
    // 1,024 leaves, about 20,000 comparisons, each allocating, and part of it survived into V8's
    // old generation (bench/WRITE-PATH.md, round eight).
    const links = group.map(child => ({ Hash: child.cid, Name: '', Tsize: child.dagSize }))
    const block = dagPb.encode({ Data: unixfs.marshal(), Links: links })
    const cid = CID.create(layout.cidVersion, dagPb.code, await sha256.digest(block))
    await put(cid, block)
    return { cid, contentSize, dagSize: block.byteLength + dagSize }
  }

  let level: DagChild[] = []
  let group: DagChild[] = []
  let first: DagChild | undefined
  let count = 0
  for await (const child of children) {
    if (child.contentSize === 0) continue
    first ??= child
    count++
    group.push(child)
    if (group.length === fanout) {
      level.push(await reduce(group))
      group = []
    }
  }
  if (count <= 1) return first
  if (group.length > 0) level.push(await reduce(group))
  while (level.length > 1) {
    const next: DagChild[] = []
    for (let i = 0; i < level.length; i += fanout) next.push(await reduce(level.slice(i, i + fanout)))
    level = next
  }
  return level[0]
}

interface Part {
  cid: CID
  size: number
}

interface Walk {
  layout: DagLayout
  blockstore: ReadTarget
  signal?: AbortSignal
  /** Encoded size of a dag-pb leaf by content size (computed, never read). */
  leafDagSizes: Map<number, number>
  /** Root blocks of the parts ahead, being read while earlier parts are walked. */
  ahead?: Map<string, Promise<Uint8Array>>
}

/** Parts whose root blocks are read ahead of the walk (one read each: their roots). */
const PARTS_AHEAD = 8

/** The part is not the profile's balanced import of its bytes. */
class NotStandard extends Error {
  override name = 'NotStandard'
}

function toPart (part: ComposePart): Part {
  if (!Number.isSafeInteger(part.size) || part.size < 0) throw new RangeError(`Invalid part size ${part.size}`)
  return { cid: typeof part.cid === 'string' ? CID.parse(part.cid) : part.cid, size: part.size }
}

function writer (blockstore: ImportTarget, written: CID[], signal?: AbortSignal) {
  return async (cid: CID, block: Uint8Array): Promise<void> => {
    await blockstore.put(cid, block, { signal })
    written.push(cid)
  }
}

async function flush (blockstore: ImportTarget, written: CID[], signal?: AbortSignal): Promise<void> {
  if (blockstore.flush !== undefined && written.length > 0) await blockstore.flush(written, { signal })
}

/** The one block of an empty file, as the importer writes it. */
async function emptyFile (layout: DagLayout): Promise<{ cid: CID, block: Uint8Array }> {
  if (layout.rawLeaves) return { cid: CID.create(1, raw.code, await sha256.digest(new Uint8Array(0))), block: new Uint8Array(0) }
  const block = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'file' }).marshal() }))
  return { cid: CID.create(layout.cidVersion, dagPb.code, await sha256.digest(block)), block }
}

/** Whether one part's CID is the profile's import of its bytes: its tree rebuilt, nothing written. */
async function isStandard (walk: Walk, part: Part): Promise<boolean> {
  if (part.size === 0) return part.cid.equals((await emptyFile(walk.layout)).cid)
  if (!rootLooksStandard(walk.layout, part)) return false
  try {
    const root = await buildBalanced(standardLeaves(walk, part), walk.layout, async () => {})
    return root !== undefined && root.cid.equals(part.cid)
  } catch (err) {
    if (err instanceof NotStandard) return false
    throw err
  }
}

function isLeafCid (layout: DagLayout, cid: CID): boolean {
  return layout.rawLeaves
    ? cid.code === raw.code && cid.version === 1 && cid.multihash.code === sha256.code
    : isNodeCid(layout, cid)
}

function isNodeCid (layout: DagLayout, cid: CID): boolean {
  return cid.code === dagPb.code && cid.version === layout.cidVersion && cid.multihash.code === sha256.code
}

/** Checks of a part's root CID that need no read. */
function rootLooksStandard (layout: DagLayout, part: Part): boolean {
  return part.size <= layout.chunkSize ? isLeafCid(layout, part.cid) : isNodeCid(layout, part.cid)
}

async function * concatLeaves (walk: Walk, parts: Part[]): AsyncGenerator<DagChild> {
  const ahead = walk.ahead = new Map()
  try {
    for (let i = 0, next = 0; i < parts.length; i++) {
      // A node's root is read ahead, so that the walk does not wait a read per part in turn.
      for (; next < parts.length && next <= i + PARTS_AHEAD; next++) {
        const { cid } = parts[next]
        const key = cid.toString()
        if (cid.code !== dagPb.code || cid.multihash.code === identity.code || ahead.has(key)) continue
        const read = fetchBlock(walk, cid)
        read.catch(() => {}) // awaited when its part is walked; a walk that ends sooner drops it
        ahead.set(key, read)
      }
      yield * standardLeaves(walk, parts[i])
    }
  } finally {
    walk.ahead = undefined
  }
}

/**
 * The leaves of a non-empty part in order, read from its internal nodes only. The part's size,
 * chunk size and fan-out fix the whole shape of the importer's tree (its depth, every node's link
 * count, every child's content size), so any other shape throws NotStandard. Leaves are known by
 * their CIDs and link sizes alone: a dag-pb leaf's Tsize must be that of a leaf node of its
 * blockSize, which an internal node in its place cannot have. (A leaf of UnixFS type 'raw' instead
 * of 'file' has the same size and would pass; no import here makes one.)
 */
async function * standardLeaves (walk: Walk, part: Part): AsyncGenerator<DagChild> {
  const { layout } = walk
  const leafCount = Math.ceil(part.size / layout.chunkSize)
  if (leafCount === 1) {
    if (!isLeafCid(layout, part.cid)) throw new NotStandard(`${part.cid} is not a leaf`)
    if (layout.rawLeaves) {
      yield { cid: part.cid, contentSize: part.size, dagSize: part.size }
      return
    }
    // The root of a one-chunk part is its leaf; only reading it tells it from an internal node.
    const block = await readBlock(walk, part.cid)
    const node = decodeOrNotStandard(block)
    if (node.pb.Links.length !== 0 || node.unixfs.type !== 'file' || node.unixfs.data?.byteLength !== part.size) {
      throw new NotStandard(`${part.cid} is not a leaf of ${part.size} bytes`)
    }
    yield { cid: part.cid, contentSize: part.size, dagSize: block.byteLength }
    return
  }
  if (!isNodeCid(layout, part.cid)) throw new NotStandard(`${part.cid} is not a ${layout.cidVersion === 0 ? 'CIDv0' : 'CIDv1'} dag-pb node`)
  let span = 1
  while (span * layout.maxChildrenPerNode < leafCount) span *= layout.maxChildrenPerNode
  yield * standardNode(walk, part.cid, span, leafCount, part.size)
}

/**
 * Leaves under one internal node covering `leafCount` leaves and `size` bytes, each of its
 * children covering `span` leaves (the last fewer). Returns the node's DAG size.
 */
async function * standardNode (walk: Walk, cid: CID, span: number, leafCount: number, size: number): AsyncGenerator<DagChild, number> {
  const { layout } = walk
  const block = await readBlock(walk, cid)
  const { pb, unixfs } = decodeOrNotStandard(block)
  const linkCount = Math.ceil(leafCount / span)
  if (unixfs.type !== 'file' || (unixfs.data !== undefined && unixfs.data.byteLength > 0) ||
    pb.Links.length !== linkCount || unixfs.blockSizes.length !== linkCount) {
    throw new NotStandard(`${cid} is not a node of ${linkCount} links`)
  }
  const fullSize = span * layout.chunkSize
  let dagSize = block.byteLength
  for (let i = 0; i < linkCount; i++) {
    const link = pb.Links[i]
    const childSize = Math.min(fullSize, size - i * fullSize)
    if (Number(unixfs.blockSizes[i]) !== childSize || (link.Name ?? '') !== '' || link.Tsize === undefined) {
      throw new NotStandard(`Link ${i} of ${cid} is not a child of ${childSize} bytes`)
    }
    if (span === 1) {
      const leafSize = leafDagSize(walk, childSize)
      if (!isLeafCid(layout, link.Hash) || link.Tsize !== leafSize) throw new NotStandard(`Link ${i} of ${cid} is not a leaf`)
      yield { cid: link.Hash, contentSize: childSize, dagSize: leafSize }
    } else {
      if (!isNodeCid(layout, link.Hash)) throw new NotStandard(`Link ${i} of ${cid} is not a node`)
      const childLeaves = Math.min(span, leafCount - i * span)
      const childDagSize = yield * standardNode(walk, link.Hash, span / layout.maxChildrenPerNode, childLeaves, childSize)
      if (link.Tsize !== childDagSize) throw new NotStandard(`Link ${i} of ${cid} has the wrong Tsize`)
    }
    dagSize += link.Tsize
  }
  return dagSize
}

/** Block size of the leaf the importer writes for `contentSize` bytes, without I/O. */
function leafDagSize (walk: Walk, contentSize: number): number {
  if (walk.layout.rawLeaves) return contentSize
  let size = walk.leafDagSizes.get(contentSize)
  if (size === undefined) {
    const data = new UnixFS({ type: 'file', data: new Uint8Array(contentSize) }).marshal()
    size = dagPb.encode({ Data: data, Links: [] }).byteLength
    walk.leafDagSizes.set(contentSize, size)
  }
  return size
}

/** A part's root as a child of the composed file, its DAG size from the root block alone. */
async function partAsChild (walk: Walk, part: Part): Promise<DagChild> {
  const { cid, size } = part
  if (cid.code === raw.code) return { cid, contentSize: size, dagSize: size }
  if (cid.code !== dagPb.code) throw new UnsupportedContentError(`${cid} is not UnixFS content (codec 0x${cid.code.toString(16)})`)
  const block = await readBlock(walk, cid)
  let pb: dagPb.PBNode
  try {
    pb = dagPb.decode(block)
  } catch (err) {
    throw new CorruptContentError(`Invalid dag-pb block ${cid}: ${(err as Error).message}`)
  }
  let unixfs: UnixFS
  try {
    if (pb.Data === undefined) throw new Error('no UnixFS data')
    unixfs = UnixFS.unmarshal(pb.Data)
  } catch (err) {
    throw new UnsupportedContentError(`${cid} is not UnixFS: ${(err as Error).message}`)
  }
  if (unixfs.type !== 'file' && unixfs.type !== 'raw') throw new UnsupportedContentError(`${cid} is a UnixFS ${unixfs.type}, not a file`)
  if (Number(unixfs.fileSize()) !== size) throw new CorruptContentError(`Part ${cid} holds ${unixfs.fileSize()} bytes, not ${size}`)
  let dagSize = block.byteLength
  for (const link of pb.Links) {
    if (link.Tsize === undefined) throw new CorruptContentError(`A link of ${cid} has no Tsize`)
    dagSize += link.Tsize
  }
  return { cid, contentSize: size, dagSize }
}

function decodeOrNotStandard (block: Uint8Array): { pb: dagPb.PBNode, unixfs: UnixFS } {
  try {
    const pb = dagPb.decode(block)
    if (pb.Data === undefined) throw new Error('no UnixFS data')
    return { pb, unixfs: UnixFS.unmarshal(pb.Data) }
  } catch (err) {
    throw new NotStandard((err as Error).message)
  }
}

async function readBlock (walk: Walk, cid: CID): Promise<Uint8Array> {
  walk.signal?.throwIfAborted()
  if (cid.multihash.code === identity.code) return cid.multihash.digest
  const ahead = walk.ahead
  if (ahead !== undefined) {
    const key = cid.toString()
    const read = ahead.get(key)
    if (read !== undefined) {
      ahead.delete(key)
      return await read
    }
  }
  return await fetchBlock(walk, cid)
}

async function fetchBlock (walk: Walk, cid: CID): Promise<Uint8Array> {
  return await collectBytes(walk.blockstore.get(cid, { signal: walk.signal }), { signal: walk.signal })
}
