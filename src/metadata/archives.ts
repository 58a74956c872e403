import type { AbortOptions } from '../types.js'
import type { ChangeOptions, NewJob } from './jobs.js'
import type { ObjectVersion } from './metadata-store.js'

/**
 * Archived content: one record per root CID whose CAR an archive target holds, and the state of
 * the versions archived with it. A version of an archive storage class moves through
 *
 *   local (blocks in the blockstore, a local reference) → archived (a CAR on the target; the version
 *   holds the archive record instead) → restore requested → restored (blocks imported again, a
 *   local reference held until `expiry`) → archived again.
 *
 * References follow the state in the same transaction as the change (see `versionHolds`): gc frees
 * the blocks of archived content, and keeps those of restored content.
 */
export interface ArchiveRecord {
  cid: string
  /** The archive target's name (ArchiveTarget.name). */
  target: string
  /** Where the target put the CAR, as it described it (ArchiveLocation). */
  location: Record<string, unknown>
  archived: Date
  /** Versions archived with this content now. Kept by the store. */
  versions: number
  /**
   * The clean-up job is removing the CAR from the target (no version is archived with it): a
   * version archived now must store the CAR again rather than count on this one.
   */
  deleting: boolean
}

/** A version's restore (RestoreObject): requested and running, or done and held until `expiry`. */
export type RestoreState =
  | { ongoing: true, days: number, requested: Date }
  | { ongoing: false, expiry: Date }

/** The restore state a change expects the version to have: none, one running, or one done. */
export type RestoreExpectation = 'none' | 'ongoing' | 'restored'

export interface ArchiveChange {
  /** The version's content: when it has another CID now (or is gone), nothing changes ('missing'). */
  cid: string
  /** The version's new storage class. */
  storageClass?: string
  /**
   * The version's content was stored on the target: the version becomes archived and counts in the
   * CID's record, created from this when there is none. 'conflict' when the version is archived
   * already, or the CID's record is being deleted (store the CAR again, then retry).
   */
  archive?: Pick<ArchiveRecord, 'target' | 'location' | 'archived'>
  /** The version's new restore state; null clears it. */
  restore?: RestoreState | null
  /** Change only when the version's restore state is this now; otherwise 'conflict'. */
  expect?: RestoreExpectation
}

export type ArchiveChangeResult =
  | { status: 'changed', version: ObjectVersion, released: string[] }
  | { status: 'missing' }
  | { status: 'conflict', version: ObjectVersion }

/** The job a store enqueues, in the change's transaction, when a CID's record counts no version any more. */
export const ARCHIVE_DELETE = 'archive-delete'

export function archiveDeleteJob (cid: string): NewJob {
  return { kind: ARCHIVE_DELETE, key: cid }
}

/** What a store keeps of archived content. */
export interface ArchiveStore {
  /**
   * Changes the archive state of one version in one transaction (see ArchiveChange), and the
   * references with it: what the version holds before and after (`versionHolds`) is retained and
   * released; a record left counting no version gets its clean-up job (ARCHIVE_DELETE).
   */
  setVersionArchive(bucket: string, key: string, versionId: string, change: ArchiveChange, options?: ChangeOptions): Promise<ArchiveChangeResult>

  /** The CID's record, if there is one. */
  getArchive(cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined>

  /**
   * Marks the CID's record as being deleted when it counts no version: the record, now `deleting`;
   * undefined (nothing changes) when there is none or a version is archived with it.
   */
  markArchiveDeleting(cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined>

  /** Removes the record when it is being deleted and counts no version. False otherwise. */
  deleteArchive(cid: string, options?: AbortOptions): Promise<boolean>
}

/**
 * What a version holds: a local reference on its CID (the blocks stay), unless it is archived and
 * not restored; and a count in the CID's archive record while it is archived. Delete markers hold
 * nothing.
 */
export function versionHolds (version: Pick<ObjectVersion, 'deleteMarker' | 'cid' | 'archived' | 'restore'>): { local?: string, archive?: string } {
  if (version.deleteMarker || version.cid === '') return {}
  if (version.archived !== true) return { local: version.cid }
  return version.restore?.ongoing === false ? { local: version.cid, archive: version.cid } : { archive: version.cid }
}

/** Whether a version holds its content locally (not archived, or restored). */
export function holdsLocally (version: Pick<ObjectVersion, 'deleteMarker' | 'cid' | 'archived' | 'restore'>): boolean {
  return versionHolds(version).local !== undefined
}

/** The restore state of a version as a change's `expect` names it. */
export function restoreExpectation (version: Pick<ObjectVersion, 'restore'>): RestoreExpectation {
  return version.restore === undefined ? 'none' : version.restore.ongoing ? 'ongoing' : 'restored'
}

/**
 * The version an archive change leads to, or why it does not apply: the part of the change every
 * store decides the same way. `recordDeleting` says whether the CID's record is being deleted.
 */
export function applyArchiveChange<V extends Pick<ObjectVersion, 'cid' | 'deleteMarker' | 'archived' | 'restore' | 'storageClass'>> (
  version: V | undefined, change: ArchiveChange, recordDeleting: boolean,
): { status: 'missing' } | { status: 'conflict' } | { status: 'changed', next: V } {
  if (version === undefined || version.deleteMarker || version.cid !== change.cid) return { status: 'missing' }
  if (change.expect !== undefined && restoreExpectation(version) !== change.expect) return { status: 'conflict' }
  if (change.archive !== undefined && (version.archived === true || recordDeleting)) return { status: 'conflict' }
  const next = { ...version }
  if (change.storageClass === 'STANDARD') delete next.storageClass
  else if (change.storageClass !== undefined) next.storageClass = change.storageClass
  if (change.archive !== undefined) next.archived = true
  if (change.restore === null) delete next.restore
  else if (change.restore !== undefined) next.restore = change.restore
  return { status: 'changed', next }
}
