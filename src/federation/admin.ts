import { createHash, timingSafeEqual } from 'node:crypto'
import type { S3Request, S3Response } from '../types.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import type { PinningServiceHandler } from './pinning-server.js'
import type { ReconcileReplicasReport } from './reconcile.js'
import { checkPolicy, parsePolicy, REPLICATE } from './replication.js'
import type { ReplicaPolicy } from './replication.js'
import { SCRUB } from './scrub.js'
import type { ScrubOptions } from './scrub.js'

export interface FederationAdminInit {
  metadata: MetadataStore
  replicating: boolean
  defaultPolicy: ReplicaPolicy
  /** The configured services, without their tokens. */
  services: Array<{ name: string, endpoint: string }>
  scrub?: ScrubOptions
  adminToken?: string
  pins?: PinningServiceHandler
  lastReconcile: () => (ReconcileReplicasReport & { at: Date }) | undefined
  /** Wakes the job worker after an enqueue. */
  wake: () => void
}

/** Answers one admin request whose path is relative to the admin prefix; undefined for paths it does not serve. */
export type FederationAdmin = (req: S3Request, path: string) => Promise<S3Response | undefined>

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/**
 * The admin token rule every admin endpoint follows: calls that change things need the token
 * (refused when none is set); views need it only when one is set. Undefined when allowed.
 */
export function adminTokenCheck (token: string | undefined): (req: S3Request, changes: boolean) => S3Response | undefined {
  const adminToken = token === undefined || token === '' ? undefined : digest(token)
  return (req, changes) => {
    if (!changes && adminToken === undefined) return undefined
    if (adminToken === undefined) return json(403, { error: 'Forbidden', message: 'Set an admin token (S3IPFS_ADMIN_TOKEN) to make changes through the admin API' })
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (given === undefined || !timingSafeEqual(digest(given), adminToken)) return json(401, { error: 'Unauthorized', message: 'A valid admin bearer token is required' })
    return undefined
  }
}

export function json (status: number, value: unknown): S3Response {
  const body = Buffer.from(JSON.stringify(value, null, 2) + '\n')
  return { status, headers: { 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.byteLength) }, body }
}

/**
 * The federation's admin endpoints: `/pins` (the Pinning Service API, when served), `/scrub` (GET
 * progress, POST a pass now), `/replication` (GET: the default policy, the services, job counts,
 * the last reconcile and every CID not yet at its minimum), `/replication/cids/<cid>` (its
 * references, job and replica rows), `/replication/buckets/<bucket>` (GET/PUT/DELETE a bucket's
 * policy) and `/replication/retry` (POST: run failed replications again). Changes need the admin
 * token; views need it only when one is set. Tokens never appear in an answer.
 */
export function federationAdmin (init: FederationAdminInit): FederationAdmin {
  const denied = adminTokenCheck(init.adminToken)

  return async (req: S3Request, path: string): Promise<S3Response | undefined> => {
    if (path === '/scrub' && req.method === 'POST') {
      const refused = denied(req, true)
      if (refused !== undefined) return refused
      if (init.scrub === undefined) return json(409, { error: 'ScrubbingOff', message: 'Scrubbing is not configured (S3IPFS_SCRUB_RATE)' })
      // A new pass now; a pass running at this moment runs once more afterwards.
      await init.metadata.enqueueJobs([{ kind: SCRUB, key: 'all', payload: {} }])
      init.wake()
      return json(202, { started: true })
    }
    if (path === '/scrub' && (req.method === 'GET' || req.method === 'HEAD')) {
      const refused = denied(req, false)
      if (refused !== undefined) return refused
      const job = await init.metadata.getJob(SCRUB, 'all')
      return json(200, { enabled: init.scrub !== undefined, options: init.scrub ?? null, state: job?.state ?? null, nextRun: job?.runAt ?? null, progress: job?.payload ?? null })
    }
    if (init.pins !== undefined && (path === '/pins' || path.startsWith('/pins/'))) {
      const answer = await init.pins(req, path)
      if (answer !== undefined) init.wake()
      return answer
    }
    if (path !== '/replication' && !path.startsWith('/replication/')) return undefined
    const changes = req.method !== 'GET' && req.method !== 'HEAD'
    const refused = denied(req, changes)
    if (refused !== undefined) return refused
    const { metadata } = init
    if (path === '/replication' && !changes) {
      const pending = await metadata.listJobs({ kind: REPLICATE, limit: 1000 })
      return json(200, {
        enabled: init.replicating,
        policy: init.defaultPolicy,
        services: init.services,
        jobs: await metadata.countJobs(),
        lastReconcile: init.lastReconcile() ?? null,
        notAtMinimum: await Promise.all(pending.map(async (job) => ({
          cid: job.key,
          bucket: job.payload.bucket,
          key: job.payload.key,
          state: job.state,
          attempts: job.attempts,
          lastError: job.lastError,
          replicas: (await metadata.getReplicas(job.key)).map(({ service, status, requestId, error }) => ({ service, status, requestId, error })),
        }))),
      })
    }
    if (path === '/replication/retry' && req.method === 'POST') {
      const failed = await metadata.listJobs({ kind: REPLICATE, state: 'failed', limit: 10_000 })
      await metadata.enqueueJobs(failed.map((job) => ({ kind: job.kind, key: job.key, payload: job.payload })))
      init.wake()
      return json(202, { retried: failed.length })
    }
    const cidPath = /^\/replication\/cids\/([^/]+)$/.exec(path)?.[1]
    if (cidPath !== undefined && !changes) {
      const cid = decodeURIComponent(cidPath)
      const job = await metadata.getJob(REPLICATE, cid)
      return json(200, {
        cid,
        references: await metadata.refCount(cid),
        job: job === undefined ? null : { state: job.state, attempts: job.attempts, lastError: job.lastError, runAt: job.runAt },
        replicas: (await metadata.getReplicas(cid)).map(({ service, status, requestId, delegates, error, updated }) => ({ service, status, requestId, delegates, error, updated })),
      })
    }
    const bucketName = /^\/replication\/buckets\/([^/]+)$/.exec(path)?.[1]
    if (bucketName === undefined) return json(404, { error: 'NotFound' })
    const name = decodeURIComponent(bucketName)
    const bucket = await metadata.getBucket(name)
    if (bucket === undefined) return json(404, { error: 'NoSuchBucket', bucket: name })
    if (req.method === 'GET' || req.method === 'HEAD') {
      return json(200, { bucket: name, policy: parsePolicy(bucket.config?.replication) ?? null, effective: parsePolicy(bucket.config?.replication) ?? init.defaultPolicy })
    }
    if (req.method === 'DELETE') {
      await metadata.setBucketConfig(name, 'replication', undefined)
      return json(200, { bucket: name, policy: null, effective: init.defaultPolicy })
    }
    if (req.method !== 'PUT') return json(405, { error: 'MethodNotAllowed' })
    let policy: ReplicaPolicy
    try {
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of req.body) {
        size += chunk.byteLength
        if (size > 64 * 1024) return json(400, { error: 'BadRequest', message: 'The policy is too large' })
        chunks.push(Buffer.from(chunk))
      }
      policy = checkPolicy(JSON.parse(Buffer.concat(chunks).toString('utf8')))
      const known = new Set(init.services.map((s) => s.name))
      const unknown = policy.services?.filter((s) => !known.has(s)) ?? []
      if (unknown.length > 0) throw new TypeError(`Unknown pinning services: ${unknown.join(', ')}`)
    } catch (err) {
      return json(400, { error: 'BadRequest', message: (err as Error).message })
    }
    await metadata.setBucketConfig(name, 'replication', JSON.stringify(policy))
    return json(200, { bucket: name, policy, effective: policy })
  }
}
