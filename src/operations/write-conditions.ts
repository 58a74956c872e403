import { S3Error } from '../errors.js'
import type { WriteCondition } from '../metadata/metadata-store.js'
import type { OperationContext } from './context.js'

/**
 * Conditional writes (`If-None-Match: *`, `If-Match: <etag>`) on PutObject, CopyObject and
 * CompleteMultipartUpload. Checked here before the body is read or content is stored, so a write
 * bound to fail fails fast (If-Match on a key with no current object: NoSuchKey, as S3 answers),
 * and returned as the condition the metadata commit checks again in its own transaction: of
 * racing writers exactly one commits, the others get 412 PreconditionFailed, or 409
 * ConditionalRequestConflict when the object If-Match named was deleted meanwhile (errors.ts).
 * Undefined when the request has neither header.
 */
export async function checkWriteConditions (ctx: OperationContext): Promise<WriteCondition | undefined> {
  const ifNoneMatch = ctx.req.headers['if-none-match']
  const ifMatch = ctx.req.headers['if-match']
  if (ifNoneMatch === undefined && ifMatch === undefined) return undefined
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
    throw new S3Error('NotImplemented', 'If-None-Match on writes supports only "*".', { Header: 'If-None-Match' })
  }
  const current = await ctx.metadata.getObject(ctx.bucket, ctx.key, undefined, { signal: ctx.signal })
  const exists = current !== undefined && !current.deleteMarker
  if (ifNoneMatch !== undefined && exists) throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-None-Match' })
  if (ifMatch === undefined) return { current: 'none' }
  if (!exists) throw new S3Error('NoSuchKey', undefined, { Key: ctx.key })
  const wanted = ifMatch.split(',').map(s => s.trim().replace(/^"(.*)"$/, '$1'))
  if (!wanted.includes('*') && !wanted.includes(current.etag)) throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Match' })
  // Both headers never get here: an object either exists (If-None-Match fails) or not (If-Match does).
  return wanted.includes('*') ? { current: 'object' } : { current: 'object', etags: wanted }
}
