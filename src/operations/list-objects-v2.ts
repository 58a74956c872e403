import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { encodingTypeParam, requireBucket, urlEncodeIf, xmlResponse } from './common.js'
import { contentsXml, cursorAfter, entryMarker, listingParams, listPage, maxKeysParam, prefixSuccessor, type Cursor } from './listing.js'
import { listedRestores } from './restore-status.js'

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

  const page = await listPage(ctx.metadata, bucket.name, { prefix, delimiter, maxKeys, cursor, signal: ctx.signal })
  const last = page.entries[page.entries.length - 1]
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
    NextContinuationToken: page.truncated && last !== undefined ? encodeToken(last.kind, entryMarker(last)) : undefined,
    StartAfter: urlEncodeIf(encode, startAfter),
    Contents: page.entries.flatMap(e => e.kind === 'key' ? [contentsXml(e.version, encode, fetchOwner, restores)] : []),
    CommonPrefixes: page.entries.flatMap(e => e.kind === 'prefix' ? [{ Prefix: urlEncodeIf(encode, e.prefix) }] : []),
  })
}
