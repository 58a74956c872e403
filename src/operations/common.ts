import { S3Error } from '../errors.js'
import type { BucketRecord, ObjectVersion } from '../metadata/metadata-store.js'
import { renderXml, type XmlObject } from '../xml/render.js'
import type { S3Response } from '../types.js'
import type { OperationContext } from './context.js'

export function xmlResponse (root: string, body: XmlObject | string, status = 200, headers: Record<string, string> = {}): S3Response {
  const bytes = renderXml(root, body)
  return {
    status,
    headers: { 'content-type': 'application/xml', 'content-length': String(bytes.byteLength), ...headers },
    body: bytes,
  }
}

export function emptyResponse (status: number, headers: Record<string, string> = {}): S3Response {
  return { status, headers: status === 204 ? headers : { 'content-length': '0', ...headers } }
}

export async function requireBucket (ctx: OperationContext, name = ctx.bucket): Promise<BucketRecord> {
  const bucket = await ctx.authorizer.bucket(name)
  if (bucket === undefined) throw new S3Error('NoSuchBucket', undefined, { BucketName: name })
  return bucket
}

/**
 * The version addressed by a request: `versionId` (where `null` names the null version) or the latest.
 * A missing bucket is NoSuchBucket; a missing key is NoSuchKey; a missing explicit version is NoSuchVersion; a delete marker as latest is
 * NoSuchKey with the marker header.
 */
export async function requireObject (ctx: OperationContext, bucket: string, key: string, versionId: string | undefined): Promise<ObjectVersion> {
  const version = await ctx.metadata.getObject(bucket, key, versionId, { signal: ctx.signal })
  if (version === undefined) {
    // A version exists only in an existing bucket, so the bucket is looked up only on a miss.
    await requireBucket(ctx, bucket)
    if (versionId !== undefined) throw new S3Error('NoSuchVersion', undefined, { Key: key, VersionId: versionId })
    throw new S3Error('NoSuchKey', undefined, { Key: key })
  }
  if (version.deleteMarker) {
    if (versionId !== undefined) {
      throw new S3Error('MethodNotAllowed', undefined, { Method: ctx.req.method, ResourceType: 'DeleteMarker' },
        { 'x-amz-delete-marker': 'true', 'x-amz-version-id': version.versionId, allow: 'DELETE' })
    }
    throw new S3Error('NoSuchKey', undefined, { Key: key }, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': version.versionId })
  }
  return version
}

/** `versionId` query parameter, validated. */
export function versionIdParam (ctx: OperationContext): string | undefined {
  const v = ctx.query.get('versionId')
  if (v === null) return undefined
  if (v === '') throw new S3Error('InvalidArgument', 'Version id cannot be the empty string', { ArgumentName: 'versionId', ArgumentValue: '' })
  // Version ids are printable ASCII (this gateway's are URL-safe); others cannot exist, nor be echoed in a header.
  if (/[^\x21-\x7e]/.test(v)) throw new S3Error('InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId' })
  return v
}

/**
 * Timestamps are kept to the second, as S3 keeps them, so a listing's LastModified, the
 * Last-Modified header and conditional requests all agree.
 */
export function timestamp (ctx: OperationContext): Date {
  return new Date(Math.floor(ctx.now().getTime() / 1000) * 1000)
}

export function quoteEtag (etag: string): string {
  return `"${etag}"`
}

/** Headers that describe a stored version on GET/HEAD/PUT replies. */
export function cidHeaders (cid: string): Record<string, string> {
  return { 'x-amz-meta-cid': cid, 'x-ipfs-path': `/ipfs/${cid}` }
}

/**
 * A listing field URL-encoded when asked with encoding-type=url: percent-encoding of the UTF-8
 * bytes, space as `%20` (never `+`), `/` kept, as Amazon S3 and Ceph RGW encode it. Each operation
 * encodes only the fields Amazon S3 encodes, which are the fields the AWS SDKs decode.
 */
export function urlEncodeIf (encode: boolean, value: string): string
export function urlEncodeIf (encode: boolean, value: string | undefined): string | undefined
export function urlEncodeIf (encode: boolean, value: string | undefined): string | undefined {
  if (!encode || value === undefined) return value
  return encodeURIComponent(value).replace(/%2F/g, '/')
}

export function encodingTypeParam (ctx: OperationContext): boolean {
  const e = ctx.query.get('encoding-type')
  if (e === null) return false
  if (e.toLowerCase() !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: e })
  return true
}

export function intParam (ctx: OperationContext, name: string, fallback: number, max: number): number {
  const raw = ctx.query.get(name)
  if (raw === null || raw === '') return fallback
  if (!/^-?\d+$/.test(raw)) throw new S3Error('InvalidArgument', `Provided ${name} not an integer or within integer range`, { ArgumentName: name, ArgumentValue: raw })
  const n = Number(raw)
  if (n < 0) throw new S3Error('InvalidArgument', `Argument ${name} must be an integer between 0 and 2147483647`, { ArgumentName: name, ArgumentValue: raw })
  return Math.min(n, max)
}
