import { CID } from 'multiformats/cid'
import { composeContent } from './compose.js'
import { contentSize, exportContent } from './export.js'
import { importContent } from './import.js'
import { cidProfile } from './profiles.js'
import type { ComposePart, ComposedContent } from './compose.js'
import type { ExportOptions, ReadTarget } from './export.js'
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
}

export interface ComposeOptions extends AbortOptions {
  profile?: CidProfileName
}

export interface CatOptions extends AbortOptions {
  offset?: number
  length?: number
}

/**
 * Object bytes as UnixFS DAGs in a blockstore. Memory use of `add` and `cat` is a few chunks,
 * whatever the object size.
 */
export class ContentStore {
  readonly profile: CidProfileName
  private readonly blockstore: ImportTarget & ReadTarget
  private readonly writeConcurrency: number
  private readonly readAhead: number

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
    return importContent(source, this.blockstore, {
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
    return composeContent(parts, this.blockstore, {
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

  /** Size of the content from its root block alone. */
  async stat (cid: CID | string, options: AbortOptions = {}): Promise<{ size: number }> {
    return { size: await contentSize(toCid(cid), this.blockstore, options) }
  }
}

function toCid (cid: CID | string): CID {
  return typeof cid === 'string' ? CID.parse(cid) : cid
}
