import * as fsCallback from 'node:fs'
import * as fs from 'node:fs/promises'
import { join } from 'node:path'
import { NotFoundError, OpenFailedError } from 'interface-store'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { bytesKey } from '../content/bytes.js'
import type { ListedBlock, StrayFile, SweepableBlockstore } from '../content/gc.js'
import { COPIES_PUT_BYTES } from '../content/leaves.js'
import type { AbortOptions } from '../types.js'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import { isCode, once } from './fs-files.js'
import type { FsBlockstore } from './fs.js'
import { compactPacks, type CompactionReport } from './pack-compact.js'
import { packName, recordHeader, PACK_NAME } from './pack-format.js'
import { closeFd, fdatasync, openFd, readBlockAt } from './pack-files.js'
import { PackIndex, type IndexedRecord } from './pack-index.js'
import { PendingRows } from './pack-pending-rows.js'
import { PackReaders, type PackReader } from './pack-readers.js'
import { checkUnsealed, recoverPack } from './pack-recover.js'
import { PackWriters, type Writer } from './pack-writers.js'

type BlockInput = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

export interface PackBlockstoreInit {
  /** Directory of the store: `index.db` and `packs/`. */
  path: string
  /** Create `path` when it does not exist (default true); otherwise opening fails. */
  createIfMissing?: boolean
  /** A pack is closed to new blocks once it reaches this many bytes (default 128 MiB). */
  packSize?: number
  /** Compaction rewrites a pack whose live blocks fill less than this fraction of it (default 0.5). */
  compactBelow?: number
  /** Clock of the blocks' written times, in ms since the epoch (default Date.now). */
  now?: () => number
  /**
   * An FsBlockstore of an older data directory, read through: blocks missing here are looked up
   * there, garbage collection lists and deletes in both, and a put of a block it has only
   * refreshes it there. New blocks are always written to packs.
   */
  legacy?: FsBlockstore
  /** How long an index write waits for another process holding the lock, in ms (default 5000). */
  busyTimeout?: number
}

const LIST_PAGE = 1000

/**
 * Blocks appended to large pack files, with an index in SQLite (`index.db`, WAL) shared by every
 * process using the directory. A put is one positioned write and one index row; making blocks
 * durable (`flush`) is one fdatasync per pack touched, shared by every flush that arrives while the
 * previous one runs (group commit). No file is opened, renamed or created per block.
 *
 * - A block is indexed, and so readable by anyone, only once its write has finished.
 * - A put of a block already indexed writes nothing and refreshes its written time.
 * - `deleteIfOlder` deletes the index row in one statement, so a concurrent put either refreshed
 *   the row first or finds it gone and appends the block again. The bytes stay in the pack until
 *   `compact` rewrites packs that are mostly garbage.
 * - A pack is sealed (closed to new blocks, every byte synced) when it is full, idle, compacted or
 *   the store closes. Index commits do not fsync: after a power failure, opening the store checks
 *   the packs not sealed yet, indexing every complete record whose bytes hash to its CID and
 *   dropping rows whose record did not reach the disk. A record cut short is never indexed.
 */
export class PackBlockstore implements Blockstore, SweepableBlockstore {
  /** A put has written the bytes out when it resolves and keeps no reference to them. */
  readonly [COPIES_PUT_BYTES] = true
  readonly path: string
  private readonly packsDir: string
  private readonly createIfMissing: boolean
  private readonly packSize: number
  private readonly compactBelow: number
  private readonly now: () => number
  private readonly legacy?: FsBlockstore
  private readonly busyTimeout: number
  private opening?: Promise<PackIndex>
  private index?: PackIndex
  /** Blocks being written by this process, for puts of the same block meanwhile. */
  private readonly writing = new Map<string, Promise<void>>()
  /** Index rows of finished writes not committed yet (this process reads them from there). */
  private readonly pendingRows = new PendingRows(() => this.index)
  private readonly readers: PackReaders
  private closed = false
  private readonly packs: PackWriters

  constructor (init: PackBlockstoreInit) {
    this.path = init.path
    this.packsDir = join(init.path, 'packs')
    this.createIfMissing = init.createIfMissing ?? true
    this.packSize = init.packSize ?? 128 * 1024 * 1024
    this.compactBelow = init.compactBelow ?? 0.5
    this.now = init.now ?? Date.now
    this.legacy = init.legacy
    this.busyTimeout = init.busyTimeout ?? 5000
    this.readers = new PackReaders((id) => this.file(id))
    this.packs = new PackWriters({ packsDir: this.packsDir, packSize: this.packSize, file: (id) => this.file(id), index: () => this.index, pendingRows: this.pendingRows })
  }

  /** fdatasync calls made on packs by flushes (group commits share them). */
  get syncs (): number {
    return this.packs.syncs
  }

  /** Resolves when the store can be written (for readiness probes). */
  async ping (options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    await this.ready()
    await fs.access(this.packsDir, fsCallback.constants.W_OK)
  }

  /** Size and free space of the filesystem holding the packs, in bytes. */
  async capacity (options?: AbortOptions): Promise<{ totalBytes: number, freeBytes: number }> {
    options?.signal?.throwIfAborted()
    await this.ready()
    const stats = await fs.statfs(this.path)
    return { totalBytes: stats.blocks * stats.bsize, freeBytes: stats.bavail * stats.bsize }
  }

  async has (cid: CID, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    const index = await this.ready()
    if (this.pendingRows.get(bytesKey(cid.multihash.bytes)) !== undefined) return true
    if (index.sql.get.get(cid.multihash.bytes) !== undefined) return true
    return this.legacy !== undefined ? await this.legacy.has(cid, options) : false
  }

  async put (cid: CID, bytes: BlockInput, options?: AbortOptions): Promise<CID> {
    options?.signal?.throwIfAborted()
    const index = await this.ready()
    const mh = cid.multihash.bytes
    const key = bytesKey(mh)
    if (await this.present(index, cid, key, bytes)) return cid
    const data = await collect(bytes, options?.signal)
    options?.signal?.throwIfAborted()
    const header = recordHeader(mh, data.byteLength)
    const size = header.byteLength + data.byteLength
    let appended: ReturnType<PackWriters['append']>
    for (;;) {
      // Another put of the same block here may have started meanwhile (one in another process
      // would only cost a duplicate record, which compaction reclaims).
      const started = this.writing.get(key)
      if (started !== undefined) {
        await started
        return cid
      }
      appended = this.packs.append([header, data], size)
      if (appended !== undefined) break
      if (this.closed) throw new OpenFailedError('PackBlockstore is closed')
      await this.packs.createActive(index)
    }
    const { writer: pack, start, write } = appended
    const row = { mh, pack: pack.id, offset: start + header.byteLength, length: data.byteLength, written: this.now() }
    const stored = write.then(() => {
      this.pendingRows.add(key, row)
    })
    this.writing.set(key, stored)
    try {
      await stored
    } finally {
      if (this.writing.get(key) === stored) this.writing.delete(key)
    }
    this.packs.unsynced.set(key, { writer: pack, upTo: start + size })
    return cid
  }

  async * get (cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    options?.signal?.throwIfAborted()
    yield await this.read(cid, undefined, options)
  }

  /**
   * Read the block at `cid` into `buffer` (owned by the caller) and resolve to the part filled: the
   * whole block, or as much as fits. `expected` is accepted for FsBlockstore's signature: the size
   * of a block is known here, so a block longer than expected shows as a longer result when the
   * buffer has room.
   */
  async readInto (cid: CID, buffer: Uint8Array, expected?: number, options?: AbortOptions): Promise<Uint8Array> {
    options?.signal?.throwIfAborted()
    void expected
    return await this.read(cid, buffer, options)
  }

  async delete (cid: CID, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const index = await this.ready()
    this.pendingRows.delete(bytesKey(cid.multihash.bytes))
    index.sql.delete.run(cid.multihash.bytes)
    if (this.legacy !== undefined) await this.legacy.delete(cid, options)
  }

  /** Deletes the index row unless the block was put at or after `cutoff` (see SweepableBlockstore). */
  async deleteIfOlder (cid: CID, cutoff: number, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    const index = await this.ready()
    const key = bytesKey(cid.multihash.bytes)
    const pending = this.pendingRows.get(key)
    if (pending !== undefined) {
      if (pending.written >= cutoff) return false
      this.pendingRows.delete(key)
      index.sql.deleteIfOlder.run(cid.multihash.bytes, cutoff)
      return true
    }
    if (index.sql.deleteIfOlder.run(cid.multihash.bytes, cutoff).changes > 0) return true
    return this.legacy !== undefined ? await this.legacy.deleteIfOlder(cid, cutoff, options) : false
  }

  /** Every indexed block (and the legacy store's), a page of the index at a time. */
  async * listBlocks (options?: AbortOptions): AsyncGenerator<ListedBlock> {
    options?.signal?.throwIfAborted()
    const index = await this.ready()
    this.pendingRows.commit() // blocks put and not flushed yet are listed too
    if (this.legacy !== undefined) yield * this.legacy.listBlocks(options)
    let after: Uint8Array = new Uint8Array(0)
    for (;;) {
      options?.signal?.throwIfAborted()
      const rows = index.sql.page.all(after, LIST_PAGE)
      for (const row of rows) {
        const cid = cidOf(row.mh)
        if (cid !== undefined) yield { cid, size: row.length, written: row.written }
      }
      if (rows.length < LIST_PAGE) return
      after = rows[rows.length - 1].mh
    }
  }

  /**
   * Files in `packs/` that belong to no pack of the index (left by a compaction interrupted after
   * its commit, or foreign), and the legacy store's strays as `legacy/<name>`.
   */
  async * listStrays (options?: AbortOptions): AsyncGenerator<StrayFile> {
    options?.signal?.throwIfAborted()
    const index = await this.ready()
    // The directory first, then the rows: a pack created in between has its row already.
    const names = await fs.readdir(this.packsDir)
    const known = new Set(index.sql.packs.all().map(p => packName(p.id)))
    for (const name of names) {
      if (known.has(name) || !PACK_NAME.test(name)) continue
      options?.signal?.throwIfAborted()
      const s = await fs.stat(join(this.packsDir, name)).catch(() => undefined)
      if (s !== undefined) yield { name: `packs/${name}`, size: s.size, written: Math.max(s.mtimeMs, s.ctimeMs) }
    }
    if (this.legacy !== undefined) {
      for await (const stray of this.legacy.listStrays(options)) yield { ...stray, name: `legacy/${stray.name}` }
    }
  }

  async deleteStray (name: string, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const index = await this.ready()
    if (name.startsWith('legacy/') && this.legacy !== undefined) {
      await this.legacy.deleteStray(name.slice('legacy/'.length), options)
      return
    }
    const file = name.startsWith('packs/') ? name.slice('packs/'.length) : ''
    if (!PACK_NAME.test(file)) throw new TypeError(`Not a stray file name: ${name}`)
    if (index.sql.packs.all().some(p => packName(p.id) === file)) throw new TypeError(`Not a stray: ${name} is a pack in use`)
    await fs.rm(join(this.packsDir, file), { force: true })
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) yield await this.put(cid, bytes, options)
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: once(await this.read(cid, undefined, options)) }
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const cid of source) {
      await this.delete(cid, options)
      yield cid
    }
  }

  async * getAll (options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const { cid } of this.listBlocks(options)) {
      let bytes: Uint8Array
      try {
        bytes = await this.read(cid, undefined, options)
      } catch (err) {
        if ((err as Error).name === 'NotFoundError') continue // deleted since listed
        throw err
      }
      yield { cid, bytes: once(bytes) }
    }
  }

  /**
   * Make the given blocks durable: each pack holding one is fdatasynced once every write before
   * the block in that pack has finished, in one group with every flush that arrives while the
   * previous group syncs. Rejects with NotFoundError when a block is absent.
   */
  async flush (cids: Iterable<CID>, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const index = await this.ready()
    const needs = new Map<Writer, number>()
    const foreign = new Set<number>()
    const legacy: CID[] = []
    const flushed: string[] = []
    for (const cid of cids) {
      const mh = cid.multihash.bytes
      const key = bytesKey(mh)
      const pending = this.writing.get(key)
      if (pending !== undefined) await pending
      const own = this.packs.unsynced.get(key)
      if (own !== undefined) {
        flushed.push(key)
        if (own.writer.synced < own.upTo) needs.set(own.writer, Math.max(needs.get(own.writer) ?? 0, own.upTo))
        continue
      }
      const row = index.sql.get.get(mh)
      if (row === undefined) {
        if (this.legacy === undefined) throw new NotFoundError(`Block ${cid} not found`)
        legacy.push(cid)
        continue
      }
      const writer = this.packs.byId.get(row.pack)
      const upTo = row.offset + row.length
      if (writer === undefined) foreign.add(row.pack)
      else if (writer.synced < upTo) needs.set(writer, Math.max(needs.get(writer) ?? 0, upTo))
    }
    if (legacy.length > 0) await this.legacy?.flush(legacy, options)
    // A block another process wrote and has not synced yet (its pack is not sealed): sync it from here.
    for (const id of foreign) {
      if (index.sql.pack.get(id)?.sealed === 0) await this.syncForeign(id)
    }
    await this.packs.sync(needs)
    // Rows a group commit left (none ran, or its commit failed) are committed before this resolves.
    if (this.pendingRows.size > 0 && flushed.some(key => this.pendingRows.get(key) !== undefined)) this.pendingRows.commit()
    for (const key of flushed) this.packs.unsynced.delete(key)
  }

  /**
   * Rewrite packs that are mostly garbage (live blocks below `compactBelow` of the file) and
   * delete those with no live block, after this process's current pack is sealed. Packs another
   * process may still append to (unsealed, changed within ABANDONED_MS) are skipped.
   */
  async compact (options?: AbortOptions): Promise<CompactionReport> {
    options?.signal?.throwIfAborted()
    const index = await this.ready()
    await this.packs.retireActive()
    return await compactPacks({
      index,
      packsDir: this.packsDir,
      compactBelow: this.compactBelow,
      ownPack: (id) => this.packs.byId.has(id),
      newPack: () => index.sql.newPack.get(Date.now())?.id as number,
      recover: async (id, fd, size, from) => { await recoverPack(index, id, fd, size, from) },
      dropReader: (id) => { this.readers.drop(id) },
      signal: options?.signal
    })
  }

  /** Seal this process's packs (syncing them) and close every file. The store cannot be used after. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const index = this.index
    if (index === undefined) {
      await this.opening?.catch(() => {})
      this.index?.close()
      return
    }
    await this.packs.created()
    await Promise.allSettled(this.writing.values())
    await this.packs.retireAll()
    // Rows a failed seal left: a pack not sealed is scanned on the next open, which indexes them.
    this.pendingRows.stop()
    try { this.pendingRows.commit() } catch { /* see above */ }
    this.readers.dropAll()
    index.close()
  }

  private async ready (): Promise<PackIndex> {
    if (this.index !== undefined) return this.index
    if (this.closed) throw new OpenFailedError('PackBlockstore is closed')
    this.opening ??= this.open()
    return await this.opening
  }

  private async open (): Promise<PackIndex> {
    try {
      if (this.createIfMissing) await fs.mkdir(this.packsDir, { recursive: true })
      else await fs.mkdir(this.packsDir)
    } catch (err) {
      if (isCode(err, 'ENOENT')) throw new OpenFailedError(`Blockstore directory ${this.path} does not exist`)
      if (!isCode(err, 'EEXIST')) throw err
    }
    const index = new PackIndex(join(this.path, 'index.db'), this.busyTimeout)
    try {
      for (const pack of index.sql.packs.all()) {
        if (pack.sealed === 0) await checkUnsealed(index, pack, this.file(pack.id))
      }
    } catch (err) {
      index.close()
      throw err
    }
    this.index = index
    return index
  }

  /** Whether the block is present already, refreshing its written time; false when it must be written. */
  private async present (index: PackIndex, cid: CID, key: string, bytes: BlockInput): Promise<boolean> {
    const writing = this.writing.get(key)
    if (writing !== undefined) {
      await writing
      return true
    }
    const pending = this.pendingRows.get(key)
    if (pending !== undefined) {
      pending.written = this.now()
      return true
    }
    const mh = cid.multihash.bytes
    // A read first: most puts are of new blocks, and a write transaction costs far more than a read.
    if (index.sql.get.get(mh) !== undefined && index.sql.touch.run(this.now(), mh).changes > 0) return true
    if (this.legacy !== undefined && await this.legacy.has(cid)) {
      // Refreshes it there (or writes it there again if a sweep of the old store just took it).
      await this.legacy.put(cid, bytes)
      return true
    }
    return false
  }

  /** fdatasync a pack another process is writing (its page cache is ours too). */
  private async syncForeign (id: number): Promise<void> {
    let fd: number
    try {
      fd = await openFd(this.file(id), 'r')
    } catch (err) {
      if (isCode(err, 'ENOENT')) return // compacted: its blocks moved to a synced pack
      throw err
    }
    try {
      await fdatasync(fd)
    } finally {
      await closeFd(fd)
    }
  }

  private async read (cid: CID, into: Uint8Array | undefined, options?: AbortOptions): Promise<Uint8Array> {
    options?.signal?.throwIfAborted()
    const index = await this.ready()
    const mh = cid.multihash.bytes
    for (let attempt = 0; attempt < 3; attempt++) {
      const at = this.pendingRows.get(bytesKey(mh)) ?? index.sql.get.get(mh)
      if (at === undefined) break
      const buffer = into === undefined ? Buffer.allocUnsafe(at.length) : into
      const length = Math.min(at.length, buffer.byteLength)
      let reader: PackReader
      try {
        reader = await this.readers.take(at.pack)
      } catch (err) {
        if (isCode(err, 'ENOENT')) continue // compacted away: the row has moved
        throw err
      }
      try {
        const got = await readBlockAt(reader.fd, buffer, length, at.offset)
        if (got < length) throw new Error(`Pack ${packName(at.pack)} is shorter than its index says (block ${cid})`)
        return into === undefined ? buffer : buffer.subarray(0, got)
      } finally {
        this.readers.release(reader)
      }
    }
    if (this.legacy !== undefined) {
      if (into !== undefined) return await this.legacy.readInto(cid, into, undefined, options)
      const chunks: Uint8Array[] = []
      for await (const chunk of this.legacy.get(cid, options)) chunks.push(chunk)
      return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
    }
    throw new NotFoundError(`Block ${cid} not found`)
  }

  private file (id: number): string {
    return join(this.packsDir, packName(id))
  }
}


function cidOf (mh: Uint8Array): CID | undefined {
  try {
    return CID.createV1(raw.code, Digest.decode(new Uint8Array(mh)))
  } catch {
    return undefined
  }
}

async function collect (bytes: BlockInput, signal?: AbortSignal): Promise<Uint8Array> {
  if (bytes instanceof Uint8Array) return bytes
  const chunks: Uint8Array[] = []
  for await (const chunk of bytes) {
    signal?.throwIfAborted()
    chunks.push(chunk)
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
}
