import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import { collectBytes } from '../content/bytes.js'
import type { SweepableBlockstore } from '../content/gc.js'
import type { Pinner } from '../content/pins.js'
import { BlockMismatchError, verifyBlock } from '../content/verify.js'
import { blockstoreBackend } from '../observability/instrument.js'
import type { AbortOptions } from '../types.js'
import { COPIES_PUT_BYTES, copiesPutBytes } from '../content/leaves.js'

type BlockInput = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

/** Why a block had to come from a replica. */
export type FaultReason = 'missing' | 'corrupt'

export interface RepairEvent {
  cid: CID
  reason: FaultReason
  /** Size of the block fetched. */
  bytes: number
  /** Set when the block was served but could not be written back (the next read fetches it again). */
  writeError?: unknown
}

export interface MissEvent {
  cid: CID
  reason: FaultReason
  /** Why no replica supplied it (e.g. code ERR_BLOCK_UNAVAILABLE). */
  error: unknown
}

export interface FailoverBlockstoreInit {
  /**
   * Fetches a block from elsewhere (e.g. `IpfsNode.fetchBlock`: other replicas over bitswap),
   * resolving to its bytes or rejecting when no one has it. Called without the reader's signal, so
   * that a repair shared by several readers outlives any one of them: it must time out by itself.
   */
  fetchBlock: (cid: CID, options?: AbortOptions) => Promise<Uint8Array>
  /** Hash every block read against its CID and repair the ones that differ (default true). */
  verify?: boolean
  /** A missing or corrupt block was fetched, served and written back. */
  onRepair?: (event: RepairEvent) => void
  /** A missing or corrupt block could not be fetched: the read failed. */
  onMiss?: (event: MissEvent) => void
}

/**
 * Optional capabilities of the store underneath, passed through when it has them: the gateway
 * looks for them by name (flush before commits, listBlocks / deleteIfOlder for GC, pins,
 * readiness and capacity).
 */
const PASSED_THROUGH = ['flush', 'listBlocks', 'listStrays', 'deleteStray', 'deleteIfOlder', 'compact', 'pin', 'unpin', 'pinned', 'ping', 'capacity'] as const
/** Properties of a CachedBlockstore underneath that the gateway's metrics read. */
const PROPERTIES = ['cache', 'metrics'] as const

/**
 * Read repair in front of any blockstore. A block that is missing from the store underneath, or
 * (with `verify`) whose bytes do not hash to its CID, is fetched with `fetchBlock`, checked,
 * written back (a corrupt one deleted first, so that a store that skips a put of a present block
 * replaces it) and returned: readers see the right bytes or an error, never corrupt data.
 *
 * When the block cannot be fetched, a missing block rejects with the store's own NotFoundError, a
 * corrupt one with a BlockMismatchError of code ERR_BLOCK_CORRUPT (the fetch error as `cause`).
 * Concurrent reads of one faulty block share one fetch and one write. `has` stays local: a block a
 * replica could supply is not "had". Everything else goes straight to the store underneath.
 *
 * Verification hashes every block read: SHA-256 over every byte served, about 0.75 ms per MiB on
 * one core (measured: a 64 MiB object read from a page-cached FsBlockstore took 60 ms plain, 123 ms
 * verified). `verify: false` repairs missing blocks only.
 */
export class FailoverBlockstore implements Blockstore {
  /** The store being repaired. */
  readonly inner: Blockstore
  /** What metrics call this store: the store underneath's name. */
  readonly metricsBackend: string
  private readonly init: FailoverBlockstoreInit
  private readonly verify: boolean
  /** Repairs in flight, by multihash. */
  private readonly repairs = new Map<string, Promise<Uint8Array>>()

  // Present exactly when the store underneath has them (see PASSED_THROUGH); `readInto` repairs too.
  declare readonly flush?: (cids: Iterable<CID>, options?: AbortOptions) => Promise<void>
  declare readonly listBlocks?: SweepableBlockstore['listBlocks']
  declare readonly deleteIfOlder?: SweepableBlockstore['deleteIfOlder']
  declare readonly listStrays?: SweepableBlockstore['listStrays']
  declare readonly deleteStray?: SweepableBlockstore['deleteStray']
  declare readonly compact?: SweepableBlockstore['compact']
  declare readonly pin?: Pinner['pin']
  declare readonly unpin?: Pinner['unpin']
  declare readonly pinned?: Pinner['pinned']
  declare readonly ping?: (options?: AbortOptions) => Promise<void>
  declare readonly capacity?: (options?: AbortOptions) => Promise<{ totalBytes: number, freeBytes: number }>
  declare readonly readInto?: ReadInto

  constructor (inner: Blockstore, init: FailoverBlockstoreInit) {
    this.inner = inner
    this.init = init
    if (copiesPutBytes(inner)) Object.defineProperty(this, COPIES_PUT_BYTES, { value: true })
    this.verify = init.verify ?? true
    this.metricsBackend = blockstoreBackend(inner)
    const optional = inner as unknown as Record<string, unknown>
    for (const name of PASSED_THROUGH) {
      const method = optional[name]
      // configurable, so that a wrapper (the gateway's metrics) may return its own version
      if (typeof method === 'function') Object.defineProperty(this, name, { value: method.bind(inner), configurable: true })
    }
    for (const name of PROPERTIES) {
      if (optional[name] !== undefined) Object.defineProperty(this, name, { get: () => optional[name], configurable: true })
    }
    const readInto = optional.readInto
    if (typeof readInto === 'function') {
      Object.defineProperty(this, 'readInto', {
        configurable: true,
        value: async (cid: CID, buffer: Uint8Array, expected?: number, options?: AbortOptions): Promise<Uint8Array> =>
          await this.readIntoRepairing(readInto as ReadInto, cid, buffer, expected, options),
      })
    }
  }

  async * get (cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    options?.signal?.throwIfAborted()
    let bytes: Uint8Array
    try {
      bytes = await collectBytes(this.inner.get(cid, options), options)
    } catch (err) {
      if (!isNotFound(err)) throw err
      yield await this.repair(cid, 'missing', err, options)
      return
    }
    if (this.verify && !intact(cid, bytes)) {
      yield await this.repair(cid, 'corrupt', undefined, options)
      return
    }
    yield bytes
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) {
      options?.signal?.throwIfAborted()
      yield { cid, bytes: this.get(cid, options) }
    }
  }

  has (cid: CID, options?: AbortOptions): boolean | Promise<boolean> {
    return this.inner.has(cid, options)
  }

  put (cid: CID, bytes: BlockInput, options?: AbortOptions): CID | Promise<CID> {
    return this.inner.put(cid, bytes, options)
  }

  putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): Generator<CID> | AsyncGenerator<CID> {
    return this.inner.putMany(source, options)
  }

  delete (cid: CID, options?: AbortOptions): void | Promise<void> {
    return this.inner.delete(cid, options)
  }

  deleteMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): Generator<CID> | AsyncGenerator<CID> {
    return this.inner.deleteMany(source, options)
  }

  /** Every block of the store underneath, as it is: listing does not verify or repair. */
  getAll (options?: AbortOptions): Generator<Pair> | AsyncGenerator<Pair> {
    return this.inner.getAll(options)
  }

  async close (): Promise<void> {
    const close = (this.inner as unknown as Record<string, unknown>).close
    if (typeof close === 'function') await (close as () => Promise<void>).call(this.inner)
  }

  /** The store's `readInto` (FsBlockstore's pooled read), with the same repair as `get`. */
  private async readIntoRepairing (readInto: ReadInto, cid: CID, buffer: Uint8Array, expected?: number, options?: AbortOptions): Promise<Uint8Array> {
    let good: Uint8Array
    try {
      const block = await readInto.call(this.inner, cid, buffer, expected, options)
      if (!this.verify || intact(cid, block)) return block
      good = await this.repair(cid, 'corrupt', undefined, options)
    } catch (err) {
      if (!isNotFound(err)) throw err
      good = await this.repair(cid, 'missing', err, options)
    }
    // A block that does not fit is returned as is: the caller sees a size other than it expected.
    if (good.byteLength > buffer.byteLength || (expected !== undefined && good.byteLength > expected)) return good
    buffer.set(good)
    return buffer.subarray(0, good.byteLength)
  }

  /** The verified block from `fetchBlock`, written back; one fetch per block however many wait. */
  private async repair (cid: CID, reason: FaultReason, notFound: unknown, options?: AbortOptions): Promise<Uint8Array> {
    const key = Buffer.from(cid.multihash.bytes).toString('base64')
    let pending = this.repairs.get(key)
    if (pending === undefined) {
      pending = this.fetchAndWrite(cid, reason, notFound).finally(() => { this.repairs.delete(key) })
      this.repairs.set(key, pending)
    }
    return await untilAborted(pending, options?.signal)
  }

  private async fetchAndWrite (cid: CID, reason: FaultReason, notFound: unknown): Promise<Uint8Array> {
    let bytes: Uint8Array
    try {
      bytes = await this.init.fetchBlock(cid)
      verifyBlock(cid, bytes) // whatever `fetchBlock` promises, nothing unverified is written
    } catch (error) {
      report(this.init.onMiss, { cid, reason, error })
      if (reason === 'missing') throw notFound
      throw Object.assign(new BlockMismatchError(cid.toString()), { code: 'ERR_BLOCK_CORRUPT', cause: error })
    }
    let writeError: unknown
    try {
      if (reason === 'corrupt') await this.inner.delete(cid)
      await this.inner.put(cid, bytes)
      const flush = (this.inner as { flush?: (cids: CID[]) => Promise<void> }).flush
      if (typeof flush === 'function') await flush.call(this.inner, [cid])
    } catch (err) {
      writeError = err
    }
    report(this.init.onRepair, writeError === undefined ? { cid, reason, bytes: bytes.byteLength } : { cid, reason, bytes: bytes.byteLength, writeError })
    return bytes
  }
}

type ReadInto = (cid: CID, buffer: Uint8Array, expected?: number, options?: AbortOptions) => Promise<Uint8Array>

/**
 * Whether `bytes` hash to `cid`'s multihash. A hash function this gateway cannot compute (anything
 * but sha2-256, sha2-512 and identity) counts as a match: such a block cannot be checked, and
 * treating it as corrupt would replace good data.
 */
export function blockMatches (cid: CID, bytes: Uint8Array): boolean {
  try {
    verifyBlock(cid, bytes)
    return true
  } catch (err) {
    return (err as Error).name !== BlockMismatchError.NAME
  }
}

const intact = blockMatches

function isNotFound (err: unknown): boolean {
  const e = err as { name?: unknown, code?: unknown } | null
  return e?.name === 'NotFoundError' || e?.code === 'ERR_NOT_FOUND'
}

/** A callback's own failure must not fail the read it reports on. */
function report<E> (callback: ((event: E) => void) | undefined, event: E): void {
  try {
    callback?.(event)
  } catch {}
}

/** `promise`, or `signal`'s reason as soon as it aborts (the promise carries on for others). */
async function untilAborted<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return await promise
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => {
      onAbort = () => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
    })])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}
