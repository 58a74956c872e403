import { BlockList, isIPv4, isIPv6 } from 'node:net'
import { ServerResponse } from 'node:http'
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { S3Request, S3Response } from '../src/types.js'

/**
 * Which peers may set X-Forwarded-Host / -Proto / -For: a list of addresses and CIDR ranges
 * (`['127.0.0.1', '10.0.0.0/8', '::1']`) or a predicate over the socket's remote address.
 */
export type TrustProxy = readonly string[] | ((address: string) => boolean)

export interface ToS3RequestOptions {
  /** The mount prefix as it appears in the raw path ('' or e.g. '/s3'). */
  basePath?: string
  trustProxy?: TrustProxy
  /**
   * The raw request target to use instead of `req.url` (express: `req.originalUrl`). Path and
   * query are split from it at the first '?'.
   */
  path?: string
  /** The response of this request; its early 'close' also aborts the request's signal. */
  res?: ServerResponse
}

/** What `deferContinue` needs of a server: node's http and https servers (and fastify's `app.server`). */
export interface ContinueServer {
  on (event: 'checkContinue', listener: (req: IncomingMessage, res: ServerResponse) => void): unknown
  emit (event: 'request', req: IncomingMessage, res: ServerResponse): boolean
  listenerCount (event: 'checkContinue'): number
}

const deferring = new WeakSet<object>()

/**
 * Makes `server` answer `Expect: 100-continue` only once the request is accepted. Without this,
 * node writes `100 Continue` before any handler runs, and the client sends its whole body even
 * when the request is then refused. Here such a request goes to the server's 'request' listeners
 * like any other, and `100 Continue` is written the first time anything starts reading its body:
 * the gateway reads it only after the request is authenticated, routed and authorized and its
 * bucket found; a body parser or a pipe of another route of the application reads it at once. A
 * request answered without reading its body gets its final response alone: the client never sends
 * the body, and node closes the connection after the response.
 *
 * Repeating it is harmless. It does nothing when the server already has a 'checkContinue'
 * listener of its own (that listener then decides when to write `100 Continue`).
 */
export function deferContinue (server: ContinueServer): void {
  if (deferring.has(server) || server.listenerCount('checkContinue') > 0) return
  deferring.add(server)
  server.on('checkContinue', (req, res) => {
    const onListener = (event: string | symbol): void => {
      // Any consumer of the body attaches one of these before the first byte is read (a stream's
      // iterator when it is first pulled, pipe, on('data')); discarding it (resume()) attaches none.
      if (event !== 'data' && event !== 'readable') return
      req.off('newListener', onListener)
      if (!res.headersSent && !res.destroyed) res.writeContinue()
    }
    req.on('newListener', onListener)
    server.emit('request', req, res)
  })
}

/** Thrown by `S3Request.body` when a host body parser read the stream before us. */
export class BodyAlreadyConsumedError extends Error {
  override name = 'BodyAlreadyConsumedError'
  constructor (message = 'The request body was already read by another body parser mounted before the S3 gateway (for example express.json() or express.raw()); mount the gateway before body parsers or exclude its path from them.') {
    super(message)
  }
}

export function toS3Request (req: IncomingMessage, options: ToS3RequestOptions = {}): S3Request {
  const { path, query } = splitTarget(options.path ?? req.url ?? '/')
  const headers = collectHeaders(req.rawHeaders)
  const socket = req.socket
  const peer = socket?.remoteAddress
  const trusted = peer !== undefined && isTrusted(options.trustProxy, peer)

  let host = headers.host
  let secure = (socket as TLSSocket | undefined)?.encrypted === true
  let remoteAddress = peer
  if (trusted) {
    host = firstValue(headers['x-forwarded-host']) ?? host
    const proto = firstValue(headers['x-forwarded-proto'])
    if (proto !== undefined) secure = proto.toLowerCase() === 'https'
    remoteAddress = clientAddress(headers['x-forwarded-for'], peer, options.trustProxy) ?? peer
  }

  return {
    method: (req.method ?? 'GET').toUpperCase(),
    path,
    basePath: normalizeBasePath(options.basePath),
    query,
    headers,
    hostname: host === undefined ? undefined : hostnameOf(host),
    remoteAddress,
    secure,
    body: requestBody(req),
    signal: disconnectSignal(req, options.res),
  }
}

/**
 * Writes status, headers and body with backpressure. Stops reading the body (calling its
 * `return()`) when the client goes away or `signal` aborts. Rejects when the body iterable throws;
 * the response is destroyed by then, since its headers are already on the wire.
 */
export async function writeS3Response (res: ServerResponse, response: S3Response, signal?: AbortSignal): Promise<void> {
  const req = res.req as IncomingMessage | undefined
  const isHead = req?.method === 'HEAD'
  if (req !== undefined && !req.complete && !smallRemainder(req)) lingerOnUnreadBody(req, res)
  if (req !== undefined) res.once('finish', () => drainRequest(req))

  res.statusCode = response.status
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value)

  const body = response.body
  if (body === undefined || isHead) {
    if (body !== undefined && !(body instanceof Uint8Array)) await body[Symbol.asyncIterator]().return?.()
    await end(res)
    return
  }
  if (body instanceof Uint8Array) {
    await end(res, body)
    return
  }
  const gone = (): boolean => res.destroyed || signal?.aborted === true
  if (gone()) {
    await body[Symbol.asyncIterator]().return?.()
    res.destroy()
    return
  }
  // The content layer may lend chunks from reused buffers if told when each one is sent: the write
  // callback runs once the socket has handed the bytes to the kernel (never while a write of them
  // is pending). On an error the buffer is simply not returned. Only node:http's own response is
  // trusted with this; anything else gets chunks that are never reused.
  const release = res instanceof ServerResponse ? releaseFunction(body) : undefined
  try {
    for await (const chunk of body) {
      if (gone()) break
      const ok = release === undefined
        ? res.write(chunk)
        : res.write(chunk, (err?: Error | null) => { if (err == null) release(chunk) })
      if (!ok && !(await drained(res))) break
    }
  } catch (err) {
    res.destroy(err as Error)
    throw err
  }
  if (gone()) {
    res.destroy()
    return
  }
  await end(res)
}

/** Same key as RELEASE_CHUNKS in src/content/export.ts (Symbol.for: no import needed). */
const RELEASE_CHUNKS = Symbol.for('s3-ipfs-gateway.releaseChunks')

function releaseFunction (body: AsyncIterable<Uint8Array>): ((chunk: Uint8Array) => void) | undefined {
  const take = (body as { [RELEASE_CHUNKS]?: unknown })[RELEASE_CHUNKS]
  if (typeof take !== 'function') return undefined
  const release: unknown = take.call(body)
  return typeof release === 'function' ? release as (chunk: Uint8Array) => void : undefined
}

function splitTarget (target: string): { path: string, query: string } {
  let t = target
  // absolute-form (`GET http://host/path HTTP/1.1`, sent to proxies)
  if (!t.startsWith('/')) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(t)
    if (m !== null) t = t.slice(m[0].length)
    if (!t.startsWith('/') && t !== '*') t = '/' + t
  }
  const q = t.indexOf('?')
  return q === -1 ? { path: t, query: '' } : { path: t.slice(0, q), query: t.slice(q + 1) }
}

export function normalizeBasePath (basePath: string | undefined): string {
  if (basePath === undefined || basePath === '' || basePath === '/') return ''
  let b = basePath.startsWith('/') ? basePath : '/' + basePath
  while (b.endsWith('/')) b = b.slice(0, -1)
  return b
}

/** Whether a raw path lies under a normalized base path ('/s3' holds '/s3' and '/s3/...'). */
export function isUnderBasePath (path: string, basePath: string): boolean {
  if (basePath === '') return true
  return path === basePath || (path.startsWith(basePath) && path[basePath.length] === '/')
}

// Built from rawHeaders rather than req.headers: node drops repeats of some headers and joins
// others with ', '; SigV4 canonicalizes repeats joined with ','.
function collectHeaders (raw: string[]): Record<string, string> {
  const headers: Record<string, string> = Object.create(null)
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    const value = raw[i + 1]
    const prev = headers[name]
    headers[name] = prev === undefined ? value : `${prev},${value}`
  }
  return headers
}

function firstValue (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const first = value.split(',')[0].trim()
  return first === '' ? undefined : first
}

function hostnameOf (host: string): string {
  const h = host.trim().toLowerCase()
  if (h.startsWith('[')) {
    const close = h.indexOf(']')
    return close === -1 ? h : h.slice(0, close + 1)
  }
  const colon = h.indexOf(':')
  // more than one colon without brackets: a bare IPv6 address, no port to strip
  if (colon === -1 || h.indexOf(':', colon + 1) !== -1) return h
  return h.slice(0, colon)
}

function unmapped (address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return m === null ? address : m[1]
}

const blockLists = new WeakMap<readonly string[], BlockList>()

function isTrusted (trust: TrustProxy | undefined, address: string): boolean {
  if (trust === undefined) return false
  const addr = unmapped(address)
  if (typeof trust === 'function') return trust(addr)
  let list = blockLists.get(trust)
  if (list === undefined) {
    list = new BlockList()
    for (const entry of trust) {
      const [ip, bits] = entry.split('/')
      const type = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined
      if (type === undefined) throw new TypeError(`trustProxy: "${entry}" is not an IP address or CIDR range`)
      if (bits === undefined) list.addAddress(ip, type)
      else list.addSubnet(ip, Number(bits), type)
    }
    blockLists.set(trust, list)
  }
  if (isIPv4(addr)) return list.check(addr, 'ipv4')
  return isIPv6(addr) && list.check(addr, 'ipv6')
}

/** The nearest address in X-Forwarded-For that is not itself a trusted proxy. */
function clientAddress (forwardedFor: string | undefined, peer: string, trust: TrustProxy | undefined): string | undefined {
  if (forwardedFor === undefined) return undefined
  const hops = forwardedFor.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (let i = hops.length - 1; i >= 0; i--) {
    if (i === 0 || !isTrusted(trust, hops[i])) return hops[i]
  }
  return peer
}

function disconnectSignal (req: IncomingMessage, res: ServerResponse | undefined): AbortSignal {
  const controller = new AbortController()
  const abort = (): void => {
    if (controller.signal.aborted) return
    const err = new Error('The client disconnected before the response was complete')
    err.name = 'AbortError'
    controller.abort(err)
  }
  // 'aborted' fires when the connection drops mid-body; req 'close' alone also fires after a body
  // simply ends, so it counts only while the body is incomplete.
  req.once('aborted', abort)
  req.once('close', () => { if (!req.complete && res?.writableFinished !== true) abort() })
  res?.once('close', () => { if (!res.writableFinished) abort() })
  return controller.signal
}

function requestBody (req: IncomingMessage): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]: () => {
      if (req.headers['content-length'] === '0' && req.headers['transfer-encoding'] === undefined) return empty()
      if (alreadyConsumed(req)) return failing(new BodyAlreadyConsumedError())
      // The host keeps the stream: an early return() must not destroy the socket, so the core can
      // still answer (e.g. with an error) after reading only part of the body.
      return req.iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array>
    },
  }
}

function alreadyConsumed (req: IncomingMessage): boolean {
  const r = req as IncomingMessage & { _body?: unknown }
  return r._body === true || req.readableDidRead || req.readableEnded
}

function empty (): AsyncIterator<Uint8Array> {
  return { next: async () => ({ done: true, value: undefined }) }
}

function failing (err: Error): AsyncIterator<Uint8Array> {
  return { next: async () => { throw err } }
}

/** How long, and how much more of an unread request body, a connection reads after an early reply before it is closed. */
const LINGER_MS = 10_000
const LINGER_BYTES = 64 * 1024 * 1024

/**
 * A reply sent before its request's body was read (an error, mostly) keeps the connection reading
 * and discarding the rest of the body for a while — then it can serve the next request — instead
 * of closing at once: the kernel would answer the unread bytes with a reset, which can overtake the
 * reply and leave the client with "socket hang up" instead of the error. Past LINGER_MS or
 * LINGER_BYTES the connection is closed.
 */
function lingerOnUnreadBody (req: IncomingMessage, res: ServerResponse): void {
  res.once('finish', () => {
    if (req.complete || req.destroyed) return
    let left = LINGER_BYTES
    const stop = (): void => {
      clearTimeout(timer)
      req.off('data', count)
      req.off('end', stop)
      req.off('close', stop)
    }
    const cut = (): void => {
      stop()
      req.socket?.destroy()
    }
    const count = (chunk: Buffer): void => {
      left -= chunk.length
      if (left < 0) cut()
    }
    const timer = setTimeout(cut, LINGER_MS)
    timer.unref()
    req.on('data', count)
    req.once('end', stop)
    req.once('close', stop)
  })
}

function smallRemainder (req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return false
  const length = Number(req.headers['content-length'] ?? 0)
  return Number.isFinite(length) && length <= 1024 * 1024
}

// After the reply, throw away whatever the core left unread so the parser reaches the next request
// (or, with Connection: close, so the client can finish sending and read our reply).
function drainRequest (req: IncomingMessage): void {
  if (!req.readableEnded && !req.destroyed) req.resume()
}

function drained (res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve(!res.destroyed)
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

function end (res: ServerResponse, chunk?: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) {
      resolve()
      return
    }
    const done = (): void => {
      res.off('finish', done)
      res.off('close', done)
      resolve()
    }
    res.on('finish', done)
    res.on('close', done)
    if (chunk === undefined) res.end()
    else res.end(chunk)
  })
}
