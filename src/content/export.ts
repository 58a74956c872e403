import { collectBytes } from './bytes.js'
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

export type ReadTarget = Pick<Blockstore, 'get'> & {
  /**
   * Optional: read a block into a caller-owned buffer (see FsBlockstore.readInto). When present,
   * exports read raw leaves into buffers of a pool, reused once a consumer releases them.
   */
  readInto?: (cid: CID, buffer: Uint8Array, expected?: number, options?: AbortOptions) => Promise<Uint8Array>
}

/**
 * Key of a method on the iterable `exportContent` (and so `ContentStore.cat`) returns. A consumer
 * that calls it, before or during iteration, receives a `release(chunk)` function and promises to
 * call it for a yielded chunk once nothing reads that chunk's bytes any more (for an HTTP
 * response: in the write callback, once the socket has taken the bytes), or never. Raw leaf
 * blocks are read into buffers of a pool shared by every export (when the blockstore can read
 * into a buffer): a buffer goes back to the pool only after `release` was called for the chunk
 * cut from it, so a consumer that never calls `release` (or does not take it at all) never sees
 * its chunks change, and chunks read before the consumer took it (the first, read before the
 * answer's headers, and those read ahead with it) are released like any other. It is a
 * `Symbol.for` key so that an HTTP adapter can look for it without importing this module.
 */
export const RELEASE_CHUNKS: unique symbol = Symbol.for('s3-ipfs-gateway.releaseChunks') as never

export type ReleaseChunk = (chunk: Uint8Array) => void

/** What `exportContent` returns: the chunks, plus the opt-in for pooled buffers. */
export interface ContentChunks extends AsyncGenerator<Uint8Array> {
  [RELEASE_CHUNKS]: () => ReleaseChunk
}

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
export function exportContent (cid: CID, blockstore: ReadTarget, options: ExportOptions = {}): ContentChunks {
  const chunks = exportChunks(cid, blockstore, options) as ContentChunks
  chunks[RELEASE_CHUNKS] = () => (chunk) => { pool.release(chunk) }
  return chunks
}

/**
 * `chunks` with the first chunk already read, so that a failure to read the start of the content
 * (a missing root, an IPFS node that is down) is thrown here, while an S3 error can still be
 * answered, rather than after the response headers are out. The pooled-buffer opt-in carries over.
 */
export async function primeChunks (chunks: ContentChunks): Promise<ContentChunks> {
  const first = await chunks.next()
  const primed = (async function * (): AsyncGenerator<Uint8Array> {
    try {
      if (first.done === true) return
      yield first.value
      yield * chunks
    } finally {
      await chunks.return(undefined)
    }
  })() as ContentChunks
  // A generator returned before its first pull never runs its `finally`: end `chunks` here too,
  // or an answer whose client left before its body was pulled would keep its export (and its
  // share of the read-ahead) for good.
  const returnPrimed = primed.return.bind(primed)
  primed.return = async (value) => {
    await chunks.return(undefined)
    return await returnPrimed(value)
  }
  primed[RELEASE_CHUNKS] = chunks[RELEASE_CHUNKS]
  return primed
}

async function * exportChunks (cid: CID, blockstore: ReadTarget, options: ExportOptions): AsyncGenerator<Uint8Array> {
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
  pool.begin()
  try {
    for await (const chunk of walkNode(walk, root.codec, root.block, 0, root.node, root.unixfs)) {
      walk.signal?.throwIfAborted()
      sent += chunk.byteLength
      yield chunk
    }
  } finally {
    pool.end()
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

/**
 * Buffers for raw leaves, shared by every export in the process and reused once a consumer
 * releases the chunk cut from them. A buffer is in exactly one place at a time: the free list, a
 * read in flight (or its result not yet yielded), or lent out with a chunk (recorded in `lent`).
 * Only `release` and `giveBack` move a buffer to the free list, so nothing can read into a buffer
 * whose chunk a consumer may still be sending. Chunks never released are left to GC.
 *
 * Shared, not one pool per export: each export's pool became garbage when it ended, and V8
 * collects such buffers only after external memory has grown by about 64 MB. Eight parallel GETs
 * of 64 MiB left 50-70 MB of them behind (bench/WRITE-PATH.md, round seven). Free buffers are
 * kept only while some export runs: kept for good, they would sit under every later peak.
 */
class BlockPool {
  private readonly free: Uint8Array[] = []
  private readonly lent = new WeakMap<Uint8Array, Uint8Array>()
  /** Exports running (begun and not ended). */
  private running = 0

  constructor (private readonly maxFree: number) {}

  /** An export starts. */
  begin (): void {
    this.running++
  }

  /** An export ended: with none left running, the free buffers are let go. */
  end (): void {
    this.running--
    if (this.running === 0) this.free.length = 0
  }

  /** A buffer of at least `size` bytes, owned by the caller until it is lent or given back. */
  take (size: number): Uint8Array {
    for (let i = this.free.length - 1; i >= 0; i--) {
      if (this.free[i].byteLength >= size) return this.free.splice(i, 1)[0]
    }
    return new Uint8Array(size)
  }

  /** `chunk` (a view of `buffer`) goes to a consumer; `buffer` returns when it is released. */
  lend (chunk: Uint8Array, buffer: Uint8Array): void {
    this.lent.set(chunk, buffer)
  }

  release (chunk: Uint8Array): void {
    const buffer = this.lent.get(chunk)
    if (buffer === undefined) return // not ours, or released already
    this.lent.delete(chunk)
    this.giveBack(buffer)
  }

  /** A buffer taken and never lent (its read was not used), which nothing else refers to. */
  giveBack (buffer: Uint8Array): void {
    if (this.running > 0 && this.free.length < this.maxFree) this.free.push(buffer)
  }

  get size (): number {
    return this.free.length
  }
}

/** Free buffers kept while exports run: a default export's read-ahead (4) and what it is sending. */
const POOL_FREE = 8
const pool = new BlockPool(POOL_FREE)

/** For tests: free buffers in the shared pool now, and the most it keeps. */
export function pooledBlockBuffers (): { free: number, max: number } {
  return { free: pool.size, max: POOL_FREE }
}

/** Pooled buffers are at least this big, so that blocks of slightly different sizes share them. */
const MIN_POOLED = 1024 * 1024 + 1
/** Leaves bigger than this (no chunker makes them) are read the ordinary way. */
const MAX_POOLED = 4 * 1024 * 1024

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
  const children: Child[] = []
  for (let i = 0; i < node.Links.length && position < walk.end; i++) {
    const size = Number(unixfs.blockSizes[i])
    const childEnd = position + size
    if (childEnd > walk.start) children.push({ cid: node.Links[i].Hash, position, size })
    position = childEnd
  }
  for await (const { child, block, buffer } of fetchAhead(walk, children)) {
    if (child.cid.code !== raw.code && child.cid.code !== dagPb.code) {
      throw new UnsupportedContentError(`Unsupported codec 0x${child.cid.code.toString(16)} in a UnixFS file`)
    }
    if (buffer !== undefined) {
      // A raw leaf in a pooled buffer: yields at most one chunk, lent with the buffer.
      const slice = cut(walk, block, child.position)
      if (slice === undefined) {
        pool.giveBack(buffer) // nothing else holds it
        continue
      }
      // `block` is a fresh view made by this read (and `slice` a fresh view of it), so the release
      // of one chunk can never be mistaken for another's.
      pool.lend(slice, buffer)
      yield slice
      continue
    }
    yield * walkNode(walk, child.cid.code, block, child.position)
  }
}

interface Child {
  cid: CID
  position: number
  /** File bytes under the child (for a raw leaf: the block's size). */
  size: number
}

interface Fetched {
  block: Uint8Array
  /** Set when `block` is a view of a pooled buffer (raw leaves only). */
  buffer?: Uint8Array
}

async function fetchChild (walk: Walk, child: Child): Promise<Fetched> {
  const readInto = walk.blockstore.readInto
  if (readInto === undefined || child.cid.code !== raw.code ||
    child.cid.multihash.code === identity.code || !Number.isSafeInteger(child.size) || child.size < 0 ||
    child.size > MAX_POOLED) {
    return { block: await getBlock(child.cid, walk.blockstore, walk.signal) }
  }
  walk.signal?.throwIfAborted()
  // One spare byte, so that a block file longer than its link says shows up in one read.
  const buffer = pool.take(Math.max(child.size + 1, MIN_POOLED))
  const block = await readInto.call(walk.blockstore, child.cid, buffer, child.size, { signal: walk.signal })
  if (block.byteLength !== child.size) {
    // Not what the DAG says: behave exactly as the unpooled path does (the size check at the end
    // reports it), from a private copy of the block.
    pool.giveBack(buffer)
    return { block: await getBlock(child.cid, walk.blockstore, walk.signal) }
  }
  return { block, buffer }
}

/**
 * Blocks fetched ahead of the one each export is returning, across all exports in the process.
 * One export reads up to `readAhead` blocks ahead; many at once share this many, so that memory
 * stays bounded whatever the number of readers (8 parallel GETs of 1 MiB blocks held 60 MiB and
 * more in read-ahead alone without it). The block an export is returning is always fetched.
 */
const AHEAD_BUDGET = 16
let aheadInFlight = 0

/** Yield each child's block in order while up to `readAhead` later ones are being fetched. */
async function * fetchAhead (walk: Walk, children: Child[]): AsyncGenerator<Fetched & { child: Child }> {
  const pending: Array<{ fetch: Promise<Fetched>, ahead: boolean }> = []
  let next = 0
  try {
    for (let i = 0; i < children.length; i++) {
      while (next < children.length && (next <= i || (next <= i + walk.readAhead && aheadInFlight < AHEAD_BUDGET))) {
        const ahead = next > i
        const fetch = fetchChild(walk, children[next++])
        fetch.catch(() => {}) // awaited below in order; this only keeps an early failure from being "unhandled"
        pending.push({ fetch, ahead })
        if (ahead) aheadInFlight++
      }
      const { fetch, ahead } = pending.shift()!
      if (ahead) aheadInFlight--
      const fetched = await fetch
      yield { child: children[i], ...fetched }
    }
  } finally {
    for (const { fetch, ahead } of pending) {
      if (ahead) aheadInFlight--
      // Read and never yielded (an early return): once the read has finished, nothing holds it.
      fetch.then((fetched) => { if (fetched.buffer !== undefined) pool.giveBack(fetched.buffer) }, () => {})
    }
  }
}

/** For tests: blocks being fetched ahead across all exports. */
export function blocksFetchedAhead (): number {
  return aheadInFlight
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
  return await collectBytes(blockstore.get(cid, { signal }))
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
