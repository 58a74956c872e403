import type { AbortOptions } from '../types.js'
import type { ChangeOptions } from './jobs.js'

/**
 * Pin requests the gateway serves as a Pinning Service API server (src/federation/pinning-server.ts):
 * "keep this DAG", asked by a client that holds a bearer token. A pin that is `pinned` holds one
 * reference on its CID in the same reference counts object versions use, so garbage collection
 * keeps its DAG (`refCount` and `referencedCids` include it); a pin in any other state holds none.
 *
 * - queued: stored, its fetch job enqueued
 * - pinning: the job is fetching the DAG
 * - pinned: the whole DAG is local and referenced
 * - failed: given up (`info` says why)
 */
export type PinState = 'queued' | 'pinning' | 'pinned' | 'failed'

/** How a name filter compares: exact or substring, case-sensitive or not (`i…`). */
export type PinNameMatch = 'exact' | 'iexact' | 'partial' | 'ipartial'

export interface PinRecord {
  /** Unique, opaque, chosen by the caller (the server's id generator). */
  requestId: string
  /** The principal that created the pin (its token's); only it sees the pin. */
  owner: string
  /** Root of the DAG to keep, as the client gave it. */
  cid: string
  name?: string
  /** Multiaddrs of peers the client says provide the DAG. */
  origins: string[]
  /** The client's string key/values. */
  meta: Record<string, string>
  status: PinState
  /**
   * When the request entered the store, to the millisecond. Unique among the owner's pins (see
   * `createPin`): clients page with `before` set to the oldest `created` they were given.
   */
  created: Date
  updated: Date
  /** Why a pin failed, how big its DAG is, …: string key/values for the client. */
  info?: Record<string, string>
}

export interface PinStatusOptions extends ChangeOptions {
  /** Replaces the pin's `info` (left as it is when absent). */
  info?: Record<string, string>
  /** Only when the pin is in one of these states now (a compare-and-set); any state when absent. */
  from?: PinState[]
  /** The `updated` time to record. Default: the store's clock. */
  now?: Date
}

export interface PinListOptions extends AbortOptions {
  /** Only this principal's pins. */
  owner?: string
  /** Only pins of any of these CIDs. */
  cids?: string[]
  /** Only pins whose name matches this under `match`; a pin without a name matches no filter. */
  name?: string
  /**
   * exact and partial (substring) compare code units; iexact and ipartial compare after
   * JavaScript's `toLowerCase()` of both sides, the same in every store. Default exact.
   */
  match?: PinNameMatch
  /** Only pins in any of these states. Default: every state. */
  status?: PinState[]
  /** Only pins created strictly before this instant. */
  before?: Date
  /** Only pins created strictly after this instant. */
  after?: Date
  /** Only pins whose `meta` holds every one of these key/values. */
  meta?: Record<string, string>
  /** At most this many results (>= 1; below 1 gives none, and still the count). */
  limit: number
}

export interface PinList {
  /** Every pin that matches, however many `results` holds. */
  count: number
  /** A page of them: newest `created` first, then by requestId. */
  results: PinRecord[]
}

export interface PinDeleteResult {
  /** The pin removed, if there was one. */
  deleted?: PinRecord
  /** CIDs whose reference count reached zero through this change. */
  released: string[]
}

/** The error `createPin` and `replacePin` reject with when a pin with the new requestId exists. */
export function pinExists (requestId: string): Error {
  return Object.assign(new Error(`A pin with requestId ${JSON.stringify(requestId)} exists`), { code: 'ERR_PIN_EXISTS' })
}

/**
 * What a store keeps of pin requests. Every method is one transaction; the changing ones take
 * `ChangeOptions`, so a pin's fetch job is enqueued with the pin, and jobs for a CID released
 * (`jobsOnRelease`) with the release. A call that changes nothing (false, undefined, nothing
 * deleted) enqueues nothing either.
 */
export interface PinStore {
  /**
   * Stores a new pin and returns it as stored. When another pin of the same owner already has
   * this `created` millisecond, the new pin's is moved forward one millisecond at a time until it
   * is unique (pagination by `before` needs it). A pin created `pinned` takes its reference at once.
   * Rejects with code 'ERR_PIN_EXISTS', changing nothing, when the requestId is taken.
   *
   * @example
   * const stored = await store.createPin(pin, { jobs: [{ kind: 'pin', key: pin.requestId }] })
   */
  createPin(pin: PinRecord, options?: ChangeOptions): Promise<PinRecord>

  /** The pin, or undefined when there is none with that requestId. */
  getPin(requestId: string, options?: AbortOptions): Promise<PinRecord | undefined>

  /**
   * Sets a pin's status (and `info`, when given) and its `updated` time. Becoming `pinned` takes
   * one reference on its CID; leaving `pinned` releases it. False, changing nothing, when there is
   * no such pin or its status is not one of `options.from`.
   *
   * @example
   * // Only a pin still being fetched may become pinned: one deleted meanwhile is left alone.
   * if (!await store.setPinStatus(id, 'pinned', { from: ['pinning'] })) return
   */
  setPinStatus(requestId: string, status: PinState, options?: PinStatusOptions): Promise<boolean>

  /**
   * Removes a pin, releasing its reference if it held one. Deleting an absent pin is not an
   * error: `deleted` is undefined. Repeating a successful call finds nothing.
   */
  deletePin(requestId: string, options?: ChangeOptions): Promise<PinDeleteResult>

  /**
   * Replaces pin `oldRequestId` by `pin` in one transaction (the spec's replace: remove and add
   * without a moment where blocks both need are unreferenced). `pin.status` is not used: when the
   * old pin was `pinned` with the same CID, the new one is stored `pinned` and the reference
   * carries over (the count never drops); otherwise the new one is `queued` and the old one's
   * reference, if any, is released. `created` is made unique as in `createPin`. Returns the new
   * record as stored; undefined, changing nothing, when there is no pin `oldRequestId` or it
   * belongs to another owner than `pin.owner`.
   */
  replacePin(oldRequestId: string, pin: PinRecord, options?: ChangeOptions): Promise<PinRecord | undefined>

  /**
   * Pins matching every filter given, newest first. With `owner` the store reads one index range
   * (owner, created); `count` costs a pass over the matches.
   */
  listPins(options: PinListOptions): Promise<PinList>
}

/** `name` as the case-insensitive matches compare it. */
export function foldName (name: string): string {
  return name.toLowerCase()
}
