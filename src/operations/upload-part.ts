import { encryptionHeaders, etagOf, storedSize, toStored, uploadDataKey } from './encryption.js'
import { S3Error } from '../errors.js'
import { isCidProfileName } from '../content/profiles.js'
import { openPayload } from '../protocol/payload.js'
import type { MultipartUpload, UploadedPart } from '../metadata/metadata-store.js'
import type { OperationContext } from './context.js'
import { emptyResponse, quoteEtag, timestamp } from './common.js'
import { noSuchUpload, partNumberParam, requireUpload } from './multipart.js'

/** The profile an upload's parts are imported under. */
export function uploadProfile (upload: MultipartUpload) {
  if (!isCidProfileName(upload.profile)) throw new S3Error('InternalError', `The upload's CID profile "${upload.profile}" is unknown to this gateway.`)
  return upload.profile
}

/** Stores a part once every byte is stored and verified; the upload must still be in progress. */
export async function storePart (ctx: OperationContext, upload: MultipartUpload, part: UploadedPart, sourceCid?: string): Promise<void> {
  const result = await ctx.metadata.putPart(upload.bucket, upload.key, upload.uploadId, part, { signal: ctx.signal, sourceCid })
  // Aborted (or completed) while the part was uploading: its blocks are left unreferenced.
  if (result === undefined) throw noSuchUpload(upload.uploadId)
}

/**
 * One part, streamed through every payload check into the blockstore as its own UnixFS DAG under
 * the upload's profile. Nothing is recorded until all of it is stored and verified.
 */
export async function uploadPart (ctx: OperationContext) {
  const partNumber = partNumberParam(ctx)
  const upload = await requireUpload(ctx)
  const profile = uploadProfile(upload)
  const dataKey = uploadDataKey(ctx, upload)
  const payload = openPayload(ctx.req, ctx.auth, { maxSize: ctx.maxObjectSize, checksumAlgorithm: upload.checksumAlgorithm })
  const { cid, size } = await ctx.content.add(toStored(payload, dataKey), { profile, session: ctx.session, signal: ctx.signal })
  const digests = payload.digests()
  if (size !== storedSize(digests.size, dataKey !== undefined)) throw new S3Error('InternalError', 'Stored size differs from the received size.')
  const part: UploadedPart = {
    partNumber,
    cid: cid.toString(),
    size: digests.size,
    etag: etagOf(digests.md5, cid.toString(), upload.encryption),
    lastModified: timestamp(ctx),
    checksum: digests.checksum,
  }
  await storePart(ctx, upload, part)
  const headers: Record<string, string> = { etag: quoteEtag(part.etag), ...encryptionHeaders(upload.encryption) }
  if (part.checksum !== undefined) headers[`x-amz-checksum-${part.checksum.algorithm.toLowerCase()}`] = part.checksum.value
  return emptyResponse(200, headers)
}
