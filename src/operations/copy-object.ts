import { S3Error } from '../errors.js'
import { checkCopySourceConditions } from '../protocol/conditional.js'
import { parseTaggingHeader } from '../protocol/headers.js'
import { assertValidKey } from '../protocol/names.js'
import type { ObjectVersion } from '../metadata/metadata-store.js'
import type { OperationContext } from './context.js'
import { cidHeaders, quoteEtag, requireBucket, requireObject, xmlResponse, timestamp } from './common.js'
import { parseCopySource } from './copy-source.js'
import { rejectUnsupportedWriteHeaders, writeAttributes } from './object-attributes.js'
import { newVersionId, versionIdHeader } from './versioning.js'
import { checkWriteConditions } from './write-conditions.js'

function directive (ctx: OperationContext, header: string): 'COPY' | 'REPLACE' {
  const value = ctx.req.headers[header]
  if (value === undefined) return 'COPY'
  const upper = value.toUpperCase()
  if (upper !== 'COPY' && upper !== 'REPLACE') {
    throw new S3Error('InvalidArgument', `Unknown ${header === 'x-amz-metadata-directive' ? 'metadata' : 'tagging'} directive.`, { ArgumentName: header, ArgumentValue: value })
  }
  return upper
}

/**
 * A copy of whole content is metadata only: the new version references the source's CID, so no
 * byte is read or written.
 */
export async function copyObject (ctx: OperationContext) {
  assertValidKey(ctx.key)
  const target = await requireBucket(ctx)
  const source = parseCopySource(ctx.req.headers['x-amz-copy-source'])
  const from = await requireObject(ctx, source.bucket, source.key, source.versionId)
  checkCopySourceConditions(ctx.req.headers, from)

  const metadataDirective = directive(ctx, 'x-amz-metadata-directive')
  const taggingDirective = directive(ctx, 'x-amz-tagging-directive')
  rejectUnsupportedWriteHeaders(ctx.req.headers)
  const storageClassChange = ctx.req.headers['x-amz-storage-class'] !== undefined
  if (source.bucket === ctx.bucket && source.key === ctx.key && source.versionId === undefined &&
    metadataDirective === 'COPY' && !storageClassChange) {
    throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.')
  }
  const replaced = metadataDirective === 'REPLACE' ? writeAttributes(ctx.req.headers) : undefined
  const storageClass = ctx.req.headers['x-amz-storage-class'] !== undefined
    ? writeAttributes({ 'x-amz-storage-class': ctx.req.headers['x-amz-storage-class'] }).storageClass
    : from.storageClass
  const tags = taggingDirective === 'REPLACE' ? parseTaggingHeader(ctx.req.headers['x-amz-tagging']) : from.tags

  await checkWriteConditions(ctx)
  ctx.session.hold(from.cid)
  const version: ObjectVersion = {
    bucket: target.name,
    key: ctx.key,
    versionId: newVersionId(ctx, target),
    deleteMarker: false,
    cid: from.cid,
    size: from.size,
    etag: from.etag,
    lastModified: timestamp(ctx),
    owner: ctx.principal,
    headers: replaced?.headers ?? from.headers,
    metadata: replaced?.metadata ?? from.metadata,
    tags,
    storageClass,
    checksum: from.checksum,
    partsCount: from.partsCount,
    partSizes: from.partSizes,
  }
  // The source may have been deleted (and its blocks collected elsewhere) since it was read.
  await ctx.metadata.putObject(version, { signal: ctx.signal, sourceCid: from.cid })
  const headers: Record<string, string> = { ...cidHeaders(version.cid), ...versionIdHeader(target, version.versionId) }
  if (from.versionId !== 'null') headers['x-amz-copy-source-version-id'] = from.versionId
  return xmlResponse('CopyObjectResult', {
    ETag: quoteEtag(version.etag),
    LastModified: version.lastModified,
    ...(version.checksum === undefined ? {} : { [`Checksum${version.checksum.algorithm}`]: version.checksum.value }),
  }, 200, headers)
}
