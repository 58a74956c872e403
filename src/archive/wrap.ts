import type { MetadataStore, ObjectVersion } from '../metadata/metadata-store.js'
import type { ChangeOptions } from '../metadata/jobs.js'
import { isArchiveClass } from './classes.js'
import { archiveJob } from './jobs.js'
import { withOverrides } from '../metadata/overrides.js'

/**
 * The metadata store with the archive job of every version written in an archive class (PUT,
 * Copy, POST or Complete with `x-amz-storage-class: GLACIER`, ...) enqueued in the write's own
 * transaction: the version exists exactly when the job that moves it to the archive target does.
 * Without an archive target (`enabled` false) the store is returned as it is.
 */
export function withArchiveJobs (store: MetadataStore, enabled: boolean): MetadataStore {
  if (!enabled) return store
  const withJob = <T extends ChangeOptions | undefined>(options: T, version: ObjectVersion): T | ChangeOptions =>
    version.deleteMarker || !isArchiveClass(version.storageClass) ? options : { ...options, jobs: [...options?.jobs ?? [], archiveJob(version)] }
  const overrides: Partial<MetadataStore> = {
    putObject: async (v, o) => await store.putObject(v, withJob(o, v)),
    completeUpload: async (v, id, parts, c, o) => await store.completeUpload(v, id, parts, c, withJob(o, v)),
  }
  return withOverrides(store, overrides)
}
