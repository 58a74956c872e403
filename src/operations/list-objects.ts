import type { OperationContext } from './context.js'
import { refuseSearch } from '../discovery/search.js'
import { encodingTypeParam, requireBucket, urlEncodeIf, xmlResponse } from './common.js'
import { contentsXml, cursorAfter, entryMarker, listingParams, listPage, maxKeysParam } from './listing.js'
import { listedRestores } from './restore-status.js'

/** ListObjects (version 1): `marker` in, `NextMarker` out when a delimiter is used, as S3. */
export async function listObjects (ctx: OperationContext) {
  refuseSearch(ctx.query, 'ListObjects')
  const bucket = await requireBucket(ctx)
  const { prefix, delimiter } = listingParams(ctx)
  const maxKeys = maxKeysParam(ctx)
  const encode = encodingTypeParam(ctx)
  const marker = ctx.query.get('marker') ?? ''
  const cursor = marker === '' ? {} : cursorAfter(marker, prefix, delimiter)
  const page = await listPage(ctx.metadata, bucket.name, { prefix, delimiter, maxKeys, cursor, signal: ctx.signal })
  const last = page.entries[page.entries.length - 1]
  const restores = await listedRestores(ctx, bucket.name, page.entries.flatMap(e => e.kind === 'key' ? [e.version] : []))
  return xmlResponse('ListBucketResult', {
    Name: bucket.name,
    // Amazon S3 encodes Marker, NextMarker, Delimiter and keys here, but not the top-level Prefix.
    Prefix: prefix,
    Marker: urlEncodeIf(encode, marker),
    NextMarker: page.truncated && delimiter !== undefined && last !== undefined ? urlEncodeIf(encode, entryMarker(last)) : undefined,
    MaxKeys: maxKeys,
    Delimiter: urlEncodeIf(encode, delimiter),
    EncodingType: encode ? 'url' : undefined,
    IsTruncated: page.truncated,
    Contents: page.entries.flatMap(e => e.kind === 'key' ? [contentsXml(e.version, encode, true, restores)] : []),
    CommonPrefixes: page.entries.flatMap(e => e.kind === 'prefix' ? [{ Prefix: urlEncodeIf(encode, e.prefix) }] : []),
  })
}
