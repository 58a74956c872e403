import { S3Error } from '../errors.js'
import { createChecksumHasher, toBase64 } from '../protocol/checksums.js'
import { createStreamDigest } from '../protocol/md5-worker.js'
import { openPayload } from '../protocol/payload.js'
import type { BucketRecord, ChecksumAlgorithm, MultipartUpload, ObjectChecksum, ObjectVersion } from '../metadata/metadata-store.js'
import type { S3Response } from '../types.js'
import type { OperationContext } from './context.js'
import { cidHeaders, emptyResponse, quoteEtag, timestamp } from './common.js'
import { checksumHeader, type WriteAttributes } from './object-attributes.js'
import { newVersionId, versionIdHeader } from './versioning.js'
import { checkWriteConditions } from './write-conditions.js'

/** Filebase's convention: a write with `x-amz-meta-import: car` sends a CAR to unpack. */
export const IMPORT_HEADER = 'x-amz-meta-import'

/**
 * Whether a PutObject or CreateMultipartUpload asks for its body to be imported as a CAR.
 * `x-amz-meta-import` with any other value is refused, so a typo never stores the CAR's bytes as
 * the object by mistake.
 */
export function isCarImport (headers: Record<string, string>): boolean {
  const value = headers[IMPORT_HEADER]
  if (value === undefined) return false
  if (value.trim().toLowerCase() === 'car') return true
  throw new S3Error('InvalidArgument', `${IMPORT_HEADER} accepts only the value "car".`, { ArgumentName: IMPORT_HEADER, ArgumentValue: value })
}

/** CreateMultipartUpload: refuses an `x-amz-meta-import` other than `car` (kept in the upload's metadata). */
export function checkImportHeader (headers: Record<string, string>): void {
  isCarImport(headers)
}

/** An upload created with `x-amz-meta-import: car` (the header is kept in its metadata until Complete). */
export function isCarUpload (upload: Pick<MultipartUpload, 'metadata'>): boolean {
  return upload.metadata.import?.trim().toLowerCase() === 'car'
}

/** User metadata of the object a CAR becomes: the import instruction is not part of it. */
function withoutImport (metadata: Record<string, string>): Record<string, string> {
  const { import: _, ...rest } = metadata
  return rest
}

/**
 * PutObject with `x-amz-meta-import: car`: the body (checked like any other: signatures,
 * Content-MD5, checksums) is a CAR v1 whose one root is a UnixFS file, and the object is that
 * file. Its blocks are verified and stored as they stream in, the DAG is checked to be complete,
 * then the file is read back once for the ETag (MD5 of the file's bytes, as for any single PUT)
 * and, when the request carried a checksum, the same algorithm over the file's bytes. A bad CAR is
 * InvalidRequest and nothing is committed.
 */
export async function putCarObject (ctx: OperationContext, bucket: BucketRecord, attributes: WriteAttributes & Pick<ObjectVersion, 'owner' | 'acl'>): Promise<S3Response> {
  const condition = await checkWriteConditions(ctx)
  const payload = openPayload(ctx.req, ctx.auth, { maxSize: ctx.maxObjectSize })
  const imported = await ctx.content.importCar(payload, { session: ctx.session, signal: ctx.signal })
  const digests = payload.digests()
  const file = await digestFile(ctx, imported.cid.toString(), imported.size, digests.checksum?.algorithm)
  const version: ObjectVersion = {
    bucket: bucket.name,
    key: ctx.key,
    versionId: newVersionId(ctx, bucket),
    deleteMarker: false,
    cid: imported.cid.toString(),
    size: imported.size,
    etag: file.md5,
    lastModified: timestamp(ctx),
    ...attributes,
    metadata: withoutImport(attributes.metadata),
    checksum: file.checksum,
  }
  await ctx.metadata.putObject(version, { signal: ctx.signal, condition })
  return emptyResponse(200, {
    etag: quoteEtag(version.etag),
    ...cidHeaders(version.cid),
    ...checksumHeader(version.checksum),
    ...versionIdHeader(bucket, version.versionId),
  })
}

/**
 * CompleteMultipartUpload of an upload created with `x-amz-meta-import: car`: the parts' bytes,
 * in order, are the CAR. They are read back from the composed DAG at `composed` and imported as a
 * PutObject's body would be; `version` becomes the CAR's file (its CID, size, the MD5 of its bytes
 * as ETag, and the upload's checksum algorithm over its bytes as a full-object checksum). It is
 * not a multipart object afterwards: it has no parts of its own.
 */
export async function completeCarUpload (ctx: OperationContext, upload: MultipartUpload, version: ObjectVersion, composed: string): Promise<void> {
  const imported = await ctx.content.importCar(ctx.content.cat(composed, { signal: ctx.signal }), { session: ctx.session, signal: ctx.signal })
  const file = await digestFile(ctx, imported.cid.toString(), imported.size, upload.checksumAlgorithm)
  version.cid = imported.cid.toString()
  version.size = imported.size
  version.etag = file.md5
  version.checksum = file.checksum
  version.metadata = withoutImport(version.metadata)
  delete version.partsCount
  delete version.partSizes
  delete version.partChecksums
}

/** MD5 (off the main thread) and optionally one S3 checksum of the stored file, read once. */
async function digestFile (ctx: OperationContext, cid: string, size: number, algorithm: ChecksumAlgorithm | undefined): Promise<{ md5: string, checksum?: ObjectChecksum }> {
  const md5 = createStreamDigest(['md5'], { sizeHint: size })
  const hasher = algorithm === undefined ? undefined : createChecksumHasher(algorithm)
  let read = 0
  let hex: string
  try {
    for await (const chunk of ctx.content.cat(cid, { signal: ctx.signal })) {
      read += chunk.byteLength
      const wait = md5.update(chunk)
      hasher?.update(chunk)
      if (wait !== undefined) await wait
    }
    hex = (await md5.digest())[0]
  } finally {
    md5.abort() // no-op once digest() has resolved
  }
  if (read !== size) throw new S3Error('InternalError', 'The imported file read back at a different size.')
  if (algorithm === undefined || hasher === undefined) return { md5: hex }
  return { md5: hex, checksum: { algorithm, value: toBase64(await hasher.digest()), type: 'FULL_OBJECT' } }
}
