import { fsyncPath } from './fs-files.js'
import { PackAppender } from './pack-appender.js'
import { closeFd, fdatasync, openFd, writeAllAt } from './pack-files.js'
import { fileHeader, FILE_HEADER_SIZE } from './pack-format.js'
import type { PackIndex } from './pack-index.js'
import type { PendingRows } from './pack-pending-rows.js'

/** A pack this process appends to (or did, until it is sealed). */
export interface Writer {
  id: number
  fd: number
  /** Where the next record goes. */
  end: number
  /** Everything before this offset is on disk (fdatasync). */
  synced: number
  /** Date.now() of the last append. */
  lastAppend: number
  /** Writes the records, one write at a time. */
  appender: PackAppender
  /** Writes in flight, by the offset each starts at. */
  writes: Map<Promise<void>, number>
  /** Group commits using `fd` now; it is closed once sealing is done and none is. */
  users: number
  /** Set when the pack is closed to new blocks: resolves once it is synced, sealed and closed. */
  sealing?: Promise<void>
  closeWhenIdle: boolean
}

/** A block this process wrote: the pack, and the offset that pack must be synced to for it. */
export interface SyncRequest {
  writer: Writer
  upTo: number
}

export interface PackWritersInit {
  packsDir: string
  /** A pack is closed to new blocks once it reaches this many bytes. */
  packSize: number
  /** The path of pack `id`'s file. */
  file: (id: number) => string
  /** The store's index, once open. */
  index: () => PackIndex | undefined
  /** Rows of finished writes: committed after each sync, and when a pack is sealed. */
  pendingRows: PendingRows
}

/** A writer idle this long starts a new pack on its next put: compaction in other processes treats older unsealed packs as abandoned. */
const ROTATE_IDLE_MS = 60_000
/**
 * Records up to this size are written synchronously: a write into the page cache costs less than
 * the thread-pool round trip of an asynchronous one (most S3 objects are small).
 */
const SYNC_WRITE_MAX = 64 * 1024

/**
 * The packs this process appends to, and how they become durable: the active pack (a new one once
 * it is full or idle), packs being sealed, and the group commits that fdatasync them for flushes.
 *
 * `append` chooses the pack, reserves the record's place and registers its write in one
 * synchronous call, so a pack never starts sealing with a write not yet registered; sealing waits
 * for every registered write, then closes the appender.
 */
export class PackWriters {
  /** Packs not sealed yet, by id. */
  readonly byId = new Map<number, Writer>()
  /** Blocks this process wrote and has not synced yet: where a flush must sync to (no index read). */
  readonly unsynced = new Map<string, SyncRequest>()
  /** fdatasync calls made on packs by group commits. */
  syncs = 0
  private active?: Writer
  private creating?: Promise<Writer>
  private queue: SyncRequest[] = []
  private nextGroup?: { promise: Promise<void>, resolve: () => void, reject: (err: unknown) => void }
  private committing?: Promise<void>

  constructor (private readonly init: PackWritersInit) {}

  /**
   * Append a record of `size` bytes to the active pack: its place reserved and its write
   * registered in this one synchronous call, so that sealing (which waits for registered writes)
   * cannot begin between the choice of pack and the write. Undefined when there is no active pack
   * or it is full or idle (it is retired then): `createActive`, and call again.
   */
  append (buffers: Uint8Array[], size: number): { writer: Writer, start: number, write: Promise<void> } | undefined {
    const writer = this.activeFor(size)
    if (writer === undefined) return undefined
    const start = writer.end
    writer.end += size
    writer.lastAppend = Date.now()
    const write = writer.appender.append(buffers, start, size)
    const tracked = write.finally(() => { writer.writes.delete(tracked) })
    tracked.catch(() => {})
    writer.writes.set(tracked, start)
    return { writer, start, write }
  }

  /** The active pack when `size` more bytes fit in it; otherwise it is retired, and undefined. */
  private activeFor (size: number): Writer | undefined {
    const active = this.active
    if (active === undefined) return undefined
    const full = active.end > FILE_HEADER_SIZE && active.end + size > this.init.packSize
    const idle = Date.now() - active.lastAppend > ROTATE_IDLE_MS
    if (!full && !idle) return active
    void this.retire(active).catch(() => {})
    return undefined
  }

  /** Resolves once a new active pack was created (by this call or one already under way). */
  async createActive (index: PackIndex): Promise<void> {
    this.creating ??= this.createPack(index).finally(() => { this.creating = undefined })
    await this.creating
  }

  /**
   * Make each writer durable up to its offset: one fdatasync per pack, in one group with every
   * request that arrives while the previous group syncs.
   */
  async sync (needs: Map<Writer, number>): Promise<void> {
    if (needs.size === 0) return
    this.nextGroup ??= deferred()
    const group = this.nextGroup.promise
    for (const [writer, upTo] of needs) this.queue.push({ writer, upTo })
    this.committing ??= this.commitGroups()
    await group
  }

  /** Seal the active pack (for compaction, which leaves this process's own packs alone). */
  async retireActive (): Promise<void> {
    if (this.active !== undefined) await this.retire(this.active)
  }

  /** Wait for a pack being created (before the store closes). */
  async created (): Promise<void> {
    await this.creating?.catch(() => {})
  }

  /** Let the group commits finish, then seal every pack (the store is closing). */
  async retireAll (): Promise<void> {
    while (this.committing !== undefined) await this.committing.catch(() => {})
    await Promise.allSettled([...this.byId.values()].map(async w => { await this.retire(w) }))
  }

  /** Close a pack to new blocks: once its writes finish it is synced, sealed and its file closed. */
  async retire (writer: Writer): Promise<void> {
    if (this.active === writer) this.active = undefined
    writer.sealing ??= (async () => {
      while (writer.writes.size > 0) await Promise.allSettled(writer.writes.keys())
      writer.appender.close()
      writer.users++
      try {
        await fdatasync(writer.fd)
        writer.synced = writer.end
        for (const [key, request] of this.unsynced) if (request.writer === writer) this.unsynced.delete(key)
        this.init.pendingRows.commit()
        this.init.index()?.sql.seal.run(writer.id)
        this.byId.delete(writer.id)
      } finally {
        writer.users--
        writer.closeWhenIdle = true
        if (writer.users === 0) closeFd(writer.fd).catch(() => {})
      }
    })()
    await writer.sealing
  }

  /** A new pack: its row, then its file, durable in the directory before any block goes in. */
  private async createPack (index: PackIndex): Promise<Writer> {
    const id = index.sql.newPack.get(Date.now())?.id as number
    const fd = await openFd(this.init.file(id), 'wx+')
    try {
      await writeAllAt(fd, [fileHeader()], 0)
      await fdatasync(fd)
      await fsyncPath(this.init.packsDir, true)
    } catch (err) {
      await closeFd(fd).catch(() => {})
      throw err
    }
    const writer: Writer = { id, fd, end: FILE_HEADER_SIZE, synced: FILE_HEADER_SIZE, lastAppend: Date.now(), appender: new PackAppender(fd, SYNC_WRITE_MAX), writes: new Map(), users: 0, closeWhenIdle: false }
    this.byId.set(id, writer)
    this.active = writer
    return writer
  }

  private async commitGroups (): Promise<void> {
    try {
      // Let the flushes issued in this turn of the event loop join the first group.
      await new Promise<void>(resolve => setImmediate(resolve))
      while (this.queue.length > 0) {
        const requests = this.queue
        const done = this.nextGroup as NonNullable<typeof this.nextGroup>
        this.queue = []
        this.nextGroup = undefined
        try {
          await this.syncGroup(requests)
          done.resolve()
        } catch (err) {
          done.reject(err)
        }
      }
    } finally {
      this.committing = undefined
    }
  }

  private async syncGroup (requests: SyncRequest[]): Promise<void> {
    const packs = new Map<Writer, number>()
    for (const r of requests) packs.set(r.writer, Math.max(packs.get(r.writer) ?? 0, r.upTo))
    await Promise.all([...packs].map(async ([writer, upTo]) => {
      if (writer.synced >= upTo) return
      if (writer.sealing !== undefined) {
        await writer.sealing
        return
      }
      // Every write before `upTo` must have finished, so that a scan after a power failure reads through to it.
      const before = [...writer.writes].filter(([, start]) => start < upTo).map(([w]) => w)
      await Promise.allSettled(before)
      if (writer.closeWhenIdle) return // sealed meanwhile: synced up to its end
      writer.users++
      try {
        this.syncs++
        await fdatasync(writer.fd)
        writer.synced = Math.max(writer.synced, upTo)
        // Every record before upTo has finished, and its row is pending: committed in one
        // transaction with the note that a recovery scan need not look there again.
        this.init.pendingRows.commit(() => { this.init.index()?.sql.verified.run(upTo, writer.id) })
      } finally {
        writer.users--
        if (writer.closeWhenIdle && writer.users === 0) closeFd(writer.fd).catch(() => {})
      }
    }))
  }
}

function deferred (): { promise: Promise<void>, resolve: () => void, reject: (err: unknown) => void } {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  promise.catch(() => {}) // rejections reach the flushes awaiting it
  return { promise, resolve, reject }
}
