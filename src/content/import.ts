import { concatBytes } from './bytes.js'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { importByteStream } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { buildBalanced, type DagChild } from './compose.js'
import { copiesPutBytes, hashedLeavesOf, type HashedLeaf } from './leaves.js'
import { cidProfile, importerOptions } from './profiles.js'
import type { CidProfileName } from './profiles.js'
import type { AbortOptions } from '../types.js'
import type { Blockstore } from 'interface-blockstore'

/**
 * What an import needs from a blockstore: `put`, and `flush` when the store can make blocks durable
 * in a batch (FsBlockstore). Stores without `flush` are taken to be durable on `put`.
 */
export type ImportTarget = Pick<Blockstore, 'put'> & {
  /** `concurrency`, when given, caps how many blocks the call makes durable at once. */
  flush?: (cids: CID[], options?: AbortOptions & { concurrency?: number }) => Promise<void>
}

export interface ImportOptions extends AbortOptions {
  profile: CidProfileName
  /** Blocks written while the next ones are hashed (default 4). Memory is about this many chunks. */
  writeConcurrency?: number
}

export interface ImportedContent {
  cid: CID
  /** Bytes of content read from the source (the file size, not the DAG size). */
  size: number
}

/**
 * Chunk `source` into a UnixFS file under `profile`, store its blocks and return the root CID:
 * the CID `ipfs add` gives for the same bytes and profile. Resolves only after every block has
 * been written and flushed. If `source` throws, rejects with that same error (blocks already
 * written stay behind as garbage).
 *
 * Writes run behind hashing: `put` returns at once while fewer than `writeConcurrency` writes are
 * in flight, so reading and hashing the next chunk overlaps writing the previous ones. The
 * importer's own batching is turned off (it waits for a whole batch before reading on).
 * Chunks of `source` must not be reused by the producer after they are yielded.
 */
export async function importContent (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, target: ImportTarget, options: ImportOptions): Promise<ImportedContent> {
  const signal = options.signal
  signal?.throwIfAborted()
  const { chunkSize, rawLeaves } = cidProfile(options.profile)
  const hashed = hashedLeavesOf(source)
  if (hashed !== undefined && rawLeaves && hashed.size === chunkSize) return await importHashedLeaves(hashed.leaves(), target, options)
  // Read up to one chunk first: content that fits in one chunk is one block, built here without
  // the importer's pipeline (most S3 objects are small). Larger content streams on unchanged.
  const iterator = (Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]()) as AsyncIterator<Uint8Array> | Iterator<Uint8Array>
  const head: Uint8Array[] = []
  let headSize = 0
  let ended = false
  while (headSize <= chunkSize) {
    const next = await iterator.next()
    signal?.throwIfAborted()
    if (next.done === true) { ended = true; break }
    head.push(next.value)
    headSize += next.value.byteLength
  }
  if (ended) {
    const { cid, bytes } = await singleBlock(concatBytes(head, headSize), options.profile)
    await target.put(cid, bytes, { signal })
    if (target.flush !== undefined) await target.flush([cid], { signal })
    return { cid, size: headSize }
  }

  const writer = new WriteBehind(target, options.writeConcurrency ?? 4, signal)
  let size = 0
  const counted = async function * (): AsyncGenerator<Uint8Array> {
    for (const chunk of head) {
      size += chunk.byteLength
      yield chunk
    }
    head.length = 0
    for (;;) {
      const next = await iterator.next()
      if (next.done === true) return
      signal?.throwIfAborted()
      size += next.value.byteLength
      yield next.value
    }
  }

  const cid = await completed(writer, iterator, async () => {
    const result = await importByteStream(counted(), writer, {
      ...importerOptions(options.profile),
      blockWriteConcurrency: 1
    })
    return result.cid
  })
  return { cid, size }
}

/**
 * Runs an import's `build` and then waits for its writes and flushes. On failure, waits for the
 * writes in flight and closes the source: a store failure leaves the source suspended mid-stream,
 * and it must release what it holds (the request body's digest stream keeps the hashing worker
 * referenced until then).
 */
async function completed<T> (writer: WriteBehind, source: AsyncIterator<unknown> | Iterator<unknown>, build: () => Promise<T>): Promise<T> {
  try {
    const result = await build()
    await writer.drain()
    await writer.flushRest()
    return result
  } catch (err) {
    await writer.settle()
    try { await source.return?.() } catch { /* the import's error is the one to report */ }
    throw err
  }
}

/**
 * Leaf writes in flight shared by every hashed import in the process (each gets at least one, at
 * most its `writeConcurrency`). A leaf holds its body's 1 MiB batch until its write finishes: eight
 * bodies at once with four writes each held 32 MiB (bench/WRITE-PATH.md, round six); four
 * multipart parts still get four each. Writes to a pack go one at a time anyway (pack-appender.ts).
 */
const SHARED_LEAF_WRITES = 16
/** Hashed imports running now. */
let hashedImports = 0

/**
 * Import content that arrives as raw leaves already hashed (a request body whose digest worker
 * hashed each chunk): the leaves are written as they are, without another copy or hash, and the
 * tree over them is built as the importer's balanced layout builds it (`buildBalanced`, the code
 * that composes multipart objects), so the root is the CID `importContent` gives the same bytes.
 * Each leaf is released once its write has finished.
 */
async function importHashedLeaves (leaves: AsyncIterable<HashedLeaf>, target: ImportTarget, options: ImportOptions): Promise<ImportedContent> {
  const signal = options.signal
  const profile = cidProfile(options.profile)
  const most = options.writeConcurrency ?? 4
  const writer = new WriteBehind(target, () => Math.max(1, Math.min(most, Math.floor(SHARED_LEAF_WRITES / hashedImports))), signal)
  const iterator = leaves[Symbol.asyncIterator]()
  const reusable = copiesPutBytes(target)
  let size = 0
  const children = async function * (): AsyncGenerator<DagChild> {
    for (;;) {
      const next = await iterator.next()
      if (next.done === true) return
      const leaf = next.value
      if (signal?.aborted === true) {
        leaf.release() // taken from the source: its buffer is ours to give back
        signal.throwIfAborted()
      }
      const length = leaf.bytes.byteLength
      size += length
      if (length === 0) {
        leaf.release()
        continue
      }
      const cid = CID.createV1(raw.code, Digest.create(sha256.code, leaf.sha256))
      await writer.putThen(cid, leaf.bytes, () => { leaf.release(reusable) })
      yield { cid, contentSize: length, dagSize: length }
    }
  }
  hashedImports++
  try {
    const cid = await completed(writer, iterator, async () => {
      const root = await buildBalanced(children(), profile, async (cid, block) => { await writer.put(cid, block) })
      if (root !== undefined) return root.cid
      // No bytes: the one empty block, as for small content.
      const empty = await singleBlock(new Uint8Array(0), options.profile)
      await writer.put(empty.cid, empty.bytes)
      return empty.cid
    })
    return { cid, size }
  } finally {
    hashedImports--
  }
}

/**
 * The one block of content no larger than a chunk, as the importer builds it: a raw leaf under
 * raw-leaves profiles, otherwise a dag-pb node holding a UnixFS file with the bytes inline.
 */
async function singleBlock (bytes: Uint8Array, profileName: CidProfileName): Promise<{ cid: CID, bytes: Uint8Array }> {
  const profile = cidProfile(profileName)
  if (profile.rawLeaves) {
    return { cid: CID.create(profile.cidVersion, raw.code, await sha256.digest(bytes)), bytes }
  }
  const block = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'file', data: bytes }).marshal() }))
  return { cid: CID.create(profile.cidVersion, dagPb.code, await sha256.digest(block)), bytes: block }
}

/**
 * A `put` that returns before the write finishes, with at most `limit` writes in flight.
 *
 * Written blocks are flushed in the background in batches of `FLUSH_BATCH` while the import goes
 * on, so that the fsyncs of a large object overlap receiving and hashing the rest of it instead
 * of all running at the end. `flushRest` flushes what is left; every block is flushed once.
 */
const FLUSH_BATCH = 16
const MAX_BACKGROUND_FLUSHES = 1
/** fsyncs at once in a background flush: leaves libuv's pool threads free for the writes. */
const BACKGROUND_FLUSH_CONCURRENCY = 2

export class WriteBehind {
  private readonly inFlight = new Set<Promise<void>>()
  private readonly flushing = new Set<Promise<void>>()
  /** Written, not yet handed to `flush`. */
  private unflushed: CID[] = []
  private failure: { error: unknown } | undefined

  /** `limit`: writes in flight at most; a function is asked again before each write. */
  constructor (private readonly target: ImportTarget, private readonly limit: number | (() => number), private readonly signal?: AbortSignal) {}

  async put (cid: CID, bytes: Uint8Array): Promise<CID> {
    return await this.putThen(cid, bytes, undefined)
  }

  /** As `put`; `done`, when given, is called once the write has finished or failed (or at once if it is refused). */
  async putThen (cid: CID, bytes: Uint8Array, done: (() => void) | undefined): Promise<CID> {
    try {
      this.throwIfFailed()
      while (this.inFlight.size >= (typeof this.limit === 'number' ? this.limit : this.limit())) {
        await Promise.race(this.inFlight)
        this.throwIfFailed()
      }
    } catch (err) {
      done?.()
      throw err
    }
    const write = Promise.resolve()
      .then(async () => {
        await this.target.put(cid, bytes, { signal: this.signal })
        this.written(cid)
      })
      .catch(error => { this.failure ??= { error } })
      .finally(() => {
        this.inFlight.delete(write)
        done?.()
      })
    this.inFlight.add(write)
    return cid
  }

  /** Wait for every write; reject with the first failure. */
  async drain (): Promise<void> {
    await this.settle()
    this.throwIfFailed()
  }

  /** After `drain`: flush the blocks not flushed yet, and wait for the background flushes. */
  async flushRest (): Promise<void> {
    if (this.target.flush !== undefined && this.unflushed.length > 0) {
      const rest = this.unflushed
      this.unflushed = []
      await this.target.flush(rest, { signal: this.signal })
    }
    await this.settle()
    this.throwIfFailed()
  }

  /** Wait for every write and background flush, ignoring failures. */
  async settle (): Promise<void> {
    while (this.inFlight.size > 0 || this.flushing.size > 0) await Promise.allSettled([...this.inFlight, ...this.flushing])
  }

  private written (cid: CID): void {
    if (this.target.flush === undefined) return
    this.unflushed.push(cid)
    if (this.unflushed.length < FLUSH_BATCH || this.flushing.size >= MAX_BACKGROUND_FLUSHES || this.failure !== undefined) return
    const batch = this.unflushed
    this.unflushed = []
    const flush = Promise.resolve()
      .then(async () => { await this.target.flush?.(batch, { signal: this.signal, concurrency: BACKGROUND_FLUSH_CONCURRENCY }) })
      .catch(error => { this.failure ??= { error } })
      .finally(() => { this.flushing.delete(flush) })
    this.flushing.add(flush)
  }

  private throwIfFailed (): void {
    if (this.failure !== undefined) throw this.failure.error
  }
}
