import { S3Error } from '../errors.js'
import { httpDate } from '../protocol/headers.js'
import type { ObjectVersion } from '../metadata/metadata-store.js'
import type { XmlObject } from '../xml/render.js'
import type { OperationContext } from './context.js'
import { requireObject, versionIdParam, xmlResponse } from './common.js'
import { storedDataKey } from './encryption.js'

const ATTRIBUTES = new Set(['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'])
const DEFAULT_MAX_PARTS = 1000

/**
 * The attributes `x-amz-object-attributes` names (ETag, Checksum, ObjectParts, StorageClass,
 * ObjectSize) of the latest version or `versionId`, without its body. An SSE-C object needs its key,
 * as GetObject does. ObjectParts gives a multipart object's part count, and, when its parts were
 * checksummed, a page of its parts (`x-amz-max-parts`, `x-amz-part-number-marker`) with their sizes
 * and checksums, as Amazon S3 lists them.
 */
export async function getObjectAttributes (ctx: OperationContext) {
  const requested = requestedAttributes(ctx.req.headers['x-amz-object-attributes'])
  const maxParts = partNumberHeader(ctx, 'x-amz-max-parts', DEFAULT_MAX_PARTS)
  const marker = partNumberHeader(ctx, 'x-amz-part-number-marker', 0)
  const version = await requireObject(ctx, ctx.bucket, ctx.key, versionIdParam(ctx))
  storedDataKey(ctx, version)
  const body: XmlObject = {}
  if (requested.has('ETag')) body.ETag = version.etag
  if (requested.has('Checksum') && version.checksum !== undefined) {
    body.Checksum = {
      [`Checksum${version.checksum.algorithm}`]: version.checksum.value.replace(/-\d+$/, ''),
      ChecksumType: version.checksum.type,
    }
  }
  if (requested.has('ObjectParts') && version.partsCount !== undefined) body.ObjectParts = objectParts(version, marker, maxParts)
  if (requested.has('StorageClass')) body.StorageClass = version.storageClass ?? 'STANDARD'
  if (requested.has('ObjectSize')) body.ObjectSize = version.size
  const headers: Record<string, string> = { 'last-modified': httpDate(version.lastModified) }
  if (version.versionId !== 'null' || ctx.query.get('versionId') === 'null') headers['x-amz-version-id'] = version.versionId
  return xmlResponse('GetObjectAttributesResponse', body, 200, headers)
}

function requestedAttributes (value: string | undefined): Set<string> {
  const names = (value ?? '').split(',').map(s => s.trim()).filter(s => s !== '')
  if (names.length === 0) {
    throw new S3Error('InvalidArgument', 'Invalid attribute name specified.', { ArgumentName: 'x-amz-object-attributes', ArgumentValue: value ?? '' })
  }
  for (const name of names) {
    if (!ATTRIBUTES.has(name)) throw new S3Error('InvalidArgument', 'Invalid attribute name specified.', { ArgumentName: 'x-amz-object-attributes', ArgumentValue: name })
  }
  return new Set(names)
}

function partNumberHeader (ctx: OperationContext, name: string, fallback: number): number {
  const raw = ctx.req.headers[name]
  if (raw === undefined || raw.trim() === '') return fallback
  if (!/^\d+$/.test(raw.trim())) throw new S3Error('InvalidArgument', `Provided ${name} not an integer or within integer range`, { ArgumentName: name, ArgumentValue: raw })
  return Math.min(Number(raw.trim()), 2147483647)
}

function objectParts (version: ObjectVersion, marker: number, maxParts: number): XmlObject {
  const count = version.partsCount ?? 0
  const sums = version.partChecksums
  const sizes = version.partSizes
  // Without per-part checksums Amazon S3 gives the count alone.
  if (sums === undefined || sizes === undefined || version.checksum === undefined) return { PartsCount: count }
  const algorithm = version.checksum.algorithm
  const first = Math.min(marker, count)
  const last = Math.min(first + maxParts, count)
  const parts: XmlObject[] = []
  for (let i = first; i < last; i++) parts.push({ PartNumber: i + 1, Size: sizes[i], [`Checksum${algorithm}`]: sums[i] })
  const truncated = last < count
  return {
    PartsCount: count,
    PartNumberMarker: marker,
    NextPartNumberMarker: last,
    MaxParts: maxParts,
    IsTruncated: truncated,
    Part: parts,
  }
}
