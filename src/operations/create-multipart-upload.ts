import { S3Error } from '../errors.js'
import { parseChecksumAlgorithm } from '../protocol/checksums.js'
import { assertValidKey } from '../protocol/names.js'
import type { ChecksumAlgorithm, ChecksumType, MultipartUpload } from '../metadata/metadata-store.js'
import type { OperationContext } from './context.js'
import { newObjectOwnership } from './acl-common.js'
import { carWithEncryption, encryptionHeaders, newEncryption } from './encryption.js'
import { checkImportHeader, isCarUpload } from './car-upload.js'
import { bucketProfile } from './bucket-profile.js'
import { requireBucket, xmlResponse } from './common.js'
import { writeAttributes } from './object-attributes.js'

/** Algorithms that can form a FULL_OBJECT checksum (CRCs combine) and a COMPOSITE one. */
const FULL_OBJECT_ALGORITHMS = new Set<ChecksumAlgorithm>(['CRC32', 'CRC32C', 'CRC64NVME'])
const COMPOSITE_ALGORITHMS = new Set<ChecksumAlgorithm>(['CRC32', 'CRC32C', 'SHA1', 'SHA256'])

/**
 * `x-amz-checksum-algorithm` and `x-amz-checksum-type` of CreateMultipartUpload, with S3's rules:
 * CRC64NVME is full-object only, the SHAs composite only, the 32-bit CRCs either (composite by
 * default).
 */
export function uploadChecksum (headers: Record<string, string>): { algorithm?: ChecksumAlgorithm, type?: ChecksumType } {
  const rawAlgorithm = headers['x-amz-checksum-algorithm']
  const rawType = headers['x-amz-checksum-type']
  if (rawAlgorithm === undefined) {
    if (rawType !== undefined) {
      throw new S3Error('InvalidRequest', 'The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.')
    }
    return {}
  }
  const algorithm = parseChecksumAlgorithm(rawAlgorithm)
  if (algorithm === undefined) throw new S3Error('InvalidRequest', 'Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]')
  let type: ChecksumType
  if (rawType === undefined) {
    type = algorithm === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE'
  } else {
    const upper = rawType.trim().toUpperCase()
    if (upper !== 'FULL_OBJECT' && upper !== 'COMPOSITE') {
      throw new S3Error('InvalidRequest', 'Value for x-amz-checksum-type header is invalid.')
    }
    type = upper
  }
  const allowed = type === 'FULL_OBJECT' ? FULL_OBJECT_ALGORITHMS : COMPOSITE_ALGORITHMS
  if (!allowed.has(algorithm)) {
    throw new S3Error('InvalidRequest', `The ${type} checksum type cannot be used with the ${algorithm.toLowerCase()} checksum algorithm.`)
  }
  return { algorithm, type }
}

/**
 * Starts an upload: everything the finished object will carry (content headers, metadata, tags,
 * storage class, checksum algorithm) is fixed now, as is the CID profile its parts are imported
 * under (the bucket's).
 */
export async function createMultipartUpload (ctx: OperationContext) {
  assertValidKey(ctx.key)
  const bucket = await requireBucket(ctx)
  // The initiator owns the upload (lists its parts, aborts it); the object's owner follows the ACL.
  const { acl } = newObjectOwnership(ctx, bucket)
  const attributes = writeAttributes(ctx.req.headers, ctx.archive !== undefined)
  checkImportHeader(ctx.req.headers)
  const encryption = newEncryption(ctx, bucket)
  if (encryption !== undefined && isCarUpload({ metadata: attributes.metadata })) throw carWithEncryption()
  const checksum = uploadChecksum(ctx.req.headers)
  const upload: MultipartUpload = {
    bucket: bucket.name,
    key: ctx.key,
    uploadId: ctx.newId('upload'),
    initiated: ctx.now(),
    owner: ctx.principal,
    ownerDisplayName: ctx.displayName,
    ...attributes,
    checksumAlgorithm: checksum.algorithm,
    checksumType: checksum.type,
    profile: bucketProfile(ctx, bucket),
    acl,
    encryption: encryption?.record,
  }
  await ctx.metadata.createUpload(upload, { signal: ctx.signal })
  const headers: Record<string, string> = encryptionHeaders(upload.encryption)
  if (checksum.algorithm !== undefined && checksum.type !== undefined) {
    headers['x-amz-checksum-algorithm'] = checksum.algorithm
    headers['x-amz-checksum-type'] = checksum.type
  }
  return xmlResponse('InitiateMultipartUploadResult', {
    Bucket: bucket.name,
    Key: ctx.key,
    UploadId: upload.uploadId,
  }, 200, headers)
}
