import { CID } from 'multiformats/cid'
import { S3Error } from '../errors.js'
import { versionHolds } from '../metadata/archives.js'
import type { ObjectVersion } from '../metadata/metadata-store.js'
import type { OperationContext } from '../operations/context.js'
import { needsRestore } from './classes.js'

/** 403 InvalidObjectState: the version is archived and not restored. */
export function invalidObjectState (version: Pick<ObjectVersion, 'storageClass'>): S3Error {
  return new S3Error('InvalidObjectState', 'The operation is not valid for the object\'s storage class', { StorageClass: version.storageClass ?? 'STANDARD' })
}

/**
 * Makes a version's bytes readable for this request, or refuses as S3 does: an archived GLACIER or
 * DEEP_ARCHIVE version not restored is 403 InvalidObjectState; an archived version that is read
 * through (GLACIER_IR) has its CAR fetched from the target, every block verified, and imported
 * under the request's write session, which keeps the blocks from gc until the request ends (they
 * are garbage afterwards: nothing references them). Local content is left as it is.
 */
export async function readable (ctx: OperationContext, version: ObjectVersion): Promise<void> {
  if (needsRestore(version)) throw invalidObjectState(version)
  if (versionHolds(version).local !== undefined) return
  const target = ctx.archive
  const record = await ctx.metadata.getArchive(version.cid, { signal: ctx.signal })
  if (target === undefined || record === undefined) {
    throw new S3Error('InternalError', `The archived content of this object cannot be read: ${target === undefined ? 'no archive target is configured' : 'its archive record is missing'}`)
  }
  const car = await target.get(CID.parse(version.cid), record.location, { signal: ctx.signal })
  const imported = await ctx.content.importCar(car, { session: ctx.session, signal: ctx.signal })
  if (!imported.cid.equals(CID.parse(version.cid))) throw new S3Error('InternalError', 'The archive target returned other content than the object\'s')
}

/** `x-amz-restore` of a version with a restore requested or done (HEAD and GET show it). */
export function restoreHeader (version: Pick<ObjectVersion, 'restore'>): Record<string, string> {
  const restore = version.restore
  if (restore === undefined) return {}
  return { 'x-amz-restore': restore.ongoing ? 'ongoing-request="true"' : `ongoing-request="false", expiry-date="${restore.expiry.toUTCString()}"` }
}
