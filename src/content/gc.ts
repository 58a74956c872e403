import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { identity } from 'multiformats/hashes/identity'
import { collectBytes } from './bytes.js'
import type { AbortOptions } from '../types.js'
import type { Blockstore } from 'interface-blockstore'
import type { MultihashDigest } from 'multiformats/hashes/interface'

/** One stored block as a sweep sees it. */
export interface ListedBlock {
  /** CIDv1 raw of the block's multihash (blocks are keyed by multihash). */
  cid: CID
  /** Bytes stored. */
  size: number
  /** When the block was last put, in ms since the epoch (a put of a present block counts). */
  written: number
}

/** A file a crashed or interrupted write left in a blockstore's directory (see FsBlockstore). */
export interface StrayFile {
  /** The store's name for it, to hand back to `deleteStray`. */
  name: string
  size: number
  /** Last time the file was written or renamed, in ms since the epoch. */
  written: number
}

/**
 * What a garbage collector needs from a blockstore beyond `get`.
 *
 * @example
 * ```ts
 * for await (const { cid, size, written } of store.listBlocks()) {
 *   if (written < cutoff && !marked(cid)) await store.deleteIfOlder(cid, cutoff)
 * }
 * ```
 */
export interface SweepableBlockstore extends Pick<Blockstore, 'get'> {
  /**
   * Every stored block once, streamed: memory does not grow with the store. Blocks put or deleted
   * while the listing runs may or may not be listed. An aborted signal rejects with its reason.
   */
  listBlocks: (options?: AbortOptions) => AsyncIterable<ListedBlock>
  /**
   * Delete the block unless it was put at or after `cutoff` (ms since the epoch). Resolves true
   * when this call removed it; false when it was absent (so repeating the call is harmless) or
   * written at or after `cutoff`. Atomic against `put`: a `put` of the same block, from this
   * process or (FsBlockstore) another one sharing the directory, either refreshes the written time
   * before the check (the block stays) or finds the block absent and writes it again, so a `put`
   * that resolved never leaves the block deleted. An already-aborted signal rejects before any I/O.
   */
  deleteIfOlder: (cid: CID, cutoff: number, options?: AbortOptions) => Promise<boolean>
  /** Optional: leftovers of interrupted writes, which `listBlocks` never lists. */
  listStrays?: (options?: AbortOptions) => AsyncIterable<StrayFile>
  /** Optional: delete one stray by the name `listStrays` gave. Deleting a missing one is a no-op. */
  deleteStray?: (name: string, options?: AbortOptions) => Promise<void>
  /**
   * Optional: give back the space of deleted blocks where deleting only forgets them
   * (PackBlockstore rewrites packs that are mostly garbage). Called after a sweep.
   */
  compact?: (options?: AbortOptions) => Promise<{ rewritten: number, deleted: number, freedBytes: number }>
}

/** CIDs that writers started holding since the watch began or since the last `take`. */
export interface HoldWatcher {
  /** Return the CIDs held since the previous `take` (or the watch began), and forget them. */
  take: () => CID[]
  /** How many CIDs `take` would return now. */
  readonly size: number
  /** Stop recording. */
  close: () => void
}

/** In-process protection of blocks not referenced yet: ContentStore's write sessions. */
export interface HeldRoots {
  /** Every CID held by an open session now. */
  protectedRoots: () => Iterable<CID>
  /** Start recording every CID that becomes held from now on. */
  watchHolds: () => HoldWatcher
}

export interface GcOptions extends AbortOptions {
  /**
   * The referenced roots (the metadata's referenced CIDs), streamed. Read once per collection,
   * after the session holds.
   */
  roots: () => AsyncIterable<string | CID> | Iterable<string | CID>
  /** Roots held by this process's write sessions (a ContentStore). Without it, only the grace period protects uploads in flight. */
  protect?: HeldRoots
  /** Unreferenced blocks written more recently than this are kept (default 15 minutes). */
  gracePeriodMs?: number
  /** Clock in ms since the epoch (default Date.now); the grace period is measured against it. */
  now?: () => number
  /** Blocks deleted per batch; roots held since the previous batch are marked before each (default 1000). */
  batchSize?: number
  /** Blocks read while marking, and deleted, at once (default 8). */
  concurrency?: number
  /** Count what would be deleted (`candidates`) but delete nothing. */
  dryRun?: boolean
  /**
   * Sweep even when a referenced dag-pb node could not be read (missing or undecodable). By
   * default the sweep is skipped then (`swept: false`): the blocks under such a node are unknown,
   * so sweeping would delete the rest of a damaged DAG that restoring the one node could repair.
   */
  sweepWhenIncomplete?: boolean
}

export interface GcReport {
  /** Referenced roots read from `roots()`. */
  roots: number
  /** Roots held by write sessions that were marked (at the start and during the sweep). */
  held: number
  /** Distinct blocks (by multihash) reachable from those roots. */
  marked: number
  /** Blocks listed by the sweep. */
  scanned: number
  /** Listed blocks neither marked nor within the grace period: what a sweep tries to delete. */
  candidates: number
  deleted: number
  freedBytes: number
  /** Unmarked blocks kept because they were written within the grace period. */
  keptRecent: number
  /**
   * Blocks of referenced DAGs that are not in the store: dag-pb nodes that could not be read while
   * marking, and marked blocks the listing did not show. Each is data loss. Raw leaves are never
   * read, so a missing one is only found by the listing.
   */
  missing: string[]
  /** Referenced dag-pb nodes that did not decode: their children could not be marked. */
  corrupt: string[]
  /** False when nothing was deleted because of `dryRun` or an incomplete mark (see `sweepWhenIncomplete`). */
  swept: boolean
  /** Stray files (interrupted writes) older than the grace period, deleted. */
  straysDeleted: number
  strayBytes: number
  /** Pack files rewritten or deleted by the store's compaction after the sweep (PackBlockstore), and the disk space it gave back. */
  packsCompacted: number
  compactedBytes: number
  durationMs: number
}

const MARKED = 1
/** A dag-pb node whose links were followed. */
const EXPANDED = 2
/** Reached from a referenced root (not only a held one): its absence is data loss. */
const REFERENCED = 4
/** Listed by the sweep. */
const SEEN = 8
/** Last reached through a dag-pb CID (to name it in the report). */
const DAG_PB = 16

const DEFAULT_GRACE_PERIOD_MS = 15 * 60 * 1000

/**
 * Mark and sweep: delete every block not reachable from a referenced or held root and not written
 * within the grace period. Safe while the gateway serves traffic:
 *
 * 1. Holds are watched, then the session-held roots are read, then the referenced roots. An
 *    operation holds its CIDs before it writes blocks or commits a reference, and closes its
 *    session only after the commit. So one whose session closed before the held roots were read
 *    had committed before the referenced roots were read, and its root is among them; one whose
 *    session was open then is among the held roots; one that holds later is seen by the watcher.
 * 2. Mark: from every root, follow dag-pb links (reading only dag-pb blocks; raw leaves are marked
 *    unread; identity CIDs are not stored). Marks are a Map keyed by multihash, about 100 bytes a
 *    block. Codecs other than dag-pb and raw are marked but not followed.
 * 3. Sweep: list every block; unmarked blocks written before `now() - gracePeriodMs` are deleted in
 *    batches. Before each batch the roots held since the last look are marked (a CopyObject that
 *    started holding an old root during the sweep protects it), and candidates they reach are kept.
 *    Each delete is `deleteIfOlder`, atomic against `put`: an upload that re-puts a block the sweep
 *    chose (the same bytes as old garbage) either refreshes it in time or writes it again.
 *
 * What stays unprotected, honestly:
 * - Another process's uploads have no sessions here: their blocks are protected by the grace
 *   period only, so it must exceed the longest upload between its first block and its commit.
 *   (Multipart parts are referenced once each part is stored, so only single uploads count.)
 * - A root taken from metadata and held after the reference that made it known was dropped (a copy
 *   racing a delete of its source) may already be partly swept: the operation must hold the root
 *   first and then check, in its committing transaction, that the source still references it.
 * - With FsBlockstore shared by several processes, a `flush` in another process may fail with
 *   NotFoundError in the instant between this sweep moving a just-refreshed block aside and
 *   putting it back (the upload fails; no data is lost).
 */
export async function collectGarbage (blockstore: SweepableBlockstore, options: GcOptions): Promise<GcReport> {
  const signal = options.signal
  signal?.throwIfAborted()
  const now = options.now ?? Date.now
  const start = now()
  const cutoff = start - (options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS)
  const batchSize = Math.max(1, options.batchSize ?? 1000)
  const concurrency = Math.max(1, options.concurrency ?? 8)
  const marker = new Marker(blockstore, concurrency, signal)
  const report: GcReport = {
    roots: 0, held: 0, marked: 0, scanned: 0, candidates: 0, deleted: 0, freedBytes: 0, keptRecent: 0,
    missing: [], corrupt: [], swept: false, straysDeleted: 0, strayBytes: 0, packsCompacted: 0, compactedBytes: 0, durationMs: 0
  }

  // Order matters (see above): watch, then held roots, then referenced roots.
  const watcher = options.protect?.watchHolds()
  try {
    const held = [...(options.protect?.protectedRoots() ?? [])]
    let group: CID[] = []
    for await (const root of options.roots()) {
      group.push(typeof root === 'string' ? CID.parse(root) : root)
      report.roots++
      if (group.length >= 256) {
        await marker.walk(group, true)
        group = []
      }
    }
    await marker.walk(group, true)
    await marker.walk(held, false)
    report.held += held.length

    const sweep = options.dryRun !== true && (marker.complete || options.sweepWhenIncomplete === true)
    const markHeld = async (): Promise<void> => {
      while (watcher !== undefined && watcher.size > 0) {
        const more = watcher.take()
        report.held += more.length
        await marker.walk(more, false)
      }
    }
    const deleteBatch = async (batch: ListedBlock[]): Promise<void> => {
      await markHeld()
      await eachLimit(batch, concurrency, async block => {
        if (marker.has(block.cid.multihash)) return
        if (await blockstore.deleteIfOlder(block.cid, cutoff, { signal })) {
          report.deleted++
          report.freedBytes += block.size
        } else {
          report.keptRecent++ // re-put since it was listed (or deleted by someone else)
        }
      })
    }

    let batch: ListedBlock[] = []
    for await (const block of blockstore.listBlocks({ signal })) {
      report.scanned++
      if (marker.see(block.cid.multihash)) continue
      if (block.written >= cutoff) {
        report.keptRecent++
        continue
      }
      report.candidates++
      if (!sweep) continue
      batch.push(block)
      if (batch.length >= batchSize) {
        await deleteBatch(batch)
        batch = []
      }
    }
    if (batch.length > 0) await deleteBatch(batch)
    report.swept = sweep

    if (sweep && blockstore.compact !== undefined) {
      const compaction = await blockstore.compact({ signal })
      report.packsCompacted = compaction.deleted
      report.compactedBytes = compaction.freedBytes
    }
    if (sweep && blockstore.listStrays !== undefined && blockstore.deleteStray !== undefined) {
      for await (const stray of blockstore.listStrays({ signal })) {
        if (stray.written >= cutoff) continue
        await blockstore.deleteStray(stray.name, { signal })
        report.straysDeleted++
        report.strayBytes += stray.size
      }
    }
  } finally {
    watcher?.close()
  }

  report.marked = marker.size
  report.missing = marker.missing()
  report.corrupt = marker.corrupt
  report.durationMs = now() - start
  return report
}

class Marker {
  private readonly flags = new Map<string, number>()
  /** Keys of referenced dag-pb nodes that were not found when read. */
  private readonly unreadable = new Map<string, string>()
  readonly corrupt: string[] = []
  /** False once a referenced dag-pb node could not be read: blocks under it are unmarked. */
  complete = true

  constructor (private readonly blockstore: Pick<Blockstore, 'get'>, private readonly concurrency: number, private readonly signal?: AbortSignal) {}

  get size (): number {
    return this.flags.size
  }

  has (multihash: MultihashDigest): boolean {
    return this.flags.has(keyOf(multihash))
  }

  /** Note that the sweep listed the block; true when it is marked. */
  see (multihash: MultihashDigest): boolean {
    const key = keyOf(multihash)
    const flags = this.flags.get(key)
    if (flags === undefined) return false
    this.flags.set(key, flags | SEEN)
    return true
  }

  /** Referenced blocks the store does not have, as CID strings. Call after the sweep's listing. */
  missing (): string[] {
    const out = [...this.unreadable.values()]
    for (const [key, flags] of this.flags) {
      if ((flags & REFERENCED) === 0 || (flags & SEEN) !== 0 || this.unreadable.has(key)) continue
      const multihash = Digest.decode(Buffer.from(key, 'latin1'))
      out.push(CID.createV1((flags & DAG_PB) !== 0 ? dagPb.code : raw.code, multihash).toString())
    }
    return out
  }

  /** Mark every block reachable from `roots`, reading up to `concurrency` dag-pb nodes at once. */
  async walk (roots: CID[], referenced: boolean): Promise<void> {
    const stack = roots.slice().reverse()
    let active = 0
    await new Promise<void>((resolve, reject) => {
      let failed = false
      const pump = (): void => {
        if (failed) return
        try {
          this.signal?.throwIfAborted()
          while (active < this.concurrency && stack.length > 0) {
            const read = this.visit(stack.pop()!, referenced)
            if (read === undefined) continue
            active++
            read.then(links => {
              active--
              for (let i = links.length - 1; i >= 0; i--) stack.push(links[i])
              pump()
            }, fail)
          }
        } catch (err) {
          fail(err)
          return
        }
        if (active === 0 && stack.length === 0) resolve()
      }
      const fail = (err: unknown): void => {
        failed = true
        reject(err)
      }
      pump()
    })
  }

  /** Mark one CID; for a dag-pb node not expanded yet, a read resolving to its links. */
  private visit (cid: CID, referenced: boolean): Promise<CID[]> | undefined {
    if (cid.multihash.code === identity.code) return undefined
    const key = keyOf(cid.multihash)
    const before = this.flags.get(key) ?? 0
    const isPb = cid.code === dagPb.code
    const flags = before | MARKED | (referenced ? REFERENCED : 0) | (isPb ? DAG_PB : 0)
    this.flags.set(key, flags)
    if (!isPb || (before & EXPANDED) !== 0) return undefined
    return this.expand(cid, key, referenced)
  }

  private async expand (cid: CID, key: string, referenced: boolean): Promise<CID[]> {
    let block: Uint8Array
    try {
      block = await collectBytes(this.blockstore.get(cid, { signal: this.signal }), { signal: this.signal })
    } catch (err) {
      if ((err as Error | undefined)?.name !== 'NotFoundError') throw err
      // Under a held root this is a block of an upload still being written: nothing to report.
      if (referenced) {
        this.complete = false
        if (!this.unreadable.has(key)) this.unreadable.set(key, cid.toString())
      }
      return []
    }
    let node: dagPb.PBNode
    try {
      node = dagPb.decode(block)
    } catch {
      if (referenced) {
        this.complete = false
        this.corrupt.push(cid.toString())
      }
      this.flags.set(key, (this.flags.get(key) ?? 0) | EXPANDED) // decoding again will not help
      return []
    }
    this.flags.set(key, (this.flags.get(key) ?? 0) | EXPANDED)
    return node.Links.map(link => link.Hash)
  }
}

/** Multihash bytes as a one-byte-per-char string: the most compact Map key. */
function keyOf (multihash: MultihashDigest): string {
  const bytes = multihash.bytes
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

async function eachLimit<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++])
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

/** Whether a blockstore can be swept (lists its blocks and deletes them safely against `put`). */
export function isSweepable (value: unknown): value is SweepableBlockstore {
  const v = value as Partial<SweepableBlockstore> | undefined
  return typeof v?.listBlocks === 'function' && typeof v.deleteIfOlder === 'function' && typeof v.get === 'function'
}
