import { createHmac, timingSafeEqual } from 'node:crypto'
import { S3Error } from '../errors.js'
import type { CredentialProvider, Credentials, S3Request } from '../types.js'

/** Who signed a SigV2 request. */
export interface SignerV2 {
  accessKeyId: string
  principal: string
  displayName: string
  policies?: string[]
  /** True for query-string (presigned URL) authentication. */
  presigned: boolean
}

export interface AuthenticateV2Options {
  credentials: CredentialProvider
  now: Date
  /**
   * The bucket the Host header named (virtual-hosted style): the canonicalized resource starts with
   * `/bucket`, as the path does not carry it.
   */
  hostBucket?: string
}

const MAX_SKEW_MS = 15 * 60 * 1000

/**
 * The query parameters that enter the canonicalized resource: the sub-resources the S3 documentation
 * lists (acl, lifecycle, location, logging, notification, partNumber, policy, requestPayment,
 * torrent, uploadId, uploads, versionId, versioning, versions, website), `delete` for DeleteObjects,
 * the `response-*` overrides of GetObject, and those later sub-resources the SDKs that still sign
 * with SigV2 (botocore's `s3` signer) include. Any other parameter is not signed, as in S3.
 */
const SUBRESOURCES = new Set([
  'accelerate', 'acl', 'analytics', 'cors', 'defaultObjectAcl', 'delete', 'inventory', 'lifecycle', 'location',
  'logging', 'metrics', 'notification', 'object-lock', 'partNumber', 'policy', 'replication', 'requestPayment',
  'restore', 'select', 'select-type', 'storageClass', 'tagging', 'torrent', 'uploadId', 'uploads', 'versionId',
  'versioning', 'versions', 'website',
  'response-cache-control', 'response-content-disposition', 'response-content-encoding', 'response-content-language',
  'response-content-type', 'response-expires',
])

/** `Authorization: AWS <key>:<signature>` is SigV2; `AWS4-HMAC-SHA256 ...` is not. */
export function isSigV2Authorization (value: string): boolean {
  return /^AWS\s/.test(value.trim())
}

/**
 * Verifies `Authorization: AWS AccessKeyId:Signature`: the base64 HMAC-SHA1, under the key's
 * secret, of Verb, Content-MD5, Content-Type, Date (empty when x-amz-date is sent: that one counts
 * then), the x-amz-* headers (lower-case, sorted, `name:value` lines) and the canonicalized resource.
 * The request time (x-amz-date, else Date) must be within 15 minutes of `now`.
 *
 * Rejects with InvalidArgument for a malformed header, AccessDenied without a valid date,
 * RequestTimeTooSkewed, InvalidAccessKeyId, SignatureDoesNotMatch.
 */
export async function authenticateV2Header (req: S3Request, authorization: string, opts: AuthenticateV2Options): Promise<SignerV2> {
  const m = /^AWS\s+([^\s:]+):(\S+)$/.exec(authorization.trim())
  if (m === null) {
    throw new S3Error('InvalidArgument', 'AWS authorization header is invalid.  Expected AwsAccessKeyId:signature', { ArgumentName: 'Authorization', ArgumentValue: authorization })
  }
  const [, accessKeyId, signature] = m
  const amzDate = req.headers['x-amz-date']
  const dateText = amzDate ?? req.headers.date
  const time = dateText === undefined ? undefined : parseHttpDate(dateText)
  if (time === undefined) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header')
  if (Math.abs(opts.now.getTime() - time.getTime()) > MAX_SKEW_MS) {
    throw new S3Error('RequestTimeTooSkewed', undefined, {
      RequestTime: dateText as string,
      ServerTime: opts.now.toISOString(),
      MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
    })
  }
  const secret = await lookup(opts.credentials, accessKeyId)
  const h = req.headers
  const prefix = `${req.method}\n${h['content-md5'] ?? ''}\n${h['content-type'] ?? ''}\n${amzDate === undefined ? h.date ?? '' : ''}\n${amzHeaders(h)}`
  verify(secret.secretAccessKey, prefix, resources(req, opts.hostBucket), signature)
  return signer(accessKeyId, secret, false)
}

/**
 * Verifies a SigV2 presigned URL (`AWSAccessKeyId`, `Expires` in seconds since the epoch,
 * `Signature`): as the header form with Expires in place of the Date line. Content-MD5,
 * Content-Type and x-amz-* come from the request's headers, or from query parameters of those
 * names (botocore's presigner moves them there).
 *
 * Rejects with AccessDenied when a parameter is missing, Expires is not a number, or the URL has
 * expired (with Expires and ServerTime); InvalidAccessKeyId; SignatureDoesNotMatch.
 */
export async function authenticateV2Query (req: S3Request, opts: AuthenticateV2Options): Promise<SignerV2> {
  const accessKeyId = queryValue(req.query, 'AWSAccessKeyId')
  const signature = queryValue(req.query, 'Signature')
  const expires = queryValue(req.query, 'Expires')
  if (accessKeyId === undefined || accessKeyId === '' || signature === undefined || signature === '' || expires === undefined) {
    throw new S3Error('AccessDenied', 'Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters')
  }
  const seconds = /^-?\d{1,15}$/.test(expires) ? Number(expires) : NaN
  if (Number.isNaN(seconds)) {
    throw new S3Error('AccessDenied', `Invalid date (should be seconds since epoch): ${expires}`)
  }
  if (opts.now.getTime() > seconds * 1000) {
    throw new S3Error('AccessDenied', 'Request has expired', {
      Expires: isoOrRaw(seconds, expires),
      ServerTime: opts.now.toISOString(),
    })
  }
  const secret = await lookup(opts.credentials, accessKeyId)
  const fromQuery = (name: string): string | undefined => queryValue(req.query, name, true)
  const h = req.headers
  const amz: Record<string, string> = {}
  for (const [name, value] of Object.entries(h)) if (name.startsWith('x-amz-')) amz[name] = value
  for (const [name, value] of queryPairs(req.query)) {
    const lower = name.toLowerCase()
    if (lower.startsWith('x-amz-')) amz[lower] = value
  }
  const md5 = fromQuery('content-md5') ?? h['content-md5'] ?? ''
  const type = fromQuery('content-type') ?? h['content-type'] ?? ''
  const prefix = `${req.method}\n${md5}\n${type}\n${expires}\n${amzHeaders(amz)}`
  verify(secret.secretAccessKey, prefix, resources(req, opts.hostBucket), signature)
  return signer(accessKeyId, secret, true)
}

/**
 * A SigV2 presigned request with its `x-amz-*` query parameters as headers. Presigners (botocore's,
 * the AWS SDK for JavaScript v2's) move x-amz-* headers such as metadata, ACL or tagging into the
 * signed URL, and S3 applies them from there: a header of the same name sent alongside gives way.
 * Checksum parameters stay in the query, where they do not bind (a URL is signed before its body
 * exists).
 */
export function withQueryAmzHeaders (req: S3Request): S3Request {
  let headers: Record<string, string> | undefined
  for (const [name, value] of queryPairs(req.query)) {
    const lower = name.toLowerCase()
    if (!lower.startsWith('x-amz-') || lower.startsWith('x-amz-checksum-') || lower === 'x-amz-sdk-checksum-algorithm') continue
    headers ??= { ...req.headers }
    headers[lower] = value
  }
  return headers === undefined ? req : { ...req, headers }
}

/** The base64 HMAC-SHA1 of `stringToSign` under `secret`: a SigV2 signature (and a SigV2 form's). */
export function signV2 (secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64')
}

/** Compares two base64 signatures in constant time (for equal lengths). */
export function signaturesMatch (expected: string, provided: string): boolean {
  const a = Buffer.from(expected, 'latin1')
  const b = Buffer.from(provided, 'latin1')
  return a.length === b.length && timingSafeEqual(a, b)
}

// ---- the string to sign ------------------------------------------------------------------

/** CanonicalizedAmzHeaders: `name:value\n` per x-amz-* header, names lower-case and sorted. */
function amzHeaders (headers: Record<string, string>): string {
  const names = Object.keys(headers).filter(n => n.startsWith('x-amz-')).sort()
  let out = ''
  for (const name of names) out += `${name}:${headers[name].replace(/\s*\r?\n\s*/g, ' ').trim()}\n`
  return out
}

/**
 * The CanonicalizedResource forms a client may have signed. S3's rule is the request path as sent
 * (preceded by `/bucket` when the Host named the bucket). Clients that sign the operation's own
 * path-style path (botocore's `authPath`: `/bucket/key`, `/bucket/` for a bucket) leave out a mount
 * prefix that is part of their endpoint URL, and end a bucket's path with `/`. Every form names the
 * same bucket and key, so accepting each widens nothing. The sub-resources follow, sorted by name.
 */
function resources (req: S3Request, hostBucket: string | undefined): string[] {
  const relative = req.path.slice(req.basePath.length) || '/'
  const paths = hostBucket === undefined
    ? [req.path || '/', relative]
    : [`/${hostBucket}${req.path || '/'}`, `/${hostBucket}${relative}`]
  const withSlash = paths.filter(p => /^\/[^/]+$/.test(p)).map(p => `${p}/`)
  const subresources = subresourceStrings(req.query)
  const out = new Set<string>()
  for (const path of [...paths, ...withSlash]) for (const sub of subresources) out.add(path + sub)
  return [...out]
}

/**
 * `?name&name=value...` of the sub-resources in the query, sorted, values decoded. A sub-resource
 * sent as `name=` is signed as `name` by some clients and as `name=` by others: both are returned.
 */
function subresourceStrings (query: string): string[] {
  const pairs = queryPairs(query).filter(([name]) => SUBRESOURCES.has(name))
  if (pairs.length === 0) return ['']
  pairs.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
  const bare = '?' + pairs.map(([name, value]) => value === '' ? name : `${name}=${value}`).join('&')
  const asSent = '?' + pairs.map(([name, value, hadEquals]) => value === '' && !hadEquals ? name : `${name}=${value}`).join('&')
  return bare === asSent ? [bare] : [bare, asSent]
}

function verify (secret: string, prefix: string, resources: string[], provided: string): void {
  let matched = false
  for (const resource of resources) {
    if (signaturesMatch(signV2(secret, prefix + resource), provided)) matched = true
  }
  if (!matched) throw new S3Error('SignatureDoesNotMatch')
}

// ---- shared ------------------------------------------------------------------------------

async function lookup (provider: CredentialProvider, accessKeyId: string): Promise<Credentials> {
  const found = await provider(accessKeyId)
  if (found == null) throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: accessKeyId })
  return found
}

function signer (accessKeyId: string, secret: Credentials, presigned: boolean): SignerV2 {
  const principal = secret.principal ?? accessKeyId
  return {
    accessKeyId,
    principal,
    displayName: secret.displayName ?? principal,
    ...(secret.policies === undefined ? {} : { policies: secret.policies }),
    presigned,
  }
}

/** An HTTP date (RFC 1123 and the other forms Date.parse reads) or an ISO 8601 basic `YYYYMMDDTHHMMSSZ`. */
function parseHttpDate (text: string): Date | undefined {
  const basic = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text.trim())
  const ms = basic === null ? Date.parse(text) : Date.UTC(+basic[1], +basic[2] - 1, +basic[3], +basic[4], +basic[5], +basic[6])
  return Number.isNaN(ms) ? undefined : new Date(ms)
}

function isoOrRaw (seconds: number, raw: string): string {
  const d = new Date(seconds * 1000)
  return Number.isNaN(d.getTime()) ? raw : d.toISOString()
}

/** The raw query's pairs in order, names and values percent-decoded (`+` stays `+`), and whether each had a `=`. */
function queryPairs (query: string): Array<[string, string, boolean]> {
  const out: Array<[string, string, boolean]> = []
  for (const part of query.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    out.push(eq < 0 ? [decode(part), '', false] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1)), true])
  }
  return out
}

/** The first value of a query parameter; `lowerCase` matches names case-insensitively. */
function queryValue (query: string, name: string, lowerCase = false): string | undefined {
  return queryPairs(query).find(([n]) => (lowerCase ? n.toLowerCase() : n) === name)?.[1]
}

function decode (s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}
