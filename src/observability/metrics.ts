import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import { FastCounter, FastHistogram } from './fast-metrics.js'

/** What `createGateway({ metrics })` takes besides `true` and `false`. */
export interface MetricsOptions {
  /**
   * The registry the gateway's metrics are registered in. Default: a new private one (never
   * prom-client's global registry); a host merges it into its own with `Registry.merge`.
   */
  registry?: Registry
  /** Prefix of every metric name. Default 's3ipfs_'. */
  prefix?: string
  /** Node.js process metrics (CPU, memory, event loop, GC) under the same prefix. Default true. */
  processMetrics?: boolean
  /**
   * Buckets that get per-bucket series (`<prefix>bucket_*{bucket}`). Default none: a bucket label
   * on every request would let any client create series by naming buckets.
   */
  buckets?: string[]
  /** Labels added to every series (e.g. `{ instance_role: 'edge' }`). */
  labels?: Record<string, string>
}

/** Seconds: from a cache hit (~100 µs) to a multi-gigabyte transfer. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
/** Storage calls: a memory hit to a slow IPFS node. */
const STORAGE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/**
 * The gateway's metric families in one registry. Names are a contract (dashboards and alert rules
 * depend on them): see test/fixtures/metric-names.txt. No label carries a key, CID, access key or
 * client address; `bucket` appears only on the opt-in per-bucket families.
 */
export class GatewayMetrics {
  readonly registry: Registry
  readonly prefix: string
  readonly bucketAllowList: ReadonlySet<string>
  /**
   * Runs before the dependency gauges are read: the readiness checks, so that a scrape through any
   * registry (a host's merged one included) sees current values.
   */
  refreshDependencies?: () => Promise<unknown>

  readonly requests: FastCounter<'operation' | 'code'>
  readonly requestErrors: FastCounter<'operation' | 'error'>
  readonly requestDuration: FastHistogram<'operation'>
  readonly requestTtfb: FastHistogram<'operation'>
  readonly inFlight: Gauge
  /** Read when `requests_in_flight` is scraped (the request observer's own count). */
  inFlightNow?: () => number
  readonly canceled: FastCounter<never>
  readonly receivedBytes: FastCounter<'operation'>
  readonly sentBytes: FastCounter<'operation'>
  readonly bucketRequests: FastCounter<'bucket' | 'code'>
  readonly bucketReceivedBytes: FastCounter<'bucket'>
  readonly bucketSentBytes: FastCounter<'bucket'>

  readonly blockstoreDuration: FastHistogram<'backend' | 'operation'>
  readonly blockstoreErrors: FastCounter<'backend' | 'operation'>
  readonly metadataDuration: FastHistogram<'backend' | 'operation'>
  readonly metadataErrors: FastCounter<'backend' | 'operation'>

  readonly pinOperations: Counter<'operation' | 'result'>
  readonly pins: Gauge<'state'>
  readonly reconcileRuns: Counter<'result'>
  readonly gcRuns: Counter<'result'>
  readonly gcLastSuccess: Gauge
  readonly gcFreedBytes: Counter
  readonly gcMissingBlocks: Gauge
  readonly jobsFinished: Counter<'kind' | 'outcome'>
  readonly jobDuration: FastHistogram<'kind'>
  readonly blockRepairs: Counter<'reason' | 'result'>
  readonly scrubFindings: Counter<'reason' | 'result'>

  readonly dependencyUp: Gauge<'dependency'>
  readonly dependencyLatency: Gauge<'dependency'>
  readonly buildInfo: Gauge<'version' | 'node_version'>

  constructor (options: MetricsOptions = {}, version = '0.0.0') {
    this.registry = options.registry ?? new Registry()
    const prefix = this.prefix = options.prefix ?? 's3ipfs_'
    this.bucketAllowList = new Set(options.buckets ?? [])
    if (options.labels !== undefined) this.registry.setDefaultLabels(options.labels)
    const registers = [this.registry]
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> =>
      new Counter({ name: prefix + name, help, labelNames, registers })
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> =>
      new Gauge({ name: prefix + name, help, labelNames, registers })
    // The per-request families: a few array writes per observation (see fast-metrics.ts).
    const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): FastHistogram<L> =>
      new FastHistogram(prefix + name, help, labelNames, buckets, this.registry)
    const fastCounter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []): FastCounter<L> =>
      new FastCounter(prefix + name, help, labelNames, this.registry)

    this.requests = fastCounter('requests_total', 'S3 requests answered, by operation and HTTP status.', ['operation', 'code'])
    this.requestErrors = fastCounter('request_errors_total', 'S3 requests answered with an S3 error (or cut off after their headers), by operation and error code.', ['operation', 'error'])
    this.requestDuration = histogram('request_duration_seconds', 'Time from a request\'s arrival until the last byte of its answer was handed to the connection.', ['operation'], DURATION_BUCKETS)
    this.requestTtfb = histogram('request_ttfb_seconds', 'Time from a request\'s arrival until its answer\'s headers were ready (time to first byte).', ['operation'], DURATION_BUCKETS)
    const inFlight = (): number => this.inFlightNow?.() ?? 0
    this.inFlight = new Gauge({ name: prefix + 'requests_in_flight', help: 'S3 requests being answered now.', registers, collect () { this.set(inFlight()) } })
    this.canceled = fastCounter('requests_canceled_total', 'S3 requests whose client went away before the answer was complete.')
    this.receivedBytes = fastCounter('received_bytes_total', 'Request body bytes received, by operation.', ['operation'])
    this.sentBytes = fastCounter('sent_bytes_total', 'Response body bytes sent, by operation.', ['operation'])
    this.bucketRequests = fastCounter('bucket_requests_total', 'S3 requests to the buckets in the per-bucket allow-list, by bucket and HTTP status.', ['bucket', 'code'])
    this.bucketReceivedBytes = fastCounter('bucket_received_bytes_total', 'Request body bytes received by the buckets in the per-bucket allow-list.', ['bucket'])
    this.bucketSentBytes = fastCounter('bucket_sent_bytes_total', 'Response body bytes sent from the buckets in the per-bucket allow-list.', ['bucket'])

    this.blockstoreDuration = histogram('blockstore_operation_duration_seconds', 'Blockstore calls (a get lasts until its bytes are read), by backend and operation.', ['backend', 'operation'], STORAGE_BUCKETS)
    this.blockstoreErrors = fastCounter('blockstore_errors_total', 'Blockstore calls that failed (aborts by the caller excluded), by backend and operation.', ['backend', 'operation'])
    this.metadataDuration = histogram('metadata_operation_duration_seconds', 'Metadata store calls, by backend and method.', ['backend', 'operation'], STORAGE_BUCKETS)
    this.metadataErrors = fastCounter('metadata_errors_total', 'Metadata store calls that failed (aborts by the caller and refused conditional writes excluded), by backend and method.', ['backend', 'operation'])

    this.pinOperations = counter('pin_operations_total', 'Pins and unpins on the IPFS node, by result.', ['operation', 'result'])
    this.pins = gauge('pins', 'Pins on the IPFS node by state: pinned as of the last reconcile and the pins since; failed pins and unpins waiting for the next reconcile.', ['state'])
    this.reconcileRuns = counter('reconcile_runs_total', 'Runs making the IPFS node\'s pins match the references, by result.', ['result'])
    this.gcRuns = counter('gc_runs_total', 'Garbage collection runs, by result (error: failed, or found referenced blocks missing).', ['result'])
    this.gcLastSuccess = gauge('gc_last_success_timestamp_seconds', 'When the last garbage collection run that found no damage ended (Unix time).')
    this.gcFreedBytes = counter('gc_freed_bytes_total', 'Bytes freed by garbage collection.')
    this.gcMissingBlocks = gauge('gc_missing_blocks', 'Blocks of referenced objects found missing or corrupt by the last garbage collection run (data loss).')
    this.jobsFinished = counter('jobs_finished_total', 'Background job runs (replication, pins, scrubbing) that ended, by kind and outcome (done, retry, failed).', ['kind', 'outcome'])
    this.jobDuration = new FastHistogram(prefix + 'job_duration_seconds', 'How long background job runs took, by kind.', ['kind'], [0.005, 0.025, 0.1, 0.5, 2.5, 10, 60, 300], this.registry)
    this.scrubFindings = counter('scrub_findings_total', 'Blocks scrubbing found missing or corrupt, by reason, and whether they were repaired from a replica or lost.', ['reason', 'result'])
    this.blockRepairs = counter('block_repairs_total', 'Blocks found missing or corrupt on read or scrub, by reason, and whether a replica supplied them (repaired) or not (lost).', ['reason', 'result'])

    const refresh = async (): Promise<void> => { await this.refreshDependencies?.() }
    this.dependencyUp = new Gauge({ name: prefix + 'dependency_up', help: 'Whether a dependency answered its last check (1) or not (0).', labelNames: ['dependency'], registers, collect: refresh })
    this.dependencyLatency = new Gauge({ name: prefix + 'dependency_check_duration_seconds', help: 'How long a dependency\'s last check took.', labelNames: ['dependency'], registers, collect: refresh })
    this.buildInfo = gauge('build_info', 'Always 1; labels name the gateway version and Node.js version.', ['version', 'node_version'])
    this.buildInfo.set({ version, node_version: process.version }, 1)

    // Counters with known labels start at 0: increase() cannot see a series' first increment.
    for (const result of ['ok', 'error']) {
      this.gcRuns.inc({ result }, 0)
      this.reconcileRuns.inc({ result }, 0)
      for (const operation of ['pin', 'unpin']) this.pinOperations.inc({ operation, result }, 0)
    }
    this.canceled.inc({}, 0)
    for (const reason of ['missing', 'corrupt']) for (const result of ['repaired', 'lost']) { this.blockRepairs.inc({ reason, result }, 0); this.scrubFindings.inc({ reason, result }, 0) }
    this.gcFreedBytes.inc(0)

    if (options.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix })
      // Gauges named like counters (promtool refuses them); nodejs_active_{handles,requests,resources} by type remain.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(prefix + name)
      }
    }
  }

  /** A gauge whose value is read when the registry is scraped. */
  gauge (name: string, help: string, labelNames: readonly string[], collect: (gauge: Gauge<string>) => void | Promise<void>): Gauge<string> {
    return new Gauge({ name: this.prefix + name, help, labelNames, registers: [this.registry], async collect () { await collect(this) } })
  }

  /** A counter that mirrors a running total kept elsewhere (read at each scrape). */
  mirroredCounter (name: string, help: string, labelNames: readonly string[], read: () => Array<[Record<string, string>, number]>): Counter<string> {
    const seen = new Map<string, number>()
    return new Counter({
      name: this.prefix + name,
      help,
      labelNames,
      registers: [this.registry],
      collect () {
        for (const [labels, total] of read()) {
          const id = JSON.stringify(labels)
          // inc by 0 too: the series exists from the first scrape
          this.inc(labels, Math.max(0, total - (seen.get(id) ?? 0)))
          seen.set(id, total)
        }
      },
    })
  }

  /** The per-bucket label value, or undefined for a bucket outside the allow-list. */
  bucketLabel (bucket: string | undefined): string | undefined {
    return bucket !== undefined && this.bucketAllowList.has(bucket) ? bucket : undefined
  }
}
