/**
 * The one S3 client every server under test is driven with: an undici Pool, requests signed with
 * SigV4 by @smithy/signature-v4 (hashes through node:crypto). Buffer bodies are signed with their
 * SHA-256 like the AWS SDK does; streamed bodies use UNSIGNED-PAYLOAD with an exact Content-Length.
 * HEAD requests set `reset: false` (otherwise undici closes the connection after every HEAD).
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto'
import type { Readable } from 'node:stream'
import { Pool } from 'undici'
import { SignatureV4 } from '@smithy/signature-v4'
import type { Checksum, SourceData } from '@smithy/types'

function toBuffer (data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  return Buffer.from(data)
}

/** SHA-256 / HMAC-SHA-256 for the signer, on node:crypto. */
class NodeSha256 implements Checksum {
  private h: Hash | Hmac
  private readonly secret: Buffer | undefined
  constructor (secret?: SourceData) {
    this.secret = secret === undefined ? undefined : toBuffer(secret)
    this.h = this.fresh()
  }

  private fresh (): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret)
  }

  update (data: Uint8Array): void { this.h.update(data) }
  digest (): Promise<Uint8Array> { return Promise.resolve(new Uint8Array(this.h.digest())) }
  reset (): void { this.h = this.fresh() }
}

/** RFC 3986 encoding, as SigV4 wants it. */
export function encodeRfc3986 (s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase())
}

export function objectPath (bucket: string, key?: string): string {
  if (key === undefined) return '/' + encodeRfc3986(bucket)
  return '/' + encodeRfc3986(bucket) + '/' + key.split('/').map(encodeRfc3986).join('/')
}

export interface ClientOptions {
  /** e.g. http://127.0.0.1:9000 (only 127.0.0.1 is ever used by the benchmarks) */
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
  region?: string
  connections?: number
  /** headers and body timeouts, ms */
  timeoutMs?: number
}

export interface RequestSpec {
  method: 'GET' | 'PUT' | 'HEAD' | 'DELETE' | 'POST'
  bucket: string
  key?: string
  query?: Record<string, string>
  headers?: Record<string, string>
  /** a Buffer is signed with its SHA-256; a Readable needs `contentLength` and goes UNSIGNED-PAYLOAD */
  body?: Buffer | Readable
  contentLength?: number
  signal?: AbortSignal
}

export interface RawResponse {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: AsyncIterable<Uint8Array> & { dump(): Promise<void>, text(): Promise<string>, arrayBuffer(): Promise<ArrayBuffer> }
}

export class S3HttpError extends Error {
  constructor (readonly statusCode: number, readonly method: string, readonly path: string, readonly detail: string) {
    super(`${method} ${path} -> HTTP ${statusCode}: ${detail.slice(0, 300)}`)
  }
}

/** The text of the first `<name>` element, entities for quotes and ampersands decoded. */
export function xmlElement (xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)
  return m === null ? undefined : m[1].replace(/&quot;/g, '"').replace(/&#34;/g, '"').replace(/&amp;/g, '&')
}

/**
 * One line for an error: `PUT /b/k -> HTTP 501 NotImplemented: message` from an S3HttpError's
 * error document (the runner's notes keep only an error's first line, the XML declaration).
 */
export function s3Error (err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err)
  const code = /<Code>([^<]*)<\/Code>/.exec(msg)?.[1]
  if (code === undefined) return err instanceof Error ? err : new Error(msg)
  const text = /<Message>([^<]*)<\/Message>/.exec(msg)?.[1]
  const request = /(GET|PUT|POST|HEAD|DELETE) \S+ -> HTTP \d+/.exec(msg)?.[0] ?? ''
  return new Error(`${request} ${code}${text === undefined ? '' : `: ${text}`}`.trim())
}

function escapeXml (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex')

export class BenchClient {
  readonly pool: Pool
  readonly host: string
  private readonly hostname: string
  private readonly port: number
  private readonly signer: SignatureV4

  constructor (readonly opts: ClientOptions) {
    const url = new URL(opts.endpoint)
    this.hostname = url.hostname
    this.port = Number(url.port || 80)
    this.host = url.host
    const timeout = opts.timeoutMs ?? 120_000
    this.pool = new Pool(url.origin, {
      connections: opts.connections ?? 64,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    })
    this.signer = new SignatureV4({
      service: 's3',
      region: opts.region ?? 'us-east-1',
      credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey },
      sha256: NodeSha256,
      uriEscapePath: false,
      applyChecksum: true,
    })
  }

  /** Signs and sends; the caller must consume or dump the body. */
  async raw (spec: RequestSpec): Promise<RawResponse> {
    const path = objectPath(spec.bucket, spec.key)
    const query = spec.query ?? {}
    const headers: Record<string, string> = { host: this.host, ...spec.headers }
    let body: Buffer | Readable | undefined = spec.body
    if (body === undefined) {
      headers['x-amz-content-sha256'] = EMPTY_SHA256
      if (spec.method === 'PUT' || spec.method === 'POST') headers['content-length'] = '0'
    } else if (Buffer.isBuffer(body)) {
      headers['x-amz-content-sha256'] = createHash('sha256').update(body).digest('hex')
      headers['content-length'] = String(body.length)
    } else {
      if (spec.contentLength === undefined) throw new TypeError('a streamed body needs contentLength')
      headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD'
      headers['content-length'] = String(spec.contentLength)
    }
    const signed = await this.signer.sign({
      method: spec.method,
      protocol: 'http:',
      hostname: this.hostname,
      port: this.port,
      path,
      query,
      headers,
    })
    const qs = Object.keys(query).sort().map(k => `${encodeRfc3986(k)}=${encodeRfc3986(query[k])}`).join('&')
    const res = await this.pool.request({
      method: spec.method,
      path: qs === '' ? path : `${path}?${qs}`,
      headers: signed.headers,
      body,
      signal: spec.signal,
      reset: spec.method === 'HEAD' ? false : undefined,
    })
    return res as unknown as RawResponse
  }

  /** Sends, throws S3HttpError on a non-2xx status (reading a little of the error body). */
  async ok (spec: RequestSpec): Promise<RawResponse> {
    const res = await this.raw(spec)
    if (res.statusCode >= 200 && res.statusCode < 300) return res
    let detail = ''
    try { detail = await res.body.text() } catch { /* ignore */ }
    throw new S3HttpError(res.statusCode, spec.method, objectPath(spec.bucket, spec.key), detail)
  }

  async createBucket (bucket: string): Promise<void> {
    const res = await this.raw({ method: 'PUT', bucket })
    const text = await res.body.text()
    // 409 BucketAlreadyOwnedByYou is fine for a re-run against a kept data dir
    if (res.statusCode !== 200 && !(res.statusCode === 409 && text.includes('AlreadyOwnedByYou'))) {
      throw new S3HttpError(res.statusCode, 'PUT', objectPath(bucket), text)
    }
  }

  async put (bucket: string, key: string, body: Buffer | Readable, contentLength?: number): Promise<string | undefined> {
    const res = await this.ok({ method: 'PUT', bucket, key, body, contentLength })
    await res.body.dump()
    const etag = res.headers.etag
    return typeof etag === 'string' ? etag : undefined
  }

  /** PUT; returns the ETag and the `x-amz-version-id` header (undefined when absent). */
  async putVersion (bucket: string, key: string, body: Buffer): Promise<{ etag: string | undefined, versionId: string | undefined }> {
    const res = await this.ok({ method: 'PUT', bucket, key, body })
    await res.body.dump()
    const { etag, 'x-amz-version-id': versionId } = res.headers
    return { etag: typeof etag === 'string' ? etag : undefined, versionId: typeof versionId === 'string' ? versionId : undefined }
  }

  /** PutBucketVersioning (PUT ?versioning). */
  async putBucketVersioning (bucket: string, status: 'Enabled' | 'Suspended'): Promise<void> {
    const xml = `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>${status}</Status></VersioningConfiguration>`
    const res = await this.ok({ method: 'PUT', bucket, query: { versioning: '' }, body: Buffer.from(xml, 'utf8'), headers: { 'content-type': 'application/xml' } })
    await res.body.dump()
  }

  /** GET, feeding every chunk to `onChunk`; returns the byte count. */
  async get (bucket: string, key: string, onChunk?: (c: Uint8Array) => void): Promise<number> {
    const res = await this.ok({ method: 'GET', bucket, key })
    let n = 0
    for await (const chunk of res.body) {
      n += chunk.length
      if (onChunk !== undefined) onChunk(chunk)
    }
    return n
  }

  /** HEAD; returns Content-Length. */
  async head (bucket: string, key: string): Promise<number> {
    const res = await this.ok({ method: 'HEAD', bucket, key })
    await res.body.dump()
    return Number(res.headers['content-length'] ?? NaN)
  }

  /** HEAD; returns Content-Length and the response headers. */
  async headObject (bucket: string, key: string): Promise<{ size: number, headers: RawResponse['headers'] }> {
    const res = await this.ok({ method: 'HEAD', bucket, key })
    await res.body.dump()
    return { size: Number(res.headers['content-length'] ?? NaN), headers: res.headers }
  }

  /** CreateMultipartUpload (POST ?uploads); returns the UploadId. */
  async createMultipartUpload (bucket: string, key: string): Promise<string> {
    const res = await this.ok({ method: 'POST', bucket, key, query: { uploads: '' } })
    const xml = await res.body.text()
    const id = xmlElement(xml, 'UploadId')
    if (id === undefined || id === '') throw new Error(`CreateMultipartUpload ${bucket}/${key}: no UploadId in ${xml.slice(0, 200)}`)
    return id
  }

  /** UploadPart (PUT ?partNumber=N&uploadId=...); returns the part's ETag as sent (quoted). */
  async uploadPart (bucket: string, key: string, uploadId: string, partNumber: number, body: Buffer | Readable, contentLength?: number): Promise<string> {
    const res = await this.ok({ method: 'PUT', bucket, key, query: { partNumber: String(partNumber), uploadId }, body, contentLength })
    await res.body.dump()
    const etag = res.headers.etag
    if (typeof etag !== 'string') throw new Error(`UploadPart ${partNumber} of ${bucket}/${key}: no ETag header`)
    return etag
  }

  /** UploadPartCopy of a whole object (`x-amz-copy-source: /bucket/key`); returns the part's ETag. */
  async uploadPartCopy (bucket: string, key: string, uploadId: string, partNumber: number, sourceBucket: string, sourceKey: string): Promise<string> {
    const res = await this.ok({
      method: 'PUT',
      bucket,
      key,
      query: { partNumber: String(partNumber), uploadId },
      headers: { 'x-amz-copy-source': objectPath(sourceBucket, sourceKey) },
    })
    const xml = await res.body.text()
    const etag = xmlElement(xml, 'ETag')
    // S3 can answer 200 with an error document for a copy
    if (etag === undefined) throw new Error(`UploadPartCopy ${partNumber} of ${bucket}/${key}: no ETag in ${xml.slice(0, 300)}`)
    return etag
  }

  /**
   * CompleteMultipartUpload (POST ?uploadId=...) with the parts in order. Returns the object's ETag
   * and the response headers; throws on an error status or on an error document sent with 200.
   */
  async completeMultipartUpload (bucket: string, key: string, uploadId: string, parts: Array<{ partNumber: number, etag: string }>): Promise<{ etag: string, headers: RawResponse['headers'] }> {
    const xml = '<CompleteMultipartUpload>' +
      parts.map(p => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${escapeXml(p.etag)}</ETag></Part>`).join('') +
      '</CompleteMultipartUpload>'
    const res = await this.ok({ method: 'POST', bucket, key, query: { uploadId }, body: Buffer.from(xml, 'utf8'), headers: { 'content-type': 'application/xml' } })
    const text = await res.body.text()
    const etag = xmlElement(text, 'ETag')
    if (!text.includes('<CompleteMultipartUploadResult') || etag === undefined) {
      throw new Error(`CompleteMultipartUpload ${bucket}/${key}: HTTP ${res.statusCode} without a result: ${text.slice(0, 300)}`)
    }
    return { etag, headers: res.headers }
  }

  /** AbortMultipartUpload (DELETE ?uploadId=...); errors are ignored (cleanup after a failure). */
  async abortMultipartUpload (bucket: string, key: string, uploadId: string): Promise<void> {
    const res = await this.raw({ method: 'DELETE', bucket, key, query: { uploadId } }).catch(() => undefined)
    await res?.body.dump().catch(() => undefined)
  }

  async listV2 (bucket: string, params: Record<string, string>): Promise<string> {
    const res = await this.ok({ method: 'GET', bucket, query: { 'list-type': '2', ...params } })
    return res.body.text()
  }

  /** ListObjectVersions (GET ?versions); the response document. */
  async listVersions (bucket: string, params: Record<string, string>): Promise<string> {
    const res = await this.ok({ method: 'GET', bucket, query: { versions: '', ...params } })
    return res.body.text()
  }

  async close (): Promise<void> {
    await this.pool.close()
  }

  async destroy (): Promise<void> {
    await this.pool.destroy()
  }
}
