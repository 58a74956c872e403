import type { GatewayLogger } from '../types.js'
import type { JobHandler } from '../jobs/handler.js'
import type { Job, NewJob } from '../metadata/jobs.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import type { ReplicaRecord } from '../metadata/replicas.js'
import { isPinningServiceError } from './pinning-client.js'
import type { PinningService } from './pinning-client.js'
import type { PinStatus } from './pinning-api.js'

/** The job that makes a CID's remote replicas what they should be (key: the CID). */
export const REPLICATE = 'replicate'

/** How many remote copies a CID should have, and where. */
export interface ReplicaPolicy {
  /** Confirmed (pinned) copies needed for COMPLETED. */
  min: number
  /** Copies asked for at most (pinned and in flight), so a slow service can be replaced. */
  max: number
  /** Only these services (by name), in order of preference. Default: every configured one, in configuration order. */
  services?: string[]
}

/** A configured remote service: its client, and what names its pin requests. */
export interface ReplicaService {
  name: string
  client: PinningService
  /** Prefix of the names our pin requests carry (`<prefix><cid>`), by which a crashed request is found again. Default 's3ipfs-'. */
  namePrefix?: string
}

export interface ReplicationInit {
  metadata: MetadataStore
  services: ReplicaService[]
  /** The policy of buckets without one of their own. */
  defaultPolicy: ReplicaPolicy
  /** The multiaddrs of the gateway's own IPFS node, sent as `origins` so services fetch from it. */
  origins: () => string[]
  /** A request still queued or pinning this long after it was made counts as failed. Default 10 min. */
  queuedDeadlineMs?: number
  /** How often a job polls requests in flight, at most (the first polls come sooner: 0.25 s, doubling). Default 5 s. */
  pollMs?: number
  /** A service that failed a CID is asked again after this long. Default 10 min. */
  retryFailedAfterMs?: number
  logger?: Pick<GatewayLogger, 'warn' | 'info'>
}

/** Parses a stored bucket policy (bucket configuration `replication`), or undefined when there is none or it is invalid. */
export function parsePolicy (text: string | undefined): ReplicaPolicy | undefined {
  if (text === undefined) return undefined
  try {
    return checkPolicy(JSON.parse(text))
  } catch {
    return undefined
  }
}

/** A policy from untrusted JSON; throws a TypeError saying what is wrong. */
export function checkPolicy (value: unknown): ReplicaPolicy {
  const v = value as Partial<ReplicaPolicy> | null
  if (typeof v !== 'object' || v === null) throw new TypeError('A replica policy is an object { min, max, services? }')
  const min = v.min
  const max = v.max ?? v.min
  if (!Number.isInteger(min) || (min as number) < 0 || (min as number) > 20) throw new TypeError('min must be an integer from 0 to 20')
  if (!Number.isInteger(max) || (max as number) < (min as number) || (max as number) > 20) throw new TypeError('max must be an integer from min to 20')
  if (v.services !== undefined && (!Array.isArray(v.services) || v.services.some((s) => typeof s !== 'string' || s === ''))) {
    throw new TypeError('services must be a list of service names')
  }
  return { min: min as number, max: max as number, ...(v.services === undefined ? {} : { services: [...v.services] }) }
}

/** `MIN[:MAX]`, as `--replicas` takes it. */
export function parseReplicasOption (text: string): ReplicaPolicy {
  const match = /^(\d+)(?::(\d+))?$/.exec(text.trim())
  if (match === null) throw new TypeError(`--replicas takes MIN or MIN:MAX (e.g. 1 or 1:2), not "${text}"`)
  return checkPolicy({ min: Number(match[1]), max: Number(match[2] ?? match[1]) })
}

/** The replicate job a version's CID needs once its change commits (bucket and key: its policy, and the admin view). */
export function replicateJob (cid: string, version?: { bucket: string, key: string }): NewJob {
  return { kind: REPLICATE, key: cid, payload: version === undefined ? {} : { bucket: version.bucket, key: version.key } }
}

const IN_FLIGHT = new Set(['queued', 'pinning'])

/**
 * S3's replication status of a version, from its CID's replica rows and job: COMPLETED once `min`
 * copies are pinned, FAILED when the job gave up, else PENDING.
 */
export function replicationStatus (rows: ReplicaRecord[], job: Job | undefined, policy: ReplicaPolicy): { status: 'PENDING' | 'COMPLETED' | 'FAILED', copies: number } {
  const copies = rows.filter((row) => row.status === 'pinned').length
  if (copies >= policy.min) return { status: 'COMPLETED', copies }
  return { status: job?.state === 'failed' ? 'FAILED' : 'PENDING', copies }
}

/**
 * The replicate job's handler: converges the CID's remote pins on what should be. Referenced: at
 * least `min` pinned, asking services one by one (at most `max` in flight or pinned), polling
 * requests in flight, and counting a request queued past its deadline as failed (it is withdrawn,
 * so it cannot pin later unrecorded). No longer referenced: every request we made is deleted.
 *
 * Every request is recorded as `requesting` before it is sent, so a crash between sending and
 * recording is resolved by finding the request at the service by its name: no duplicate pins.
 */
export function replicationHandler (init: ReplicationInit): JobHandler {
  const deadline = init.queuedDeadlineMs ?? 600_000
  const pollMs = init.pollMs ?? 5000
  const retryFailedAfter = init.retryFailedAfterMs ?? 600_000
  const byName = new Map(init.services.map((service) => [service.name, service]))
  const pinName = (service: ReplicaService, cid: string): string => `${service.namePrefix ?? 's3ipfs-'}${cid}`

  async function policyOf (job: Job): Promise<ReplicaPolicy> {
    const bucket = typeof job.payload.bucket === 'string' ? job.payload.bucket : undefined
    if (bucket === undefined) return init.defaultPolicy
    const record = await init.metadata.getBucket(bucket)
    return parsePolicy(record?.config?.replication) ?? init.defaultPolicy
  }

  /** A request we may have sent before a crash: the service's own record of it, if any. */
  async function findSent (service: ReplicaService, cid: string, signal: AbortSignal): Promise<PinStatus | undefined> {
    const found = await service.client.list({ cid: [cid], name: pinName(service, cid), status: ['queued', 'pinning', 'pinned', 'failed'], limit: 10 }, { signal })
    return found.results.find((status) => status.pin.cid === cid)
  }

  async function record (row: ReplicaRecord, status: PinStatus | undefined, now: Date, error?: string): Promise<ReplicaRecord> {
    const next: ReplicaRecord = { ...row, updated: now }
    if (status !== undefined) {
      next.requestId = status.requestid
      next.status = status.status
      next.delegates = status.delegates
      delete next.error
    }
    if (error !== undefined) {
      next.status = 'failed'
      next.error = error
    }
    await init.metadata.putReplica(next)
    return next
  }

  async function remove (row: ReplicaRecord, signal: AbortSignal): Promise<void> {
    const service = byName.get(row.service)
    if (service !== undefined) {
      const sent = row.requestId !== undefined ? { requestid: row.requestId } : row.status === 'requesting' ? await findSent(service, row.cid, signal) : undefined
      if (sent !== undefined) await service.client.delete(sent.requestid, { signal })
    }
    await init.metadata.deleteReplica(row.cid, row.service)
  }

  return async (job, { signal, now }) => {
    const cid = job.key
    let rows = await init.metadata.getReplicas(cid, { signal })
    if (await init.metadata.refCount(cid, { signal }) === 0) {
      for (const row of rows) await remove(row, signal)
      return { state: 'done' }
    }
    const policy = await policyOf(job)
    // Follow up what is in flight, or was about to be sent when a run ended.
    rows = await Promise.all(rows.map(async (row) => {
      const service = byName.get(row.service)
      if (service === undefined) return row
      try {
        if (row.status === 'requesting') {
          const sent = await findSent(service, cid, signal)
          if (sent === undefined) {
            await init.metadata.deleteReplica(cid, row.service)
            return undefined
          }
          return await record(row, sent, now())
        }
        if (!IN_FLIGHT.has(row.status) || row.requestId === undefined) return row
        const status = await service.client.get(row.requestId, { signal })
        if (IN_FLIGHT.has(status.status) && now().getTime() - row.created.getTime() > deadline) {
          await service.client.delete(row.requestId, { signal }).catch(() => false)
          return await record(row, status, now(), `still ${status.status} after ${deadline < 10_000 ? `${deadline} ms` : `${Math.round(deadline / 1000)} s`}`)
        }
        return await record(row, status, now())
      } catch (err) {
        if (!isPinningServiceError(err) || err.status !== 404) throw err
        // The service forgot the request: ask again.
        await init.metadata.deleteReplica(cid, row.service)
        return undefined
      }
    })).then((list) => list.filter((row): row is ReplicaRecord => row !== undefined))

    const pinned = rows.filter((row) => row.status === 'pinned').length
    if (pinned >= policy.min) return { state: 'done' }
    let asked = rows.filter((row) => IN_FLIGHT.has(row.status)).length
    const allowed = (policy.services ?? init.services.map((s) => s.name)).map((name) => byName.get(name)).filter((s): s is ReplicaService => s !== undefined)
    const rowOf = new Map(rows.map((row) => [row.service, row]))
    const errors: string[] = []
    for (const service of allowed) {
      if (pinned + asked >= policy.min || pinned + asked >= policy.max) break
      const row = rowOf.get(service.name)
      if (row !== undefined && (row.status !== 'failed' || now().getTime() - row.updated.getTime() < retryFailedAfter)) continue
      const requesting: ReplicaRecord = { cid, service: service.name, status: 'requesting', delegates: [], created: now(), updated: now() }
      await init.metadata.putReplica(requesting)
      try {
        const status = await service.client.add({ cid, name: pinName(service, cid), origins: init.origins().slice(0, 20) }, { signal })
        const stored = await record(requesting, status, now())
        if (stored.status === 'failed') errors.push(`${service.name}: failed`)
        else asked++
      } catch (err) {
        if (signal.aborted) throw err
        const message = isPinningServiceError(err) ? `${err.reason}${err.status === undefined ? '' : ` (HTTP ${err.status})`}` : String((err as Error).message)
        errors.push(`${service.name}: ${message}`)
        init.logger?.warn({ cid, service: service.name, error: message }, 'asking a pinning service for a replica failed; trying another')
        await record(requesting, undefined, now(), message)
      }
    }
    if (asked > 0) {
      // Poll soon first (a service often pins in well under a second), then every pollMs.
      const polls = typeof job.payload.polls === 'number' ? job.payload.polls : 0
      const delay = Math.min(pollMs, 250 * 2 ** polls)
      return { state: 'retry', runAt: new Date(now().getTime() + delay), payload: { ...job.payload, polls: polls + 1 } }
    }
    // Why: this run's failures, and those of services not asked again yet.
    const asking = new Set(errors.map((error) => error.slice(0, error.indexOf(':'))))
    for (const row of rows) if (row.status === 'failed' && !asking.has(row.service)) errors.push(`${row.service}: ${row.error ?? 'failed'}`)
    const why = errors.length > 0 ? errors.join('; ') : 'no configured service is left to ask'
    throw Object.assign(new Error(`${pinned} of ${policy.min} replicas: ${why}`), { retryable: true })
  }
}
