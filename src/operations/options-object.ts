import { fromStoredCors, preflight } from '../protocol/cors.js'
import type { OperationContext } from './context.js'
import { emptyResponse } from './common.js'

/**
 * A browser's CORS preflight (S3 "OPTIONS object"), answered from the bucket's CORS rules without
 * authentication: 200 with the Access-Control-* headers of the first rule that allows the origin,
 * method and headers; 403 when none does or the bucket has no rules (or does not exist).
 */
export async function optionsObject (ctx: OperationContext) {
  const bucket = await ctx.authorizer.bucket(ctx.bucket)
  const headers = preflight(fromStoredCors(bucket?.config?.cors), {
    origin: ctx.req.headers.origin,
    method: ctx.req.headers['access-control-request-method'],
    requestHeaders: ctx.req.headers['access-control-request-headers'],
    key: ctx.key === '' ? undefined : ctx.key,
  })
  return emptyResponse(200, headers)
}
