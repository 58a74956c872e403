/**
 * Storage classes as this gateway keeps them. STANDARD content lives in the blockstore; the archive
 * classes live on the archive target once transitioned: GLACIER_IR is read through on GET,
 * GLACIER and DEEP_ARCHIVE must be restored first (RestoreObject). The other classes S3 names
 * (STANDARD_IA, INTELLIGENT_TIERING, ...) are labels here: their content stays local.
 */
export const ARCHIVE_CLASSES: ReadonlySet<string> = new Set(['GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE'])

/** Classes whose objects need a RestoreObject before GET or Copy. */
export const RESTORE_CLASSES: ReadonlySet<string> = new Set(['GLACIER', 'DEEP_ARCHIVE'])

/** Where a class sits in S3's transition waterfall: objects move only to a colder (higher) class. */
const ORDER = ['STANDARD', 'INTELLIGENT_TIERING', 'STANDARD_IA', 'ONEZONE_IA', 'GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE']

export function classRank (storageClass: string | undefined): number {
  const rank = ORDER.indexOf(storageClass ?? 'STANDARD')
  return rank === -1 ? 0 : rank
}

export function isArchiveClass (storageClass: string | undefined): boolean {
  return storageClass !== undefined && ARCHIVE_CLASSES.has(storageClass)
}

/** Whether GET and Copy of a version must wait for a restore: an archive class that is not read through, not restored. */
export function needsRestore (version: { storageClass?: string, restore?: { ongoing: boolean } }): boolean {
  return version.storageClass !== undefined && RESTORE_CLASSES.has(version.storageClass) && version.restore?.ongoing !== false
}
