import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { AbortOptions, GatewayLogger, S3Request, S3Response } from '../types.js'
import type { JobHandler } from '../jobs/handler.js'
import { JobWorker } from '../jobs/worker.js'
import type { ChangeOptions, Job, JobOutcome } from '../metadata/jobs.js'
import type { BucketRecord, MetadataStore, ObjectVersion } from '../metadata/metadata-store.js'
import { PinningServiceClient } from './pinning-client.js'
import { RECONCILE_REPLICAS, reconcileHandler } from './reconcile.js'
import type { ReconcileReplicasReport } from './reconcile.js'
import { decode as decodePb } from '@ipld/dag-pb'
import { collectBytes } from '../content/bytes.js'
import { bearerTokens, createPinningServiceHandler, PIN_JOB, pinJobHandler } from './pinning-server.js'
import type { PinningServiceHandler } from './pinning-server.js'
import { federationAdmin } from './admin.js'
import type { FederationAdmin } from './admin.js'
import { SCRUB, scrubHandler } from './scrub.js'
import type { ScrubFinding, ScrubOptions } from './scrub.js'
import { checkPolicy, parsePolicy, REPLICATE, replicateJob, replicationHandler, replicationStatus } from './replication.js'
import type { ReplicaPolicy, ReplicaService } from './replication.js'
import { withOverrides } from '../metadata/overrides.js'

/** A remote pinning service to keep replicas on (`--pinning-services FILE` holds a list of these). */
export interface PinningServiceConfig {
  /** What the service is called in policies, metrics, logs and the admin view. */
  name: string
  /** The API endpoint (e.g. `https://api.pinata.cloud/psa`, or another gateway's `http://host:port/-`). */
  endpoint: string
  /** Its access token (sent as a Bearer token, never logged). */
  token: string
  /** Prefix of the names of our pin requests. Default 's3ipfs-'. */
  namePrefix?: string
  /** Each request's time limit in ms. Default 30 s. */
  timeoutMs?: number
}

/** What the gateway needs of an IPFS node (the embedded one from `s3-ipfs-gateway/helia`). */
export interface IpfsPeer {
  /** The addresses other nodes dial: sent to services as `origins`, and as a pinning service's `delegates`. */
  readonly multiaddrs: string[]
  /** Dials replica peers and keeps them for fetches. */
  connect?(addresses: string[], options?: AbortOptions): Promise<unknown>
  /** Peer ids connected now; with none, a missing block is not waited for. */
  readonly peers?: string[]
  /** One block from connected peers, verified; for read repair. */
  fetchBlock?(cid: CID, options?: AbortOptions & { timeoutMs?: number }): Promise<Uint8Array>
  /** A whole DAG from `origins`, every block verified and stored locally. */
  fetchDag?(root: CID, options?: AbortOptions & { origins?: string[], timeoutMs?: number }): Promise<unknown>
}

export interface JobsOptions {
  /** Run jobs in this process (default true); false leaves them to other processes sharing the store. */
  workers?: boolean
  /** Jobs at once in this process. Default 4. */
  concurrency?: number
  /** How often an idle worker looks for due jobs, ms. Default 1000. */
  pollMs?: number
  /** How long a claim holds, ms. Default 60,000. */
  leaseMs?: number
  /** Failures before a job fails for good. Default 10. */
  maxAttempts?: number
  /** First retry delay after a failure, ms, doubling up to 5 min. Default 1000. */
  retryBaseMs?: number
}

export interface ReplicationOptions {
  /** Remote services to keep copies on. */
  services: PinningServiceConfig[]
  /** The default policy: `{ min, max }` or `'MIN[:MAX]'`. Default: one copy when there are services. */
  replicas?: ReplicaPolicy
  /** A request queued or pinning this long counts as failed and another service is asked. Default 10 min. */
  queuedDeadlineMs?: number
  /** How often requests in flight are polled. Default 5 s. */
  pollMs?: number
  /** Time between reconcile passes. Default 10 min. */
  reconcileIntervalMs?: number
}

export interface FederationInit {
  metadata: MetadataStore
  replication?: ReplicationOptions
  ipfs?: IpfsPeer
  /** Bearer token for the admin calls that change things (a bucket's replica policy). */
  adminToken?: string
  /** Serve the Pinning Service API (`/pins`) to holders of this bearer token. */
  pinsToken?: string
  jobs?: JobsOptions
  /** More job handlers by kind (the pinning service's). */
  handlers?: Record<string, JobHandler>
  /** Re-hash stored blocks against their CIDs, repairing from replicas. Default: off. */
  scrub?: ScrubOptions
  /** The blocks as stored (what scrubbing checks) and, with an IPFS node, the store that repairs on read. */
  blocks?: { stored: Pick<Blockstore, 'get'>, repairing?: Pick<Blockstore, 'get'> }
  onScrubFinding?: (finding: ScrubFinding) => void
  logger: GatewayLogger
  now: () => Date
  onJobFinished?: (job: Job, outcome: JobOutcome, ms: number) => void
  onReconciled?: (report: ReconcileReplicasReport) => void
}

const backoffFrom = (base: number) => (attempts: number): number => Math.min(base * 2 ** Math.max(0, attempts - 1), 300_000) * (0.75 + Math.random() / 2)


/**
 * Replicas and federation: the job worker, the replication jobs every version change enqueues in
 * its own transaction, the reconciler, S3's replication status on reads, and the admin view.
 */
export class Federation {
  readonly replicating: boolean
  readonly defaultPolicy: ReplicaPolicy
  readonly worker?: JobWorker
  private readonly init: FederationInit
  private readonly admin: FederationAdmin
  private lastReconcile?: ReconcileReplicasReport & { at: Date }
  private readonly pins?: PinningServiceHandler

  constructor (init: FederationInit) {
    this.init = init
    const services = init.replication?.services ?? []
    const names = new Set<string>()
    for (const service of services) {
      if (typeof service.name !== 'string' || service.name === '' || names.has(service.name)) throw new TypeError(`Pinning services need distinct names (got ${JSON.stringify(service.name)})`)
      if (typeof service.endpoint !== 'string' || typeof service.token !== 'string') throw new TypeError(`Pinning service ${service.name} needs an endpoint and a token`)
      names.add(service.name)
    }
    this.replicating = services.length > 0
    this.defaultPolicy = checkPolicy(init.replication?.replicas ?? { min: this.replicating ? 1 : 0, max: this.replicating ? 1 : 0 })
    const handlers: Record<string, JobHandler> = { ...init.handlers }
    if (this.replicating) {
      const replicaServices: ReplicaService[] = services.map((s) => ({
        name: s.name,
        namePrefix: s.namePrefix,
        client: new PinningServiceClient({ name: s.name, endpoint: s.endpoint, token: s.token, timeoutMs: s.timeoutMs }),
      }))
      const replicate = replicationHandler({
        metadata: init.metadata,
        services: replicaServices,
        defaultPolicy: this.defaultPolicy,
        origins: () => init.ipfs?.multiaddrs ?? [],
        queuedDeadlineMs: init.replication?.queuedDeadlineMs,
        pollMs: init.replication?.pollMs,
        logger: init.logger,
      })
      // Pinned replicas' nodes become peers that reads fail over to.
      handlers[REPLICATE] = async (job, context) => {
        const outcome = await replicate(job, context)
        await this.connectDelegates(job.key, context.signal)
        return outcome
      }
      handlers[RECONCILE_REPLICAS] = reconcileHandler({
        metadata: init.metadata, defaultPolicy: this.defaultPolicy, intervalMs: init.replication?.reconcileIntervalMs ?? 600_000,
      }, (report) => {
        this.lastReconcile = { at: init.now(), ...report }
        init.onReconciled?.(report)
      })
    }
    if (init.pinsToken !== undefined && init.pinsToken !== '') {
      const ipfs = init.ipfs
      this.pins = createPinningServiceHandler({
        metadata: init.metadata,
        tokens: bearerTokens([[init.pinsToken, 'pins']]),
        delegates: () => (ipfs?.multiaddrs ?? []).filter((address) => address.includes('/p2p/')),
        now: init.now,
        jobsOnRelease: this.replicating ? (cid) => [replicateJob(cid)] : undefined,
        logger: init.logger,
      })
      const stored = init.blocks?.stored
      handlers[PIN_JOB] = pinJobHandler({
        metadata: init.metadata,
        fetchDag: ipfs?.fetchDag === undefined ? undefined : async (cid, options) => await ipfs.fetchDag?.(cid, options),
        hasDag: stored === undefined ? undefined : async (cid, options) => await holdsDag(stored, cid, options.signal),
        attempts: Math.min(3, init.jobs?.maxAttempts ?? 10),
      })
      // A pin that became pinned is a new reference: replicate it too when this gateway replicates.
    }
    if (init.scrub !== undefined && init.blocks !== undefined) {
      handlers[SCRUB] = scrubHandler({ ...init.scrub, metadata: init.metadata, stored: init.blocks.stored, repairing: init.blocks.repairing, onFinding: init.onScrubFinding })
    }
    this.admin = federationAdmin({
      metadata: init.metadata,
      replicating: this.replicating,
      defaultPolicy: this.defaultPolicy,
      services: (init.replication?.services ?? []).map((s) => ({ name: s.name, endpoint: s.endpoint })),
      scrub: init.scrub,
      adminToken: init.adminToken,
      pins: this.pins,
      lastReconcile: () => this.lastReconcile,
      wake: () => { this.worker?.wake() },
    })
    if (init.jobs?.workers !== false && Object.keys(handlers).length > 0) {
      this.worker = new JobWorker({
        queue: init.metadata,
        handlers,
        concurrency: init.jobs?.concurrency,
        pollMs: init.jobs?.pollMs,
        leaseMs: init.jobs?.leaseMs,
        maxAttempts: init.jobs?.maxAttempts,
        backoff: init.jobs?.retryBaseMs === undefined ? undefined : backoffFrom(init.jobs.retryBaseMs),
        logger: init.logger,
        now: init.now,
        onFinished: init.onJobFinished,
      })
    }
  }

  /** Starts the worker, schedules the reconciler, and dials the replicas' nodes for failover. */
  async start (): Promise<void> {
    if (this.replicating) await this.init.metadata.enqueueJobs([{ kind: RECONCILE_REPLICAS, key: 'all' }])
    // A scrub pass in progress (its payload) or waiting for its next time is left as it is.
    if (this.init.scrub !== undefined && await this.init.metadata.getJob(SCRUB, 'all') === undefined) {
      await this.init.metadata.enqueueJobs([{ kind: SCRUB, key: 'all' }])
    }
    this.worker?.start()
    if (this.init.ipfs?.connect !== undefined) this.connectAllDelegates().catch((err: unknown) => { this.init.logger.warn({ err }, 'dialling replica nodes failed') })
  }

  /** Looks for due jobs now (after enqueuing one outside a change this store wraps). */
  wake (): void {
    this.worker?.wake()
  }

  async stop (): Promise<void> {
    await this.worker?.stop()
  }

  /** The metadata store with this gateway's jobs added to every change that needs them. */
  wrap (store: MetadataStore): MetadataStore {
    if (!this.replicating) return store
    const onRelease = (cid: string): ReturnType<typeof replicateJob>[] => [replicateJob(cid)]
    // A released CID without replica rows has no remote copy to remove (a replicate job that has
    // not asked yet finds it unreferenced; one asking right now leaves a row the reconciler finds).
    const released = <T extends ChangeOptions | undefined>(options: T): ChangeOptions => ({ ...options, jobsOnRelease: onRelease, releaseJobsOnlyWithReplicas: true })
    const withVersion = (options: ChangeOptions | undefined, version: ObjectVersion): ChangeOptions => version.deleteMarker || version.cid === ''
      ? released(options)
      : { ...released(options), jobs: [...options?.jobs ?? [], replicateJob(version.cid, version)] }
    const wake = <T>(result: T): T => { this.worker?.wake(); return result }
    // The changes that need jobs; every other method passes through.
    const overrides: Partial<MetadataStore> = {
      putObject: async (v, o) => wake(await store.putObject(v, withVersion(o, v))),
      completeUpload: async (v, id, parts, c, o) => wake(await store.completeUpload(v, id, parts, c, withVersion(o, v))),
      deleteObject: async (b, k, id, o) => wake(await store.deleteObject(b, k, id, released(o))),
      putPart: async (b, k, id, part, o) => await store.putPart(b, k, id, part, released(o)),
      abortUpload: async (b, k, id, o) => await store.abortUpload(b, k, id, released(o)),
      deleteBucket: async (name, o) => await store.deleteBucket(name, released(o)),
      setVersionArchive: async (b, k, id, change, o) => await store.setVersionArchive(b, k, id, change, released(o)),
      deleteSnapshot: async (b, id, o) => await store.deleteSnapshot(b, id, released(o)),
    }
    return withOverrides(store, overrides)
  }

  /** S3's `x-amz-replication-status` and our confirmed-copies header for a version, when it is replicated. */
  async readHeaders (version: ObjectVersion, bucket: BucketRecord | undefined, signal?: AbortSignal): Promise<Record<string, string>> {
    if (!this.replicating || version.deleteMarker || version.cid === '') return {}
    const { metadata } = this.init
    const [rows, job] = await Promise.all([metadata.getReplicas(version.cid, { signal }), metadata.getJob(REPLICATE, version.cid, { signal })])
    const policy = parsePolicy(bucket?.config?.replication) ?? this.defaultPolicy
    if (policy.min === 0) return {}
    const { status, copies } = replicationStatus(rows, job, policy)
    return { 'x-amz-replication-status': status, 'x-s3ipfs-replicas': String(copies) }
  }

  /** The federation's admin endpoints (admin.ts); undefined for other paths. */
  async adminRoute (req: S3Request, path: string): Promise<S3Response | undefined> {
    return await this.admin(req, path)
  }

  private async connectDelegates (cid: string, signal: AbortSignal): Promise<void> {
    const ipfs = this.init.ipfs
    if (ipfs?.connect === undefined) return
    const delegates = (await this.init.metadata.getReplicas(cid, { signal })).filter((row) => row.status === 'pinned').flatMap((row) => row.delegates)
      .filter((address) => address.includes('/p2p/'))
    if (delegates.length > 0) await ipfs.connect(delegates, { signal })
  }

  private async connectAllDelegates (): Promise<void> {
    const ipfs = this.init.ipfs
    if (ipfs?.connect === undefined) return
    const delegates = new Set<string>()
    let after: { cid: string, service: string } | undefined
    // The first pages are enough: a service's nodes are the same for every CID it holds.
    for (let pages = 0; pages < 20 && delegates.size < 1000; pages++) {
      const page = await this.init.metadata.listReplicas({ after, limit: 500 })
      for (const row of page) if (row.status === 'pinned') for (const address of row.delegates) if (address.includes('/p2p/')) delegates.add(address)
      if (page.length < 500) break
      after = { cid: page[page.length - 1].cid, service: page[page.length - 1].service }
    }
    if (delegates.size > 0) await ipfs.connect([...delegates])
  }
}

/** Whether every block of the DAG under `root` is in `blocks` (dag-pb links followed; raw leaves end it). */
async function holdsDag (blocks: Pick<Blockstore, 'get'>, root: CID, signal: AbortSignal): Promise<boolean> {
  const stack = [root]
  while (stack.length > 0) {
    signal.throwIfAborted()
    const cid = stack.pop() as CID
    let bytes: Uint8Array
    try {
      bytes = await collectBytes(blocks.get(cid, { signal }))
    } catch (err) {
      const e = err as { name?: unknown, code?: unknown }
      if (e.name === 'NotFoundError' || e.code === 'ERR_NOT_FOUND') return false
      throw err
    }
    if (cid.code === 0x70) for (const link of decodePb(bytes).Links) stack.push(link.Hash)
  }
  return true
}
