import { Readable } from 'node:stream'
import { HttpResponse, type HttpRequest } from '@smithy/protocol-http'
import type { Gateway, S3Request } from '../types.js'

type QueryValue = string | Array<string | null> | null | undefined

/** Percent-encoding as AWS SDKs put query strings on the wire (RFC 3986 unreserved kept). */
function escapeUri (value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** The query string the SDK's HTTP handlers would send for `query`: sorted keys, `key` alone for null. */
export function queryString (query: Record<string, QueryValue>): string {
  const parts: string[] = []
  for (const name of Object.keys(query).sort()) {
    const value = query[name]
    const key = escapeUri(name)
    if (Array.isArray(value)) {
      for (const v of value) parts.push(v === null ? key : `${key}=${escapeUri(v)}`)
    } else if (value === null || value === undefined) {
      parts.push(key)
    } else {
      parts.push(`${key}=${escapeUri(value)}`)
    }
  }
  return parts.join('&')
}

async function * bodyOf (body: unknown): AsyncGenerator<Uint8Array> {
  if (body === undefined || body === null) return
  if (typeof body === 'string') { yield Buffer.from(body); return }
  if (body instanceof Uint8Array) { yield body; return }
  if (body instanceof ArrayBuffer) { yield new Uint8Array(body); return }
  if (typeof Blob !== 'undefined' && body instanceof Blob) { yield new Uint8Array(await body.arrayBuffer()); return }
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    for await (const chunk of body as AsyncIterable<unknown>) {
      if (typeof chunk === 'string') yield Buffer.from(chunk)
      else if (chunk instanceof Uint8Array) yield chunk
      else throw new TypeError(`Unsupported request body chunk: ${typeof chunk}`)
    }
    return
  }
  throw new TypeError(`Unsupported request body: ${Object.prototype.toString.call(body)}`)
}

/** What `@aws-sdk/client-s3` needs of a `requestHandler`. */
export interface InProcessHandler {
  handle(request: HttpRequest, options?: { abortSignal?: AbortSignal | { aborted: boolean, onabort?: unknown } }): Promise<{ response: HttpResponse }>
  updateHttpClientConfig(key: never, value: never): void
  httpHandlerConfigs(): Record<string, never>
  destroy(): void
  readonly metadata: { handlerProtocol: string }
}

/**
 * An HTTP handler for the AWS SDK for JavaScript v3 that hands each request straight to a gateway,
 * with no socket: `new S3Client({ requestHandler: inProcessHandler(gateway), endpoint:
 * 'http://s3.test', forcePathStyle: true, ... })`. The SDK still signs, checksums and aws-chunked
 * encodes every request, and the gateway still verifies all of it, exactly as over HTTP.
 */
export function inProcessHandler (gateway: Gateway): InProcessHandler {
  return {
    metadata: { handlerProtocol: 'http/1.1' },
    async handle (request, options = {}) {
      const controller = new AbortController()
      const signal = options.abortSignal as AbortSignal | undefined
      if (signal?.aborted === true) controller.abort(signal.reason)
      else signal?.addEventListener?.('abort', () => { controller.abort(signal.reason) }, { once: true })
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value
      if (headers.host === undefined) headers.host = request.port === undefined ? request.hostname : `${request.hostname}:${request.port}`
      const req: S3Request = {
        method: request.method.toUpperCase(),
        path: request.path,
        basePath: '',
        query: queryString(request.query as Record<string, QueryValue>),
        headers,
        hostname: request.hostname,
        remoteAddress: '127.0.0.1',
        secure: request.protocol === 'https:',
        body: bodyOf(request.body),
        signal: controller.signal,
      }
      const res = await gateway.handle(req)
      const body = res.body === undefined
        ? Readable.from([])
        : res.body instanceof Uint8Array
          ? Readable.from([Buffer.from(res.body.buffer, res.body.byteOffset, res.body.byteLength)], { objectMode: false })
          : Readable.from(res.body, { objectMode: false })
      return { response: new HttpResponse({ statusCode: res.status, headers: { ...res.headers }, body }) }
    },
    updateHttpClientConfig () {},
    httpHandlerConfigs () { return {} },
    destroy () {},
  }
}
