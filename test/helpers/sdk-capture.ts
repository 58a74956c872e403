import { Readable } from 'node:stream'
import type { HttpRequest } from '@smithy/protocol-http'
import { S3Client } from '@aws-sdk/client-s3'
import type { S3Request } from '../../src/types.js'

/** One request the AWS SDK sent, with its body read out. */
export interface Captured { request: HttpRequest, body: Buffer }

export interface CaptureOptions {
  accessKeyId: string
  secretAccessKey: string
  region: string
  endpoint?: string
  /** The ETag every answer carries (the SDK reads it from PutObject). */
  etag?: string
}

/**
 * An S3 client whose requestHandler sends nothing: it records each signed HttpRequest (and its
 * body) in `captured` and answers 200 with an empty body.
 */
export function captureClient (captured: Captured[], o: CaptureOptions): S3Client {
  const etag = o.etag ?? 'd41d8cd98f00b204e9800998ecf8427e'
  const handler = {
    async handle (request: HttpRequest) {
      const chunks: Buffer[] = []
      const b = request.body
      if (typeof b === 'string' || b instanceof Uint8Array) chunks.push(Buffer.from(b))
      else if (b != null) for await (const c of b) chunks.push(Buffer.from(c))
      captured.push({ request, body: Buffer.concat(chunks) })
      return { response: { statusCode: 200, headers: { etag: `"${etag}"` }, body: Readable.from([]) } }
    },
    updateHttpClientConfig () {},
    httpHandlerConfigs () { return {} }
  }
  return new S3Client({
    region: o.region,
    endpoint: o.endpoint ?? 'http://localhost:9000/s3',
    forcePathStyle: true,
    credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
    requestHandler: handler as any
  })
}

/** RFC 3986 percent-encoding, as SigV4 canonicalises query strings. */
function encode (s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase())
}

export function queryString (query: Record<string, string | string[] | null>): string {
  const parts: string[] = []
  for (const [k, v] of Object.entries(query)) {
    if (v == null) parts.push(encode(k))
    else for (const one of Array.isArray(v) ? v : [v]) parts.push(`${encode(k)}=${encode(one)}`)
  }
  return parts.join('&')
}

/**
 * The S3Request a server mounted at `basePath` (default /s3) would see for a smithy HttpRequest.
 * The body arrives in pieces of `pieceSize` bytes (default: all at once).
 */
export function toS3Request (
  r: { method: string, path: string, query?: Record<string, any>, headers: Record<string, string> },
  body: Uint8Array = new Uint8Array(),
  o: { basePath?: string, pieceSize?: number } = {}
): S3Request {
  const size = o.pieceSize ?? Math.max(body.length, 1)
  return {
    method: r.method,
    path: r.path,
    basePath: o.basePath ?? '/s3',
    query: queryString(r.query ?? {}),
    headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v])),
    body: (async function * () { for (let i = 0; i < body.length; i += size) yield body.subarray(i, i + size) })()
  }
}

/** The time in an x-amz-date / X-Amz-Date value (YYYYMMDDTHHMMSSZ). */
export function amzDate (value: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value)
  if (m === null) throw new Error(`not an x-amz-date: ${value}`)
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]))
}
