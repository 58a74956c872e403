/**
 * The gateway's short in-process history for the dashboard: one slot per `intervalSeconds`, the last
 * `size` of them. There are no timers: a slot belongs to the interval `floor(now / interval)` and is
 * (re)claimed lazily when a record or a read finds it holds an older interval, so a quiet gateway
 * does no work and a gap in traffic reads back as zero-filled intervals.
 *
 * Memory is bounded whatever the traffic: `size` slots, each with a fixed log-scale latency bucket
 * array (see {@link LATENCY_RELATIVE_ERROR}) and one counter per operation name (the AWS action names,
 * a small fixed set). Slots are allocated once and reused, so the hot path allocates nothing in the
 * steady state.
 */

import type { CheckResult } from './readiness.js'

export interface HistoryInit {
  /** Length of one sample, in seconds. Default 5. */
  intervalSeconds?: number
  /** How many samples are kept (and returned by `samples()`). Default 360 (30 minutes at 5 s). */
  size?: number
  /** The clock, in ms since the epoch. Default `Date.now`. */
  now?: () => number
}

/** One finished request, as `gateway.handle` saw it. */
export interface RequestRecord {
  /** AWS action name (`GetObject`), or `unknown`. */
  operation: string
  /** HTTP status sent. 4xx and 5xx count as errors, 5xx also as server errors. */
  status: number
  durationSeconds: number
  /** Request body bytes received. */
  receivedBytes: number
  /** Response body bytes sent. */
  sentBytes: number
}

/** One interval of the dashboard's history (the `samples` of {@link DashboardData}). */
export interface DashboardSample {
  /** Start of the interval, ms since the epoch. */
  t: number
  /** Requests finished in the interval, per operation. */
  requests: Record<string, number>
  /** Of those, answered with status >= 400, per operation (operations without errors are absent). */
  errors: Record<string, number>
  /** Requests answered with status >= 500. */
  serverErrors: number
  /** Median and 99th percentile duration in seconds over the interval's requests; null when there were none. */
  p50: number | null
  p99: number | null
  receivedBytes: number
  sentBytes: number
  /** The most requests in flight at once during the interval. */
  inFlight: number
  /** Block cache lookups answered from the cache / not, in the interval. */
  cacheHits: number
  cacheMisses: number
}

/** One dependency's last readiness check, as `/-/ready` reports it. */
export type DashboardDependency = CheckResult

/** The JSON of `GET /-/dashboard/data`. */
export interface DashboardData {
  /** The gateway's package version. */
  version: string
  /** When the data was taken, ms since the epoch. */
  now: number
  intervalSeconds: number
  /** Oldest first. */
  samples: DashboardSample[]
  dependencies: DashboardDependency[]
  pins: { pinned: number, failed: number }
  gc: {
    /** ms since the epoch of the last gc run / last successful one, null when none since start. */
    lastRun: number | null
    lastSuccess: number | null
    lastResult: 'ok' | 'error' | null
    freedBytes: number
    /** Missing and corrupt blocks of referenced objects found by the last gc run. */
    missingBlocks: number
  }
  /** `MetadataStore.stats()` totals, or null when the store keeps none. */
  storage: { buckets: number, objects: number, bytes: number, uploads: number } | null
}

/** Smallest bucketed duration (100 µs); anything shorter shares the first bucket. */
const LATENCY_MIN_SECONDS = 1e-4
/** Largest bucketed duration (10 min); anything longer shares the last bucket. */
const LATENCY_MAX_SECONDS = 600
/** Each bucket spans [x, x * LATENCY_GROWTH). */
const LATENCY_GROWTH = 1.2
const LOG_GROWTH = Math.log(LATENCY_GROWTH)
/** Log buckets between min and max, plus one below min (index 0) and one at or above max (the last). */
const LOG_BUCKETS = Math.ceil(Math.log(LATENCY_MAX_SECONDS / LATENCY_MIN_SECONDS) / LOG_GROWTH)
const BUCKETS = LOG_BUCKETS + 2

/**
 * Worst relative error of a p50 / p99 estimate against the exact nearest-rank quantile of the
 * interval's durations, for durations between 100 µs and 10 min: the estimate is the geometric middle
 * of the 1.2x bucket holding that rank, so it is within a factor sqrt(1.2) of the true value, i.e.
 * off by at most sqrt(1.2) - 1 ≈ 9.5%. Estimates are also clamped to the interval's exact minimum and
 * maximum, so a quantile outside that range (or a lone request) is never reported beyond what was
 * seen; below 100 µs the estimate is at most 100 µs, and at 10 min or more it is the longest seen.
 */
export const LATENCY_RELATIVE_ERROR = Math.sqrt(LATENCY_GROWTH) - 1

function bucketOf (seconds: number): number {
  if (!(seconds >= LATENCY_MIN_SECONDS)) return 0 // also NaN and negatives
  if (seconds >= LATENCY_MAX_SECONDS) return BUCKETS - 1
  const i = Math.floor(Math.log(seconds / LATENCY_MIN_SECONDS) / LOG_GROWTH) + 1
  return i < 1 ? 1 : i > LOG_BUCKETS ? LOG_BUCKETS : i
}

/** The value a bucket stands for: the geometric middle of its range (the upper edge of the one below 100 µs). */
function bucketValue (i: number): number {
  if (i === 0) return LATENCY_MIN_SECONDS
  return LATENCY_MIN_SECONDS * Math.pow(LATENCY_GROWTH, i - 1 + 0.5)
}

class Slot {
  /** The interval this slot holds: floor(t / intervalMs); -1 when never used. */
  index = -1
  readonly requests = new Map<string, number>()
  readonly errors = new Map<string, number>()
  serverErrors = 0
  count = 0
  readonly latency = new Uint32Array(BUCKETS)
  min = Infinity
  max = -Infinity
  receivedBytes = 0
  sentBytes = 0
  /** Requests in flight when the slot was claimed (the level carried in from before). */
  startInFlight = 0
  maxInFlight = 0
  cacheHits = 0
  cacheMisses = 0

  reset (index: number, inFlight: number): void {
    this.index = index
    this.requests.clear()
    this.errors.clear()
    this.serverErrors = 0
    this.count = 0
    this.latency.fill(0)
    this.min = Infinity
    this.max = -Infinity
    this.receivedBytes = 0
    this.sentBytes = 0
    this.startInFlight = inFlight
    this.maxInFlight = inFlight
    this.cacheHits = 0
    this.cacheMisses = 0
  }

  /** Nearest-rank quantile estimate (rank ceil(q * count)), clamped to [min, max]. */
  quantile (q: number): number | null {
    if (this.count === 0) return null
    const rank = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.latency[i]
      if (seen >= rank) return i === BUCKETS - 1 ? this.max : Math.min(this.max, Math.max(this.min, bucketValue(i)))
    }
    return this.max
  }
}

export class RequestHistory {
  readonly intervalSeconds: number
  readonly size: number
  private readonly intervalMs: number
  private readonly now: () => number
  private readonly slots: Slot[]
  /** Newest interval seen: a clock that steps back keeps recording into it rather than into the past. */
  private latest = -Infinity
  /** Requests in flight, as last noted. */
  private inFlight = 0

  constructor (init: HistoryInit = {}) {
    this.intervalSeconds = init.intervalSeconds ?? 5
    this.size = init.size ?? 360
    this.now = init.now ?? Date.now
    if (!(this.intervalSeconds > 0)) throw new RangeError('intervalSeconds must be > 0')
    if (!Number.isInteger(this.size) || this.size < 1) throw new RangeError('size must be a positive integer')
    this.intervalMs = this.intervalSeconds * 1000
    this.slots = []
  }

  recordRequest (r: RequestRecord): void {
    const slot = this.current()
    slot.requests.set(r.operation, (slot.requests.get(r.operation) ?? 0) + 1)
    if (r.status >= 400) {
      slot.errors.set(r.operation, (slot.errors.get(r.operation) ?? 0) + 1)
      if (r.status >= 500) slot.serverErrors++
    }
    const d = r.durationSeconds
    slot.count++
    slot.latency[bucketOf(d)]++
    if (d < slot.min) slot.min = d
    if (d > slot.max) slot.max = d
    slot.receivedBytes += r.receivedBytes
    slot.sentBytes += r.sentBytes
  }

  /** The number of requests in flight now; call whenever it changes. */
  noteInFlight (n: number): void {
    const slot = this.current()
    this.inFlight = n
    if (n > slot.maxInFlight) slot.maxInFlight = n
  }

  /** A block cache lookup that was answered from the cache (`hit`) or not; `count` lookups alike at once. */
  recordCache (hit: boolean, count = 1): void {
    const slot = this.current()
    if (hit) slot.cacheHits += count
    else slot.cacheMisses += count
  }

  /**
   * Exactly the last `size` intervals up to and including the current one, oldest first. Intervals
   * without activity have zero counts and null quantiles; their `inFlight` is the level carried
   * over from before (requests still running through a quiet interval are still in flight).
   */
  samples (): DashboardSample[] {
    const newest = this.index()
    const out = new Array<DashboardSample>(this.size)
    let carried = this.inFlight
    for (let k = this.size - 1; k >= 0; k--) {
      const index = newest - (this.size - 1 - k)
      const slot = this.slots[this.position(index)]
      const t = index * this.intervalMs
      if (slot === undefined || slot.index !== index) {
        out[k] = {
          t, requests: {}, errors: {}, serverErrors: 0, p50: null, p99: null,
          receivedBytes: 0, sentBytes: 0, inFlight: carried, cacheHits: 0, cacheMisses: 0,
        }
        continue
      }
      out[k] = {
        t,
        requests: Object.fromEntries(slot.requests),
        errors: Object.fromEntries(slot.errors),
        serverErrors: slot.serverErrors,
        p50: slot.quantile(0.5),
        p99: slot.quantile(0.99),
        receivedBytes: slot.receivedBytes,
        sentBytes: slot.sentBytes,
        inFlight: slot.maxInFlight,
        cacheHits: slot.cacheHits,
        cacheMisses: slot.cacheMisses,
      }
      carried = slot.startInFlight
    }
    return out
  }

  /** The current interval's index, never before one already recorded into. */
  private index (): number {
    const index = Math.floor(this.now() / this.intervalMs)
    if (index > this.latest) this.latest = index
    return this.latest
  }

  private position (index: number): number {
    const p = index % this.size
    return p < 0 ? p + this.size : p
  }

  private current (): Slot {
    const index = this.index()
    const p = this.position(index)
    let slot = this.slots[p]
    if (slot === undefined) {
      slot = new Slot()
      this.slots[p] = slot
    }
    if (slot.index !== index) slot.reset(index, this.inFlight)
    return slot
  }
}
