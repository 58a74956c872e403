import type { JobHandler } from '../jobs/handler.js'
import type { NewJob } from '../metadata/jobs.js'
import type { BucketRecord, ListedObject, MetadataStore, ObjectVersion } from '../metadata/metadata-store.js'
import type { GatewayLogger } from '../types.js'
import { fromStoredLifecycle, type LifecycleConfiguration } from './configuration.js'
import { abortDue, currentExpiry, nextBoundary, noncurrentDue, noncurrentTransitionDue, readsTags, removesLoneMarker, transitionDue } from './rules.js'
import { classRank, isArchiveClass } from '../archive/classes.js'
import { archiveJob } from '../archive/jobs.js'

/** The job kind of a bucket's lifecycle pass (one job per bucket, keyed by its name). */
export const LIFECYCLE = 'lifecycle'

export const DEFAULT_DAY_MS = 86_400_000

/** The job that runs a bucket's lifecycle pass now (enqueued when its configuration changes). */
export function lifecycleJob (bucket: string, runAt?: Date): NewJob {
  return { kind: LIFECYCLE, key: bucket, ...(runAt === undefined ? {} : { runAt }) }
}

export interface LifecycleInit {
  /** The gateway's metadata store: the same transactions (and their jobs) as user requests. */
  metadata: MetadataStore
  dayMs: number
  newVersionId: () => string
  /** Whether an archive target is configured: without one, transitions to archive classes are not applied. */
  archiving?: boolean
  /** Versions or uploads read per page. Default 500. */
  pageSize?: number
  /** How long one run works before it saves its place and yields. Default 5 s. */
  runMs?: number
  logger?: Pick<GatewayLogger, 'info' | 'warn'>
}

/** Where a pass is: walking versions (after a key and version), then uploads (after a key and upload). */
interface Cursor {
  phase: 'versions' | 'uploads'
  key?: string
  versionId?: string
  /** When the version after the cursor became noncurrent: the last-modified time of the one before it (ms). */
  successor?: number
  /** Noncurrent versions of the cursor's key seen so far (newer than the next one). */
  newer?: number
  uploadId?: string
}

export interface PassReport { expired: number, markersRemoved: number, noncurrentRemoved: number, uploadsAborted: number, transitions: number }

/**
 * Applies a bucket's lifecycle rules, as Amazon S3 does once a day: current versions due under an
 * Expiration rule are expired exactly as DeleteObject would (removed where the bucket was never
 * versioned, a delete marker where versioning is enabled, the null delete marker where it is
 * suspended); delete markers left alone are removed (ExpiredObjectDeleteMarker); noncurrent versions
 * due under NoncurrentVersionExpiration are removed for good, keeping NewerNoncurrentVersions;
 * multipart uploads due under AbortIncompleteMultipartUpload are aborted. Every change is the
 * store's own transaction, releasing references for gc.
 *
 * The pass is a durable job: it saves its place after each page, so a process killed mid-pass
 * resumes there; each decision is taken again from the stored state, so a page run twice changes
 * nothing more. Done, it waits for the next day boundary. A bucket without rules ends its job.
 */
export function lifecycleHandler (init: LifecycleInit): JobHandler {
  const pageSize = init.pageSize ?? 500
  const runMs = init.runMs ?? 5000
  return async (job, context) => {
    const bucket = await init.metadata.getBucket(job.key, { signal: context.signal })
    const config = fromStoredLifecycle(bucket?.config?.lifecycle)
    if (bucket === undefined || config === undefined) return { state: 'done' }
    const now = context.now()
    const pass = new Pass(init, bucket, config, now, context.signal, pageSize)
    let cursor = (job.payload.cursor as Cursor | undefined) ?? { phase: 'versions' }
    const until = Date.now() + runMs
    while (true) {
      const next = cursor.phase === 'versions' ? await pass.versions(cursor) : await pass.uploads(cursor)
      if (next === undefined) {
        const r = pass.report
        if (r.expired + r.markersRemoved + r.noncurrentRemoved + r.uploadsAborted + r.transitions > 0) init.logger?.info({ bucket: bucket.name, ...r }, 'lifecycle pass')
        return { state: 'retry', runAt: nextBoundary(now, init.dayMs), payload: {} }
      }
      cursor = next
      if (Date.now() >= until) return { state: 'retry', runAt: now, payload: { cursor } }
    }
  }
}

class Pass {
  readonly report: PassReport = { expired: 0, markersRemoved: 0, noncurrentRemoved: 0, uploadsAborted: 0, transitions: 0 }
  private readonly tags: boolean
  /** Archive jobs of the page being walked, for the versions a Transition rule moves. */
  private transitions: NewJob[] = []

  constructor (
    private readonly init: LifecycleInit,
    private readonly bucket: BucketRecord,
    private readonly config: LifecycleConfiguration,
    private readonly now: Date,
    private readonly signal: AbortSignal,
    private readonly pageSize: number,
  ) {
    this.tags = readsTags(config)
  }

  /** One page of versions; the cursor after it, or the uploads phase when the versions are done. */
  async versions (cursor: Cursor): Promise<Cursor | undefined> {
    const { metadata } = this.init
    const page = await metadata.listVersions(this.bucket.name, {
      after: cursor.key === undefined ? undefined : { key: cursor.key, versionId: cursor.versionId },
      limit: this.pageSize,
      signal: this.signal,
    })
    let at = cursor
    for (const v of page) {
      this.signal.throwIfAborted()
      const sameKey = v.key === at.key
      const successor = sameKey ? at.successor : undefined
      const newer = sameKey ? at.newer ?? 0 : 0
      const latest = v.isLatest === true || !sameKey
      if (latest) await this.current(v)
      else if (successor !== undefined && await this.noncurrent(v, new Date(successor), newer)) this.report.noncurrentRemoved++
      at = { phase: 'versions', key: v.key, versionId: v.versionId, successor: v.lastModified.getTime(), newer: latest ? 0 : newer + 1 }
    }
    // The page's transitions: each an archive job (merged with one already waiting), done by the job worker.
    if (this.transitions.length > 0) {
      await this.init.metadata.enqueueJobs(this.transitions, { signal: this.signal })
      this.report.transitions += this.transitions.length
      this.transitions = []
    }
    return page.length < this.pageSize ? { phase: 'uploads' } : at
  }

  private async subject (v: ListedObject): Promise<{ key: string, size: number, tags?: Array<[string, string]> }> {
    if (!this.tags) return { key: v.key, size: v.size }
    const full = await this.init.metadata.getObject(this.bucket.name, v.key, v.versionId, { signal: this.signal })
    return { key: v.key, size: v.size, tags: full?.tags ?? [] }
  }

  private async current (v: ListedObject): Promise<void> {
    const { metadata } = this.init
    const name = this.bucket.name
    if (v.deleteMarker) {
      if (!removesLoneMarker(this.config, v.key)) return
      const older = await metadata.listVersions(name, { after: { key: v.key, versionId: v.versionId }, limit: 1, signal: this.signal })
      if (older[0]?.key === v.key) return
      await metadata.deleteObject(name, v.key, v.versionId, { signal: this.signal })
      this.report.markersRemoved++
      return
    }
    const subject = await this.subject(v)
    const expiry = currentExpiry(this.config, subject, v.lastModified, this.init.dayMs)
    if (expiry === undefined || expiry.at > this.now) {
      this.transition(v, transitionDue(this.config, subject, v.lastModified, this.now, this.init.dayMs))
      return
    }
    // The version may have been replaced since it was listed: expire only the one that was due.
    const latest = await metadata.getObject(name, v.key, undefined, { signal: this.signal })
    if (latest === undefined || latest.deleteMarker || latest.versionId !== v.versionId || latest.lastModified.getTime() !== v.lastModified.getTime()) return
    if (this.bucket.versioning === 'Unversioned') {
      await metadata.deleteObject(name, v.key, 'null', { signal: this.signal })
    } else {
      // The marker commits only over the same current content (a write since the check above wins).
      try {
        await metadata.putObject(this.marker(v.key), { signal: this.signal, condition: { current: 'object', etags: [v.etag] } })
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ERR_CONDITION_FAILED') return
        throw err
      }
    }
    this.report.expired++
  }

  /** Moves a version to a colder class when a rule made one due (by the version's archive job). */
  private transition (v: ListedObject, due: string | undefined): void {
    if (due === undefined || classRank(due) <= classRank(v.storageClass)) return
    if (isArchiveClass(due) && this.init.archiving !== true) return
    this.transitions.push(archiveJob({ bucket: this.bucket.name, key: v.key, versionId: v.versionId, lastModified: v.lastModified }, { storageClass: due }))
  }

  /** Removes a noncurrent version when a rule says so (true), or moves it when a transition is due. */
  private async noncurrent (v: ListedObject, since: Date, newer: number): Promise<boolean> {
    const subject = await this.subject(v)
    if (!noncurrentDue(this.config, subject, since, newer, this.now, this.init.dayMs)) {
      this.transition(v, noncurrentTransitionDue(this.config, subject, since, newer, this.now, this.init.dayMs))
      return false
    }
    const result = await this.init.metadata.deleteObject(this.bucket.name, v.key, v.versionId, { signal: this.signal })
    return result.deleted !== undefined
  }

  /** The delete marker a lifecycle expiration writes: the bucket owner's, versioned or the null one. */
  private marker (key: string): ObjectVersion {
    return {
      bucket: this.bucket.name,
      key,
      versionId: this.bucket.versioning === 'Enabled' ? this.init.newVersionId() : 'null',
      deleteMarker: true,
      cid: '',
      size: 0,
      etag: '',
      lastModified: new Date(Math.floor(this.now.getTime() / 1000) * 1000),
      owner: this.bucket.owner,
      headers: {},
      metadata: {},
      tags: [],
    }
  }

  /** One page of multipart uploads; the cursor after it, or undefined when the pass is done. */
  async uploads (cursor: Cursor): Promise<Cursor | undefined> {
    if (!this.config.rules.some(r => r.enabled && r.abortIncompleteDays !== undefined)) return undefined
    const { metadata } = this.init
    const page = await metadata.listUploads(this.bucket.name, {
      after: cursor.key === undefined ? undefined : { key: cursor.key, uploadId: cursor.uploadId },
      limit: this.pageSize,
      signal: this.signal,
    })
    for (const upload of page) {
      this.signal.throwIfAborted()
      if (abortDue(this.config, upload.key, upload.initiated, this.now, this.init.dayMs) &&
        await metadata.abortUpload(this.bucket.name, upload.key, upload.uploadId, { signal: this.signal }) !== undefined) {
        this.report.uploadsAborted++
      }
    }
    const last = page[page.length - 1]
    return page.length < this.pageSize || last === undefined ? undefined : { phase: 'uploads', key: last.key, uploadId: last.uploadId }
  }
}
