import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import type { AbortOptions } from '../types.js'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

/** The CID is not a UnixFS file or raw block (a directory, symlink, dag-cbor, ...). */
export class UnsupportedContentError extends Error {
  static readonly NAME = 'UnsupportedContentError'
  override name = UnsupportedContentError.NAME
}

/** The DAG contradicts itself (sizes that do not add up, links without sizes). */
export class CorruptContentError extends Error {
  static readonly NAME = 'CorruptContentError'
  override name = CorruptContentError.NAME
}

/** offset/length outside the content. */
export class ContentRangeError extends RangeError {
  static readonly NAME = 'ContentRangeError'
  override name = ContentRangeError.NAME
}

export type ReadTarget = Pick<Blockstore, 'get'>

export interface ExportOptions extends AbortOptions {
  /** First byte to return (default 0); may equal the size (then nothing is returned). */
  offset?: number
  /** Bytes to return from `offset` (default: to the end); clamped to the end of the content. */
  length?: number
  /** Sibling blocks fetched ahead of the one being returned (default 4). */
  readAhead?: number
}

interface Root {
  codec: number
  block: Uint8Array
  node?: dagPb.PBNode
  unixfs?: UnixFS
  size: number
}

/** Size in bytes of the UnixFS file or raw block at `cid`, from its root block alone. */
export async function contentSize (cid: CID, blockstore: ReadTarget, options: AbortOptions = {}): Promise<number> {
  return (await resolveRoot(cid, blockstore, options)).size
}

/**
 * Stream the bytes of a UnixFS file (or a raw block) from `offset` for `length` bytes. Only the
 * blocks that overlap the range are read. Reads run at most `readAhead` blocks ahead of the
 * consumer at each level of the DAG, and only as the consumer pulls, so a slow consumer holds
 * back reading (ipfs-unixfs-exporter reads every child of a node at once into an unbounded queue,
 * which is why this walks the DAG itself).
 */
export async function * exportContent (cid: CID, blockstore: ReadTarget, options: ExportOptions = {}): AsyncGenerator<Uint8Array> {
  const root = await resolveRoot(cid, blockstore, options)
  const offset = options.offset ?? 0
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > root.size) {
    throw new ContentRangeError(`Offset ${offset} is outside content of ${root.size} bytes`)
  }
  const length = options.length ?? root.size - offset
  if (!Number.isSafeInteger(length) || length < 0) throw new ContentRangeError(`Invalid length ${length}`)
  const walk: Walk = {
    start: offset,
    end: Math.min(root.size, offset + length),
    readAhead: Math.max(1, options.readAhead ?? 4),
    blockstore,
    signal: options.signal
  }
  if (walk.end <= walk.start) return

  let sent = 0
  for await (const chunk of walkNode(walk, root.codec, root.block, 0, root.node, root.unixfs)) {
    walk.signal?.throwIfAborted()
    sent += chunk.byteLength
    yield chunk
  }
  if (sent !== walk.end - walk.start) {
    throw new CorruptContentError(`DAG ${cid} gave ${sent} bytes where ${walk.end - walk.start} were expected`)
  }
}

interface Walk {
  start: number
  end: number
  readAhead: number
  blockstore: ReadTarget
  signal?: AbortSignal
}

async function * walkNode (walk: Walk, codec: number, block: Uint8Array, position: number, node?: dagPb.PBNode, unixfs?: UnixFS): AsyncGenerator<Uint8Array> {
  if (codec === raw.code) {
    const slice = cut(walk, block, position)
    if (slice !== undefined) yield slice
    return
  }
  node ??= decodePb(block)
  unixfs ??= decodeUnixFS(node)
  if (unixfs.data !== undefined) {
    const slice = cut(walk, unixfs.data, position)
    if (slice !== undefined) yield slice
    position += unixfs.data.byteLength
  }
  if (node.Links.length !== unixfs.blockSizes.length) {
    throw new CorruptContentError('UnixFS node has a different number of links and block sizes')
  }
  const children: Array<{ cid: CID, position: number }> = []
  for (let i = 0; i < node.Links.length && position < walk.end; i++) {
    const childEnd = position + Number(unixfs.blockSizes[i])
    if (childEnd > walk.start) children.push({ cid: node.Links[i].Hash, position })
    position = childEnd
  }
  for await (const { child, block } of fetchAhead(walk, children)) {
    if (child.cid.code !== raw.code && child.cid.code !== dagPb.code) {
      throw new UnsupportedContentError(`Unsupported codec 0x${child.cid.code.toString(16)} in a UnixFS file`)
    }
    yield * walkNode(walk, child.cid.code, block, child.position)
  }
}

/** Yield each child's block in order while up to `readAhead` later ones are being fetched. */
async function * fetchAhead<T extends { cid: CID }> (walk: Walk, children: T[]): AsyncGenerator<{ child: T, block: Uint8Array }> {
  const pending: Array<Promise<Uint8Array>> = []
  let next = 0
  for (let i = 0; i < children.length; i++) {
    while (next < children.length && next <= i + walk.readAhead) {
      const fetch = getBlock(children[next++].cid, walk.blockstore, walk.signal)
      fetch.catch(() => {}) // awaited below in order; this only keeps an early failure from being "unhandled"
      pending.push(fetch)
    }
    const block = await pending.shift()!
    yield { child: children[i], block }
  }
}

async function resolveRoot (cid: CID, blockstore: ReadTarget, options: AbortOptions): Promise<Root> {
  const block = await getBlock(cid, blockstore, options.signal)
  if (cid.code === raw.code) return { codec: raw.code, block, size: block.byteLength }
  if (cid.code !== dagPb.code) {
    throw new UnsupportedContentError(`${cid} is not UnixFS content (codec 0x${cid.code.toString(16)})`)
  }
  const node = decodePb(block)
  const unixfs = decodeUnixFS(node)
  return { codec: dagPb.code, block, node, unixfs, size: Number(unixfs.fileSize()) }
}

async function getBlock (cid: CID, blockstore: ReadTarget, signal?: AbortSignal): Promise<Uint8Array> {
  signal?.throwIfAborted()
  if (cid.multihash.code === identity.code) return cid.multihash.digest
  const chunks: Uint8Array[] = []
  let length = 0
  for await (const chunk of blockstore.get(cid, { signal })) {
    chunks.push(chunk)
    length += chunk.byteLength
  }
  if (chunks.length === 1) return chunks[0]
  const block = new Uint8Array(length)
  let offset = 0
  for (const chunk of chunks) {
    block.set(chunk, offset)
    offset += chunk.byteLength
  }
  return block
}

function decodePb (block: Uint8Array): dagPb.PBNode {
  try {
    return dagPb.decode(block)
  } catch (err) {
    throw new CorruptContentError(`Invalid dag-pb block: ${(err as Error).message}`)
  }
}

function decodeUnixFS (node: dagPb.PBNode): UnixFS {
  if (node.Data === undefined) throw new UnsupportedContentError('dag-pb node without UnixFS data')
  let unixfs: UnixFS
  try {
    unixfs = UnixFS.unmarshal(node.Data)
  } catch (err) {
    throw new UnsupportedContentError(`Not UnixFS: ${(err as Error).message}`)
  }
  if (unixfs.type !== 'file' && unixfs.type !== 'raw') {
    throw new UnsupportedContentError(`UnixFS ${unixfs.type} is not a file`)
  }
  return unixfs
}

/** The part of `data` (which starts at `position` in the file) inside the wanted range. */
function cut (walk: Walk, data: Uint8Array, position: number): Uint8Array | undefined {
  const from = Math.max(walk.start - position, 0)
  const to = Math.min(walk.end - position, data.byteLength)
  if (to <= from) return undefined
  return from === 0 && to === data.byteLength ? data : data.subarray(from, to)
}
