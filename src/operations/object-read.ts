import { S3Error } from '../errors.js'
import { CorruptContentError, primeChunks, type ContentChunks } from '../content/export.js'
import { collectBytes } from '../content/bytes.js'
import { checkConditions } from '../protocol/conditional.js'
import { overrideValue, RESPONSE_OVERRIDES } from '../protocol/headers.js'
import { contentRange, parseRange, type ByteRange } from '../protocol/range.js'
import type { S3Response } from '../types.js'
import type { OperationContext } from './context.js'
import { carRequest, readObjectAsCar } from './car-download.js'
import { requireObject, versionIdParam } from './common.js'
import { checksumHeader, versionHeaders } from './object-attributes.js'
import { encryptionHeaders, readDecrypted, storedDataKey } from './encryption.js'
import { bucketExpirationHeader } from '../lifecycle/rules.js'
import { readable } from '../archive/read-through.js'

function partNumberParam (ctx: OperationContext): number | undefined {
  const raw = ctx.query.get('partNumber')
  if (raw === null) return undefined
  const n = Number(raw)
  if (!/^\d+$/.test(raw) || n < 1 || n > 10000) {
    throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', { ArgumentName: 'partNumber', ArgumentValue: raw })
  }
  return n
}

/** GetObject and HeadObject: one version, conditions, one range or part, and response overrides. */
export async function readObject (ctx: OperationContext, withBody: boolean): Promise<S3Response> {
  const car = carRequest(ctx)
  if (car !== undefined) return await readObjectAsCar(ctx, car, withBody)
  const versionId = versionIdParam(ctx)
  const version = await requireObject(ctx, ctx.bucket, ctx.key, versionId)
  const dataKey = storedDataKey(ctx, version)
  const h = ctx.req.headers
  checkConditions({
    ifMatch: h['if-match'],
    ifNoneMatch: h['if-none-match'],
    ifModifiedSince: h['if-modified-since'],
    ifUnmodifiedSince: h['if-unmodified-since'],
  }, version)

  const headers = { ...versionHeaders(version), ...encryptionHeaders(version.encryption) }
  // The bucket as this request's authorization already read it.
  if (version.isLatest !== false) Object.assign(headers, bucketExpirationHeader(await ctx.authorizer.bucket(version.bucket), version, ctx.lifecycleDayMs))
  // The bucket as this request's authorization already read it.
  if (ctx.replication !== undefined) Object.assign(headers, await ctx.replication.readHeaders(version, await ctx.authorizer.bucket(version.bucket), ctx.signal))
  // The null version names itself when asked for by id (its header is otherwise left out).
  if (versionId === 'null') headers['x-amz-version-id'] = 'null'
  if (ctx.req.query !== '') {
    for (const [param, header] of Object.entries(RESPONSE_OVERRIDES)) {
      const value = ctx.query.get(param)
      if (value !== null) headers[header] = overrideValue(param, value)
    }
  }

  // Archived: GET is refused until restored, or reads through (HEAD answers from metadata).
  if (withBody) await readable(ctx, version)
  const size = version.size
  let range: ByteRange | undefined
  const partNumber = partNumberParam(ctx)
  if (partNumber !== undefined) {
    if (h.range !== undefined) throw new S3Error('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter')
    const sizes = version.partSizes ?? [size]
    if (partNumber > sizes.length) {
      throw new S3Error('InvalidPartNumber', undefined, { PartNumberRequested: String(partNumber), ActualPartCount: String(sizes.length) })
    }
    const start = sizes.slice(0, partNumber - 1).reduce((sum, n) => sum + n, 0)
    if (sizes[partNumber - 1] > 0) range = { start, end: start + sizes[partNumber - 1] - 1 }
    if (version.partsCount !== undefined) headers['x-amz-mp-parts-count'] = String(version.partsCount)
  } else {
    range = parseRange(h.range, size)
  }

  const offset = range?.start ?? 0
  const length = range === undefined ? size : range.end - range.start + 1
  headers['content-length'] = String(length)
  if (range !== undefined) headers['content-range'] = contentRange(range, size)
  if (range === undefined && h['x-amz-checksum-mode']?.toUpperCase() === 'ENABLED') {
    Object.assign(headers, checksumHeader(version.checksum))
  }
  const status = range !== undefined ? 206 : 200
  if (!withBody || length === 0) return { status, headers }
  const chunks = dataKey === undefined
    ? ctx.content.cat(version.cid, { offset, length, signal: ctx.signal })
    : readDecrypted(ctx, version, dataKey, offset, length) as ContentChunks
  return { status, headers, body: length <= WHOLE_BODY_BYTES ? await readWhole(chunks, length, ctx.signal) : await primeChunks(chunks) }
}

/**
 * Bodies up to this size are read before the answer and sent with its headers in one write: for a
 * small object the streaming machinery (an async iteration per chunk, a write per chunk, then the
 * end) costs more than the bytes. One block of the default profile is bigger, so this never holds
 * more than one block's worth.
 */
const WHOLE_BODY_BYTES = 64 * 1024

/** The content's `length` bytes in one buffer (the one chunk as it is, when there is one). */
async function readWhole (chunks: AsyncIterable<Uint8Array>, length: number, signal?: AbortSignal): Promise<Uint8Array> {
  const bytes = await collectBytes(chunks, { signal })
  if (bytes.byteLength !== length) throw new CorruptContentError(`content gave ${bytes.byteLength} bytes where ${length} were expected`)
  return bytes
}
