import { S3Error } from '../errors.js'
import { contentHeaders, headerValue, parseTaggingHeader, STORAGE_CLASSES, userMetadata } from '../protocol/headers.js'
import type { ObjectVersion } from '../metadata/metadata-store.js'
import { quoteEtag } from './common.js'
import { restoreHeader } from '../archive/read-through.js'

/**
 * Request headers that ask for features this gateway does not have (ACL headers are read by the
 * writes themselves: acl-common.ts). Answering NotImplemented is
 * honest; storing the object without the feature would be a silent wrong answer.
 */
export function rejectUnsupportedWriteHeaders (headers: Record<string, string>): void {
  for (const name of Object.keys(headers)) {
    if (      name.startsWith('x-amz-object-lock-') || name === 'x-amz-website-redirect-location') {
      throw new S3Error('NotImplemented', `The '${name}' header is not implemented by this gateway.`, { Header: name })
    }
  }
}

export interface WriteAttributes {
  headers: Record<string, string>
  metadata: Record<string, string>
  tags: Array<[string, string]>
  storageClass?: string
}

/**
 * Stored attributes of a new object from its write request's headers, validated. `archiving`: an
 * archive target is configured, so the GLACIER and DEEP_ARCHIVE classes can be honoured.
 */
export function writeAttributes (headers: Record<string, string>, archiving = false): WriteAttributes {
  rejectUnsupportedWriteHeaders(headers)
  const storageClass = headers['x-amz-storage-class']
  if (storageClass !== undefined && !STORAGE_CLASSES.has(storageClass)) {
    throw new S3Error('InvalidStorageClass', 'The storage class you specified is not valid', { StorageClassRequested: storageClass })
  }
  // In Amazon S3 these are archived at once and unreadable until restored: without an archive
  // target, storing them as readable objects under that name would be a silent wrong answer.
  if (!archiving && (storageClass === 'GLACIER' || storageClass === 'DEEP_ARCHIVE')) {
    throw new S3Error('NotImplemented', `The ${storageClass} storage class needs an archive target, and this gateway has none configured.`, { Header: 'x-amz-storage-class' })
  }
  return {
    headers: contentHeaders(headers),
    metadata: userMetadata(headers),
    tags: parseTaggingHeader(headers['x-amz-tagging']),
    storageClass: storageClass === 'STANDARD' ? undefined : storageClass,
  }
}

/** The headers GET and HEAD return for a stored version (not the body-dependent ones). */
export function versionHeaders (v: ObjectVersion): Record<string, string> {
  const out: Record<string, string> = {
    etag: quoteEtag(v.etag),
    'last-modified': v.lastModified.toUTCString(),
    'content-type': 'binary/octet-stream',
    'accept-ranges': 'bytes',
  }
  for (const [name, value] of Object.entries(v.headers)) out[name] = headerValue(value)
  for (const [name, value] of Object.entries(v.metadata)) out[`x-amz-meta-${name}`] = headerValue(value)
  out['x-amz-meta-cid'] = v.cid
  out['x-ipfs-path'] = `/ipfs/${v.cid}`
  if (v.versionId !== 'null') out['x-amz-version-id'] = v.versionId
  if (v.tags.length > 0) out['x-amz-tagging-count'] = String(v.tags.length)
  if (v.storageClass !== undefined) out['x-amz-storage-class'] = v.storageClass
  Object.assign(out, restoreHeader(v))
  return out
}

export function checksumHeader (checksum: ObjectVersion['checksum']): Record<string, string> {
  if (checksum === undefined) return {}
  const out: Record<string, string> = { [`x-amz-checksum-${checksum.algorithm.toLowerCase()}`]: checksum.value }
  out['x-amz-checksum-type'] = checksum.type
  return out
}
