import type { IncomingMessage } from 'node:http'
import type { CID } from 'multiformats/cid'
import type { AbortOptions } from '../types.js'
import { childText, parseXml } from '../xml/parse.js'
import { escapeXml } from '../xml/render.js'
import { S3Client } from './s3-client.js'
import { archiveNotFound } from './target.js'
import type { ArchiveLocation, ArchiveStatus, ArchiveTarget } from './target.js'

const MiB = 1024 * 1024
const MIN_PART_SIZE = 5 * MiB
const MAX_PART_SIZE = 5 * 1024 * MiB
const CAR_TYPE = { 'content-type': 'application/vnd.ipld.car' }

/** An S3-compatible bucket as an archive target: what `serve --archive FILE` reads (JSON). */
export interface S3ArchiveConfig {
  type: 's3'
  /** `http(s)://host[:port][/base/path]`: the S3 API's address, without credentials. */
  endpoint: string
  bucket: string
  /** Default 'us-east-1'. */
  region?: string
  accessKeyId: string
  secretAccessKey: string
  /** Put before `<cid>.car` in every key, as it is (may hold `/`). Default ''. */
  prefix?: string
  /** `endpoint/bucket/key` rather than `bucket.endpoint/key`. Default true. */
  forcePathStyle?: boolean
  /** A CAR larger than this goes up as a multipart upload of parts this size. Default 16 MiB, at least 5 MiB. */
  partSize?: number
  /** A request fails after this many milliseconds without progress. Default 60000. */
  timeoutMs?: number
}

const FIELDS = new Set(['type', 'endpoint', 'bucket', 'region', 'accessKeyId', 'secretAccessKey', 'prefix', 'forcePathStyle', 'partSize', 'timeoutMs'])

function bad (field: string, what: string): TypeError {
  return new TypeError(`S3 archive config: "${field}" ${what}`)
}

function text (o: Record<string, unknown>, field: string, required: boolean, allowEmpty = false): string | undefined {
  const v = o[field]
  if (v === undefined && !required) return undefined
  if (v === undefined) return badThrow(field, 'is missing')
  if (typeof v !== 'string' || (!allowEmpty && v === '')) return badThrow(field, allowEmpty ? 'must be a string' : 'must be a non-empty string')
  return v
}

function badThrow (field: string, what: string): never {
  throw bad(field, what)
}

/**
 * Checks a parsed JSON object as an S3ArchiveConfig and returns it. A missing, mistyped or unknown
 * field throws a TypeError naming the field (never a credential's value).
 */
export function parseS3ArchiveConfig (json: unknown): S3ArchiveConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TypeError('S3 archive config: must be a JSON object')
  const o = json as Record<string, unknown>
  for (const field of Object.keys(o)) {
    if (!FIELDS.has(field)) throw bad(field, 'is not a known field')
  }
  if (o.type !== 's3') throw bad('type', o.type === undefined ? 'is missing' : 'must be "s3"')
  const endpoint = text(o, 'endpoint', true) as string
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    throw bad('endpoint', 'must be an http(s) URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('endpoint', 'must be an http(s) URL')
  if (url.username !== '' || url.password !== '') throw bad('endpoint', 'must not hold credentials (use accessKeyId and secretAccessKey)')
  if (url.search !== '' || url.hash !== '') throw bad('endpoint', 'must not have a query or fragment')
  const bucket = text(o, 'bucket', true) as string
  if (bucket.includes('/')) throw bad('bucket', 'must not contain "/"')
  const config: S3ArchiveConfig = {
    type: 's3',
    endpoint,
    bucket,
    accessKeyId: text(o, 'accessKeyId', true) as string,
    secretAccessKey: text(o, 'secretAccessKey', true) as string,
  }
  const region = text(o, 'region', false)
  if (region !== undefined) config.region = region
  const prefix = text(o, 'prefix', false, true)
  if (prefix !== undefined) config.prefix = prefix
  if (o.forcePathStyle !== undefined) {
    if (typeof o.forcePathStyle !== 'boolean') throw bad('forcePathStyle', 'must be true or false')
    config.forcePathStyle = o.forcePathStyle
  }
  if (o.partSize !== undefined) {
    const n = o.partSize
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < MIN_PART_SIZE || n > MAX_PART_SIZE) {
      throw bad('partSize', `must be a whole number of bytes from ${MIN_PART_SIZE} (5 MiB) to ${MAX_PART_SIZE} (5 GiB)`)
    }
    config.partSize = n
  }
  if (o.timeoutMs !== undefined) {
    const n = o.timeoutMs
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw bad('timeoutMs', 'must be a positive whole number of milliseconds')
    config.timeoutMs = n
  }
  return config
}

interface S3Location { bucket: string, key: string }

/**
 * CARs as objects `<prefix><cid>.car` in an S3-compatible bucket (AWS, MinIO, another gateway).
 * A CAR larger than `partSize` goes up as a multipart upload, holding at most about two parts in
 * memory; a failed one is aborted.
 */
export class S3ArchiveTarget implements ArchiveTarget {
  readonly name: string
  readonly #bucket: string
  readonly #prefix: string
  readonly #partSize: number
  readonly #timeoutMs: number
  readonly #client: S3Client

  constructor (config: S3ArchiveConfig) {
    const c = parseS3ArchiveConfig(config)
    this.name = `s3:${c.bucket}`
    this.#bucket = c.bucket
    this.#prefix = c.prefix ?? ''
    this.#partSize = c.partSize ?? 16 * MiB
    this.#timeoutMs = c.timeoutMs ?? 60_000
    this.#client = new S3Client({
      endpoint: c.endpoint,
      region: c.region ?? 'us-east-1',
      accessKeyId: c.accessKeyId,
      secretAccessKey: c.secretAccessKey,
      forcePathStyle: c.forcePathStyle ?? true,
      timeoutMs: this.#timeoutMs,
      name: this.name,
    })
  }

  async put (cid: CID, car: AsyncIterable<Uint8Array>, options: AbortOptions = {}): Promise<ArchiveLocation> {
    options.signal?.throwIfAborted()
    const bucket = this.#bucket
    const key = `${this.#prefix}${cid.toString()}.car`
    // Stops the source and every request of this put at the first failure, the caller's abort included.
    const stop = new AbortController()
    const onAbort = (): void => { stop.abort(options.signal?.reason) }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    const reader = parts(car, this.#partSize, stop.signal)
    try {
      const first = await reader.next()
      if (first.done === true) throw new Error('unreachable: parts yields at least one part')
      if (first.value.last) {
        const res = await this.#client.send({ action: 'PutObject', method: 'PUT', bucket, key, headers: CAR_TYPE, body: first.value.bytes, signal: stop.signal })
        await this.#client.discard(res)
        return location(bucket, key, etagOf(res), first.value.bytes.byteLength)
      }
      return await this.#putMultipart({ bucket, key }, first.value, reader, stop)
    } catch (err) {
      throw options.signal?.aborted === true ? options.signal.reason : err
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
      void reader.return(undefined).catch(() => {})
    }
  }

  async #putMultipart (at: S3Location, first: Part, reader: AsyncGenerator<Part, void>, stop: AbortController): Promise<ArchiveLocation> {
    const { bucket, key } = at
    const created = await this.#client.send({ action: 'CreateMultipartUpload', method: 'POST', bucket, key, query: { uploads: '' }, headers: CAR_TYPE, signal: stop.signal })
    const uploadId = childText(parseXml(await this.#client.text(created), 'InitiateMultipartUploadResult'), 'UploadId')
    if (uploadId === undefined || uploadId === '') throw new Error(`${this.name}: CreateMultipartUpload answered no UploadId`)
    try {
      const etags: string[] = []
      let size = 0
      let part: Part = first
      for (;;) {
        // Upload this part while reading the next: at most two parts in memory.
        const partNumber = etags.length + 1
        const upload = this.#uploadPart(at, uploadId, partNumber, part.bytes, stop.signal)
        const next = part.last ? Promise.resolve(undefined) : reader.next()
        let failure: { error: unknown } | undefined
        const fail = (error: unknown): void => {
          failure ??= { error }
          stop.abort(error)
        }
        upload.catch(fail)
        next.catch(fail)
        await Promise.allSettled([upload, next])
        if (failure !== undefined) throw failure.error
        etags.push(await upload)
        size += part.bytes.byteLength
        const following = await next
        if (following === undefined || following.done === true) break
        part = following.value
      }
      const body = Buffer.from('<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`).join('') +
        '</CompleteMultipartUpload>')
      const res = await this.#client.send({ action: 'CompleteMultipartUpload', method: 'POST', bucket, key, query: { uploadId }, body, headers: { 'content-type': 'application/xml' }, signal: stop.signal })
      // S3 may answer 200 and still fail, with an <Error> body.
      const answer = await this.#client.text(res)
      let result
      try {
        result = parseXml(answer, 'CompleteMultipartUploadResult')
      } catch {
        throw this.#client.error({ action: 'CompleteMultipartUpload' }, res.statusCode ?? 0, answer)
      }
      return location(bucket, key, unquote(childText(result, 'ETag')), size)
    } catch (err) {
      await this.#abortUpload(at, uploadId)
      throw err
    }
  }

  async #uploadPart (at: S3Location, uploadId: string, partNumber: number, bytes: Uint8Array, signal: AbortSignal): Promise<string> {
    const query = { partNumber: String(partNumber), uploadId }
    const res = await this.#client.send({ action: 'UploadPart', method: 'PUT', ...at, query, body: bytes, signal })
    await this.#client.discard(res)
    const etag = res.headers.etag
    if (etag === undefined || etag === '') throw new Error(`${this.name}: UploadPart answered no ETag`)
    return etag
  }

  /** Best effort: the put has failed already, whatever this answers. */
  async #abortUpload (at: S3Location, uploadId: string): Promise<void> {
    try {
      const res = await this.#client.send({ action: 'AbortMultipartUpload', method: 'DELETE', ...at, query: { uploadId }, signal: AbortSignal.timeout(this.#timeoutMs) })
      await this.#client.discard(res)
    } catch {
      // a later put of the same CID starts a new upload; a bucket lifecycle rule can sweep this one
    }
  }

  async get (cid: CID, where: ArchiveLocation, options: AbortOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    options.signal?.throwIfAborted()
    const at = this.#locate(cid, where)
    try {
      return await this.#client.send({ action: 'GetObject', method: 'GET', ...at, signal: options.signal })
    } catch (err) {
      if (isNotFound(err)) throw archiveNotFound(cid, this.name)
      throw err
    }
  }

  async delete (cid: CID, where: ArchiveLocation, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    try {
      const res = await this.#client.send({ action: 'DeleteObject', method: 'DELETE', ...this.#locate(cid, where), signal: options.signal })
      await this.#client.discard(res)
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
  }

  async status (cid: CID, where: ArchiveLocation, options: AbortOptions = {}): Promise<ArchiveStatus> {
    options.signal?.throwIfAborted()
    let res: IncomingMessage
    try {
      res = await this.#client.send({ action: 'HeadObject', method: 'HEAD', ...this.#locate(cid, where), signal: options.signal })
    } catch (err) {
      if (isNotFound(err)) return { stored: false }
      throw err
    }
    res.resume()
    const length = Number(res.headers['content-length'])
    return { stored: true, detail: { size: Number.isSafeInteger(length) ? length : undefined, etag: etagOf(res) } }
  }

  async close (): Promise<void> {
    this.#client.close()
  }

  /** Where `put` said the CAR went; this target's own key for `cid` when the location does not say. */
  #locate (cid: CID, where: ArchiveLocation): S3Location {
    const bucket = typeof where.bucket === 'string' && where.bucket !== '' ? where.bucket : this.#bucket
    const key = typeof where.key === 'string' && where.key !== '' ? where.key : `${this.#prefix}${cid.toString()}.car`
    return { bucket, key }
  }
}

function location (bucket: string, key: string, etag: string | undefined, size: number): ArchiveLocation {
  return etag === undefined ? { bucket, key, size } : { bucket, key, etag, size }
}

function etagOf (res: IncomingMessage): string | undefined {
  return unquote(res.headers.etag)
}

function unquote (etag: string | undefined): string | undefined {
  if (etag === undefined || etag === '') return undefined
  return etag.replace(/^"(.*)"$/, '$1')
}

function isNotFound (err: unknown): boolean {
  const e = err as { name?: string, status?: number, code?: string }
  return e?.name === 'S3ClientError' && (e.status === 404 || e.code === 'NoSuchKey')
}

interface Part {
  bytes: Uint8Array
  /** No byte follows this part. */
  last: boolean
}

/**
 * `source` cut into parts of exactly `size` bytes (the last may be shorter, or empty when the
 * source is). It reads one chunk past a part before yielding it, to know whether it is the last,
 * so it holds at most a part and a chunk. Stops reading when `signal` aborts, even mid-chunk.
 */
async function * parts (source: AsyncIterable<Uint8Array>, size: number, signal: AbortSignal): AsyncGenerator<Part, void> {
  const it = source[Symbol.asyncIterator]()
  let finished = false
  let pending: Uint8Array[] = []
  let length = 0
  try {
    for (;;) {
      while (!finished && length <= size) {
        const r = await untilAborted(it.next(), signal)
        if (r.done === true) finished = true
        else if (r.value.byteLength > 0) {
          pending.push(r.value)
          length += r.value.byteLength
        }
      }
      if (length <= size) {
        yield { bytes: Buffer.concat(pending, length), last: true }
        return
      }
      const out = Buffer.allocUnsafe(size)
      let offset = 0
      let i = 0
      while (offset < size) {
        const head = pending[i]
        const n = Math.min(head.byteLength, size - offset)
        out.set(n === head.byteLength ? head : head.subarray(0, n), offset)
        offset += n
        if (n === head.byteLength) i++
        else pending[i] = head.subarray(n)
      }
      pending = pending.slice(i)
      length -= size
      yield { bytes: out, last: false }
    }
  } finally {
    // Not awaited: a source stuck in next() (what an abort interrupts) would hold the put forever.
    if (!finished) void Promise.resolve(it.return?.()).catch(() => {})
  }
}

async function untilAborted<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}
