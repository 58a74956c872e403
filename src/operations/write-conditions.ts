import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'

/**
 * Conditional writes (`If-None-Match: *`, `If-Match: <etag>`) on PutObject and CopyObject, checked
 * before the body is read and again just before the commit.
 */
export async function checkWriteConditions (ctx: OperationContext): Promise<void> {
  const ifNoneMatch = ctx.req.headers['if-none-match']
  const ifMatch = ctx.req.headers['if-match']
  if (ifNoneMatch === undefined && ifMatch === undefined) return
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
    throw new S3Error('NotImplemented', 'If-None-Match on writes supports only "*".', { Header: 'If-None-Match' })
  }
  const current = await ctx.metadata.getObject(ctx.bucket, ctx.key, undefined, { signal: ctx.signal })
  const exists = current !== undefined && !current.deleteMarker
  if (ifNoneMatch !== undefined && exists) throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-None-Match' })
  if (ifMatch !== undefined) {
    if (!exists) throw new S3Error('NoSuchKey', undefined, { Key: ctx.key })
    const wanted = ifMatch.split(',').map(s => s.trim().replace(/^"(.*)"$/, '$1'))
    if (!wanted.includes('*') && !wanted.includes(current.etag)) throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Match' })
  }
}
