import type { MultipartUpload } from '../metadata/metadata-store.js'
import type { XmlObject } from '../xml/render.js'
import type { OperationContext } from './context.js'
import { encodingTypeParam, intParam, requireBucket, urlEncodeIf, xmlResponse } from './common.js'
import { listingParams, markerPage } from './listing.js'
import { ownerXml } from './multipart.js'

const MAX_UPLOADS = 1000

/**
 * Uploads in progress, by key and then initiation order, with S3's markers and delimiter roll-up.
 * A common prefix is skipped with one seek, however many uploads it holds.
 */
export async function listMultipartUploads (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const { prefix, delimiter } = listingParams(ctx)
  const maxUploads = intParam(ctx, 'max-uploads', MAX_UPLOADS, MAX_UPLOADS)
  const encode = encodingTypeParam(ctx)
  const keyMarker = ctx.query.get('key-marker') ?? ''
  // S3 ignores upload-id-marker without key-marker.
  const uploadIdMarker = keyMarker === '' ? '' : (ctx.query.get('upload-id-marker') ?? '')

  const { entries, truncated } = await markerPage({
    prefix,
    delimiter,
    max: maxUploads,
    marker: keyMarker === '' ? undefined : { key: keyMarker, uploadId: uploadIdMarker === '' ? undefined : uploadIdMarker },
    fetch: async (cursor, limit) => await ctx.metadata.listUploads(bucket.name, { prefix, ...cursor, limit, signal: ctx.signal }),
    markerOf: (u: MultipartUpload) => ({ key: u.key, uploadId: u.uploadId as string | undefined }),
  })

  const last = entries[entries.length - 1]
  const nextKeyMarker = last === undefined ? undefined : last.kind === 'item' ? last.item.key : last.prefix
  const nextUploadIdMarker = last?.kind === 'item' ? last.item.uploadId : undefined
  return xmlResponse('ListMultipartUploadsResult', {
    Bucket: bucket.name,
    KeyMarker: urlEncodeIf(encode, keyMarker),
    UploadIdMarker: uploadIdMarker,
    NextKeyMarker: truncated ? urlEncodeIf(encode, nextKeyMarker) : undefined,
    NextUploadIdMarker: truncated ? nextUploadIdMarker : undefined,
    Delimiter: urlEncodeIf(encode, delimiter),
    Prefix: urlEncodeIf(encode, prefix),
    MaxUploads: maxUploads,
    EncodingType: encode ? 'url' : undefined,
    IsTruncated: truncated,
    Upload: entries.flatMap(e => e.kind === 'item' ? [uploadXml(e.item, encode)] : []),
    CommonPrefixes: entries.flatMap(e => e.kind === 'prefix' ? [{ Prefix: urlEncodeIf(encode, e.prefix) }] : []),
  })
}

function uploadXml (upload: MultipartUpload, encode: boolean): XmlObject {
  return {
    Key: urlEncodeIf(encode, upload.key),
    UploadId: upload.uploadId,
    Initiator: ownerXml(upload),
    Owner: ownerXml(upload),
    StorageClass: upload.storageClass ?? 'STANDARD',
    Initiated: upload.initiated,
    ChecksumAlgorithm: upload.checksumAlgorithm,
    ChecksumType: upload.checksumType,
  }
}
