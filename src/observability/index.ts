import type { Blockstore } from 'interface-blockstore'
import type { AuditSink } from '../audit.js'
import type { CacheMetrics, BlockCache } from '../blockstores/cached.js'
import type { GcReport } from '../content/gc.js'
import type { ReconcileReport } from '../content/pins.js'
import type { MetadataStore, StoreStats } from '../metadata/metadata-store.js'
import type { AbortOptions } from '../types.js'
import { packageVersion } from '../version.js'
import { createAdminHandler, type AdminHandler } from './admin.js'
import { RequestHistory, type DashboardData } from './history.js'
import { blockstoreBackend, instrumentBlockstore, instrumentMetadata, metadataBackend } from './instrument.js'
import type { GatewayLogger } from './logger.js'
import { GatewayMetrics, type MetricsOptions } from './metrics.js'
import { blockstoreCheck, cacheCheck, metadataCheck, Readiness, type DependencyCheck } from './readiness.js'
import { RequestObserver } from './request-observer.js'

export interface ObservabilityInit {
  metrics?: boolean | MetricsOptions
  metricsToken?: string
  readinessTimeoutMs?: number
  logger: GatewayLogger
  audit?: AuditSink
  now: () => Date
}

/** How long store totals are reused between scrapes. */
const STATS_MAX_AGE_MS = 10_000

type Capable = Blockstore & {
  /** The store behind a CachedBlockstore: what readiness names as the blockstore. */
  inner?: Blockstore
  cache?: BlockCache
  metrics?: CacheMetrics
  capacity?: (options?: AbortOptions) => Promise<{ totalBytes: number, freeBytes: number }>
}

/**
 * A gateway's metrics, readiness, dashboard history and request observer, around its stores. The
 * gateway calls it where a request starts and ends and where gc and reconcile finish; nothing else
 * in the library counts or logs requests.
 */
export class Observability {
  readonly metrics?: GatewayMetrics
  readonly history = new RequestHistory()
  readonly observer: RequestObserver
  readonly readiness: Readiness
  readonly admin: AdminHandler
  private readonly gcState: DashboardData['gc'] = { lastRun: null, lastSuccess: null, lastResult: null, freedBytes: 0, missingBlocks: 0 }
  private readonly pinState = { pinned: 0, failed: 0 }
  /** Store totals, reused for a few seconds: a scrape costs the store at most one small query. */
  private readonly storeStats: () => Promise<StoreStats | undefined>

  constructor (private readonly init: ObservabilityInit, private readonly stores: { blockstore: Blockstore, metadata: MetadataStore, metadataBackend?: object }) {
    const options = init.metrics ?? true
    this.metrics = options === false ? undefined : new GatewayMetrics(options === true ? {} : options, packageVersion())
    const blockstore = stores.blockstore as Capable
    const metadata = stores.metadata
    this.storeStats = reusedFor(STATS_MAX_AGE_MS, async () => await metadata.stats?.())
    const cache = blockstore.cache
    const checks: DependencyCheck[] = [
      metadataCheck(stores.metadata, metadataBackend(stores.metadataBackend ?? stores.metadata)),
      blockstoreCheck(blockstore, blockstoreBackend(blockstore.inner ?? blockstore)),
    ]
    if (cache?.ping !== undefined) checks.push(cacheCheck(cache as Required<Pick<BlockCache, 'ping'>>, cache.kind ?? 'custom'))
    this.readiness = new Readiness(checks, { timeoutMs: init.readinessTimeoutMs, up: this.metrics?.dependencyUp, latency: this.metrics?.dependencyLatency })
    const cacheCounts = blockstore.metrics === undefined ? undefined : () => blockstore.metrics as CacheMetrics
    this.observer = new RequestObserver({ metrics: this.metrics, history: this.history, logger: init.logger, audit: init.audit, now: init.now, cacheCounts })
    this.admin = createAdminHandler({
      metrics: this.metrics,
      readiness: this.readiness,
      metricsToken: init.metricsToken,
      dashboardData: async () => await this.dashboardData(),
    })
    if (this.metrics !== undefined) {
      this.metrics.refreshDependencies = async () => await this.readiness.report()
      this.registerCollected(this.metrics, blockstore, cache)
    }
  }

  /** The blockstore with its calls timed (the store itself when metrics are off). */
  blockstore<B extends Blockstore> (store: B): B {
    const metrics = this.metrics
    if (metrics === undefined) return store
    return instrumentBlockstore(store, {
      duration: metrics.blockstoreDuration,
      errors: metrics.blockstoreErrors,
      pinOperations: metrics.pinOperations,
      pinned: (operation) => { this.pinState.pinned += operation === 'pin' ? 1 : -1; this.syncPins() },
      pinFailed: () => { this.pinState.failed++; this.syncPins() },
    })
  }

  /** The metadata store with its calls timed, labelled by the store underneath `backendOf`. */
  metadata (store: MetadataStore, backendOf: object = store): MetadataStore {
    const metrics = this.metrics
    if (metrics === undefined) return store
    return instrumentMetadata(store, { duration: metrics.metadataDuration, errors: metrics.metadataErrors }, backendOf)
  }

  reconciled (report: ReconcileReport | undefined, error?: unknown): void {
    if (report === undefined && error === undefined) return
    this.metrics?.reconcileRuns.inc({ result: error === undefined ? 'ok' : 'error' })
    if (report !== undefined) {
      this.pinState.pinned = report.total
      this.pinState.failed = 0
      this.syncPins()
    }
  }

  /** A background job run ended. */
  jobFinished (kind: string, outcome: string, ms: number): void {
    this.metrics?.jobsFinished.inc({ kind, outcome })
    this.metrics?.jobDuration.observe({ kind }, ms / 1000)
  }

  /** A block missing or corrupt was fetched from a replica and served (and, unless `writeError`, written back). */
  blockRepaired (reason: string, writeError?: unknown): void {
    this.metrics?.blockRepairs.inc({ reason, result: 'repaired' })
    if (writeError !== undefined) this.init.logger.warn({ reason, err: writeError }, 'a block fetched from a replica could not be written back')
  }

  /** A block missing or corrupt could not be fetched from any replica: the read failed. */
  blockLost (reason: string, error: unknown): void {
    this.metrics?.blockRepairs.inc({ reason, result: 'lost' })
    this.init.logger.error({ reason, err: error }, 'a block is missing or corrupt here and no replica supplied it')
  }

  /** Scrubbing found a block missing or corrupt. */
  scrubFinding (reason: string, result: string): void {
    this.metrics?.scrubFindings.inc({ reason, result })
    if (result === 'lost') this.init.logger.error({ reason }, 'scrubbing found a block missing or corrupt that no replica could supply')
  }

  /** Job counts by kind and state, read at scrape time (at most every 10 s). */
  watchJobs (count: () => Promise<Array<{ kind: string, state: string, count: number }>>): void {
    const metrics = this.metrics
    if (metrics === undefined) return
    const counts = reusedFor(STATS_MAX_AGE_MS, count)
    metrics.gauge('jobs', 'Background jobs in the queue, by kind and state (ready, leased, failed).', ['kind', 'state'], async (gauge) => {
      const list = await counts().catch(() => undefined)
      if (list === undefined) return
      gauge.reset()
      for (const { kind, state, count: n } of list) gauge.set({ kind, state }, n)
    })
  }

  gcFinished (report: GcReport | undefined, error?: unknown): void {
    const now = this.init.now().getTime()
    const damage = report === undefined ? 0 : report.missing.length + report.corrupt.length
    const ok = error === undefined && damage === 0
    this.gcState.lastRun = now
    this.gcState.lastResult = ok ? 'ok' : 'error'
    if (report !== undefined) {
      this.gcState.missingBlocks = damage
      this.gcState.freedBytes += report.freedBytes
    }
    if (ok) this.gcState.lastSuccess = now
    const metrics = this.metrics
    if (metrics === undefined) return
    metrics.gcRuns.inc({ result: ok ? 'ok' : 'error' })
    if (report !== undefined) {
      metrics.gcMissingBlocks.set(damage)
      if (report.freedBytes > 0) metrics.gcFreedBytes.inc(report.freedBytes)
    }
    if (ok) metrics.gcLastSuccess.set(now / 1000)
  }

  async dashboardData (): Promise<DashboardData> {
    const [report, storage] = await Promise.all([this.readiness.report(), this.storeStats().catch(() => undefined)])
    return {
      version: packageVersion(),
      now: Date.now(),
      intervalSeconds: this.history.intervalSeconds,
      samples: this.history.samples(),
      dependencies: report.checks,
      pins: { ...this.pinState },
      gc: { ...this.gcState },
      storage: storage ?? null,
    }
  }

  private syncPins (): void {
    this.metrics?.pins.set({ state: 'pinned' }, this.pinState.pinned)
    this.metrics?.pins.set({ state: 'failed' }, this.pinState.failed)
  }

  private registerCollected (metrics: GatewayMetrics, blockstore: Capable, cache: BlockCache | undefined): void {
    const totals: Array<[string, keyof StoreStats, string]> = [
      ['buckets', 'buckets', 'Buckets in the metadata store.'],
      ['stored_objects', 'objects', 'Object versions stored (delete markers excluded), as the store counts them.'],
      ['stored_bytes', 'bytes', 'Bytes of the object versions stored (delete markers excluded).'],
      ['multipart_uploads_in_progress', 'uploads', 'Multipart uploads created and neither completed nor aborted.'],
    ]
    for (const [name, field, help] of totals) {
      metrics.gauge(name, help, [], async (gauge) => {
        const stats = await this.storeStats().catch(() => undefined)
        if (stats !== undefined) gauge.set(stats[field])
      })
    }
    if (metrics.bucketAllowList.size > 0) {
      metrics.gauge('bucket_stored_bytes', 'Bytes stored in the buckets of the per-bucket allow-list.', ['bucket'], async (gauge) => {
        for (const bucket of metrics.bucketAllowList) {
          const stats = await this.stores.metadata.stats?.({ bucket }).catch(() => undefined)
          if (stats !== undefined) gauge.set({ bucket }, stats.bytes)
        }
      })
    }
    const capacityOf = blockstore.capacity
    if (capacityOf !== undefined) {
      // The filesystem's, so named by the store that has one (an FsBlockstore behind a cache too).
      const backend = blockstoreBackend(blockstore.inner ?? blockstore)
      const capacity = reusedFor(1000, async () => await capacityOf.call(blockstore))
      metrics.gauge('blockstore_capacity_bytes', 'Size of the filesystem holding the blocks.', ['backend'], async (gauge) => {
        const c = await capacity().catch(() => undefined)
        if (c !== undefined) gauge.set({ backend }, c.totalBytes)
      })
      metrics.gauge('blockstore_free_bytes', 'Free space the gateway may use on the filesystem holding the blocks.', ['backend'], async (gauge) => {
        const c = await capacity().catch(() => undefined)
        if (c !== undefined) gauge.set({ backend }, c.freeBytes)
      })
    }
    const counts = blockstore.metrics
    if (counts !== undefined) {
      const labels = { cache: cache?.kind ?? 'custom' }
      metrics.mirroredCounter('block_cache_hits_total', 'Block reads answered from the block cache.', ['cache'], () => [[labels, counts.hits]])
      metrics.mirroredCounter('block_cache_misses_total', 'Block reads the block cache could not answer (read from the blockstore).', ['cache'], () => [[labels, counts.misses]])
      metrics.mirroredCounter('block_cache_hit_bytes_total', 'Bytes answered from the block cache.', ['cache'], () => [[labels, counts.hitBytes]])
    }
  }
}

/** `load`, its answer reused for `maxAgeMs` (a failure is not kept), so scrapes cost a dependency at most one call per period. */
function reusedFor<T> (maxAgeMs: number, load: () => Promise<T>): () => Promise<T> {
  let last: { at: number, value: Promise<T> } | undefined
  return async () => {
    if (last === undefined || performance.now() - last.at > maxAgeMs) {
      const value = load()
      last = { at: performance.now(), value }
      value.catch(() => { if (last?.value === value) last = undefined })
    }
    return await last.value
  }
}
