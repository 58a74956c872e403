import { createHash } from 'node:crypto'
import { encryptionHeaders, storedSize } from './encryption.js'
import { S3Error, toS3Error } from '../errors.js'
import { CHECKSUM_ALGORITHMS, checksumHeaderName, combineCrc, compositeChecksum, decodeChecksumValue, toBase64 } from '../protocol/checksums.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import { childText, children, parseXml } from '../xml/parse.js'
import type { BucketRecord, ChecksumAlgorithm, CompletedUpload, MultipartUpload, ObjectChecksum, ObjectEncryption, ObjectVersion, UploadedPart } from '../metadata/metadata-store.js'
import type { S3Response } from '../types.js'
import type { OperationContext } from './context.js'
import { completeCarUpload, isCarUpload } from './car-upload.js'
import { bucketExpirationHeader } from '../lifecycle/rules.js'
import { completedObjectOwner } from './acl-common.js'
import { cidHeaders, quoteEtag, requireBucket, timestamp, xmlResponse } from './common.js'
import {
  MAX_MULTIPART_OBJECT_SIZE, MAX_PART_NUMBER, MIN_PART_SIZE, bareEtag, multipartEtag, noSuchUpload, uploadIdParam
} from './multipart.js'
import { uploadProfile } from './upload-part.js'
import { newVersionId, versionIdHeader } from './versioning.js'
import { checkWriteConditions } from './write-conditions.js'

/**
 * A Complete whose If-None-Match / If-Match failed at commit: on 412 the upload stays in progress
 * (it may be completed again, or aborted); on 409 ConditionalRequestConflict (the object If-Match
 * named was deleted meanwhile) S3 makes the client start over with a new upload, so this one is
 * aborted. Always rethrows.
 */
async function conditionConflict (ctx: OperationContext, uploadId: string, err: unknown): Promise<never> {
  if (toS3Error(err)?.code === 'ConditionalRequestConflict') {
    await ctx.metadata.abortUpload(ctx.bucket, ctx.key, uploadId, { signal: ctx.signal })
  }
  throw err
}

/** 10,000 parts with an ETag and a SHA-256 each stay well under this. */
const MAX_COMPLETE_XML_BYTES = 8 * 1024 * 1024

interface RequestedPart {
  partNumber: number
  etag: string
  checksums: Partial<Record<ChecksumAlgorithm, string>>
}

function parseParts (body: Uint8Array): RequestedPart[] {
  const doc = parseXml(body, 'CompleteMultipartUpload', MAX_COMPLETE_XML_BYTES)
  return children(doc, 'Part').map(p => {
    const number = childText(p, 'PartNumber')?.trim()
    const etag = childText(p, 'ETag')
    if (number === undefined || !/^\d+$/.test(number) || etag === undefined) throw new S3Error('MalformedXML')
    const checksums: RequestedPart['checksums'] = {}
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const value = childText(p, `Checksum${algorithm}`)
      if (value !== undefined) checksums[algorithm] = value.trim()
    }
    return { partNumber: Number(number), etag: bareEtag(etag), checksums }
  })
}

/** Fingerprint of a Complete request's part list: a retry must name the same parts. */
function partsDigest (parts: RequestedPart[]): string {
  const h = createHash('sha256')
  for (const p of parts) h.update(`${p.partNumber}:${p.etag};`)
  return h.digest('hex')
}

/** The object URL S3 returns as Location: the request's own URL without its query. */
function location (ctx: OperationContext): string {
  const host = ctx.req.headers.host ?? ctx.req.hostname ?? 'localhost'
  return `${ctx.req.secure === true ? 'https' : 'http'}://${host}${ctx.req.path}`
}

function resultResponse (ctx: OperationContext, bucket: BucketRecord, record: Pick<CompletedUpload, 'bucket' | 'key' | 'versionId' | 'etag' | 'checksum' | 'cid'>,
  version: ObjectVersion): S3Response {
  const headers: Record<string, string> = {
    ...cidHeaders(record.cid),
    ...versionIdHeader(bucket, record.versionId),
    ...encryptionHeaders(version.encryption),
    ...bucketExpirationHeader(bucket, version, ctx.lifecycleDayMs),
  }
  return xmlResponse('CompleteMultipartUploadResult', {
    Location: location(ctx),
    Bucket: record.bucket,
    Key: record.key,
    ETag: quoteEtag(record.etag),
    ...(record.checksum === undefined
      ? {}
      : { [`Checksum${record.checksum.algorithm}`]: record.checksum.value, ChecksumType: record.checksum.type }),
  }, 200, headers)
}

/**
 * A retried Complete of an upload that already completed gets the answer the first one got, as
 * Amazon S3 gives it, while the object it made is still the same version with the same ETag and
 * the retry names the same parts. Otherwise the upload is gone: NoSuchUpload.
 */
async function replayOrNoSuchUpload (ctx: OperationContext, uploadId: string, parts: RequestedPart[]): Promise<S3Response> {
  const bucket = await requireBucket(ctx)
  const done = await ctx.metadata.getCompletedUpload(ctx.bucket, ctx.key, uploadId, { signal: ctx.signal })
  if (done !== undefined && done.partsDigest === partsDigest(parts)) {
    const version = await ctx.metadata.getObject(ctx.bucket, ctx.key, done.versionId, { signal: ctx.signal })
    if (version !== undefined && !version.deleteMarker && version.etag === done.etag && version.cid === done.cid) {
      return resultResponse(ctx, bucket, done, version)
    }
  }
  throw noSuchUpload(uploadId)
}

/** Matches the request's part list against the stored parts, with S3's errors. */
function selectParts (upload: MultipartUpload, requested: RequestedPart[], stored: Map<number, UploadedPart>): UploadedPart[] {
  if (requested.length === 0) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.')
  const selected: UploadedPart[] = []
  let previous = 0
  for (const [i, r] of requested.entries()) {
    if (r.partNumber <= previous) {
      throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.', { UploadId: upload.uploadId })
    }
    previous = r.partNumber
    const part = r.partNumber <= MAX_PART_NUMBER ? stored.get(r.partNumber) : undefined
    if (part === undefined || part.etag !== r.etag) throw invalidPart(upload, r)
    for (const [algorithm, value] of Object.entries(r.checksums) as Array<[ChecksumAlgorithm, string]>) {
      if (upload.checksumAlgorithm !== undefined && algorithm !== upload.checksumAlgorithm) {
        throw new S3Error('InvalidRequest', `Checksum Type mismatch occurred, expected checksum Type: ${upload.checksumAlgorithm.toLowerCase()}, actual checksum Type: ${algorithm.toLowerCase()}`)
      }
      if (part.checksum?.algorithm === algorithm && part.checksum.value !== value) throw invalidPart(upload, r)
    }
    if (upload.checksumType === 'COMPOSITE' && upload.checksumAlgorithm !== undefined && r.checksums[upload.checksumAlgorithm] === undefined) {
      throw new S3Error('InvalidRequest', `The upload was created using a ${upload.checksumAlgorithm.toLowerCase()} checksum. The complete request must include the checksum for each part. It was missing for part ${r.partNumber} in the request.`)
    }
    if (i < requested.length - 1 && part.size < MIN_PART_SIZE) {
      throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', {
        ProposedSize: String(part.size), MinSizeAllowed: String(MIN_PART_SIZE), PartNumber: String(part.partNumber), ETag: part.etag,
      })
    }
    selected.push(part)
  }
  return selected
}

function invalidPart (upload: MultipartUpload, r: RequestedPart): S3Error {
  return new S3Error('InvalidPart', 'One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.', {
    UploadId: upload.uploadId, PartNumber: String(r.partNumber), ETag: r.etag,
  })
}

/** The object's checksum from its parts' checksums, as S3 forms it for the upload's type. */
async function objectChecksum (upload: MultipartUpload, parts: UploadedPart[]): Promise<ObjectChecksum | undefined> {
  const algorithm = upload.checksumAlgorithm
  if (algorithm === undefined) return undefined
  const digests = parts.map(p => {
    const digest = p.checksum?.algorithm === algorithm ? decodeChecksumValue(algorithm, p.checksum.value) : undefined
    if (digest === undefined) throw new S3Error('InternalError', `Part ${p.partNumber} has no ${algorithm} checksum.`)
    return digest
  })
  if (upload.checksumType === 'FULL_OBJECT') {
    if (algorithm !== 'CRC32' && algorithm !== 'CRC32C' && algorithm !== 'CRC64NVME') {
      throw new S3Error('InternalError', `A full-object ${algorithm} checksum cannot be combined from parts.`)
    }
    let crc = digests[0]
    for (let i = 1; i < parts.length; i++) crc = combineCrc(algorithm, crc, digests[i], parts[i].size)
    return { algorithm, value: toBase64(crc), type: 'FULL_OBJECT' }
  }
  return { algorithm, value: await compositeChecksum(algorithm, digests), type: 'COMPOSITE' }
}

/** A full-object checksum the client sent with Complete must match the one formed from the parts. */
function checkRequestChecksum (ctx: OperationContext, checksum: ObjectChecksum | undefined): void {
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const sent = ctx.req.headers[checksumHeaderName(algorithm)]
    if (sent === undefined) continue
    if (checksum === undefined || checksum.algorithm !== algorithm) {
      throw new S3Error('InvalidRequest', `The upload was not created with a ${algorithm.toLowerCase()} checksum.`)
    }
    const expected = checksum.type === 'COMPOSITE' ? checksum.value.replace(/-\d+$/, '') : checksum.value
    if (sent.trim().replace(/-\d+$/, '') !== expected) {
      throw new S3Error('BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`)
    }
  }
  const type = ctx.req.headers['x-amz-checksum-type']
  if (type !== undefined && checksum !== undefined && type.trim().toUpperCase() !== checksum.type) {
    throw new S3Error('InvalidRequest', `The upload was created using the ${checksum.type} checksum mode. The complete request must use the same checksum mode.`)
  }
}

/** The parts' own checksums, kept when every part has one (GetObjectAttributes lists them). */
function partChecksums (parts: UploadedPart[]): Pick<ObjectVersion, 'partChecksums'> {
  const values = parts.map(p => p.checksum?.value)
  return values.length > 0 && values.every(v => v !== undefined) ? { partChecksums: values as string[] } : {}
}

/**
 * Makes the object from the named parts without reading their bytes: the parts' DAGs are joined
 * under new upper nodes (see ContentStore.compose), the ETag and checksum come from the parts'
 * digests, and the version is committed in the same transaction that removes the upload and
 * releases the parts not used. No byte of the object is read or hashed again: the cost is a read
 * of each part's internal nodes and a few microseconds per chunk-sized leaf linked into the new
 * upper nodes.
 */
export async function completeMultipartUpload (ctx: OperationContext) {
  const uploadId = uploadIdParam(ctx)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_COMPLETE_XML_BYTES, checksumHeadersDescribeObject: true, document: true }), MAX_COMPLETE_XML_BYTES)
  const requested = parseParts(body)
  const upload = uploadId === '' ? undefined : await ctx.metadata.getUpload(ctx.bucket, ctx.key, uploadId, { signal: ctx.signal })
  if (upload === undefined) return await replayOrNoSuchUpload(ctx, uploadId, requested)

  const storedList = await ctx.metadata.listParts(upload.bucket, upload.key, uploadId, { limit: MAX_PART_NUMBER, signal: ctx.signal })
  if (storedList === undefined) return await replayOrNoSuchUpload(ctx, uploadId, requested)
  const parts = selectParts(upload, requested, new Map(storedList.map(p => [p.partNumber, p])))
  const size = parts.reduce((sum, p) => sum + p.size, 0)
  if (size > MAX_MULTIPART_OBJECT_SIZE) {
    throw new S3Error('EntityTooLarge', undefined, { ProposedSize: String(size), MaxSizeAllowed: String(MAX_MULTIPART_OBJECT_SIZE) })
  }
  const checksum = await objectChecksum(upload, parts)
  checkRequestChecksum(ctx, checksum)
  const condition = await checkWriteConditions(ctx)

  const bucket = await requireBucket(ctx)
  // Encrypted parts are stored as their ciphertexts: the object is those, one after the other.
  const encrypted = upload.encryption !== undefined
  const composed = await ctx.content.compose(parts.map(p => ({ cid: p.cid, size: storedSize(p.size, encrypted) })), { profile: uploadProfile(upload), session: ctx.session, signal: ctx.signal })
  if (composed.size !== parts.reduce((sum, p) => sum + storedSize(p.size, encrypted), 0)) throw new S3Error('InternalError', 'The composed object differs in size from its parts.')
  const version: ObjectVersion = {
    bucket: upload.bucket,
    key: upload.key,
    versionId: newVersionId(ctx, bucket),
    deleteMarker: false,
    cid: composed.cid.toString(),
    size,
    etag: multipartEtag(parts.map(p => p.etag)),
    lastModified: timestamp(ctx),
    owner: completedObjectOwner(bucket, upload),
    headers: upload.headers,
    metadata: upload.metadata,
    tags: upload.tags,
    storageClass: upload.storageClass,
    checksum,
    partsCount: parts.length,
    partSizes: parts.map(p => p.size),
    ...partChecksums(parts),
    acl: upload.acl,
    encryption: upload.encryption,
  }
  if (isCarUpload(upload)) await completeCarUpload(ctx, upload, version, composed.cid.toString())
  const record: CompletedUpload = {
    bucket: version.bucket,
    key: version.key,
    uploadId,
    versionId: version.versionId,
    etag: version.etag,
    checksum: version.checksum,
    cid: version.cid,
    partsDigest: partsDigest(requested),
    completed: ctx.now(),
  }
  const result = await ctx.metadata.completeUpload(version, uploadId, parts.map(p => ({ partNumber: p.partNumber, cid: p.cid })), record, { signal: ctx.signal, condition })
    .catch(async (err: unknown) => await conditionConflict(ctx, uploadId, err))
  if (result.status === 'no-upload') return await replayOrNoSuchUpload(ctx, uploadId, requested)
  if (result.status === 'parts-changed') {
    throw new S3Error('InvalidPart', 'A part was replaced while the upload was being completed.', { UploadId: uploadId })
  }
  return resultResponse(ctx, bucket, record, version)
}
