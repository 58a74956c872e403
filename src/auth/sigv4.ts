import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { HttpRequest } from '@smithy/protocol-http'
import { SignatureV4, getCanonicalHeaders } from '@smithy/signature-v4'
import { S3Error } from '../errors.js'
import type { CredentialProvider, Credentials, S3Request } from '../types.js'
import { authenticateV2Header, authenticateV2Query, isSigV2Authorization, type SignerV2 } from './sigv2.js'
import { NodeSha256 } from './node-sha256.js'

export type PayloadMode =
  | 'UNSIGNED-PAYLOAD'
  | 'SHA256'
  | 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'
  | 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'
  | 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
  | 'NONE'

/** What verifying aws-chunked chunk and trailer signatures needs; present on signed requests. */
export interface SigningContext {
  /** The derived SigV4 signing key for the request's scope. */
  signingKey: Uint8Array
  /** The request's own signature (lower-case hex): the first chunk signature chains from it. */
  seedSignature: string
  /** The request time as signed, `YYYYMMDDTHHMMSSZ`. */
  amzDate: string
  /** `date/region/service/aws4_request`. */
  scope: string
}

export interface AuthContext {
  /** No Authorization header and no presigned query: the gateway decides whether that is allowed. */
  anonymous: boolean
  accessKeyId?: string
  principal?: string
  displayName?: string
  /** The principal's identity policies (JSON documents), when its credentials carry any. */
  policies?: string[]
  /** How the body is framed and what the client claims about it (from `x-amz-content-sha256`). */
  payloadMode: PayloadMode
  /** The claimed lower-case hex SHA-256 of the body, when payloadMode is 'SHA256'. */
  payloadSha256?: string
  /** True for query-string (presigned URL) authentication. */
  presigned?: boolean
  /** 4 (AWS4-HMAC-SHA256) or 2 (`AWS key:signature`, `AWSAccessKeyId`/`Signature`); absent when anonymous. */
  signatureVersion?: 2 | 4
  signing?: SigningContext
}

export interface AuthenticateOptions {
  credentials: CredentialProvider
  region: string
  now: Date
  /** Accept Signature Version 2 (header and presigned URLs). Default true. */
  signatureV2?: boolean
  /** The bucket the Host header named (virtual-hosted style); SigV2 signs it as part of the resource. */
  hostBucket?: string
}

const ALGORITHM = 'AWS4-HMAC-SHA256'
const SERVICE = 's3'
const MAX_SKEW_MS = 15 * 60 * 1000
const MAX_PRESIGN_EXPIRES = 604800
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

/**
 * Verifies a request's signature: SigV4 (Authorization header or presigned query) against the
 * canonical request re-built over the raw path the client sent, the raw query and the signed
 * headers; SigV2 (`sigv2.ts`) unless `signatureV2` is false. Resolves with who signed it, or
 * `{ anonymous: true }` when the request carries no authentication at all. Rejects with the S3Error
 * S3 would answer; a SigV2 request while SigV2 is off is InvalidRequest.
 */
export async function authenticate (req: S3Request, opts: AuthenticateOptions): Promise<AuthContext> {
  const query = parseQuery(req.query)
  const authorization = req.headers.authorization
  const queryAlgorithm = getParam(query, 'X-Amz-Algorithm')
  const v2Query = query.Signature != null || query.AWSAccessKeyId != null
  if (authorization != null && (queryAlgorithm != null || v2Query)) {
    throw new S3Error('InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified', { ArgumentName: 'Authorization', ArgumentValue: authorization })
  }
  const v2 = opts.signatureV2 !== false
  if (authorization != null) {
    if (v2 && isSigV2Authorization(authorization)) return signedV2(req, await authenticateV2Header(req, authorization, opts))
    return await authenticateHeader(req, query, authorization, opts)
  }
  if (queryAlgorithm != null) return await authenticateQuery(req, query, opts)
  if (v2 && v2Query) return signedV2(req, await authenticateV2Query(req, opts))
  if (getParam(query, 'Signature') != null && getParam(query, 'AWSAccessKeyId') != null) {
    throw new S3Error('InvalidRequest', V2_NOT_SUPPORTED)
  }
  return { anonymous: true, ...unsignedPayloadMode(req) }
}

const V2_NOT_SUPPORTED = 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.'

/**
 * The payload of a request without a SigV4 signature: as sent. It may be aws-chunked with
 * unsigned chunks and claim a SHA-256 (verified while it streams), but signed chunks need SigV4.
 */
function unsignedPayloadMode (req: S3Request): { payloadMode: PayloadMode, payloadSha256?: string } {
  const mode = parsePayloadMode(req.headers['x-amz-content-sha256'])
  if (mode.payloadMode === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' || mode.payloadMode === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER') {
    throw new S3Error('InvalidRequest', 'A signed streaming payload requires a signed request.')
  }
  return mode
}

function signedV2 (req: S3Request, signer: SignerV2): AuthContext {
  const { presigned, ...who } = signer
  return { anonymous: false, ...who, ...(presigned ? { presigned } : {}), signatureVersion: 2, ...unsignedPayloadMode(req) }
}

/**
 * Reads `x-amz-content-sha256`. Undefined gives 'NONE' (the body is taken as sent).
 * Anything that is neither a hex SHA-256 nor a known keyword is InvalidArgument, as in S3.
 */
export function parsePayloadMode (value: string | undefined): { payloadMode: PayloadMode, payloadSha256?: string } {
  if (value == null) return { payloadMode: 'NONE' }
  const v = value.trim()
  switch (v) {
    case 'UNSIGNED-PAYLOAD':
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD':
    case 'STREAMING-UNSIGNED-PAYLOAD-TRAILER':
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER':
      return { payloadMode: v }
    case 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD':
    case 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER':
      throw new S3Error('NotImplemented', 'SigV4a streaming payloads are not supported.')
  }
  if (/^[0-9a-fA-F]{64}$/.test(v)) return { payloadMode: 'SHA256', payloadSha256: v.toLowerCase() }
  throw new S3Error('InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.', { ArgumentName: 'x-amz-content-sha256', ArgumentValue: v })
}

// ---- header authentication ----------------------------------------------------------------

async function authenticateHeader (req: S3Request, query: QueryMap, authorization: string, opts: AuthenticateOptions): Promise<AuthContext> {
  const auth = authorization.trim()
  if (!auth.startsWith(ALGORITHM + ' ')) {
    if (/^AWS\s|^AWS4-ECDSA-P256-SHA256\s/.test(auth)) throw new S3Error('InvalidRequest', V2_NOT_SUPPORTED)
    throw new S3Error('AuthorizationHeaderMalformed', `The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.`)
  }
  const fields = new Map<string, string>()
  for (const part of auth.slice(ALGORITHM.length + 1).split(',')) {
    const p = part.trim()
    if (p === '') continue
    const eq = p.indexOf('=')
    if (eq <= 0) throw malformedHeader(`the authorization component "${p}" is malformed.`)
    fields.set(p.slice(0, eq), p.slice(eq + 1))
  }
  const credential = fields.get('Credential')
  const signedHeadersValue = fields.get('SignedHeaders')
  const signature = fields.get('Signature')
  if (credential == null || signedHeadersValue == null || signature == null) {
    throw malformedHeader('the authorization header requires three components: Credential, SignedHeaders, and Signature.')
  }

  const { longDate, time } = requestTime(req)
  const scope = parseScope(credential, opts.region, 'header')
  if (scope.date !== longDate.slice(0, 8)) {
    throw malformedHeader(`Invalid credential date "${scope.date}". This date is not the same as X-Amz-Date: "${longDate.slice(0, 8)}".`)
  }
  if (Math.abs(opts.now.getTime() - time.getTime()) > MAX_SKEW_MS) {
    throw new S3Error('RequestTimeTooSkewed', undefined, {
      RequestTime: longDate,
      ServerTime: opts.now.toISOString(),
      MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS)
    })
  }
  const signedHeaders = parseSignedHeaders(signedHeadersValue, 'header')
  const unsigned = Object.keys(req.headers).filter(h => h.startsWith('x-amz-') && !signedHeaders.includes(h))
  if (unsigned.length > 0) {
    throw new S3Error('AccessDenied', 'There were headers present in the request which were not signed', { HeadersNotSigned: unsigned.join(', ') })
  }
  const claimed = req.headers['x-amz-content-sha256']
  if (claimed == null) {
    throw new S3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256')
  }
  const mode = parsePayloadMode(claimed)
  return {
    ...await verified(req, query, opts, { scope, signedHeaders, payload: claimed.trim(), amzDate: longDate, signature }),
    ...mode,
  }
}

interface Claim {
  scope: { accessKeyId: string, date: string, region: string, scope: string }
  signedHeaders: string[]
  /** The payload hash as it enters the canonical request. */
  payload: string
  amzDate: string
  signature: string
}

/**
 * Re-computes the signature for the claimed key and scope and compares it in constant time. The
 * part of header and query authentication that is the same.
 */
async function verified (req: S3Request, query: QueryMap, opts: AuthenticateOptions, c: Claim): Promise<Omit<AuthContext, 'payloadMode'>> {
  const secret = await lookup(opts.credentials, c.scope.accessKeyId)
  const signingKey = deriveSigningKey(secret.secretAccessKey, c.scope.date, c.scope.region, SERVICE)
  const expected = computeSignature(req, query, c.signedHeaders, c.payload, c.amzDate, c.scope.scope, signingKey)
  verify(expected, c.signature)
  return {
    anonymous: false,
    accessKeyId: c.scope.accessKeyId,
    principal: secret.principal ?? c.scope.accessKeyId,
    displayName: secret.displayName ?? secret.principal ?? c.scope.accessKeyId,
    ...(secret.policies === undefined ? {} : { policies: secret.policies }),
    signatureVersion: 4,
    signing: { signingKey, seedSignature: c.signature.toLowerCase(), amzDate: c.amzDate, scope: c.scope.scope },
  }
}

/** The signed request time from x-amz-date, else from Date; as S3, one of them is required. */
function requestTime (req: S3Request): { longDate: string, time: Date } {
  const amzDate = req.headers['x-amz-date']
  if (amzDate != null) {
    const time = parseLongDate(amzDate.trim())
    if (time == null) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header')
    return { longDate: amzDate.trim(), time }
  }
  const date = req.headers.date
  const ms = date == null ? NaN : Date.parse(date)
  if (Number.isNaN(ms)) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header')
  const time = new Date(ms)
  return { longDate: toLongDate(time), time }
}

// ---- query (presigned URL) authentication -------------------------------------------------

async function authenticateQuery (req: S3Request, query: QueryMap, opts: AuthenticateOptions): Promise<AuthContext> {
  const algorithm = getParam(query, 'X-Amz-Algorithm')
  const credential = getParam(query, 'X-Amz-Credential')
  const amzDate = getParam(query, 'X-Amz-Date')
  const expires = getParam(query, 'X-Amz-Expires')
  const signedHeadersValue = getParam(query, 'X-Amz-SignedHeaders')
  const signature = getParam(query, 'X-Amz-Signature')
  if (algorithm !== ALGORITHM) {
    throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
  }
  if (credential == null || amzDate == null || expires == null || signedHeadersValue == null || signature == null) {
    throw new S3Error('AuthorizationQueryParametersError', 'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.')
  }
  const time = parseLongDate(amzDate)
  if (time == null) {
    throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"')
  }
  if (!/^\d+$/.test(expires)) {
    throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Expires should be a number')
  }
  const expiresSeconds = Number(expires)
  if (expiresSeconds > MAX_PRESIGN_EXPIRES) {
    throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Expires must be less than a week (in seconds) that is 604800')
  }
  const scope = parseScope(credential, opts.region, 'query')
  if (scope.date !== amzDate.slice(0, 8)) {
    throw new S3Error('AuthorizationQueryParametersError', `Invalid credential date "${scope.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`)
  }
  const now = opts.now.getTime()
  if (time.getTime() - now > MAX_SKEW_MS) {
    throw new S3Error('AccessDenied', 'Request is not valid yet')
  }
  if (now > time.getTime() + expiresSeconds * 1000) {
    throw new S3Error('AccessDenied', 'Request has expired', {
      'X-Amz-Expires': expires,
      Expires: new Date(time.getTime() + expiresSeconds * 1000).toISOString(),
      ServerTime: opts.now.toISOString()
    })
  }
  const signedHeaders = parseSignedHeaders(signedHeadersValue, 'query')
  // A presigned URL signs the payload as UNSIGNED-PAYLOAD unless it carries its own
  // X-Amz-Content-Sha256 (the SDK presigner hoists `x-amz-content-sha256=UNSIGNED-PAYLOAD` there).
  const queryClaim = getParam(query, 'X-Amz-Content-Sha256')
  const canonicalPayload = queryClaim ?? 'UNSIGNED-PAYLOAD'
  const mode = parsePayloadMode(queryClaim ?? req.headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD')
  return {
    ...await verified(req, query, opts, { scope, signedHeaders, payload: canonicalPayload, amzDate, signature }),
    presigned: true,
    ...mode,
  }
}

// ---- shared pieces ------------------------------------------------------------------------

interface Scope { accessKeyId: string, date: string, region: string, scope: string }

function parseScope (credential: string, expectedRegion: string, where: 'header' | 'query'): Scope {
  const code = where === 'header' ? 'AuthorizationHeaderMalformed' : 'AuthorizationQueryParametersError'
  const parts = credential.split('/')
  if (parts.length !== 5 || parts[0] === '') {
    throw new S3Error(code, `Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
  }
  const [accessKeyId, date, region, service, terminal] = parts
  if (!/^\d{8}$/.test(date)) {
    throw new S3Error(code, `Error parsing the X-Amz-Credential parameter; incorrect date format "${date}". This date in the credential must be in the format "yyyyMMdd".`)
  }
  if (region !== expectedRegion) {
    const message = where === 'header'
      ? `The authorization header is malformed; the region '${region}' is wrong; expecting '${expectedRegion}'`
      : `Error parsing the X-Amz-Credential parameter; the region '${region}' is wrong; expecting '${expectedRegion}'`
    throw new S3Error(code, message, { Region: expectedRegion })
  }
  if (service !== SERVICE) {
    throw new S3Error(code, `Error parsing the X-Amz-Credential parameter; incorrect service "${service}". This endpoint belongs to "${SERVICE}".`)
  }
  if (terminal !== 'aws4_request') {
    throw new S3Error(code, `Error parsing the X-Amz-Credential parameter; incorrect terminal "${terminal}". This endpoint uses "aws4_request".`)
  }
  return { accessKeyId, date, region, scope: `${date}/${region}/${service}/${terminal}` }
}

function parseSignedHeaders (value: string, where: 'header' | 'query'): string[] {
  const names = value.split(';').map(h => h.trim().toLowerCase())
  if (names.some(h => h === '') || !names.includes('host')) {
    const code = where === 'header' ? 'AuthorizationHeaderMalformed' : 'AuthorizationQueryParametersError'
    throw new S3Error(code, 'SignedHeaders must be a non-empty, semicolon-separated list of header names that includes host.')
  }
  return names
}

async function lookup (provider: CredentialProvider, accessKeyId: string): Promise<Credentials> {
  const found = await provider(accessKeyId)
  if (found == null) throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: accessKeyId })
  return found
}

function computeSignature (req: S3Request, query: QueryMap, signedHeaders: string[], payloadHash: string, longDate: string, scope: string, signingKey: Uint8Array): string {
  const headers: Record<string, string> = {}
  for (const name of signedHeaders) headers[name] = req.headers[name] ?? ''
  const request = new HttpRequest({ method: req.method, path: req.path, query, headers })
  const canonicalHeaders = getCanonicalHeaders(request, undefined, new Set(signedHeaders))
  const canonicalRequest = canonicalizer.canonicalRequest(request, canonicalHeaders, payloadHash)
  const stringToSign = `${ALGORITHM}\n${longDate}\n${scope}\n${sha256Hex(canonicalRequest)}`
  return createHmac('sha256', signingKey).update(stringToSign).digest('hex')
}

function verify (expected: string, provided: string): void {
  const a = Buffer.from(expected, 'latin1')
  const b = Buffer.from(provided.toLowerCase(), 'latin1')
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new S3Error('SignatureDoesNotMatch')
  }
}


/**
 * smithy builds the canonical request (method, path, query encoding and ordering, header
 * lines, payload hash) exactly as the AWS SDKs do. `uriEscapePath: false` because S3 signs the
 * path as it went on the wire, already percent-encoded once; the signer must not encode it again.
 */
class Canonicalizer extends SignatureV4 {
  constructor () {
    super({ service: SERVICE, region: 'unused', credentials: { accessKeyId: '', secretAccessKey: '' }, sha256: NodeSha256, uriEscapePath: false })
  }

  canonicalRequest (request: HttpRequest, canonicalHeaders: Record<string, string>, payloadHash: string): string {
    return this.createCanonicalRequest(request, canonicalHeaders, payloadHash)
  }
}
const canonicalizer = new Canonicalizer()

const KEY_CACHE_SIZE = 1024
const keyCache = new Map<string, Uint8Array>()

/**
 * The SigV4 signing key for (secret, date, region, service), cached: it changes once a day per
 * key and costs four HMACs to derive.
 */
export function deriveSigningKey (secretAccessKey: string, date: string, region: string, service: string): Uint8Array {
  const cacheKey = `${date}\n${region}\n${service}\n${secretAccessKey}`
  const hit = keyCache.get(cacheKey)
  if (hit != null) return hit
  let key: Uint8Array = Buffer.from(`AWS4${secretAccessKey}`, 'utf8')
  for (const part of [date, region, service, 'aws4_request']) {
    key = createHmac('sha256', key).update(part).digest()
  }
  if (keyCache.size >= KEY_CACHE_SIZE) {
    const oldest = keyCache.keys().next().value
    if (oldest != null) keyCache.delete(oldest)
  }
  keyCache.set(cacheKey, key)
  return key
}

export function sha256Hex (data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

export { EMPTY_SHA256 }

function malformedHeader (detail: string): S3Error {
  return new S3Error('AuthorizationHeaderMalformed', `The authorization header is malformed; ${detail}`)
}

function parseLongDate (value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value)
  if (m == null) return undefined
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])
  const d = new Date(ms)
  // Reject calendar overflow (20240231 would silently become March 2nd).
  if (d.getUTCDate() !== +m[3] || d.getUTCMonth() !== +m[2] - 1) return undefined
  return d
}

function toLongDate (d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
}

type QueryMap = Record<string, string | string[]>

/** The raw query as a multi-valued map of decoded names and values (`?acl` gives `acl: ''`). */
export function parseQuery (raw: string): QueryMap {
  const out: QueryMap = Object.create(null)
  if (raw === '') return out
  for (const pair of raw.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const name = decode(eq < 0 ? pair : pair.slice(0, eq))
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1))
    const prev = out[name]
    if (prev == null) out[name] = value
    else if (Array.isArray(prev)) prev.push(value)
    else out[name] = [prev, value]
  }
  return out
}

function decode (s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** A query parameter by name, case-insensitively as S3 treats the X-Amz-* parameters; first value. */
function getParam (query: QueryMap, name: string): string | undefined {
  const direct = query[name]
  const value = direct ?? Object.entries(query).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1]
  return Array.isArray(value) ? value[0] : value
}
