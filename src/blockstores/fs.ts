import { randomBytes } from 'node:crypto'
import * as fsCallback from 'node:fs'
import * as fs from 'node:fs/promises'
import { join } from 'node:path'
import { NotFoundError, OpenFailedError } from 'interface-store'
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import type { AbortOptions } from '../types.js'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'

type BlockInput = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

export interface FlushOptions extends AbortOptions {
  /**
   * How many files to fsync at once for this call (default: the store's flushConcurrency). A
   * background flush running beside writes asks for fewer, so that its fsyncs do not hold every
   * thread of libuv's pool (4 by default) and stall the writes queued behind them.
   */
  concurrency?: number
}

export interface FsBlockstoreInit {
  /** Directory holding the blocks. */
  path: string
  /** Create `path` on first write when it does not exist (default true); otherwise writes fail. */
  createIfMissing?: boolean
  /** How many files `flush` fsyncs at once (default 16). */
  flushConcurrency?: number
}

const EXTENSION = '.data'
const TEMP_SUFFIX = '.tmp'

/**
 * One file per block under `path/<shard>/<base32 multihash>.data`, where the shard is the two
 * characters before the last one of the name (as blockstore-fs's NextToLast). Blocks are keyed by
 * multihash as Kubo keys them, so `getAll` yields CIDv1 raw CIDs.
 *
 * A block is written to a temp file in its shard directory and renamed into place, so a reader
 * never sees a torn block. `put` does not fsync: a block is durable only after `flush([cid])`
 * resolves. Callers batch that once per object (the content layer flushes every block of an
 * import at the end) instead of paying an fsync per block.
 *
 * Leftover `*.tmp` files from a crash are never read; garbage collection may delete them.
 */
export class FsBlockstore implements Blockstore {
  readonly path: string
  private readonly createIfMissing: boolean
  private readonly flushConcurrency: number
  /** Shard directories known to exist. */
  private readonly knownDirs = new Set<string>()
  /** Set when a shard directory was created and the root has not been fsynced since. */
  private rootDirty = false

  constructor (init: FsBlockstoreInit) {
    this.path = init.path
    this.createIfMissing = init.createIfMissing ?? true
    this.flushConcurrency = init.flushConcurrency ?? 16
  }

  async has (cid: CID, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    try {
      await fs.access(this.fileOf(cid).file)
      return true
    } catch (err) {
      if (isCode(err, 'ENOENT')) return false
      throw err
    }
  }

  async put (cid: CID, bytes: BlockInput, options?: AbortOptions): Promise<CID> {
    options?.signal?.throwIfAborted()
    const { dir, file } = this.fileOf(cid)
    // Once the shard directory is known, the presence check runs beside opening the temp file
    // (a put is a chain of thread-pool round trips, each waiting for a turn of a busy event loop).
    let present: Promise<boolean>
    if (this.knownDirs.has(dir)) {
      present = this.has(cid, options)
    } else {
      if (await this.has(cid, options)) return cid
      await this.ensureDir(dir, options)
      present = Promise.resolve(false)
    }
    try {
      await this.writeAtomically(file, bytes, present, options)
    } catch (err) {
      // The shard directory was removed behind our back: forget it and retry once.
      if (!isCode(err, 'ENOENT')) throw err
      this.knownDirs.delete(dir)
      await this.ensureDir(dir, options)
      await this.writeAtomically(file, bytes, this.has(cid, options), options)
    }
    return cid
  }

  async * get (cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    options?.signal?.throwIfAborted()
    yield await this.read(cid, options)
  }

  /**
   * Read the block at `cid` into `buffer`, which the caller owns, and resolve to the part of
   * `buffer` filled (a view of it). Reading stops at the end of the file, when `buffer` is full,
   * or once `expected` bytes are in (when given); passing a buffer at least one byte longer than the
   * expected size lets the caller tell a longer file from an exact one in the usual single read.
   * One open, one read, one close: no allocation per block, unlike `get`.
   */
  async readInto (cid: CID, buffer: Uint8Array, expected?: number, options?: AbortOptions): Promise<Uint8Array> {
    options?.signal?.throwIfAborted()
    const stopAt = expected === undefined ? buffer.byteLength : Math.min(expected, buffer.byteLength)
    try {
      const total = await readFileInto(this.fileOf(cid).file, buffer, stopAt, options?.signal)
      return buffer.subarray(0, total)
    } catch (err) {
      if (isCode(err, 'ENOENT')) throw new NotFoundError(`Block ${cid} not found`)
      throw err
    }
  }

  async delete (cid: CID, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    try {
      await fs.unlink(this.fileOf(cid).file)
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err
    }
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) {
      yield await this.put(cid, bytes, options)
    }
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) {
      const block = await this.read(cid, options)
      yield { cid, bytes: once(block) }
    }
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const cid of source) {
      await this.delete(cid, options)
      yield cid
    }
  }

  async * getAll (options?: AbortOptions): AsyncGenerator<Pair> {
    options?.signal?.throwIfAborted()
    let shards: string[]
    try {
      shards = await fs.readdir(this.path)
    } catch (err) {
      if (isCode(err, 'ENOENT')) return
      throw err
    }
    for (const shard of shards) {
      let names: string[]
      try {
        names = await fs.readdir(join(this.path, shard))
      } catch (err) {
        if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) continue
        throw err
      }
      for (const name of names) {
        options?.signal?.throwIfAborted()
        if (!name.endsWith(EXTENSION)) continue
        let cid: CID
        try {
          cid = CID.createV1(raw.code, Digest.decode(base32.baseDecode(name.slice(0, -EXTENSION.length))))
        } catch {
          continue // not one of ours
        }
        const file = join(this.path, shard, name)
        yield { cid, bytes: readLazily(file, cid, options) }
      }
    }
  }

  /**
   * Make the given blocks durable: fsync each block's file, then each shard directory holding
   * them (the renames), then the root when a shard directory was created since the last flush.
   * Duplicates are fsynced once. Rejects with NotFoundError when a block is absent.
   */
  async flush (cids: Iterable<CID>, options?: FlushOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const concurrency = options?.concurrency ?? this.flushConcurrency
    const files = new Set<string>()
    const dirs = new Set<string>()
    for (const cid of cids) {
      const { dir, file } = this.fileOf(cid)
      files.add(file)
      dirs.add(dir)
    }
    await eachLimit(files, concurrency, async file => {
      options?.signal?.throwIfAborted()
      try {
        await fsyncPath(file, false)
      } catch (err) {
        if (isCode(err, 'ENOENT')) throw new NotFoundError(`Block file ${file} not found`)
        throw err
      }
    })
    await eachLimit(dirs, concurrency, async dir => {
      options?.signal?.throwIfAborted()
      await fsyncPath(dir, true)
    })
    if (this.rootDirty) {
      this.rootDirty = false
      try {
        await fsyncPath(this.path, true)
      } catch (err) {
        this.rootDirty = true
        throw err
      }
    }
  }

  private fileOf (cid: CID): { dir: string, file: string } {
    const name = base32.baseEncode(cid.multihash.bytes)
    const dir = join(this.path, name.slice(-3, -1))
    return { dir, file: join(dir, name + EXTENSION) }
  }

  private async read (cid: CID, options?: AbortOptions): Promise<Uint8Array> {
    options?.signal?.throwIfAborted()
    try {
      return await fs.readFile(this.fileOf(cid).file, { signal: options?.signal })
    } catch (err) {
      if (isCode(err, 'ENOENT')) throw new NotFoundError(`Block ${cid} not found`)
      throw err
    }
  }

  private async ensureDir (dir: string, options?: AbortOptions): Promise<void> {
    if (this.knownDirs.has(dir)) return
    options?.signal?.throwIfAborted()
    try {
      if (this.createIfMissing) {
        if (await fs.mkdir(dir, { recursive: true }) !== undefined) this.rootDirty = true
      } else {
        await fs.mkdir(dir)
        this.rootDirty = true
      }
    } catch (err) {
      if (isCode(err, 'ENOENT')) throw new OpenFailedError(`Blockstore directory ${this.path} does not exist`)
      if (!isCode(err, 'EEXIST')) throw err
    }
    this.knownDirs.add(dir)
  }

  /** Writes `bytes` to a temp file renamed to `file`, unless `present` resolves true. */
  private async writeAtomically (file: string, bytes: BlockInput, present: Promise<boolean>, options?: AbortOptions): Promise<void> {
    const temp = `${file}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`
    let handle: fs.FileHandle | undefined
    try {
      const [exists, opened] = await Promise.allSettled([present, fs.open(temp, 'wx')])
      if (opened.status === 'fulfilled') handle = opened.value
      if (exists.status === 'rejected') throw exists.reason
      if (opened.status === 'rejected') throw opened.reason
      if (exists.value) {
        const h = handle as fs.FileHandle
        handle = undefined
        await h.close()
        await fs.rm(temp, { force: true })
        return
      }
      const h = handle as fs.FileHandle
      if (bytes instanceof Uint8Array) {
        // One write (writeFile would split a 1 MiB block into 512 KiB writes: more round trips).
        let offset = 0
        while (offset < bytes.byteLength) {
          options?.signal?.throwIfAborted()
          const { bytesWritten } = await h.write(bytes, offset, bytes.byteLength - offset, offset)
          offset += bytesWritten
        }
      } else {
        for await (const chunk of bytes) {
          options?.signal?.throwIfAborted()
          await h.write(chunk)
        }
      }
      options?.signal?.throwIfAborted()
      handle = undefined
      if (process.platform === 'win32') {
        // Windows refuses to rename an open file.
        await h.close()
        await fs.rename(temp, file)
      } else {
        // Every byte is written: the rename need not wait for the close.
        const [closed, renamed] = await Promise.allSettled([h.close(), fs.rename(temp, file)])
        if (renamed.status === 'rejected') throw renamed.reason
        if (closed.status === 'rejected') throw closed.reason
      }
    } catch (err) {
      if (handle !== undefined) await handle.close().catch(() => {})
      await fs.rm(temp, { force: true }).catch(() => {})
      throw err
    }
  }
}

async function * readLazily (file: string, cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
  options?.signal?.throwIfAborted()
  try {
    yield await fs.readFile(file, { signal: options?.signal })
  } catch (err) {
    if (isCode(err, 'ENOENT')) throw new NotFoundError(`Block ${cid} not found`)
    throw err
  }
}

/**
 * open, read until EOF, `buffer` is full or `stopAt` bytes are in, close: with callbacks and one
 * promise, not a FileHandle and a promise per call (this runs once per block of every GET, and
 * the garbage of the promise API is most of what a pooled GET allocates).
 */
function readFileInto (file: string, buffer: Uint8Array, stopAt: number, signal: AbortSignal | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    fsCallback.open(file, 'r', (err, fd) => {
      if (err !== null) {
        reject(err)
        return
      }
      let total = 0
      const finish = (failure: unknown): void => {
        fsCallback.close(fd, (closeErr) => {
          if (failure !== undefined) reject(failure)
          else if (closeErr !== null) reject(closeErr)
          else resolve(total)
        })
      }
      const next = (): void => {
        if (signal?.aborted === true) {
          finish(signal.reason)
          return
        }
        fsCallback.read(fd, buffer, total, buffer.byteLength - total, total, (readErr, bytesRead) => {
          if (readErr !== null) {
            finish(readErr)
            return
          }
          total += bytesRead
          if (bytesRead === 0 || total >= stopAt) finish(undefined)
          else next()
        })
      }
      next()
    })
  })
}

function * once (block: Uint8Array): Generator<Uint8Array> {
  yield block
}

async function fsyncPath (path: string, isDir: boolean): Promise<void> {
  const handle = await fs.open(path, 'r')
  try {
    await handle.sync()
  } catch (err) {
    // Some platforms (Windows, some network filesystems) refuse fsync on a directory.
    if (!(isDir && (isCode(err, 'EISDIR') || isCode(err, 'EPERM') || isCode(err, 'EINVAL')))) throw err
  } finally {
    await handle.close()
  }
}

async function eachLimit<T> (items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]()
  let failed = false
  const worker = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done && !failed; next = iterator.next()) {
      try {
        await fn(next.value)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }
  const workers = Array.from({ length: Math.max(1, limit) }, worker)
  const results = await Promise.allSettled(workers)
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (rejected !== undefined) throw rejected.reason
}

function isCode (err: unknown, code: string): boolean {
  return (err as { code?: unknown } | null)?.code === code
}
