import { S3Error } from '../errors.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import { childText, parseXml } from '../xml/parse.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'

const MAX_CONFIGURATION_BYTES = 64 * 1024

/**
 * Enabled or Suspended; a bucket never goes back to unversioned. A configuration without a Status
 * changes nothing, as in S3. MFA delete is not implemented.
 */
export async function putBucketVersioning (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_CONFIGURATION_BYTES, document: true }), MAX_CONFIGURATION_BYTES)
  const doc = parseXml(body, 'VersioningConfiguration')
  const status = childText(doc, 'Status')?.trim()
  const mfaDelete = childText(doc, 'MfaDelete')?.trim()
  if (mfaDelete !== undefined && mfaDelete !== 'Disabled') {
    if (mfaDelete !== 'Enabled') throw new S3Error('MalformedXML')
    throw new S3Error('NotImplemented', 'MFA delete is not implemented by this gateway.')
  }
  if (status === undefined) return emptyResponse(200)
  if (status !== 'Enabled' && status !== 'Suspended') throw new S3Error('MalformedXML')
  if (!await ctx.metadata.setBucketVersioning(bucket.name, status, { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(200)
}
