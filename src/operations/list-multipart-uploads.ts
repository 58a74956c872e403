import type { MultipartUpload, UploadListOptions } from '../metadata/metadata-store.js'
import type { XmlObject } from '../xml/render.js'
import type { OperationContext } from './context.js'
import { encodingTypeParam, intParam, requireBucket, urlEncodeIf, xmlResponse } from './common.js'
import { commonPrefixOf, listingParams, prefixSuccessor } from './listing.js'
import { ownerXml } from './multipart.js'

const MAX_UPLOADS = 1000

type Entry = { kind: 'upload', upload: MultipartUpload } | { kind: 'prefix', prefix: string }

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

  let cursor: Pick<UploadListOptions, 'after' | 'from'> = {}
  if (keyMarker !== '') {
    const rolled = commonPrefixOf(keyMarker, prefix, delimiter)
    const next = rolled === undefined ? undefined : prefixSuccessor(rolled)
    cursor = next !== undefined ? { from: next } : { after: { key: keyMarker, uploadId: uploadIdMarker === '' ? undefined : uploadIdMarker } }
  }

  const entries: Entry[] = []
  let truncated = false
  page: while (maxUploads > 0) {
    const need = maxUploads - entries.length + 1
    const batch = await ctx.metadata.listUploads(bucket.name, { prefix, ...cursor, limit: need, signal: ctx.signal })
    for (const upload of batch) {
      if (entries.length === maxUploads) { truncated = true; break page }
      const rolled = commonPrefixOf(upload.key, prefix, delimiter)
      if (rolled === undefined) {
        entries.push({ kind: 'upload', upload })
        cursor = { after: { key: upload.key, uploadId: upload.uploadId } }
        continue
      }
      entries.push({ kind: 'prefix', prefix: rolled })
      const next = prefixSuccessor(rolled)
      if (next === undefined) break page
      cursor = { from: next }
      continue page
    }
    if (batch.length < need) break
  }

  const last = entries[entries.length - 1]
  const nextKeyMarker = last === undefined ? undefined : last.kind === 'upload' ? last.upload.key : last.prefix
  const nextUploadIdMarker = last?.kind === 'upload' ? last.upload.uploadId : undefined
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
    Upload: entries.flatMap(e => e.kind === 'upload' ? [uploadXml(e.upload, encode)] : []),
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
