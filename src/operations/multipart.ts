import { createHash } from 'node:crypto'
import { S3Error } from '../errors.js'
import type { MultipartUpload, UploadedPart } from '../metadata/metadata-store.js'
import type { XmlObject } from '../xml/render.js'
import type { OperationContext } from './context.js'
import { requireBucket } from './common.js'

/** Every part but the last must be at least this large (Amazon S3's limit). */
export const MIN_PART_SIZE = 5 * 1024 * 1024
/** Part numbers run from 1 to this. */
export const MAX_PART_NUMBER = 10000
/** The largest object a multipart upload may build (Amazon S3's limit). */
export const MAX_MULTIPART_OBJECT_SIZE = 5 * 1024 ** 4

/** `partNumber`, required and within 1..10000. */
export function partNumberParam (ctx: OperationContext): number {
  const raw = ctx.query.get('partNumber')
  if (raw === null || !/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_PART_NUMBER) {
    throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, { ArgumentName: 'partNumber', ArgumentValue: raw ?? '' })
  }
  return Number(raw)
}

export function uploadIdParam (ctx: OperationContext): string {
  return ctx.query.get('uploadId') ?? ''
}

export function noSuchUpload (uploadId: string): S3Error {
  return new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId })
}

/**
 * The upload in progress a request names. A missing bucket is NoSuchBucket (looked up only on a
 * miss); an upload that never existed, was aborted or completed, or belongs to another key is
 * NoSuchUpload.
 */
export async function requireUpload (ctx: OperationContext, uploadId = uploadIdParam(ctx)): Promise<MultipartUpload> {
  const upload = uploadId === '' ? undefined : await ctx.metadata.getUpload(ctx.bucket, ctx.key, uploadId, { signal: ctx.signal })
  if (upload === undefined) {
    await requireBucket(ctx)
    throw noSuchUpload(uploadId)
  }
  return upload
}

/** S3's multipart ETag: the MD5 of the parts' binary MD5s, then `-<number of parts>`. */
export function multipartEtag (partEtags: string[]): string {
  const md5 = createHash('md5')
  for (const etag of partEtags) md5.update(Buffer.from(etag, 'hex'))
  return `${md5.digest('hex')}-${partEtags.length}`
}

/** An ETag as a client sends it back: quotes (and a W/ prefix some tools add) removed. */
export function bareEtag (etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1').replace(/^&quot;(.*)&quot;$/, '$1')
}

/** `Checksum<ALG>` elements of a part in ListParts, CopyPartResult and friends. */
export function partChecksumXml (part: Pick<UploadedPart, 'checksum'>): XmlObject {
  return part.checksum === undefined ? {} : { [`Checksum${part.checksum.algorithm}`]: part.checksum.value }
}

/** Initiator / Owner elements of uploads in listings. */
export function ownerXml (upload: MultipartUpload): XmlObject {
  return { ID: upload.owner, DisplayName: upload.ownerDisplayName ?? upload.owner }
}
