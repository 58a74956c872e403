import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { intParam, xmlResponse } from './common.js'

export async function listBuckets (ctx: OperationContext) {
  const prefix = ctx.query.get('prefix') ?? ''
  const maxBuckets = intParam(ctx, 'max-buckets', 10000, 10000)
  if (ctx.query.has('max-buckets') && maxBuckets < 1) {
    throw new S3Error('InvalidArgument', 'Argument max-buckets must be an integer between 1 and 10000', { ArgumentName: 'max-buckets' })
  }
  const token = ctx.query.get('continuation-token')
  // Buckets in another region than the gateway's: none (every bucket here is in its region).
  const region = ctx.query.get('bucket-region')
  let after = ''
  if (token !== null && token !== '') {
    after = Buffer.from(token, 'base64url').toString('utf8')
    if (after === '') throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' })
  }
  const all = (await ctx.metadata.listBuckets(ctx.principal, { signal: ctx.signal }))
    .filter(b => b.name.startsWith(prefix) && b.name > after && (region === null || region === '' || b.region === region))
  const page = all.slice(0, maxBuckets)
  const truncated = all.length > page.length
  return xmlResponse('ListAllMyBucketsResult', {
    Owner: { ID: ctx.principal, DisplayName: ctx.displayName },
    Buckets: { Bucket: page.map(b => ({ Name: b.name, CreationDate: b.created, BucketRegion: b.region })) },
    ContinuationToken: truncated ? Buffer.from(page[page.length - 1].name).toString('base64url') : undefined,
    Prefix: ctx.query.has('prefix') ? prefix : undefined,
  })
}
