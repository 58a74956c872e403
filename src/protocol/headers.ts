import { S3Error } from '../errors.js'

/** Content headers S3 stores with an object and returns on GET/HEAD. */
export const CONTENT_HEADERS = ['content-type', 'content-encoding', 'content-disposition', 'content-language', 'cache-control', 'expires'] as const

/** `response-*` query overrides on GetObject/HeadObject and the header each one sets. */
export const RESPONSE_OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
}

/** S3 limits user-defined metadata (names and values, UTF-8) to 2 KB per object. */
export const MAX_USER_METADATA_BYTES = 2048

export const STORAGE_CLASSES = new Set(['STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING',
  'GLACIER', 'DEEP_ARCHIVE', 'OUTPOSTS', 'GLACIER_IR', 'SNOW', 'EXPRESS_ONEZONE'])

export function parseHttpDate (value: string): Date | undefined {
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? undefined : new Date(ms)
}

export function httpDate (date: Date): string {
  return date.toUTCString()
}

/**
 * The stored content headers of a write request. `aws-chunked` is transport framing, never a stored
 * Content-Encoding.
 */
export function contentHeaders (headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of CONTENT_HEADERS) {
    const value = name === 'content-encoding' ? storedContentEncoding(headers[name]) : headers[name]
    if (value !== undefined) out[name] = value
  }
  return out
}

/**
 * The Content-Encoding to store for an object: S3 drops `aws-chunked`, which only describes the
 * transfer. Undefined when nothing is left.
 */
export function storedContentEncoding (value: string | undefined): string | undefined {
  if (value == null) return undefined
  // The other codings keep their spacing as sent (`gzip, br` stays so).
  const rest = value.split(',').filter(s => s.trim().toLowerCase() !== 'aws-chunked').join(',').trim()
  return rest === '' ? undefined : rest
}

/**
 * The name of the user-metadata header that carries a version's CID in responses. It is the
 * gateway's, never the user's: a client's `x-amz-meta-cid` (say, metadata copied from a GET) is not stored.
 */
export const CID_METADATA = 'cid'

/** `x-amz-meta-*` headers, prefix stripped, names lower-case; over 2 KB → MetadataTooLarge. */
export function userMetadata (headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  let bytes = 0
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('x-amz-meta-')) continue
    const short = name.slice('x-amz-meta-'.length)
    if (short === '' || short === CID_METADATA) continue
    out[short] = value
    bytes += Buffer.byteLength(short) + Buffer.byteLength(value)
  }
  if (bytes > MAX_USER_METADATA_BYTES) {
    throw new S3Error('MetadataTooLarge', undefined, { Size: String(bytes), MaxSizeAllowed: String(MAX_USER_METADATA_BYTES) })
  }
  return out
}

/** S3's tag limits: 10 per object, 50 per bucket. */
export const MAX_OBJECT_TAGS = 10
export const MAX_BUCKET_TAGS = 50

/**
 * Validates a tag set as S3 does: at most 10 tags on an object (50 on a bucket), keys 1..128 and
 * values 0..256 characters, no repeats; a bucket's tag keys may not start with `aws:` (reserved).
 */
export function validateTags (tags: Array<[string, string]>, target: 'object' | 'bucket' = 'object'): Array<[string, string]> {
  if (target === 'object' && tags.length > MAX_OBJECT_TAGS) throw new S3Error('InvalidTag', 'Object tags cannot be greater than 10')
  if (target === 'bucket' && tags.length > MAX_BUCKET_TAGS) throw new S3Error('InvalidTag', 'Bucket tag count cannot be greater than 50')
  const seen = new Set<string>()
  for (const [key, value] of tags) {
    if ([...key].length < 1 || [...key].length > 128) throw new S3Error('InvalidTag', 'The TagKey you have provided is invalid')
    if ([...value].length > 256) throw new S3Error('InvalidTag', 'The TagValue you have provided is invalid')
    if (target === 'bucket' && key.toLowerCase().startsWith('aws:')) throw new S3Error('InvalidTag', 'System tags cannot be added/updated by requester')
    if (seen.has(key)) throw new S3Error('InvalidTag', 'Cannot provide multiple Tags with the same key')
    seen.add(key)
  }
  return tags
}

/** The `x-amz-tagging` header: a URL-encoded query string of key=value pairs. */
export function parseTaggingHeader (value: string | undefined): Array<[string, string]> {
  if (value === undefined || value === '') return []
  const tags: Array<[string, string]> = []
  for (const pair of value.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const rawKey = eq < 0 ? pair : pair.slice(0, eq)
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1)
    try {
      tags.push([decodeURIComponent(rawKey.replace(/\+/g, ' ')), decodeURIComponent(rawValue.replace(/\+/g, ' '))])
    } catch {
      throw new S3Error('InvalidArgument', 'The header \'x-amz-tagging\' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.')
    }
  }
  return validateTags(tags)
}

/**
 * A `response-*` override as a header value: control characters are InvalidArgument (they cannot
 * be sent in a header); characters beyond Latin-1 are sent as their UTF-8 bytes, as S3 sends them.
 */
export function overrideValue (param: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) {
    throw new S3Error('InvalidArgument', `The value of ${param} contains characters that cannot be sent in a header.`, { ArgumentName: param })
  }
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\xff]/.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Header values as the text the client meant. HTTP hands header bytes over as Latin-1 characters;
 * clients differ in how they put non-ASCII text there: Python's http.client sends `é` as the one
 * Latin-1 byte, urllib3 2 and others as its UTF-8 bytes. botocore signs the text (UTF-8 in the
 * canonical request), as Ceph RGW verifies it. A value whose bytes are valid UTF-8 is read as UTF-8;
 * any other stays Latin-1. Returns `headers` itself when every value is ASCII (the usual case).
 */
export function headerText (headers: Record<string, string>): Record<string, string> {
  let out: Record<string, string> | undefined
  for (const name in headers) {
    const value = headers[name]
    // eslint-disable-next-line no-control-regex
    if (!/[^\x00-\x7f]/.test(value)) continue
    let text: string
    try {
      text = utf8.decode(Buffer.from(value, 'latin1'))
    } catch {
      continue
    }
    out ??= { ...headers }
    out[name] = text
  }
  return out ?? headers
}

/**
 * A stored text as a response header value: characters beyond Latin-1 go out as their UTF-8 bytes
 * (a header carries bytes; Latin-1 characters go out as their one byte, as they came in).
 */
export function headerValue (text: string): string {
  return /[^\x00-\xff]/.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text
}
