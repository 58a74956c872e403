import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { encodingTypeParam, requireBucket, urlEncodeIf, xmlResponse } from './common.js'
import { contentsXml, cursorAfter, entryMarker, listingParams, listPage, maxKeysParam, prefixSuccessor, type Cursor, type ListEntry, type ListPage } from './listing.js'
import { listedRestores } from './restore-status.js'
import { isSearch, parseSearchFilter, searchPage } from '../discovery/search.js'

/** Continuation tokens name the last key ('k') or common prefix ('p') a page ended with. */
function encodeToken (kind: 'key' | 'prefix', value: string): string {
  return Buffer.from((kind === 'key' ? 'k' : 'p') + value, 'utf8').toString('base64url')
}

function decodeToken (token: string): Cursor {
  const text = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : ''
  const value = text.slice(1)
  if (text[0] === 'k') return { after: value }
  if (text[0] === 'p') {
    const next = prefixSuccessor(value)
    if (next !== undefined) return { from: next }
  }
  throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' })
}

export async function listObjectsV2 (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  if (ctx.query.get('list-type') !== '2') {
    throw new S3Error('InvalidArgument', 'Invalid list type', { ArgumentName: 'list-type', ArgumentValue: ctx.query.get('list-type') ?? '' })
  }
  const { prefix, delimiter } = listingParams(ctx)
  const maxKeys = maxKeysParam(ctx)
  const encode = encodingTypeParam(ctx)
  const token = ctx.query.get('continuation-token')
  const startAfter = ctx.query.get('start-after') ?? undefined
  const fetchOwner = ctx.query.get('fetch-owner') === 'true'
  let cursor: Cursor = {}
  // An empty token is a first page (echoed empty), as Amazon S3 answers.
  if (token !== null && token !== '') cursor = decodeToken(token)
  else if (startAfter !== undefined && startAfter !== '') cursor = cursorAfter(startAfter, prefix, delimiter)

  const page: ListPage & { resumeAfter?: string } = isSearch(ctx.query)
    ? await searchListing(ctx, bucket.name, { delimiter, maxKeys, cursor })
    : await listPage(ctx.metadata, bucket.name, { prefix, delimiter, maxKeys, cursor, signal: ctx.signal })
  const last = page.entries[page.entries.length - 1]
  const next = page.resumeAfter !== undefined ? encodeToken('key', page.resumeAfter) : last !== undefined ? encodeToken(last.kind, entryMarker(last)) : undefined
  const restores = await listedRestores(ctx, bucket.name, page.entries.flatMap(e => e.kind === 'key' ? [e.version] : []))
  return xmlResponse('ListBucketResult', {
    Name: bucket.name,
    Prefix: urlEncodeIf(encode, prefix),
    Delimiter: urlEncodeIf(encode, delimiter),
    MaxKeys: maxKeys,
    EncodingType: encode ? 'url' : undefined,
    KeyCount: page.entries.length,
    IsTruncated: page.truncated,
    ContinuationToken: token ?? undefined,
    NextContinuationToken: page.truncated ? next : undefined,
    StartAfter: urlEncodeIf(encode, startAfter),
    Contents: page.entries.flatMap(e => e.kind === 'key' ? [contentsXml(e.version, encode, fetchOwner, restores)] : []),
    CommonPrefixes: page.entries.flatMap(e => e.kind === 'prefix' ? [{ Prefix: urlEncodeIf(encode, e.prefix) }] : []),
  })
}

/**
 * The search extension (src/discovery/search.ts): ListObjectsV2 with filter parameters lists the
 * current objects meeting them, in key order. A page may hold fewer than max-keys and still be
 * truncated; there is no delimiter roll-up.
 */
async function searchListing (ctx: OperationContext, bucket: string, o: { delimiter?: string, maxKeys: number, cursor: Cursor }): Promise<ListPage & { resumeAfter?: string }> {
  if (o.delimiter !== undefined) {
    throw new S3Error('InvalidArgument', 'A delimiter cannot be combined with search parameters', { ArgumentName: 'delimiter', ArgumentValue: o.delimiter })
  }
  if (o.cursor.from !== undefined) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' })
  const filter = parseSearchFilter(ctx.query)
  if (o.maxKeys === 0) return { entries: [], truncated: false }
  // Tokens of a search name the last key looked at; start-after is a key too.
  const page = await searchPage(ctx.metadata, bucket, filter, { after: o.cursor.after, limit: o.maxKeys, signal: ctx.signal })
  const entries: ListEntry[] = page.objects.map((v) => ({ kind: 'key', key: v.key, version: { ...v, isLatest: true } }))
  // A page that ends early ends on a key it looked at: the token names that key.
  if (page.next !== undefined && page.objects[page.objects.length - 1]?.key !== page.next) {
    return { entries, truncated: true, resumeAfter: page.next }
  }
  return { entries, truncated: page.next !== undefined }
}
