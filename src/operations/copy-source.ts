import { CID } from 'multiformats/cid'
import { S3Error } from '../errors.js'
import type { ObjectVersion } from '../metadata/metadata-store.js'
import { requireObject } from './common.js'
import { parseAnyCid } from '../content/cid-text.js'
import { readable } from '../archive/read-through.js'
import { checkExpectedOwner } from '../auth/expected-owner.js'
import type { OperationContext } from './context.js'

export interface CopySource {
  bucket: string
  key: string
  versionId?: string
}

/** IPFS content named as a copy source: `/ipfs/<cid>`. */
export interface IpfsCopySource {
  cid: CID
  /** `/ipfs/<cid>` as the client wrote the CID, for messages. */
  path: string
}

/** `x-amz-copy-source`: `[/]bucket/key[?versionId=id]`, URL-encoded. */
export function parseCopySource (header: string): CopySource {
  const q = header.indexOf('?')
  const path = (q < 0 ? header : header.slice(0, q)).replace(/^\//, '')
  let versionId: string | undefined
  if (q >= 0) {
    const params = new URLSearchParams(header.slice(q + 1))
    versionId = params.get('versionId') ?? undefined
  }
  const slash = path.indexOf('/')
  if (slash <= 0 || slash === path.length - 1) {
    throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', { ArgumentName: 'x-amz-copy-source', ArgumentValue: header })
  }
  try {
    return { bucket: decodeURIComponent(path.slice(0, slash)), key: decodeURIComponent(path.slice(slash + 1)), versionId }
  } catch {
    throw new S3Error('InvalidArgument', 'Invalid copy source encoding', { ArgumentName: 'x-amz-copy-source', ArgumentValue: header })
  }
}

/**
 * `x-amz-copy-source` naming IPFS content: `/ipfs/<cid>` or `ipfs/<cid>`, as sent or URL-encoded
 * as a whole (`%2Fipfs%2F<cid>`). Undefined for any other source (a bucket and key). The `ipfs/`
 * prefix always names IPFS content, which is why no bucket may be named `ipfs`. A version id, a
 * path below the CID and an invalid CID are InvalidArgument.
 */
export function parseIpfsCopySource (header: string): IpfsCopySource | undefined {
  let decoded: string
  try {
    decoded = decodeURIComponent(header)
  } catch {
    return undefined // not ours: parseCopySource reports the encoding
  }
  const q = decoded.indexOf('?')
  const path = q < 0 ? decoded : decoded.slice(0, q)
  const m = /^\/?ipfs\/(.*)$/.exec(path)
  if (m === null) return undefined
  const invalid = (message: string): S3Error => new S3Error('InvalidArgument', message, { ArgumentName: 'x-amz-copy-source', ArgumentValue: header })
  if (q >= 0 && new URLSearchParams(decoded.slice(q + 1)).has('versionId')) {
    throw invalid('A version id does not apply to IPFS content: /ipfs/<cid> names one immutable file.')
  }
  const text = m[1].replace(/\/$/, '')
  if (text === '') throw invalid('The copy source /ipfs/ must name a CID: /ipfs/<cid>.')
  if (text.includes('/')) throw invalid('Paths inside IPFS content are not supported as a copy source; name the file\'s own CID: /ipfs/<cid>.')
  let cid: CID
  try {
    cid = parseAnyCid(text)
  } catch {
    throw invalid(`"${text}" is not a valid CID.`)
  }
  return { cid, path: `/ipfs/${text}` }
}

/**
 * The source version of a copy, once the requester is found to be allowed to read it
 * (s3:GetObject, or s3:GetObjectVersion when a version is named): AccessDenied otherwise. A missing
 * bucket, key or version answers as a read would.
 */
export async function readCopySource (ctx: OperationContext, source: CopySource): Promise<ObjectVersion> {
  await checkExpectedOwner(ctx.authorizer, source.bucket, ctx.req.headers['x-amz-source-expected-bucket-owner'])
  if (await ctx.authorizer.bucket(source.bucket) !== undefined) {
    const action = source.versionId === undefined ? 's3:GetObject' : 's3:GetObjectVersion'
    await ctx.authorizer.require(action, source.bucket, source.key, { versionId: source.versionId })
  }
  const version = await requireObject(ctx, source.bucket, source.key, source.versionId)
  // Archived: refused until restored, or read through into this request's session.
  await readable(ctx, version)
  return version
}
