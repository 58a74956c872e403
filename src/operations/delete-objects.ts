import { S3Error, toS3Error } from '../errors.js'
import { MAX_KEY_BYTES } from '../protocol/names.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import { MAX_XML_BYTES, childText, children, parseXml } from '../xml/parse.js'
import type { XmlObject } from '../xml/render.js'
import type { OperationContext } from './context.js'
import { requireBucket, xmlResponse } from './common.js'
import { deleteKey } from './versioning.js'

const MAX_KEYS = 1000

export async function deleteObjects (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_XML_BYTES, document: true }), MAX_XML_BYTES)
  const doc = parseXml(body, 'Delete')
  const quiet = (childText(doc, 'Quiet') ?? 'false').trim().toLowerCase() === 'true'
  const objects = children(doc, 'Object')
  if (objects.length === 0 || objects.length > MAX_KEYS) throw new S3Error('MalformedXML')
  const requests = objects.map(o => {
    const key = childText(o, 'Key')
    if (key === undefined) throw new S3Error('MalformedXML')
    return { key, versionId: childText(o, 'VersionId') }
  })

  const deleted: XmlObject[] = []
  const errors: XmlObject[] = []
  for (const { key, versionId } of requests) {
    try {
      if (key === '') throw new S3Error('InvalidArgument', 'Key cannot be empty')
      if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError')
      if (versionId === '') throw new S3Error('InvalidArgument', 'Version id cannot be the empty string')
      await ctx.authorizer.require(versionId === undefined ? 's3:DeleteObject' : 's3:DeleteObjectVersion', bucket.name, key, { versionId })
      const outcome = await deleteKey(ctx, bucket, key, versionId)
      if (!quiet) {
        deleted.push({
          Key: key,
          VersionId: versionId,
          DeleteMarker: outcome.deleteMarker ? true : undefined,
          DeleteMarkerVersionId: outcome.deleteMarker ? outcome.versionId : undefined,
        })
      }
    } catch (err) {
      const s3 = toS3Error(err)
      if (s3 === undefined) throw err
      errors.push({ Key: key, VersionId: versionId, Code: s3.code, Message: s3.message })
    }
  }
  return xmlResponse('DeleteResult', { Deleted: deleted, Error: errors })
}
