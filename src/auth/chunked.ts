import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { S3Error } from '../errors.js'
import type { SigningContext } from './sigv4.js'

export interface AwsChunkedOptions {
  /**
   * Present for the signed streaming modes: every chunk carries `;chunk-signature=` and each is
   * verified, chained from `signing.seedSignature`. Absent: chunks are unsigned.
   */
  signing?: SigningContext
  /**
   * Trailing headers follow the final chunk (the `...-TRAILER` modes). With `signing`, the trailer
   * must end with a verified `x-amz-trailer-signature`.
   */
  trailer?: boolean
  /** Largest chunk accepted, in bytes. Default 16 MiB. */
  maxChunkSize?: number
  /** Called once with the trailing headers (names lower-case) before the decoder finishes. */
  onTrailers?: (trailers: Record<string, string>) => void
}

const DEFAULT_MAX_CHUNK = 16 * 1024 * 1024
/** A chunk-size line or trailer line longer than this is not aws-chunked encoding. */
const MAX_LINE = 4096
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const CRLF = Buffer.from('\r\n')

/**
 * Decodes an aws-chunked body, yielding the payload bytes as they arrive (never more than one
 * chunk held). Every framing or signature problem throws an S3Error from the iterator, at the
 * latest before it reports done:
 * truncated body → IncompleteBody; bad framing or an over-size chunk → InvalidRequest; a chunk or
 * trailer signature that does not verify → SignatureDoesNotMatch.
 */
export async function * decodeAwsChunked (source: AsyncIterable<Uint8Array>, opts: AwsChunkedOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = new ByteReader(source)
  const maxChunk = opts.maxChunkSize ?? DEFAULT_MAX_CHUNK
  const signing = opts.signing
  let previousSignature = signing?.seedSignature ?? ''

  while (true) {
    const line = await reader.readLine('chunk-size line')
    const { size, signature } = parseChunkLine(line, signing != null, maxChunk)
    const hash = signing != null ? createHash('sha256') : undefined
    let remaining = size
    while (remaining > 0) {
      const piece = await reader.read(remaining)
      if (piece == null) throw truncated()
      remaining -= piece.length
      hash?.update(piece)
      yield piece
    }
    if (size > 0 && !(await reader.expectCrlf())) {
      throw malformed('chunk data is longer than its declared size or not followed by CRLF')
    }
    if (signing != null && signature != null) {
      const payloadHash = hash?.digest('hex') ?? EMPTY_SHA256
      const stringToSign = `AWS4-HMAC-SHA256-PAYLOAD\n${signing.amzDate}\n${signing.scope}\n${previousSignature}\n${EMPTY_SHA256}\n${payloadHash}`
      const expected = hmacHex(signing.signingKey, stringToSign)
      if (!equalHex(expected, signature)) throw new S3Error('SignatureDoesNotMatch', 'The chunk signature we calculated does not match the signature you provided.')
      previousSignature = expected
    }
    if (size === 0) break
  }

  const trailers = await readTrailers(reader, opts.trailer === true)
  if (signing != null && opts.trailer === true) {
    const provided = trailers.signature
    if (provided == null) throw new S3Error('SignatureDoesNotMatch', 'The trailer of a signed streaming upload must carry x-amz-trailer-signature.')
    const canonical = trailers.lines.map(([name, value]) => `${name}:${value}\n`).join('')
    const stringToSign = `AWS4-HMAC-SHA256-TRAILER\n${signing.amzDate}\n${signing.scope}\n${previousSignature}\n${sha256Hex(canonical)}`
    if (!equalHex(hmacHex(signing.signingKey, stringToSign), provided)) {
      throw new S3Error('SignatureDoesNotMatch', 'The trailer signature we calculated does not match the signature you provided.')
    }
  }
  if (!(await reader.atEnd())) throw malformed('unexpected bytes after the final chunk')
  opts.onTrailers?.(Object.fromEntries(trailers.lines))
}

function parseChunkLine (line: string, signed: boolean, maxChunk: number): { size: number, signature?: string } {
  const [sizeText, ...extensions] = line.split(';')
  if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText)) throw malformed(`invalid chunk size "${sizeText.slice(0, 32)}"`)
  const size = parseInt(sizeText, 16)
  if (size > maxChunk) {
    throw new S3Error('InvalidRequest', `Chunk size ${size} exceeds the largest chunk this server accepts (${maxChunk} bytes).`)
  }
  let signature: string | undefined
  for (const ext of extensions) {
    const eq = ext.indexOf('=')
    const name = (eq < 0 ? ext : ext.slice(0, eq)).trim()
    if (name === 'chunk-signature') signature = ext.slice(eq + 1).trim()
  }
  if (signed && (signature == null || !/^[0-9a-fA-F]{64}$/.test(signature))) {
    throw new S3Error('SignatureDoesNotMatch', 'A chunk of a signed streaming upload is missing its chunk-signature.')
  }
  return { size, signature }
}

interface Trailers { lines: Array<[string, string]>, signature?: string }

async function readTrailers (reader: ByteReader, allowed: boolean): Promise<Trailers> {
  const out: Trailers = { lines: [] }
  // The AWS SDK for JavaScript ends a body without trailers right after `0\r\n`; the
  // specification adds an empty line. Accept both.
  if (await reader.atEnd()) return out
  while (true) {
    const line = await reader.readLine('trailer')
    if (line === '') return out
    if (!allowed) throw malformed('trailing headers were sent but none were announced')
    const colon = line.indexOf(':')
    if (colon <= 0) throw malformed('a trailing header is not "name:value"')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'x-amz-trailer-signature') out.signature = value
    else out.lines.push([name, value])
    if (out.lines.length > 32) throw malformed('too many trailing headers')
    // A body that ends after the last trailer line without the closing empty line is accepted.
    if (await reader.atEnd()) return out
  }
}

function malformed (detail: string): S3Error {
  return new S3Error('InvalidRequest', `Malformed aws-chunked encoding: ${detail}.`)
}

function truncated (): S3Error {
  return new S3Error('IncompleteBody', 'The request body ended before the aws-chunked encoding was complete.')
}

function hmacHex (key: Uint8Array, data: string): string {
  return createHmac('sha256', key).update(data).digest('hex')
}

function sha256Hex (data: string): string {
  return createHash('sha256').update(data).digest('hex')
}

function equalHex (expected: string, provided: string): boolean {
  const a = Buffer.from(expected, 'latin1')
  const b = Buffer.from(provided.toLowerCase(), 'latin1')
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * Pulls bytes from an async iterable with one lookahead buffer. Holds at most one incoming piece
 * plus a partial line (bounded by MAX_LINE).
 */
class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>
  private buffer: Buffer = Buffer.alloc(0)
  private done = false

  constructor (source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]()
  }

  private async fill (): Promise<boolean> {
    while (!this.done) {
      const next = await this.iterator.next()
      if (next.done === true) {
        this.done = true
        return false
      }
      if (next.value.length === 0) continue
      const piece = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength)
      this.buffer = this.buffer.length === 0 ? piece : Buffer.concat([this.buffer, piece])
      return true
    }
    return false
  }

  /** Up to `max` bytes (at least one), or undefined at end of stream. */
  async read (max: number): Promise<Uint8Array | undefined> {
    if (this.buffer.length === 0 && !(await this.fill())) return undefined
    const n = Math.min(max, this.buffer.length)
    const out = this.buffer.subarray(0, n)
    this.buffer = this.buffer.subarray(n)
    return out
  }

  /** A CRLF-terminated line as latin1 text, without the CRLF. */
  async readLine (what: string): Promise<string> {
    let searchFrom = 0
    while (true) {
      const at = this.buffer.indexOf(CRLF, searchFrom)
      if (at >= 0) {
        if (at > MAX_LINE) throw malformed(`${what} is too long`)
        const line = this.buffer.subarray(0, at).toString('latin1')
        this.buffer = this.buffer.subarray(at + 2)
        return line
      }
      if (this.buffer.length > MAX_LINE) throw malformed(`${what} is too long`)
      searchFrom = Math.max(0, this.buffer.length - 1)
      if (!(await this.fill())) throw truncated()
    }
  }

  async expectCrlf (): Promise<boolean> {
    while (this.buffer.length < 2) {
      if (!(await this.fill())) {
        if (this.buffer.length === 0 || this.buffer[0] === 0x0d) throw truncated()
        return false
      }
    }
    if (this.buffer[0] !== 0x0d || this.buffer[1] !== 0x0a) return false
    this.buffer = this.buffer.subarray(2)
    return true
  }

  async atEnd (): Promise<boolean> {
    return this.buffer.length === 0 && !(await this.fill())
  }
}
