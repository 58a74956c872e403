import type { CID } from 'multiformats/cid'
import type { AbortOptions } from '../types.js'

/**
 * Where a target put one CAR, as the target describes it: plain JSON (strings, numbers, booleans,
 * arrays and objects of them). The gateway stores it with the archive record and hands it back,
 * unchanged, to `get`, `delete` and `status`.
 */
export type ArchiveLocation = Record<string, unknown>

/** What a target says of one archived CAR (`status`). */
export interface ArchiveStatus {
  /** The target holds the whole CAR now. */
  stored: boolean
  /** Filecoin: the piece CID (CommP) of the CAR, or of each shard it was stored as. */
  pieces?: string[]
  /** Filecoin deals for the pieces, as the service reports them. */
  deals?: Array<{ piece: string, provider: string, dealId?: string, state: string }>
  /** Anything else the target reports, for operators. */
  detail?: Record<string, unknown>
}

/**
 * Cold storage for the content of archived object versions: one CAR v1 per root CID. A target is
 * used by the gateway's transition, restore and clean-up jobs, never by requests directly; every
 * method may be called again after a crash, so each is idempotent.
 *
 * Every method checks `options.signal` before any I/O and rejects with its reason on abort; a
 * target that is unreachable or refuses rejects with an error of its own (the job retries later).
 *
 * @example
 * const location = await target.put(cid, await content.exportCar(cid))
 * const car = await target.get(cid, location)   // verify every block before trusting it
 */
export interface ArchiveTarget {
  /** Names the target in archive records, logs and metrics (e.g. `s3:archive-bucket`); no secrets. */
  readonly name: string

  /**
   * Stores `car`, a CAR v1 whose single root is `cid` (the whole DAG of one object version), and
   * resolves once the target holds all of it durably, with where it is. `car` is read once, as a
   * stream: memory stays bounded by the target's own buffer whatever the size. Storing a CID that
   * is already stored is harmless (the same bytes again, or the first copy kept). On rejection the
   * caller records nothing; whatever the target kept of a failed put is left to a later put of the
   * same CID to replace.
   */
  put(cid: CID, car: AsyncIterable<Uint8Array>, options?: AbortOptions): Promise<ArchiveLocation>

  /**
   * The CAR stored for `cid` at `location`, as a stream. Resolves once the target starts answering;
   * rejects with an error whose `code` is 'ERR_NOT_FOUND' when the target has no such CAR. The bytes
   * are not trusted: the caller verifies every block against its CID before using any.
   */
  get(cid: CID, location: ArchiveLocation, options?: AbortOptions): Promise<AsyncIterable<Uint8Array>>

  /** Removes the CAR stored for `cid` at `location`. One already gone is not an error. */
  delete(cid: CID, location: ArchiveLocation, options?: AbortOptions): Promise<void>

  /** What the target reports of the CAR now (Filecoin: pieces and deals). Optional. */
  status?(cid: CID, location: ArchiveLocation, options?: AbortOptions): Promise<ArchiveStatus>

  /** Releases the target's resources (connections, agents). Repeating it is harmless. */
  close?(): Promise<void>
}

/** The error `get` rejects with when the target holds no CAR for the CID. */
export function archiveNotFound (cid: CID | string, target: string): Error {
  return Object.assign(new Error(`The archive target ${target} holds no CAR for ${cid.toString()}`), { code: 'ERR_NOT_FOUND' })
}
