import type { JobHandler } from '../jobs/handler.js'
import type { NewJob } from '../metadata/jobs.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import type { ReplicaRecord } from '../metadata/replicas.js'
import { parsePolicy, REPLICATE, replicateJob } from './replication.js'
import type { ReplicaPolicy } from './replication.js'

/** The periodic job that re-derives what replication should exist (key: 'all'). */
export const RECONCILE_REPLICAS = 'reconcile-replicas'

export interface ReconcileInit {
  metadata: MetadataStore
  defaultPolicy: ReplicaPolicy
  /** Time between passes. */
  intervalMs: number
}

export interface ReconcileReplicasReport {
  /** Referenced CIDs with fewer replicas than the default policy asks and no job: enqueued. */
  underReplicated: number
  /** CIDs with replica rows that nothing references any more: enqueued for removal. */
  unreferenced: number
}

/**
 * The backstop for anything a crash or a bug lost: one ordered pass over the referenced CIDs merged
 * with the replica rows (both in UTF-8 byte order), enqueuing a replicate job for every CID that
 * has fewer pinned copies than the default policy and no job, and for every CID with rows that is
 * no longer referenced. A per-bucket policy is applied by the jobs of writes: when any bucket has
 * one, the pass leaves CIDs without any replica row alone (it cannot tell whose they are).
 */
export async function reconcileReplicas (init: Omit<ReconcileInit, 'intervalMs'>, signal?: AbortSignal): Promise<ReconcileReplicasReport> {
  const { metadata, defaultPolicy } = init
  const report: ReconcileReplicasReport = { underReplicated: 0, unreferenced: 0 }
  const buckets = await metadata.listBuckets(undefined, { signal })
  const overrides = buckets.some((bucket) => parsePolicy(bucket.config?.replication) !== undefined)
  let batch: NewJob[] = []
  const flush = async (): Promise<void> => {
    if (batch.length > 0) await metadata.enqueueJobs(batch, { signal })
    batch = []
  }
  const enqueue = async (cid: string): Promise<boolean> => {
    if (await metadata.getJob(REPLICATE, cid, { signal }) !== undefined) return false
    batch.push(replicateJob(cid))
    if (batch.length >= 500) await flush()
    return true
  }

  const rows = replicaRows(metadata, signal)
  let next = await rows.next()
  for await (const cid of metadata.referencedCids({ signal })) {
    while (next.done !== true && next.value.cid < cid) {
      const orphan = next.value.cid
      if (await enqueue(orphan)) report.unreferenced++
      while (next.done !== true && next.value.cid === orphan) next = await rows.next()
    }
    let pinned = 0
    let any = false
    while (next.done !== true && next.value.cid === cid) {
      any = true
      if (next.value.status === 'pinned') pinned++
      next = await rows.next()
    }
    if (pinned < defaultPolicy.min && (any || !overrides) && await enqueue(cid)) report.underReplicated++
  }
  while (next.done !== true) {
    const orphan = next.value.cid
    if (await enqueue(orphan)) report.unreferenced++
    while (next.done !== true && next.value.cid === orphan) next = await rows.next()
  }
  await flush()
  return report
}

async function * replicaRows (metadata: MetadataStore, signal?: AbortSignal): AsyncGenerator<ReplicaRecord> {
  let after: { cid: string, service: string } | undefined
  while (true) {
    const page = await metadata.listReplicas({ after, limit: 500, signal })
    yield * page
    if (page.length < 500) return
    const last = page[page.length - 1]
    after = { cid: last.cid, service: last.service }
  }
}

/** The reconcile job: one pass, then the next one `intervalMs` later (the job never ends). */
export function reconcileHandler (init: ReconcileInit, onReport?: (report: ReconcileReplicasReport) => void): JobHandler {
  return async (_job, { signal, now }) => {
    onReport?.(await reconcileReplicas(init, signal))
    return { state: 'retry', runAt: new Date(now().getTime() + init.intervalMs) }
  }
}
