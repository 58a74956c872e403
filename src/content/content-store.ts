import { code as DAG_PB, decode as decodeNode, type PBNode } from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { bytesKey } from './bytes.js'
import { exportCar } from './car-export.js'
import { importCar } from './car-import.js'
import { composeContent } from './compose.js'
import { contentSize, exportContent } from './export.js'
import { isSweepable } from './gc.js'
import { COPIES_PUT_BYTES, copiesPutBytes } from './leaves.js'
import { importContent } from './import.js'
import { linkHashes } from './link-hashes.js'
import { cidProfile } from './profiles.js'
import { verifying } from './verify.js'
import type { CarExportOptions } from './car-export.js'
import type { CarReadTarget, ImportedCar } from './car-import.js'
import type { ComposePart, ComposedContent } from './compose.js'
import type { ContentChunks, ExportOptions, ReadTarget } from './export.js'
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

export interface VerifiedReadOptions extends AbortOptions {
  /**
   * Milliseconds each block may take to arrive (default 30,000): a networked store may search
   * the network for a block it does not have. A block later than that throws BlockTimeoutError.
   */
  blockTimeoutMs?: number
}

export interface VerifiedCatOptions extends CatOptions, VerifiedReadOptions {
  /**
   * Protect the content until the session closes, for a commit that will reference it: `cid` is
   * held, and on a blockstore that garbage collection sweeps every block is also put again as it
   * is read (a put is atomic against the sweep's delete and makes the block recent), then flushed
   * once the last byte has been returned. A block the sweep deleted before it was read is a
   * NotFoundError, never a silently broken DAG.
   */
  session?: Pick<WriteSession, 'hold'>
}

const DEFAULT_BLOCK_TIMEOUT_MS = 30_000

/**
 * Object bytes as UnixFS DAGs in a blockstore. Memory use of `add` and `cat` is a few chunks,
 * whatever the object size.
 */
export class ContentStore implements HeldRoots {
  readonly profile: CidProfileName
  private readonly blockstore: ImportTarget & ReadTarget
  private readonly writeConcurrency: number
  private readonly readAhead: number
  /** Whether garbage collection may sweep the blockstore (see catVerified). */
  private readonly sweepable: boolean
  /** Held CIDs by `holdKey`, with the number of open sessions holding each. */
  private readonly holds = new Map<string, { cid: CID, sessions: number }>()
  private readonly watchers = new Set<CID[]>()

  constructor (init: ContentStoreInit) {
    this.blockstore = init.blockstore
    this.profile = init.profile ?? 'unixfs-v1-2025'
    cidProfile(this.profile) // reject an unknown name now, not on the first upload
    this.writeConcurrency = init.writeConcurrency ?? 4
    this.readAhead = init.readAhead ?? 4
    this.sweepable = isSweepable(init.blockstore)
  }

  /**
   * Import `source` and return its root CID (the one `ipfs add` gives under the profile) and its
   * size in bytes. Resolves only once every block is stored and flushed, so the caller may commit
   * metadata. If `source` throws, rejects with the same error; an aborted signal rejects with its
   * reason. Either way no CID is returned and the blocks already written are garbage for GC.
   */
  async add (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: AddOptions = {}): Promise<ImportedContent> {
    return importContent(source, holding(this.blockstore, options.session, 'encoded here'), {
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
    return composeContent(parts, holding(this.blockstore, options.session, 'encoded here'), {
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
  cat (cid: CID | string, options: CatOptions = {}): ContentChunks {
    const exportOptions: ExportOptions = { ...options, readAhead: this.readAhead }
    return exportContent(toCid(cid), this.blockstore, exportOptions)
  }

  /**
   * `cat` for content this gateway did not write (a CID a client names): every block is checked
   * against its CID before any of its bytes are returned. A block that does not match throws
   * BlockMismatchError; one hashed with a function other than sha2-256, sha2-512 or identity
   * throws UnsupportedContentError; a missing block, the blockstore's NotFoundError; a block that
   * takes longer than `blockTimeoutMs`, BlockTimeoutError. Each may come after some bytes were
   * returned. With a `session`, the content is protected for a commit (see VerifiedCatOptions).
   */
  async * catVerified (cid: CID | string, options: VerifiedCatOptions = {}): AsyncGenerator<Uint8Array> {
    const root = toCid(cid)
    options.session?.hold(root)
    const refresh = options.session !== undefined && this.sweepable
    const target = verifying(this.blockstore, {
      blockTimeoutMs: options.blockTimeoutMs ?? DEFAULT_BLOCK_TIMEOUT_MS,
      refresh: refresh ? this.blockstore : undefined
    })
    yield * exportContent(root, target, { offset: options.offset, length: options.length, signal: options.signal, readAhead: this.readAhead })
    if (refresh && this.blockstore.flush !== undefined && target.refreshed.length > 0) {
      await this.blockstore.flush(target.refreshed, { signal: options.signal })
    }
  }

  /**
   * `stat` for content this gateway did not write: the root block is verified and bounded in
   * time as in `catVerified`. Throws UnsupportedContentError for anything but a UnixFS file or
   * raw block.
   */
  async statVerified (cid: CID | string, options: VerifiedReadOptions = {}): Promise<{ size: number }> {
    const target = verifying(this.blockstore, { blockTimeoutMs: options.blockTimeoutMs ?? DEFAULT_BLOCK_TIMEOUT_MS })
    return { size: await contentSize(toCid(cid), target, { signal: options.signal }) }
  }

  /**
   * A CAR v1 of the DAG under `cid`, blocks in depth-first order (see exportCar). Resolves once
   * the root block is read (a missing root rejects with the blockstore's NotFoundError); the
   * stream then reads one block at a time as it is consumed.
   */
  async exportCar (cid: CID | string, options: Omit<CarExportOptions, 'readAhead'> = {}): Promise<AsyncGenerator<Uint8Array>> {
    return await exportCar(toCid(cid), this.blockstore, { ...options, readAhead: this.readAhead })
  }

  /**
   * Store the blocks of a CAR v1 whose one root is a UnixFS file and return that root and the
   * file's size; every block is verified against its CID and the DAG under the root must be
   * complete (see importCar). The session protects the root and every block put (see `holding`). A bad CAR rejects
   * with InvalidCarError; its blocks already written are garbage for GC.
   */
  async importCar (source: AsyncIterable<Uint8Array>, options: Omit<AddOptions, 'profile'> = {}): Promise<ImportedCar> {
    return await importCar(source, holding(this.blockstore, options.session, 'from the client'), this.blockstore as CarReadTarget, {
      holdRoot: options.session === undefined ? undefined : (cid) => { options.session?.hold(cid) },
      writeConcurrency: this.writeConcurrency,
      signal: options.signal
    })
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
    const key = holdKey(parsed)
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

  /**
   * Stop holding the CID whose `holdKey` is `key` here (a no-op when this session does not hold
   * it): for a block now reached through a held node that is already in the store, which protects
   * it as well (see `holding`).
   */
  releaseKey (key: string): void {
    if (this.held === undefined) return
    if (!this.held.delete(key)) return
    const entry = this.holds.get(key)
    if (entry !== undefined && --entry.sessions === 0) this.holds.delete(key)
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

/**
 * `target` with every put held by `session` first (the put may find the block present).
 *
 * Once a dag-pb node is in the store, the blocks it links to are released again: garbage
 * collection marks everything under a held root, so the node protects them from then on, and what
 * a session holds stays a few levels of the tree instead of growing by a CID and its map entries
 * for every block of the object (3 MB per GiB of a PUT). Every block is still held from before its
 * write until its parent is readable, and a collection that runs meanwhile has recorded each hold
 * (gc.ts), so nothing is unprotected in between.
 */
function holding (target: ImportTarget & ReadTarget, session: Pick<WriteSession, 'hold'> | undefined, nodes: NodeOrigin): ImportTarget & ReadTarget {
  if (session === undefined) return target
  const release = session instanceof Session ? session : undefined
  const held: ImportTarget & ReadTarget = {
    put: async (cid, bytes, options) => {
      session.hold(cid)
      const stored = await target.put(cid, bytes, options)
      if (release !== undefined && cid.code === DAG_PB && bytes instanceof Uint8Array) releaseLinks(release, bytes, nodes)
      return stored
    },
    get: target.get.bind(target)
  }
  if (target.flush !== undefined) held.flush = target.flush.bind(target)
  if (copiesPutBytes(target)) Object.defineProperty(held, COPIES_PUT_BYTES, { value: true })
  return held
}

/**
 * Where the dag-pb nodes a `holding` target is given come from: encoded here by the dag-pb codec
 * (imports and compositions), or sent by a client (CAR uploads), verified against their CIDs but
 * not checked as dag-pb.
 */
type NodeOrigin = 'encoded here' | 'from the client'

/**
 * Releases the blocks a dag-pb node links to; bytes that do not decode release nothing. The links
 * of a node encoded here are read without decoding it: a parent of 1,024 leaves decoded made 1,024
 * CIDs at once, about 1 KB of old-generation garbage per leaf of a large PUT (bench/WRITE-PATH.md,
 * round eight). A client's node goes through the codec, as garbage collection's marking does: a
 * node the codec refuses protects nothing under it there, so it must release nothing here.
 */
function releaseLinks (session: Session, bytes: Uint8Array, nodes: NodeOrigin): void {
  if (nodes === 'encoded here') {
    for (const hash of linkHashes(bytes) ?? []) session.releaseKey(bytesKey(hash))
    return
  }
  let node: PBNode
  try {
    node = decodeNode(bytes)
  } catch {
    return
  }
  for (const link of node.Links) session.releaseKey(holdKey(link.Hash))
}

/**
 * A held CID's key: its bytes (`bytesKey`). `cid.toString()` builds base32 a character at a time
 * and caches it on the CID through a WeakMap; for the leaves a large PUT holds until their parent
 * is written, that was about 3 KB of garbage per 1 MiB block that lived long enough to reach V8's
 * old generation (bench/WRITE-PATH.md, round eight).
 */
function holdKey (cid: CID): string {
  return bytesKey(cid.bytes)
}

function toCid (cid: CID | string): CID {
  return typeof cid === 'string' ? CID.parse(cid) : cid
}
