import { createHmac, timingSafeEqual } from 'node:crypto'
import { S3Error } from '../errors.js'
import type { CredentialProvider, Credentials } from '../types.js'
import { deriveSigningKey } from './sigv4.js'
import { signaturesMatch, signV2 } from './sigv2.js'

/** Who signed a browser form upload (S3 "POST Object"). */
export interface PostAuth {
  /** The form carries no signature: the bucket decides whether anonymous uploads are allowed. */
  anonymous: boolean
  accessKeyId?: string
  principal?: string
  displayName?: string
  /** The principal's identity policies, when its credentials carry any. */
  policies?: string[]
  /** 4 (x-amz-algorithm, x-amz-credential, x-amz-date, x-amz-signature) or 2 (AWSAccessKeyId, signature). */
  signatureVersion?: 2 | 4
}

export interface VerifyPostSignatureOptions {
  credentials: CredentialProvider
  region: string
  /** Accept forms signed with Signature Version 2. Default true. */
  signatureV2?: boolean
  /**
   * Unused: S3 does not hold a form's x-amz-date against the clock, the policy's expiration is what
   * bounds its life (`checkPostPolicy`).
   */
  now: Date
}

export interface CheckPostPolicyOptions {
  /** The bucket the form was posted to: what conditions on `bucket` are held against. */
  bucket: string
  now: Date
  /** The form's signature version: under 2, the AWSAccessKeyId and signature fields need no condition. */
  signatureVersion?: 2 | 4
}

export interface PostPolicyCheck {
  /**
   * The bounds of the policy's `content-length-range` conditions (several intersect), inclusive, in
   * bytes. The caller enforces them on the file while it streams (`limitContentLength`).
   */
  contentLengthRange?: { min: number, max: number }
}

const ALGORITHM = 'AWS4-HMAC-SHA256'
const SERVICE = 's3'
const SIGNATURE_FIELDS = ['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature']

/**
 * Verifies the SigV4 signature of a form's policy from its fields (names lower-cased, as
 * `readPostForm` gives them): signature = hex HMAC-SHA256(signing key of the credential's scope,
 * the policy field exactly as sent).
 *
 * Resolves `{ anonymous: true }` when the form has none of policy, x-amz-algorithm,
 * x-amz-credential, x-amz-date, x-amz-signature. Rejects with the S3Error S3 answers:
 * InvalidArgument "Bucket POST must contain a field named '…'" when some of the signature fields
 * are there but not all of them and the policy; AccessDenied for a policy without them;
 * InvalidRequest for a SigV2 form (`AWSAccessKeyId`, `signature`) when `signatureV2` is false;
 * AuthorizationQueryParametersError for another algorithm, a malformed credential, another
 * region or a credential date that is not x-amz-date's; AccessDenied for a malformed x-amz-date;
 * InvalidAccessKeyId; SignatureDoesNotMatch.
 *
 * A SigV2 form (no SigV4 field, but `AWSAccessKeyId` or `signature`) needs AWSAccessKeyId, policy
 * and signature = base64 HMAC-SHA1(secret, the policy field exactly as sent).
 *
 * The policy itself is checked by `checkPostPolicy`, which a caller runs next whenever the form has
 * one (an anonymous form may have none).
 */
export async function verifyPostSignature (fields: Map<string, string>, opts: VerifyPostSignatureOptions): Promise<PostAuth> {
  const field = fieldReader(fields)
  if (!SIGNATURE_FIELDS.some((name) => field(name) !== undefined)) {
    if (field('signature') !== undefined || field('awsaccesskeyid') !== undefined) {
      if (opts.signatureV2 === false) {
        throw new S3Error('InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.')
      }
      return await verifyPostSignatureV2(field, opts)
    }
    if (field('policy') !== undefined) throw new S3Error('AccessDenied')
    return { anonymous: true }
  }
  for (const name of ['policy', ...SIGNATURE_FIELDS]) {
    if (field(name) === undefined) throw missingPostField(name)
  }
  const policy = field('policy') as string
  const algorithm = field('x-amz-algorithm') as string
  const credential = field('x-amz-credential') as string
  const amzDate = field('x-amz-date') as string
  const signature = field('x-amz-signature') as string

  if (algorithm !== ALGORITHM) {
    throw new S3Error('AuthorizationQueryParametersError', `X-Amz-Algorithm only supports "${ALGORITHM}"`)
  }
  if (!isLongDate(amzDate)) {
    throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header')
  }
  const scope = parseCredential(credential, opts.region)
  if (scope.date !== amzDate.slice(0, 8)) {
    throw new S3Error('AuthorizationQueryParametersError', `Invalid credential date "${scope.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`)
  }
  const found = await opts.credentials(scope.accessKeyId)
  if (found == null) throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: scope.accessKeyId })

  const signingKey = deriveSigningKey(found.secretAccessKey, scope.date, scope.region, SERVICE)
  const expected = Buffer.from(createHmac('sha256', signingKey).update(policy, 'utf8').digest('hex'), 'latin1')
  const provided = Buffer.from(signature.toLowerCase(), 'latin1')
  if (expected.length !== provided.length || !timingSafeEqual(expected, provided)) {
    throw new S3Error('SignatureDoesNotMatch')
  }
  return signedBy(scope.accessKeyId, found, 4)
}

async function verifyPostSignatureV2 (field: (name: string) => string | undefined, opts: VerifyPostSignatureOptions): Promise<PostAuth> {
  for (const [name, label] of [['awsaccesskeyid', 'AWSAccessKeyId'], ['policy', 'policy'], ['signature', 'signature']]) {
    if (field(name) === undefined) throw missingPostField(label)
  }
  const accessKeyId = field('awsaccesskeyid') as string
  const found = await opts.credentials(accessKeyId)
  if (found == null) throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: accessKeyId })
  if (!signaturesMatch(signV2(found.secretAccessKey, field('policy') as string), field('signature') as string)) {
    throw new S3Error('SignatureDoesNotMatch')
  }
  return signedBy(accessKeyId, found, 2)
}

function signedBy (accessKeyId: string, found: Credentials, signatureVersion: 2 | 4): PostAuth {
  const principal = found.principal ?? accessKeyId
  return {
    anonymous: false,
    accessKeyId,
    principal,
    displayName: found.displayName ?? principal,
    ...(found.policies === undefined ? {} : { policies: found.policies }),
    signatureVersion,
  }
}

/**
 * Decodes a form's base64 policy and holds the form against it, as S3 does: the policy must not
 * have expired; every condition must hold (field names case-insensitive, values exact; a
 * starts-with on Content-Type holds for each value of a comma-separated list; an empty prefix
 * matches anything, an absent field included); and every field of the form except
 * x-amz-signature, file, policy and names starting with `x-ignore-` (and for a SigV2 form
 * AWSAccessKeyId and signature) must be named by a condition.
 * `bucket` counts as a field that is always there, with `opts.bucket` as its value: a policy
 * without a condition on it fails, whatever the form says.
 *
 * The key field must already have `${filename}` replaced (`expandFilename`): conditions hold
 * against the key the object gets.
 *
 * Throws InvalidPolicyDocument for a policy that does not decode or parse; AccessDenied "Invalid
 * according to Policy: Policy expired." / "…: Policy Condition failed: [\"eq\", \"$key\", \"x\"]" /
 * "…: Extra input fields: x-amz-meta-a". The content-length-range is returned, not checked.
 */
export function checkPostPolicy (policyBase64: string, fields: Map<string, string>, opts: CheckPostPolicyOptions): PostPolicyCheck {
  const policy = parsePolicy(policyBase64)
  if (opts.now.getTime() > policy.expiration) {
    throw new S3Error('AccessDenied', 'Invalid according to Policy: Policy expired.')
  }
  const field = fieldReader(fields)
  const valueOf = (name: string): string => name === 'bucket' ? opts.bucket : field(name) ?? ''
  const named = new Set<string>()
  let range: { min: number, max: number } | undefined
  for (const c of policy.conditions) {
    if (c.op === 'content-length-range') {
      range = range === undefined ? { min: c.min, max: c.max } : { min: Math.max(range.min, c.min), max: Math.min(range.max, c.max) }
      continue
    }
    if (c.field === undefined || !holds(c.op, c.field, valueOf(c.field), c.value)) {
      throw new S3Error('AccessDenied', `Invalid according to Policy: Policy Condition failed: ${c.text}`)
    }
    named.add(c.field)
  }
  const extra = ['bucket', ...fieldNames(fields)].filter((name) => !named.has(name) && !exempt(name, opts.signatureVersion ?? 4))
  if (extra.length > 0) {
    throw new S3Error('AccessDenied', `Invalid according to Policy: Extra input fields: ${[...new Set(extra)].join(', ')}`)
  }
  return range === undefined ? {} : { contentLengthRange: range }
}

/**
 * The file's bytes, passed through, failing with EntityTooLarge as soon as they exceed
 * `range.max` and with EntityTooSmall at their end when they are fewer than `range.min`.
 */
export async function * limitContentLength (stream: AsyncIterable<Uint8Array>, range: { min: number, max: number }): AsyncGenerator<Uint8Array> {
  let size = 0
  for await (const chunk of stream) {
    size += chunk.byteLength
    if (size > range.max) {
      throw new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', { ProposedSize: String(size), MaxSizeAllowed: String(range.max) })
    }
    yield chunk
  }
  if (size < range.min) {
    throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', { ProposedSize: String(size), MinSizeAllowed: String(range.min) })
  }
}

/**
 * S3's answer to a form without a field it needs (`key`, or one of the signature fields). The
 * second sentence is S3's: fields after the file are not read.
 */
export function missingPostField (name: string): S3Error {
  return new S3Error('InvalidArgument', `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`, { ArgumentName: name, ArgumentValue: '' })
}

// ---- the policy document -------------------------------------------------------------------

type Condition =
  | { op: 'eq' | 'starts-with', field?: string, value: string, text: string }
  | { op: 'content-length-range', min: number, max: number }

interface Policy { expiration: number, conditions: Condition[] }

function parsePolicy (policyBase64: string): Policy {
  const encoded = policyBase64.replace(/\s+/g, '')
  if (encoded === '') throw invalidPolicy('Expecting \'{\' but found End-of-Input')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 === 1) throw invalidPolicy('invalid Base64 encoding.')
  let doc: unknown
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(encoded, 'base64'))
    doc = JSON.parse(unescapeS3(text))
  } catch {
    throw invalidJson()
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalidJson()
  const record = doc as Record<string, unknown>
  for (const name of Object.keys(record)) {
    if (name !== 'expiration' && name !== 'conditions') throw invalidPolicy(`Unexpected: ${JSON.stringify(name)}`)
  }
  if (!('expiration' in record)) throw invalidPolicy('Policy missing expiration.')
  if (typeof record.expiration !== 'string') throw invalidJson()
  const expiration = parseExpiration(record.expiration)
  if (expiration === undefined) throw invalidPolicy(`Invalid 'expiration' value: '${record.expiration}'`)
  if (!('conditions' in record)) throw invalidPolicy('Policy missing conditions.')
  if (!Array.isArray(record.conditions)) throw invalidPolicy('Invalid \'conditions\' value: must be a List.')
  return { expiration, conditions: record.conditions.map(parseCondition) }
}

function parseCondition (c: unknown): Condition {
  if (Array.isArray(c)) {
    if (c.length === 0) throw invalidPolicy('Invalid Condition: missing operation identifier.')
    if (typeof c[0] !== 'string') throw invalidJson()
    const op = c[0].toLowerCase()
    if (op !== 'eq' && op !== 'starts-with' && op !== 'content-length-range') {
      throw invalidPolicy(`Invalid Condition: unknown operation '${c[0]}'.`)
    }
    if (c.length !== 3) throw invalidPolicy(`Invalid ${c[0]}: wrong number of arguments.`)
    if (op === 'content-length-range') {
      const min = byteCount(c[1])
      const max = byteCount(c[2])
      if (min === undefined || max === undefined) throw invalidJson()
      return { op, min, max }
    }
    const [, name, value] = c
    if (typeof name !== 'string' || typeof value !== 'string') throw invalidJson()
    // A name without its `$` names no field: the condition cannot hold.
    const field = name.startsWith('$') ? name.slice(1).toLowerCase() : undefined
    return { op, field, value, text: `[${c.map((x) => JSON.stringify(x)).join(', ')}]` }
  }
  if (c !== null && typeof c === 'object') {
    const entries = Object.entries(c)
    if (entries.length !== 1) throw invalidPolicy('Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.')
    const [name, value] = entries[0]
    if (typeof value !== 'string') throw invalidPolicy('Invalid Simple-Condition: value must be a string.')
    return { op: 'eq', field: name.toLowerCase(), value, text: `[${['eq', `$${name}`, value].map((x) => JSON.stringify(x)).join(', ')}]` }
  }
  throw invalidPolicy('Invalid condition test: must be a List or Object.')
}

function holds (op: 'eq' | 'starts-with', field: string, actual: string, expected: string): boolean {
  if (op === 'eq') return actual === expected
  // A Content-Type may list several types; each must have the prefix.
  if (field === 'content-type') return actual.split(',').every((t) => t.trim().startsWith(expected))
  return actual.startsWith(expected)
}

function exempt (name: string, signatureVersion: 2 | 4): boolean {
  if (signatureVersion === 2 && (name === 'awsaccesskeyid' || name === 'signature')) return true
  return name === 'x-amz-signature' || name === 'file' || name === 'policy' || name.startsWith('x-ignore-')
}

/**
 * Policies follow JSON with S3's extra escapes in strings: `\$` for `$`, `\v`, and `\xhh`.
 * Rewritten to JSON's own before parsing; pairs are consumed left to right, so `\\$` stays a
 * backslash followed by a dollar.
 */
function unescapeS3 (text: string): string {
  return text.replace(/\\(x[0-9A-Fa-f]{2}|[\s\S])/g, (match, c: string) => {
    if (c === '$') return '$'
    if (c === 'v') return '\\u000b'
    if (c.length === 3) return `\\u00${c.slice(1)}`
    return match
  })
}

function parseExpiration (value: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?Z$/.exec(value)
  if (m === null) return undefined
  const ms = Date.parse(value)
  const d = new Date(ms)
  if (Number.isNaN(ms) || d.getUTCDate() !== +m[3] || d.getUTCMonth() !== +m[2] - 1) return undefined
  return ms
}

function byteCount (value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

// ---- the signature ---------------------------------------------------------------------------

interface Scope { accessKeyId: string, date: string, region: string }

function parseCredential (credential: string, expectedRegion: string): Scope {
  const parts = credential.split('/')
  if (parts.length !== 5 || parts[0] === '') {
    throw credentialError('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
  }
  const [accessKeyId, date, region, service, terminal] = parts
  if (!/^\d{8}$/.test(date)) {
    throw credentialError(`incorrect date format "${date}". This date in the credential must be in the format "yyyyMMdd".`)
  }
  if (region !== expectedRegion) {
    throw credentialError(`the region '${region}' is wrong; expecting '${expectedRegion}'`, { Region: expectedRegion })
  }
  if (service !== SERVICE) {
    throw credentialError(`incorrect service "${service}". This endpoint belongs to "${SERVICE}".`)
  }
  if (terminal !== 'aws4_request') {
    throw credentialError(`incorrect terminal "${terminal}". This endpoint uses "aws4_request".`)
  }
  return { accessKeyId, date, region }
}

function isLongDate (value: string): boolean {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value)
  if (m === null) return false
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]))
  return d.getUTCDate() === +m[3] && d.getUTCMonth() === +m[2] - 1 && d.getUTCHours() === +m[4] && d.getUTCMinutes() === +m[5]
}

// ---- shared ----------------------------------------------------------------------------------

/** A field by lower-case name; an empty value counts as absent, as in S3. */
function fieldReader (fields: Map<string, string>): (name: string) => string | undefined {
  const lower = new Map<string, string>()
  for (const [name, value] of fields) {
    const key = name.toLowerCase()
    if (!lower.has(key)) lower.set(key, value)
  }
  return (name) => {
    const value = lower.get(name)
    return value === '' ? undefined : value
  }
}

function fieldNames (fields: Map<string, string>): string[] {
  return [...fields.keys()].map((name) => name.toLowerCase())
}

function credentialError (detail: string, extra: Record<string, string> = {}): S3Error {
  return new S3Error('AuthorizationQueryParametersError', `Error parsing the X-Amz-Credential parameter; ${detail}`, extra)
}

function invalidPolicy (detail: string): S3Error {
  return new S3Error('InvalidPolicyDocument', `Invalid Policy: ${detail}`)
}

function invalidJson (): S3Error {
  return invalidPolicy('Invalid JSON.')
}
