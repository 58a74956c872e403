import { createHash, createHmac } from 'node:crypto'
import { HttpRequest } from '@smithy/protocol-http'
import { SignatureV4 } from '@smithy/signature-v4'
import type { Checksum, SourceData } from '@smithy/types'
import { credentials as defaultCredentials } from './s3.js'

/** SHA-256 (HMAC-SHA256 when given a secret) from node:crypto, for @smithy/signature-v4's `sha256` option. */
export class Sha256 implements Checksum {
  private readonly hash
  constructor (secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret))
  }

  update (data: Uint8Array): void { this.hash.update(data) }
  async digest (): Promise<Uint8Array> { return this.hash.digest() }
  reset (): void { throw new Error('not supported') }
}

function toBuffer (data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data)
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  return Buffer.from(data)
}

export function sha256Hex (data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}

export interface SignOptions {
  method: string
  /** Full URL including the mount prefix and query. */
  url: string
  headers?: Record<string, string>
  /** Value of x-amz-content-sha256; defaults to the hash of `body`. */
  payloadHash?: string
  body?: Uint8Array | string
  accessKeyId?: string
  secretAccessKey?: string
  region?: string
  signingDate?: Date
}

/** Signs a request the way SDKs do (SigV4, header auth) and returns the headers to send. */
export async function signHeaders (o: SignOptions): Promise<Record<string, string>> {
  const url = new URL(o.url)
  const body = o.body ?? ''
  const query: Record<string, string> = {}
  for (const [k, v] of url.searchParams) query[k] = v
  const request = new HttpRequest({
    method: o.method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query,
    headers: {
      host: url.host,
      'x-amz-content-sha256': o.payloadHash ?? sha256Hex(body),
      ...o.headers,
    },
  })
  const signer = new SignatureV4({
    service: 's3',
    region: o.region ?? 'us-east-1',
    credentials: {
      accessKeyId: o.accessKeyId ?? defaultCredentials.accessKeyId,
      secretAccessKey: o.secretAccessKey ?? defaultCredentials.secretAccessKey,
    },
    sha256: Sha256,
    uriEscapePath: false,
  })
  const signed = await signer.sign(request, { signingDate: o.signingDate })
  return signed.headers
}

/** Sends a signed request with fetch. */
export async function signedFetch (o: SignOptions): Promise<Response> {
  const headers = await signHeaders(o)
  delete headers.host
  return await fetch(o.url, {
    method: o.method,
    headers,
    body: o.method === 'GET' || o.method === 'HEAD' ? undefined : o.body,
  })
}

/** The SigV4 signing key for a date (YYYYMMDD). */
export function signingKey (secret: string, date: string, region = 'us-east-1'): Buffer {
  const kDate = createHmac('sha256', `AWS4${secret}`).update(date).digest()
  const kRegion = createHmac('sha256', kDate).update(region).digest()
  const kService = createHmac('sha256', kRegion).update('s3').digest()
  return createHmac('sha256', kService).update('aws4_request').digest()
}

/**
 * Frames `chunks` as a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body, each chunk signed in the chain that
 * starts at `seedSignature`. `corrupt` replaces the signature of chunk number `corrupt`.
 */
export function signedChunkedBody (chunks: Buffer[], o: { seedSignature: string, amzDate: string, scope: string, key: Buffer, corrupt?: number }): Buffer {
  const parts: Buffer[] = []
  let previous = o.seedSignature
  const all = [...chunks, Buffer.alloc(0)]
  all.forEach((chunk, i) => {
    const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', o.amzDate, o.scope, previous, sha256Hex(''), sha256Hex(chunk)].join('\n')
    let signature = createHmac('sha256', o.key).update(stringToSign).digest('hex')
    if (o.corrupt === i) signature = signature.replace(/^./, c => (c === '0' ? '1' : '0'))
    previous = signature
    parts.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${signature}\r\n`), chunk, Buffer.from('\r\n'))
  })
  return Buffer.concat(parts)
}
