import { CID } from 'multiformats/cid'
import type { ContentStore } from '../content/content-store.js'
import type { JobHandler } from '../jobs/handler.js'
import { dueAfter } from '../lifecycle/rules.js'
import { ARCHIVE_DELETE } from '../metadata/archives.js'
import type { NewJob } from '../metadata/jobs.js'
import type { MetadataStore, ObjectVersion } from '../metadata/metadata-store.js'
import type { GatewayLogger } from '../types.js'
import { classRank, isArchiveClass } from './classes.js'
import type { ArchiveTarget } from './target.js'

/** The job kind that brings one version's archive state to what it should be (one job per version). */
export const ARCHIVE = 'archive'

/** Names a version in an archive job's key. */
export function versionKey (bucket: string, key: string, versionId: string): string {
  return JSON.stringify([bucket, key, versionId])
}

/**
 * The job that settles a version's archive state: a transition to `storageClass` (a lifecycle
 * rule's; absent, the version's own class), a restore requested, a restored copy due to expire.
 */
export function archiveJob (version: Pick<ObjectVersion, 'bucket' | 'key' | 'versionId'> & { lastModified?: Date },
  init: { storageClass?: string, runAt?: Date } = {}): NewJob {
  // A lifecycle transition names the version it found due by its time too: a version written since
  // under the same id (an overwrite in an unversioned bucket) is not moved in its place.
  const payload = init.storageClass === undefined ? {} : { storageClass: init.storageClass, lastModified: version.lastModified?.getTime() }
  return {
    kind: ARCHIVE,
    key: versionKey(version.bucket, version.key, version.versionId),
    payload,
    ...(init.runAt === undefined ? {} : { runAt: init.runAt }),
  }
}

export interface ArchiveJobsInit {
  metadata: MetadataStore
  content: ContentStore
  /** Where archived content goes; without one, transitions to archive classes wait (and say why). */
  target?: ArchiveTarget
  /** Length of a lifecycle day in ms: a restore's Days count in these. */
  dayMs: number
  logger?: Pick<GatewayLogger, 'info' | 'warn'>
}

/** How long a job waits before trying again after a conflict with a concurrent change. */
const CONFLICT_RETRY_MS = 1000

/**
 * The archive job: makes one version's archive state what it should be, in order.
 *
 * 1. Transition. The version should be in an archive class (the job's or its own) and is not
 *    archived: its DAG is exported as a CAR and stored on the target (unless the CID's record shows
 *    it is there already), then one change records it, sets the class and releases the local
 *    reference, so gc may free the blocks. Until that change the version stays as it was and
 *    readable; a failure (the target down) leaves it so and the job retries with backoff.
 *    Already archived and asked for a colder class: only the class changes.
 * 2. Restore. A restore was requested: the CAR comes back from the target, every block is
 *    verified and the DAG must be complete under the version's CID (a corrupt or wrong CAR is
 *    refused: nothing commits, the job retries), then one change marks it restored until
 *    `expiry` and holds a local reference. The write session protects the imported blocks from
 *    a concurrent gc until that change commits.
 * 3. Expiry. A restored copy whose expiry has passed is dropped (the reference goes; gc frees the
 *    blocks); one not yet due waits for its expiry.
 *
 * Each step reads the stored state first and its change commits only over the state it read, so a
 * job killed at any point and run again finishes the work exactly once.
 */
export function archiveHandler (init: ArchiveJobsInit): JobHandler {
  return async (job, context) => {
    const [bucket, key, versionId] = JSON.parse(job.key) as [string, string, string]
    const read = async (): Promise<ObjectVersion | undefined> => {
      const v = await init.metadata.getObject(bucket, key, versionId, { signal: context.signal })
      return v === undefined || v.deleteMarker ? undefined : v
    }
    let version = await read()
    if (version === undefined) return { state: 'done' }
    const now = context.now()
    const later = { state: 'retry' as const, runAt: new Date(now.getTime() + CONFLICT_RETRY_MS) }

    const requested = typeof job.payload.storageClass === 'string' &&
      (typeof job.payload.lastModified !== 'number' || job.payload.lastModified === version.lastModified.getTime())
    const wanted = requested ? job.payload.storageClass as string : version.storageClass
    if (wanted !== undefined && wanted !== (version.storageClass ?? 'STANDARD') && classRank(wanted) > classRank(version.storageClass) &&
      (!isArchiveClass(wanted) || version.archived === true)) {
      // A label change, or a colder class for content archived already: no bytes move.
      const changed = await init.metadata.setVersionArchive(bucket, key, versionId, { cid: version.cid, storageClass: wanted }, { signal: context.signal })
      if (changed.status === 'missing') return { state: 'done' }
      version = await read()
      if (version === undefined) return { state: 'done' }
    } else if (isArchiveClass(wanted) && version.archived !== true && classRank(wanted) >= classRank(version.storageClass)) {
      const outcome = await transition(init, version, wanted as string, now, context.signal)
      if (outcome === 'missing') return { state: 'done' }
      if (outcome === 'conflict') return later
      version = await read()
      if (version === undefined) return { state: 'done' }
    }

    const restore = version.restore
    if (restore?.ongoing === true) {
      const outcome = await restoreVersion(init, version, restore.days, now, context.signal)
      if (outcome === 'missing') return { state: 'done' }
      if (outcome === 'conflict') return later
      version = await read()
      if (version === undefined) return { state: 'done' }
    }
    if (version.restore?.ongoing === false) {
      const expiry = version.restore.expiry
      if (expiry > now) return { state: 'retry', runAt: expiry }
      const dropped = await init.metadata.setVersionArchive(bucket, key, versionId, { cid: version.cid, restore: null, expect: 'restored' }, { signal: context.signal })
      if (dropped.status === 'conflict') return later
    }
    return { state: 'done' }
  }
}

type StepOutcome = 'done' | 'missing' | 'conflict'

async function transition (init: ArchiveJobsInit, version: ObjectVersion, storageClass: string, now: Date, signal: AbortSignal): Promise<StepOutcome> {
  const target = init.target
  if (target === undefined) throw Object.assign(new Error(`No archive target is configured: ${version.key} waits to move to ${storageClass}`), { retryable: true })
  const { bucket, key, versionId, cid } = version
  const existing = await init.metadata.getArchive(cid, { signal })
  let record = existing !== undefined && !existing.deleting ? existing : undefined
  if (record === undefined) {
    const car = await init.content.exportCar(cid, { signal })
    const location = await target.put(CID.parse(cid), car, { signal })
    record = { cid, target: target.name, location, archived: now, versions: 0, deleting: false }
  }
  const changed = await init.metadata.setVersionArchive(bucket, key, versionId,
    { cid, storageClass, archive: { target: record.target, location: record.location, archived: record.archived } }, { signal })
  if (changed.status === 'missing' && existing === undefined && await init.metadata.getArchive(cid, { signal }) === undefined) {
    // The version changed while its CAR was stored, and nothing else is archived with the CID.
    await target.delete(CID.parse(cid), record.location, { signal }).catch(() => {})
  }
  if (changed.status === 'changed') init.logger?.info({ bucket, key, versionId, cid, storageClass, target: record.target }, 'archived')
  return changed.status === 'changed' ? 'done' : changed.status
}

async function restoreVersion (init: ArchiveJobsInit, version: ObjectVersion, days: number, now: Date, signal: AbortSignal): Promise<StepOutcome> {
  const { bucket, key, versionId, cid } = version
  const expiry = dueAfter(now, days, init.dayMs)
  const session = init.content.session()
  try {
    if (version.archived === true) {
      const record = await init.metadata.getArchive(cid, { signal })
      const target = init.target
      if (record === undefined) throw new Error(`No archive record for ${cid}: ${key} cannot be restored`)
      if (target === undefined) throw new Error(`No archive target is configured: ${key} cannot be restored`)
      const car = await target.get(CID.parse(cid), record.location, { signal })
      const imported = await init.content.importCar(car, { session, signal })
      if (!imported.cid.equals(CID.parse(cid))) throw new Error(`The archive returned a CAR of ${imported.cid.toString()} for ${cid}`)
    }
    const changed = await init.metadata.setVersionArchive(bucket, key, versionId, { cid, restore: { ongoing: false, expiry }, expect: 'ongoing' },
      { signal, jobs: [archiveJob(version, { runAt: expiry })] })
    if (changed.status === 'changed') init.logger?.info({ bucket, key, versionId, cid, expiry }, 'restored')
    return changed.status === 'changed' ? 'done' : changed.status
  } finally {
    session.close()
  }
}

/**
 * The clean-up job of a CID whose archive record counts no version: marks the record deleting (so
 * no version counts on it meanwhile), removes the CAR from the target, then the record. A version
 * archived with the CID since is left alone (the job ends); one archived while this runs stores
 * the CAR again.
 */
export function archiveDeleteHandler (init: Pick<ArchiveJobsInit, 'metadata' | 'target'>): JobHandler {
  return async (job, context) => {
    const cid = job.key
    const record = await init.metadata.markArchiveDeleting(cid, { signal: context.signal })
    if (record === undefined) return { state: 'done' }
    if (init.target === undefined) throw new Error(`No archive target is configured to delete ${cid} from`)
    await init.target.delete(CID.parse(cid), record.location, { signal: context.signal })
    await init.metadata.deleteArchive(cid, { signal: context.signal })
    return { state: 'done' }
  }
}

export { ARCHIVE_DELETE }
