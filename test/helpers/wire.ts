import { createHash, createHmac } from 'node:crypto'
import { HttpRequest } from '@smithy/protocol-http'
import { SignatureV4 } from '@smithy/signature-v4'
import { parseQuery } from '../../src/auth/sigv4.js'
import { Sha256, sha256Hex, signingKey } from './sign.js'

/**
 * Requests as bytes on the wire, for what no HTTP client sends: the raw path and query exactly as
 * given, headers in order with repeats, any body, signed (SigV4 header or query authentication)
 * over exactly those bytes before anything is tampered with.
 */
export interface WireRequest {
  method: string
  /** Raw request target path, percent-encoded as it should go on the wire. */
  path: string
  /** Raw query string without '?', '' for none. */
  query: string
  /** In order; a name may repeat. */
  headers: Array<[string, string]>
  body: Buffer
}

export interface Signer {
  accessKeyId: string
  secretAccessKey: string
  region?: string
  date?: Date
}

/** A small seeded PRNG (sfc32 seeded through splitmix32), so a run replays from its seed. */
export class Rand {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: number) {
    let s = seed >>> 0
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = split()
    this.b = split()
    this.c = split()
    this.d = split()
    for (let i = 0; i < 12; i++) this.next()
  }

  next (): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  /** 0 <= n < max */
  int (max: number): number { return max <= 1 ? 0 : Math.floor((this.next() / 0x100000000) * max) }
  chance (p: number): boolean { return this.next() / 0x100000000 < p }
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)] }
  bytes (n: number): Buffer {
    const out = Buffer.alloc(n)
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff
    return out
  }

  /** Picks by weight: `[[weight, value], ...]`. */
  weighted<T> (entries: ReadonlyArray<readonly [number, T]>): T {
    const total = entries.reduce((n, [w]) => n + w, 0)
    let r = this.int(total)
    for (const [w, v] of entries) {
      if (r < w) return v
      r -= w
    }
    return entries[entries.length - 1][1]
  }
}

export function header (r: WireRequest, name: string): string | undefined {
  const found = r.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v)
  return found.length === 0 ? undefined : found.join(',')
}

export function withoutHeader (r: WireRequest, name: string): WireRequest {
  return { ...r, headers: r.headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase()) }
}

export function setHeader (r: WireRequest, name: string, value: string): WireRequest {
  const rest = withoutHeader(r, name)
  return { ...rest, headers: [...rest.headers, [name, value]] }
}

/** The headers as the gateway sees them: lower-case names, repeats joined with ','. */
function headerMap (r: WireRequest): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of r.headers) {
    const n = name.toLowerCase()
    out[n] = out[n] === undefined ? value : `${out[n]},${value}`
  }
  return out
}

function signer (s: Signer): SignatureV4 {
  return new SignatureV4({
    service: 's3',
    region: s.region ?? 'us-east-1',
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    sha256: Sha256,
    uriEscapePath: false,
  })
}

function httpRequest (r: WireRequest, host: string): HttpRequest {
  return new HttpRequest({
    method: r.method,
    hostname: host.split(':')[0],
    path: r.path,
    // The gateway decodes the raw query leniently (a bad escape stays as sent); sign what it sees.
    query: parseQuery(r.query),
    headers: { host, ...headerMap(r) },
  })
}

/**
 * Header authentication. `payload` is the x-amz-content-sha256 value; default: the body's hash.
 * Returns the request with `x-amz-date`, `x-amz-content-sha256` and `authorization` added.
 */
export async function signHeader (r: WireRequest, host: string, s: Signer, payload?: string): Promise<WireRequest> {
  const claimed = payload ?? sha256Hex(r.body)
  const withPayload = setHeader(r, 'x-amz-content-sha256', claimed)
  const signed = await signer(s).sign(httpRequest(withPayload, host), { signingDate: s.date ?? new Date() })
  return {
    ...withPayload,
    headers: [...withPayload.headers, ['x-amz-date', signed.headers['x-amz-date']], ['authorization', signed.headers.authorization]],
  }
}

/**
 * Query authentication (a presigned URL), payload UNSIGNED-PAYLOAD. The request's own x-amz-*
 * headers stay headers (signed), as the S3 presigner keeps its SSE headers: a hoisted
 * `x-amz-copy-source` would be a query parameter with no meaning.
 */
export async function presign (r: WireRequest, host: string, s: Signer, expiresIn = 900): Promise<WireRequest> {
  const withPayload = setHeader(r, 'x-amz-content-sha256', 'UNSIGNED-PAYLOAD')
  const before = new Set(Object.keys(parseQuery(r.query)))
  const unhoistableHeaders = new Set(r.headers.map(([n]) => n.toLowerCase()).filter(n => n.startsWith('x-amz-') && n !== 'x-amz-content-sha256'))
  const signed = await signer(s).presign(httpRequest(withPayload, host), { signingDate: s.date ?? new Date(), expiresIn, unhoistableHeaders })
  const added: string[] = []
  for (const [name, value] of Object.entries(signed.query ?? {})) {
    if (before.has(name)) continue
    for (const v of Array.isArray(value) ? value : [value]) added.push(`${uriEscape(name)}=${uriEscape(v ?? '')}`)
  }
  return {
    ...r,
    query: [r.query, ...added].filter(q => q !== '').join('&'),
    headers: r.headers.filter(([n]) => n.toLowerCase() !== 'x-amz-content-sha256'),
  }
}

export function uriEscape (s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** A key as a raw path segment sequence: each segment percent-encoded, '/' kept. */
export function keyPath (key: string): string {
  return key.split('/').map(uriEscape).join('/')
}

export interface SerializeOptions {
  /** Add `Content-Length` for the body unless the request names one. Default true. */
  contentLength?: boolean
  /** Add `Connection: close`. Default true. */
  close?: boolean
}

export function serialize (r: WireRequest, host: string, opts: SerializeOptions = {}): Buffer {
  const names = new Set(r.headers.map(([n]) => n.toLowerCase()))
  const lines = [`${r.method} ${r.path}${r.query === '' ? '' : `?${r.query}`} HTTP/1.1`]
  if (!names.has('host')) lines.push(`Host: ${host}`)
  for (const [name, value] of r.headers) lines.push(`${name}: ${value}`)
  if (opts.contentLength !== false && !names.has('content-length') && !names.has('transfer-encoding')) {
    lines.push(`Content-Length: ${r.body.length}`)
  }
  if (opts.close !== false) lines.push('Connection: close')
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), r.body])
}

/** One piece of an aws-chunked body, kept apart so framing can be broken precisely. */
export interface ChunkedPiece {
  kind: 'size-line' | 'data' | 'crlf' | 'trailer-line' | 'end'
  bytes: Buffer
}

export interface ChunkSigning {
  /** The request's own signature: the first chunk signature chains from it. */
  seedSignature: string
  amzDate: string
  secretAccessKey: string
  region?: string
}

/**
 * An aws-chunked body: chunks (signed in a chain when `signing` is given), the final empty chunk,
 * then trailer lines (signed with `x-amz-trailer-signature` when signing) and the closing CRLF.
 */
export function awsChunked (chunks: Buffer[], signing?: ChunkSigning, trailers?: Array<[string, string]>): ChunkedPiece[] {
  const pieces: ChunkedPiece[] = []
  const date = signing?.amzDate.slice(0, 8) ?? ''
  const scope = `${date}/${signing?.region ?? 'us-east-1'}/s3/aws4_request`
  const key = signing === undefined ? undefined : signingKey(signing.secretAccessKey, date, signing.region)
  let previous = signing?.seedSignature ?? ''
  for (const chunk of [...chunks, Buffer.alloc(0)]) {
    let line = chunk.length.toString(16)
    if (key !== undefined && signing !== undefined) {
      const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', signing.amzDate, scope, previous, sha256Hex(''), sha256Hex(chunk)].join('\n')
      previous = createHmac('sha256', key).update(stringToSign).digest('hex')
      line += `;chunk-signature=${previous}`
    }
    pieces.push({ kind: 'size-line', bytes: Buffer.from(line + '\r\n') })
    if (chunk.length > 0) {
      pieces.push({ kind: 'data', bytes: chunk })
      pieces.push({ kind: 'crlf', bytes: Buffer.from('\r\n') })
    }
  }
  if (trailers !== undefined) {
    for (const [name, value] of trailers) pieces.push({ kind: 'trailer-line', bytes: Buffer.from(`${name}:${value}\r\n`) })
    if (key !== undefined && signing !== undefined) {
      const canonical = trailers.map(([n, v]) => `${n}:${v}\n`).join('')
      const stringToSign = ['AWS4-HMAC-SHA256-TRAILER', signing.amzDate, scope, previous, sha256Hex(canonical)].join('\n')
      pieces.push({ kind: 'trailer-line', bytes: Buffer.from(`x-amz-trailer-signature:${createHmac('sha256', key).update(stringToSign).digest('hex')}\r\n`) })
    }
  }
  pieces.push({ kind: 'end', bytes: Buffer.from('\r\n') })
  return pieces
}

export function md5Base64 (data: Uint8Array | string): string {
  return createHash('md5').update(data).digest('base64')
}
