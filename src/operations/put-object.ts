import { S3Error } from '../errors.js'
import { assertValidKey } from '../protocol/names.js'
import { openPayload } from '../protocol/payload.js'
import type { ObjectVersion } from '../metadata/metadata-store.js'
import type { OperationContext } from './context.js'
import { newObjectOwnership } from './acl-common.js'
import { isCarImport, putCarObject } from './car-upload.js'
import { bucketProfile } from './bucket-profile.js'
import { cidHeaders, emptyResponse, quoteEtag, requireBucket, timestamp } from './common.js'
import { checksumHeader, writeAttributes } from './object-attributes.js'
import { newVersionId, versionIdHeader } from './versioning.js'
import { checkWriteConditions } from './write-conditions.js'
import { bucketExpirationHeader } from '../lifecycle/rules.js'
import { carWithEncryption, encryptionHeaders, etagOf, newEncryption, storedSize, toStored } from './encryption.js'

/**
 * Streams the body through every check into the blockstore, then commits the version in one
 * metadata transaction (which also checks If-None-Match / If-Match, write-conditions.ts). Nothing
 * is visible until every byte is stored, flushed and verified.
 */
export async function putObject (ctx: OperationContext) {
  assertValidKey(ctx.key)
  const bucket = await requireBucket(ctx)
  const attributes = { ...writeAttributes(ctx.req.headers, ctx.archive !== undefined), ...newObjectOwnership(ctx, bucket) }
  const encryption = newEncryption(ctx, bucket)
  if (isCarImport(ctx.req.headers)) {
    if (encryption !== undefined) throw carWithEncryption()
    return await putCarObject(ctx, bucket, attributes)
  }
  const condition = await checkWriteConditions(ctx)
  const payload = openPayload(ctx.req, ctx.auth, { maxSize: ctx.maxObjectSize })
  const stored = toStored(payload, encryption?.dataKey)
  const { cid, size } = await ctx.content.add(stored, { profile: bucketProfile(ctx, bucket), session: ctx.session, signal: ctx.signal })
  const digests = payload.digests()
  if (size !== storedSize(digests.size, encryption !== undefined)) throw new S3Error('InternalError', 'Stored size differs from the received size.')
  const version: ObjectVersion = {
    bucket: bucket.name,
    key: ctx.key,
    versionId: newVersionId(ctx, bucket),
    deleteMarker: false,
    cid: cid.toString(),
    size: digests.size,
    etag: etagOf(digests.md5, cid.toString(), encryption?.record),
    lastModified: timestamp(ctx),
    ...attributes,
    checksum: digests.checksum === undefined ? undefined : { ...digests.checksum, type: 'FULL_OBJECT' },
    encryption: encryption?.record,
  }
  await ctx.metadata.putObject(version, { signal: ctx.signal, condition })
  return emptyResponse(200, {
    etag: quoteEtag(version.etag),
    ...cidHeaders(version.cid),
    ...checksumHeader(version.checksum),
    ...versionIdHeader(bucket, version.versionId),
    ...encryptionHeaders(version.encryption),
    ...bucketExpirationHeader(bucket, version, ctx.lifecycleDayMs),
  })
}
