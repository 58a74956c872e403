import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { intParam, quoteEtag, xmlResponse } from './common.js'
import { MAX_PART_NUMBER, ownerXml, partChecksumXml, requireUpload } from './multipart.js'

const MAX_PARTS = 1000

function partNumberMarker (ctx: OperationContext): number | undefined {
  const raw = ctx.query.get('part-number-marker')
  if (raw === null || raw === '') return undefined
  if (!/^\d+$/.test(raw) || Number(raw) > 2147483647) {
    throw new S3Error('InvalidArgument', 'Provided part-number-marker not an integer or within integer range', { ArgumentName: 'part-number-marker', ArgumentValue: raw })
  }
  return Number(raw)
}

/** The parts of an upload in progress, a page at a time by part number. */
export async function listParts (ctx: OperationContext) {
  const upload = await requireUpload(ctx)
  const maxParts = intParam(ctx, 'max-parts', MAX_PARTS, MAX_PARTS)
  const marker = partNumberMarker(ctx)
  const parts = maxParts === 0 || (marker ?? 0) >= MAX_PART_NUMBER
    ? []
    : await ctx.metadata.listParts(upload.bucket, upload.key, upload.uploadId, { after: marker, limit: maxParts + 1, signal: ctx.signal })
  if (parts === undefined) throw new S3Error('NoSuchUpload', undefined, { UploadId: upload.uploadId })
  const truncated = parts.length > maxParts
  const page = parts.slice(0, maxParts)
  const last = page[page.length - 1]
  return xmlResponse('ListPartsResult', {
    Bucket: upload.bucket,
    Key: upload.key,
    UploadId: upload.uploadId,
    PartNumberMarker: marker ?? 0,
    NextPartNumberMarker: last?.partNumber ?? marker ?? 0,
    MaxParts: maxParts,
    IsTruncated: truncated,
    Part: page.map(p => ({
      PartNumber: p.partNumber,
      LastModified: p.lastModified,
      ETag: quoteEtag(p.etag),
      Size: p.size,
      ...partChecksumXml(p),
    })),
    Initiator: ownerXml(upload),
    Owner: ownerXml(upload),
    StorageClass: upload.storageClass ?? 'STANDARD',
    ChecksumAlgorithm: upload.checksumAlgorithm,
    ChecksumType: upload.checksumType,
  })
}
