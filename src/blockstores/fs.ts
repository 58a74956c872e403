import { randomBytes } from 'node:crypto'
import * as fsCallback from 'node:fs'
import * as fs from 'node:fs/promises'
import { join } from 'node:path'
import { NotFoundError, OpenFailedError } from 'interface-store'
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import type { ListedBlock, StrayFile, SweepableBlockstore } from '../content/gc.js'
import { COPIES_PUT_BYTES } from '../content/leaves.js'
import type { AbortOptions } from '../types.js'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import { touch, statOrUndefined, readLazily, readFileInto, once, fsyncPath, eachLimit, isCode } from './fs-files.js'

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
 * A block's `written` time (listBlocks, deleteIfOlder) is its file's mtime: a put of a present
 * block sets it to now (utimes, in place of an access check), so content uploaded again counts as
 * recent for garbage collection. Times are the filesystem's clock.
 *
 * Leftover `*.tmp` files from a crash are never read: `listStrays` reports them and `deleteStray`
 * removes them (collectGarbage does both once they are older than its grace period). Shard
 * directories are never removed: there are at most 1024 of them, and removing one would race with
 * a put into it.
 */
export class FsBlockstore implements Blockstore, SweepableBlockstore {
  /** A put has written the bytes out when it resolves and keeps no reference to them. */
  readonly [COPIES_PUT_BYTES] = true
  readonly path: string
  private readonly createIfMissing: boolean
  private readonly flushConcurrency: number
  /** Shard directories known to exist. */
  private readonly knownDirs = new Set<string>()
  /** Set when a shard directory was created and the root has not been fsynced since. */
  private rootDirty = false
  /** Block files `deleteIfOlder` has moved aside and may put back, until it settles. */
  private readonly sweeping = new Map<string, Promise<boolean>>()

  constructor (init: FsBlockstoreInit) {
    this.path = init.path
    this.createIfMissing = init.createIfMissing ?? true
    this.flushConcurrency = init.flushConcurrency ?? 16
  }

  /** Resolves when the block directory can be written (for readiness probes). */
  async ping (options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    // The directory appears with the first block; until then, being able to make it is what counts.
    if (this.createIfMissing) await fs.mkdir(this.path, { recursive: true })
    await fs.access(this.path, fsCallback.constants.W_OK)
  }

  /** Size and free space of the filesystem holding the blocks, in bytes (free: what this process may use). */
  async capacity (options?: AbortOptions): Promise<{ totalBytes: number, freeBytes: number }> {
    options?.signal?.throwIfAborted()
    const stats = await fs.statfs(this.path)
    return { totalBytes: stats.blocks * stats.bsize, freeBytes: stats.bavail * stats.bsize }
  }

  async has (cid: CID, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    const { file } = this.fileOf(cid)
    try {
      await fs.access(file)
      return true
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err
      if (await this.afterSweep(file)) return await this.has(cid, options)
      return false
    }
  }

  async put (cid: CID, bytes: BlockInput, options?: AbortOptions): Promise<CID> {
    options?.signal?.throwIfAborted()
    const { dir, file } = this.fileOf(cid)
    // Once the shard directory is known, the presence check runs beside opening the temp file
    // (a put is a chain of thread-pool round trips, each waiting for a turn of a busy event loop).
    // The check is a touch, so that a block uploaded again is not swept as old garbage.
    let present: Promise<boolean>
    if (this.knownDirs.has(dir)) {
      present = touch(file)
    } else {
      if (await touch(file)) return cid
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
      await this.writeAtomically(file, bytes, touch(file), options)
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
    const { file } = this.fileOf(cid)
    try {
      const total = await readFileInto(file, buffer, stopAt, options?.signal)
      return buffer.subarray(0, total)
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err
      if (await this.afterSweep(file)) return await this.readInto(cid, buffer, expected, options)
      throw new NotFoundError(`Block ${cid} not found`)
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

  /**
   * Deletes by moving the file aside, checking its mtime, then unlinking it or putting it back: a
   * put that touched the block before the move left a fresh mtime on the moved file (the block is
   * put back), and one after the move finds no file and writes it again. Between the move and the
   * put-back the block is absent; reads, flushes and presence checks in this process wait for the
   * outcome instead of reporting it missing.
   */
  async deleteIfOlder (cid: CID, cutoff: number, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    const { file } = this.fileOf(cid)
    if (this.sweeping.has(file)) return false // another deleteIfOlder of this block is deciding
    try {
      if ((await fs.stat(file)).mtimeMs >= cutoff) return false
    } catch (err) {
      if (isCode(err, 'ENOENT')) return false
      throw err
    }
    if (this.sweeping.has(file)) return false
    const aside = tempName(file)
    const settled = (async (): Promise<boolean> => {
      try {
        await fs.rename(file, aside)
      } catch (err) {
        if (isCode(err, 'ENOENT')) return false
        throw err
      }
      try {
        if ((await fs.stat(aside)).mtimeMs >= cutoff) {
          await fs.rename(aside, file)
          return false
        }
        await fs.unlink(aside)
        return true
      } catch (err) {
        await fs.rename(aside, file).catch(() => {})
        throw err
      }
    })()
    this.sweeping.set(file, settled)
    try {
      return await settled
    } finally {
      this.sweeping.delete(file)
    }
  }

  /**
   * Every block (skipping temp and foreign files) with its size and mtime. One shard directory's
   * names are held at a time; files are stat'ed a few at once.
   */
  async * listBlocks (options?: AbortOptions): AsyncGenerator<ListedBlock> {
    for await (const { shard, names } of this.shards(options)) {
      const blocks: Array<{ cid: CID, file: string }> = []
      for (const name of names) {
        const cid = blockCid(name)
        if (cid !== undefined) blocks.push({ cid, file: join(this.path, shard, name) })
      }
      for (let i = 0; i < blocks.length; i += STAT_BATCH) {
        options?.signal?.throwIfAborted()
        const slice = blocks.slice(i, i + STAT_BATCH)
        const stats = await Promise.all(slice.map(async ({ file }) => statOrUndefined(file)))
        for (let j = 0; j < slice.length; j++) {
          const s = stats[j]
          if (s !== undefined) yield { cid: slice[j].cid, size: s.size, written: s.mtimeMs }
        }
      }
    }
  }

  /**
   * Temp files (`*.tmp` in shard directories) left by interrupted writes and deletes. `written` is
   * the later of mtime and ctime (a rename sets ctime), so a file just written or moved aside by a
   * deleteIfOlder in progress, here or in another process, is recent. `name` is `shard/file`.
   */
  async * listStrays (options?: AbortOptions): AsyncGenerator<StrayFile> {
    for await (const { shard, names } of this.shards(options)) {
      if (!SHARD.test(shard)) continue
      for (const name of names) {
        if (!name.endsWith(TEMP_SUFFIX)) continue
        options?.signal?.throwIfAborted()
        const s = await statOrUndefined(join(this.path, shard, name))
        if (s !== undefined) yield { name: `${shard}/${name}`, size: s.size, written: Math.max(s.mtimeMs, s.ctimeMs) }
      }
    }
  }

  /** Delete a stray named by `listStrays`; anything else throws TypeError. Missing is a no-op. */
  async deleteStray (name: string, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const parts = name.split('/')
    if (parts.length !== 2 || !SHARD.test(parts[0]) || !parts[1].endsWith(TEMP_SUFFIX) || parts[1].includes('\\') || parts[1].startsWith('.')) {
      throw new TypeError(`Not a stray file name: ${name}`)
    }
    try {
      await fs.unlink(join(this.path, parts[0], parts[1]))
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
    for await (const { shard, names } of this.shards(options)) {
      for (const name of names) {
        options?.signal?.throwIfAborted()
        const cid = blockCid(name)
        if (cid === undefined) continue
        yield { cid, bytes: readLazily(join(this.path, shard, name), cid, options) }
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
    const sync = async (file: string): Promise<void> => {
      options?.signal?.throwIfAborted()
      try {
        await fsyncPath(file, false)
      } catch (err) {
        if (!isCode(err, 'ENOENT')) throw err
        if (await this.afterSweep(file)) return await sync(file)
        throw new NotFoundError(`Block file ${file} not found`)
      }
    }
    await eachLimit(files, concurrency, sync)
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
    const { file } = this.fileOf(cid)
    try {
      return await fs.readFile(file, { signal: options?.signal })
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err
      if (await this.afterSweep(file)) return await this.read(cid, options)
      throw new NotFoundError(`Block ${cid} not found`)
    }
  }

  /**
   * After a block file was found missing: when a deleteIfOlder of it is in progress, wait for it
   * and resolve true (look again: it may have been put back); otherwise false at once.
   */
  private async afterSweep (file: string): Promise<boolean> {
    const pending = this.sweeping.get(file)
    if (pending === undefined) return false
    await pending.catch(() => {})
    return true
  }

  /** Shard directories with their entries, one directory at a time; none when `path` is absent. */
  private async * shards (options?: AbortOptions): AsyncGenerator<{ shard: string, names: string[] }> {
    options?.signal?.throwIfAborted()
    let shards: string[]
    try {
      shards = await fs.readdir(this.path)
    } catch (err) {
      if (isCode(err, 'ENOENT')) return
      throw err
    }
    for (const shard of shards) {
      options?.signal?.throwIfAborted()
      let names: string[]
      try {
        names = await fs.readdir(join(this.path, shard))
      } catch (err) {
        if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) continue
        throw err
      }
      yield { shard, names }
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
    const temp = tempName(file)
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

/** A shard directory's name: two base32 characters. */
const SHARD = /^[a-z2-7]{2}$/
/** Stat'ed this many at once while listing. */
const STAT_BATCH = 32

function tempName (file: string): string {
  return `${file}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`
}

/** The CIDv1 raw of a block file's name; undefined for temp and foreign files. */
function blockCid (name: string): CID | undefined {
  if (!name.endsWith(EXTENSION)) return undefined
  try {
    return CID.createV1(raw.code, Digest.decode(base32.baseDecode(name.slice(0, -EXTENSION.length))))
  } catch {
    return undefined // not one of ours
  }
}
