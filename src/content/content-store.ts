import { CID } from 'multiformats/cid'
import { composeContent } from './compose.js'
import { contentSize, exportContent } from './export.js'
import { importContent } from './import.js'
import { cidProfile } from './profiles.js'
import type { ComposePart, ComposedContent } from './compose.js'
import type { ExportOptions, ReadTarget } from './export.js'
import type { HeldRoots, HoldWatcher } from './gc.js'
import type { ImportTarget, ImportedContent } from './import.js'
import type { CidProfileName } from './profiles.js'
import type { AbortOptions } from '../types.js'

export interface ContentStoreInit {
  /** Where blocks go. A `flush(cids)` method, when present, is called before `add` resolves. */
  blockstore: ImportTarget & ReadTarget
  /** CID profile for `add` unless a call names another (default 'unixfs-v1-2025'). */
  profile?: CidProfileName
  /** Blocks written behind hashing during `add` (default 4). */
  writeConcurrency?: number
  /** Blocks read ahead during `cat` (default 4). */
  readAhead?: number
}

export interface AddOptions extends AbortOptions {
  profile?: CidProfileName
  /** Holds every block the import puts, before putting it. */
  session?: Pick<WriteSession, 'hold'>
}

export interface ComposeOptions extends AbortOptions {
  profile?: CidProfileName
  /** Holds the parts' roots and every node the composition puts, before putting it. */
  session?: Pick<WriteSession, 'hold'>
}

/**
 * Protection from garbage collection for blocks not referenced yet. An operation opens a session
 * before it writes content or takes a root it will reference, passes it to `add` / `compose` (or
 * holds a root itself, as a copy does), commits its metadata, then closes the session in `finally`.
 * A held CID protects the whole DAG under it. A root read from metadata (a copy's source) may have
 * been released and swept before the hold: the commit must check, in its transaction, that the
 * source still references it. See collectGarbage.
 *
 * @example
 * ```ts
 * const session = content.session()
 * try {
 *   const { cid } = await content.add(body, { session })
 *   // commit the version that references `cid`
 * } finally {
 *   session.close()
 * }
 * ```
 */
export interface WriteSession {
  /**
   * Protect `cid` until `close`. Holding a CID twice is the same as once. Throws TypeError for an
   * invalid CID string, and Error once the session is closed (a write after close is a bug: it
   * would be unprotected).
   */
  hold: (cid: CID | string) => void
  /** Release every hold of this session. Closing again is a no-op. */
  close: () => void
  readonly closed: boolean
}

export interface CatOptions extends AbortOptions {
  offset?: number
  length?: number
}

/**
 * Object bytes as UnixFS DAGs in a blockstore. Memory use of `add` and `cat` is a few chunks,
 * whatever the object size.
 */
export class ContentStore implements HeldRoots {
  readonly profile: CidProfileName
  private readonly blockstore: ImportTarget & ReadTarget
  private readonly writeConcurrency: number
  private readonly readAhead: number
  /** Held CIDs by CID string, with the number of open sessions holding each. */
  private readonly holds = new Map<string, { cid: CID, sessions: number }>()
  private readonly watchers = new Set<CID[]>()

  constructor (init: ContentStoreInit) {
    this.blockstore = init.blockstore
    this.profile = init.profile ?? 'unixfs-v1-2025'
    cidProfile(this.profile) // reject an unknown name now, not on the first upload
    this.writeConcurrency = init.writeConcurrency ?? 4
    this.readAhead = init.readAhead ?? 4
  }

  /**
   * Import `source` and return its root CID (the one `ipfs add` gives under the profile) and its
   * size in bytes. Resolves only once every block is stored and flushed, so the caller may commit
   * metadata. If `source` throws, rejects with the same error; an aborted signal rejects with its
   * reason. Either way no CID is returned and the blocks already written are garbage for GC.
   */
  async add (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: AddOptions = {}): Promise<ImportedContent> {
    return importContent(source, holding(this.blockstore, options.session), {
      profile: options.profile ?? this.profile,
      writeConcurrency: this.writeConcurrency,
      signal: options.signal
    })
  }

  /**
   * One UnixFS file of `parts` (each the CID and size an earlier `add` returned) in order, built
   * from the parts' DAGs without reading their bytes; writes and flushes only new internal nodes.
   * When every part but the last is a whole number of chunks and every part is the profile's own
   * import, the CID is the one `ipfs add` gives for the concatenated bytes (`standard: true`);
   * otherwise it is another DAG of the same bytes (`standard: false`). A single part's CID is
   * returned unchanged. See composeContent.
   */
  async compose (parts: ComposePart[], options: ComposeOptions = {}): Promise<ComposedContent> {
    // The result may be a part's own root (one part), or a DAG over the parts' blocks.
    for (const part of parts) options.session?.hold(part.cid)
    return composeContent(parts, holding(this.blockstore, options.session), {
      profile: options.profile ?? this.profile,
      signal: options.signal
    })
  }

  /**
   * Stream the bytes of a UnixFS file or raw block, optionally a range of them. `offset` may equal
   * the size (nothing is returned); beyond it, or negative, throws ContentRangeError. `length` is
   * clamped to the end. Other content (directories, dag-cbor, ...) throws UnsupportedContentError;
   * a missing block throws the blockstore's NotFoundError, possibly after some bytes were returned.
   * The iterable also carries the RELEASE_CHUNKS opt-in (see export.ts) that lets an HTTP writer
   * have chunks read into reused buffers; consumers that do not take it get chunks of their own.
   */
  cat (cid: CID | string, options: CatOptions = {}): AsyncGenerator<Uint8Array> {
    const exportOptions: ExportOptions = { ...options, readAhead: this.readAhead }
    return exportContent(toCid(cid), this.blockstore, exportOptions)
  }

  /** A new write session (see WriteSession). */
  session (): WriteSession {
    return new Session(this.holds, this.watchers)
  }

  /** Every CID held by an open session now. */
  protectedRoots (): CID[] {
    return [...this.holds.values()].map(h => h.cid)
  }

  /**
   * Record every CID that becomes held (by no open session before) from now until `close`, for a
   * garbage collector that marks roots held while it sweeps. Memory grows with the CIDs recorded
   * and not yet taken, and only while the watcher is open.
   */
  watchHolds (): HoldWatcher {
    let recorded: CID[] = []
    const watchers = this.watchers
    watchers.add(recorded)
    return {
      take: () => {
        const out = recorded
        watchers.delete(recorded)
        recorded = []
        watchers.add(recorded)
        return out
      },
      get size () { return recorded.length },
      close: () => {
        watchers.delete(recorded)
        recorded = []
      }
    }
  }

  /** Size of the content from its root block alone. */
  async stat (cid: CID | string, options: AbortOptions = {}): Promise<{ size: number }> {
    return { size: await contentSize(toCid(cid), this.blockstore, options) }
  }
}

class Session implements WriteSession {
  private held: Set<string> | undefined = new Set()

  constructor (private readonly holds: Map<string, { cid: CID, sessions: number }>, private readonly watchers: Set<CID[]>) {}

  get closed (): boolean {
    return this.held === undefined
  }

  hold (cid: CID | string): void {
    if (this.held === undefined) throw new Error('WriteSession is closed')
    const parsed = toCid(cid)
    const key = parsed.toString()
    if (this.held.has(key)) return
    this.held.add(key)
    const entry = this.holds.get(key)
    if (entry !== undefined) {
      entry.sessions++
      return
    }
    this.holds.set(key, { cid: parsed, sessions: 1 })
    for (const recorded of this.watchers) recorded.push(parsed)
  }

  close (): void {
    if (this.held === undefined) return
    for (const key of this.held) {
      const entry = this.holds.get(key)
      if (entry === undefined) continue
      if (--entry.sessions === 0) this.holds.delete(key)
    }
    this.held = undefined
  }
}

/** `target` with every put held by `session` first (the put may find the block present). */
function holding (target: ImportTarget & ReadTarget, session: Pick<WriteSession, 'hold'> | undefined): ImportTarget & ReadTarget {
  if (session === undefined) return target
  const held: ImportTarget & ReadTarget = {
    put: async (cid, bytes, options) => {
      session.hold(cid)
      return await target.put(cid, bytes, options)
    },
    get: target.get.bind(target)
  }
  if (target.flush !== undefined) held.flush = target.flush.bind(target)
  return held
}

function toCid (cid: CID | string): CID {
  return typeof cid === 'string' ? CID.parse(cid) : cid
}
