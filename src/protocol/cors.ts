import { S3Error } from '../errors.js'
import { childText, children, parseXml, type XmlNode } from '../xml/parse.js'
import { renderXml } from '../xml/render.js'
import { storedJson } from './stored-json.js'

/**
 * Bucket CORS, as Amazon S3 does it: the PutBucketCors / GetBucketCors document, its stored form,
 * the answer to an OPTIONS preflight and the CORS headers of an actual response.
 *
 * S3 uses the first rule, in document order, whose AllowedOrigin matches the Origin, whose
 * AllowedMethod holds the method (Access-Control-Request-Method on a preflight), and, on a preflight,
 * whose AllowedHeader entries cover every name in Access-Control-Request-Headers. Origins match
 * byte for byte; header names without regard to case. An origin or header pattern may hold one `*`,
 * which matches any run of characters, the empty one too.
 */
export interface CorsRule {
  id?: string
  allowedOrigins: string[]
  allowedMethods: string[]
  allowedHeaders: string[]
  exposeHeaders: string[]
  maxAgeSeconds?: number
}

export interface PreflightRequest {
  /** The Origin header. */
  origin?: string
  /** The Access-Control-Request-Method header. */
  method?: string
  /** The raw Access-Control-Request-Headers value (a comma-separated list). */
  requestHeaders?: string
  /**
   * The object key the OPTIONS request names, if any. Only the `ResourceType` of a 403 depends on it
   * (S3 answers `OBJECT` for a key, `BUCKET` for the bucket itself).
   */
  key?: string
}

/** S3 refuses a `cors` document over 64 KB. */
export const MAX_CORS_BYTES = 64 * 1024
export const MAX_CORS_RULES = 100
export const CORS_METHODS: readonly string[] = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD']

/** S3 varies every CORS answer on these three request headers, also when no header was requested. */
const VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method'

// S3 sends code AccessForbidden (403) with the message prefix "CORSResponse: ".
const DENIED = 'AccessForbidden'
const NOT_ALLOWED = 'CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, ' +
  'request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource\'s CORS spec.'

const RULE_ELEMENTS = new Set(['ID', 'AllowedOrigin', 'AllowedMethod', 'AllowedHeader', 'ExposeHeader', 'MaxAgeSeconds', '#text'])

/** PutBucketCors body → rules. Not XML → MalformedXML; S3's validation errors as S3 answers them. */
export function parseCorsConfiguration (body: Uint8Array): CorsRule[] {
  if (body.byteLength > MAX_CORS_BYTES) {
    throw new S3Error('MaxMessageLengthExceeded', 'Your request was too big.', { MaxMessageLengthBytes: String(MAX_CORS_BYTES) })
  }
  const root = parseXml(body, 'CORSConfiguration', MAX_CORS_BYTES)
  onlyElements(root, new Set(['CORSRule', '#text']))
  // The schema first (a missing or repeated required element is MalformedXML), then S3's own checks,
  // rule by rule, the first failure answered.
  const rules = children(root, 'CORSRule').map(readRule)
  if (rules.length === 0) throw new S3Error('MalformedXML')
  if (rules.length > MAX_CORS_RULES) {
    throw new S3Error('InvalidRequest', `The number of CORS rules should not exceed allowed limit of ${MAX_CORS_RULES} rules.`)
  }
  for (const rule of rules) validateRule(rule)
  return rules
}

function readRule (node: XmlNode): CorsRule {
  onlyElements(node, RULE_ELEMENTS)
  const rule: CorsRule = {
    allowedOrigins: texts(node, 'AllowedOrigin'),
    allowedMethods: texts(node, 'AllowedMethod'),
    allowedHeaders: texts(node, 'AllowedHeader'),
    exposeHeaders: texts(node, 'ExposeHeader'),
  }
  if (rule.allowedOrigins.length === 0 || rule.allowedMethods.length === 0) throw new S3Error('MalformedXML')
  const id = childText(node, 'ID')
  if (id !== undefined) rule.id = id
  const maxAge = childText(node, 'MaxAgeSeconds')
  if (maxAge !== undefined) {
    // xsd:int
    const n = /^-?\d{1,10}$/.test(maxAge) ? Number(maxAge) : NaN
    if (!Number.isSafeInteger(n) || n > 2147483647 || n < -2147483648) throw new S3Error('MalformedXML')
    rule.maxAgeSeconds = n
  }
  return rule
}

function validateRule (rule: CorsRule): void {
  for (const origin of rule.allowedOrigins) {
    if (wildcards(origin) > 1) throw new S3Error('InvalidRequest', `AllowedOrigin "${origin}" can not have more than one wildcard.`)
  }
  for (const method of rule.allowedMethods) {
    if (!CORS_METHODS.includes(method)) {
      throw new S3Error('InvalidRequest', `Found unsupported HTTP method in CORS config. Unsupported method is ${method}`)
    }
  }
  for (const header of rule.allowedHeaders) {
    if (wildcards(header) > 1) throw new S3Error('InvalidRequest', `AllowedHeader "${header}" can not have more than one wildcard.`)
  }
  for (const header of rule.exposeHeaders) {
    if (header.includes('*')) {
      throw new S3Error('InvalidRequest', `ExposeHeader "${header}" contains wildcard. We currently do not support wildcard for ExposeHeader.`)
    }
  }
  if (rule.id !== undefined && rule.id.length > 255) {
    throw new S3Error('InvalidRequest', 'The ID of a CORSRule cannot be longer than 255 characters.')
  }
}

function wildcards (value: string): number {
  let n = 0
  for (const c of value) if (c === '*') n++
  return n
}

/** Elements outside the schema, or text between elements, do not validate. */
function onlyElements (node: XmlNode, allowed: Set<string>): void {
  for (const name in node) {
    if (!allowed.has(name)) throw new S3Error('MalformedXML')
  }
  const text = node['#text']
  if (text !== undefined && (Array.isArray(text) ? text.join('') : String(text)).trim() !== '') throw new S3Error('MalformedXML')
}

/** The text of every `name` child; one holding elements is MalformedXML. */
function texts (node: XmlNode, name: string): string[] {
  return children(node, name).map(child => {
    for (const key in child) if (key !== '#text') throw new S3Error('MalformedXML')
    const t = child['#text'] as unknown
    if (t === undefined) return ''
    return Array.isArray(t) ? t.map(String).join('') : String(t)
  })
}

/** GetBucketCors response body. */
export function renderCorsConfiguration (rules: CorsRule[]): Uint8Array {
  return renderXml('CORSConfiguration', {
    CORSRule: rules.map(rule => ({
      ID: rule.id,
      AllowedHeader: rule.allowedHeaders,
      AllowedMethod: rule.allowedMethods,
      AllowedOrigin: rule.allowedOrigins,
      ExposeHeader: rule.exposeHeaders,
      MaxAgeSeconds: rule.maxAgeSeconds,
    })),
  })
}

/** Storage form (JSON) and back. */
export function toStoredCors (rules: CorsRule[]): string {
  return JSON.stringify(rules.map(rule => {
    const out: CorsRule = {
      allowedOrigins: rule.allowedOrigins,
      allowedMethods: rule.allowedMethods,
      allowedHeaders: rule.allowedHeaders,
      exposeHeaders: rule.exposeHeaders,
    }
    if (rule.id !== undefined) out.id = rule.id
    if (rule.maxAgeSeconds !== undefined) out.maxAgeSeconds = rule.maxAgeSeconds
    return out
  }))
}

/** `undefined` (or '') = the bucket has no CORS configuration. A stored text that is not one → InternalError. */
export function fromStoredCors (text: string | undefined): CorsRule[] | undefined {
  const json = storedJson(text)
  if (json === undefined) return undefined
  const value = json.value
  if (!Array.isArray(value) || !value.every(isStoredRule)) {
    throw new S3Error('InternalError', 'The stored CORS configuration of this bucket is not readable.')
  }
  return value.map(rule => {
    const out: CorsRule = {
      allowedOrigins: rule.allowedOrigins,
      allowedMethods: rule.allowedMethods,
      allowedHeaders: rule.allowedHeaders ?? [],
      exposeHeaders: rule.exposeHeaders ?? [],
    }
    if (typeof rule.id === 'string') out.id = rule.id
    if (typeof rule.maxAgeSeconds === 'number') out.maxAgeSeconds = rule.maxAgeSeconds
    return out
  })
}

function isStoredRule (value: unknown): value is Partial<CorsRule> & Pick<CorsRule, 'allowedOrigins' | 'allowedMethods'> {
  if (value === null || typeof value !== 'object') return false
  const r = value as Record<string, unknown>
  const strings = (v: unknown, optional: boolean): boolean =>
    (optional && v === undefined) || (Array.isArray(v) && v.every(s => typeof s === 'string'))
  return strings(r.allowedOrigins, false) && strings(r.allowedMethods, false) &&
    strings(r.allowedHeaders, true) && strings(r.exposeHeaders, true) &&
    (r.id === undefined || typeof r.id === 'string') &&
    (r.maxAgeSeconds === undefined || (typeof r.maxAgeSeconds === 'number' && Number.isInteger(r.maxAgeSeconds)))
}

/**
 * OPTIONS answer: the headers of a 200, lower-case names. Throws, in this order:
 * - BadRequest (400) when Origin is missing or empty, whether or not the bucket has CORS;
 * - AccessForbidden (403) "CORS is not enabled for this bucket." when `rules` is undefined;
 * - BadRequest (400) when Access-Control-Request-Method is missing;
 * - AccessForbidden (403) "This CORS request is not allowed. ..." when no rule allows the request.
 * A 403 carries S3's `Method` (the requested method, or OPTIONS) and `ResourceType` elements.
 */
export function preflight (rules: CorsRule[] | undefined, request: PreflightRequest): Record<string, string> {
  const { origin, method } = request
  if (origin === undefined || origin === '') {
    throw new S3Error('BadRequest', 'Insufficient information. Origin request header needed.')
  }
  if (rules === undefined) {
    throw new S3Error(DENIED, 'CORSResponse: CORS is not enabled for this bucket.', {
      Method: method === undefined || method === '' ? 'OPTIONS' : method,
      ResourceType: 'BUCKET',
    })
  }
  if (method === undefined || method === '') {
    throw new S3Error('BadRequest', 'Insufficient information. Access-Control-Request-Method request header needed.')
  }
  const requested = headerList(request.requestHeaders)
  const match = firstMatch(rules, origin, method, requested)
  if (match === undefined) {
    throw new S3Error(DENIED, NOT_ALLOWED, {
      Method: method,
      ResourceType: request.key === undefined || request.key === '' ? 'BUCKET' : 'OBJECT',
    })
  }
  return headersFor(match, origin, requested)
}

/** Headers (lower-case names) to add to an actual response, or {} when no Origin or no rule matches. */
export function corsResponseHeaders (rules: CorsRule[] | undefined, origin: string | undefined, method: string): Record<string, string> {
  if (rules === undefined || origin === undefined || origin === '') return {}
  const match = firstMatch(rules, origin, method, [])
  return match === undefined ? {} : headersFor(match, origin, [])
}

interface Match { rule: CorsRule, allowedOrigin: string }

function firstMatch (rules: CorsRule[], origin: string, method: string, requested: string[]): Match | undefined {
  for (const rule of rules) {
    if (!rule.allowedMethods.includes(method)) continue
    const allowedOrigin = rule.allowedOrigins.find(pattern => wildcardMatch(pattern, origin))
    if (allowedOrigin === undefined) continue
    const allowedHeaders = rule.allowedHeaders.map(h => h.toLowerCase())
    if (requested.every(name => allowedHeaders.some(pattern => wildcardMatch(pattern, name)))) return { rule, allowedOrigin }
  }
  return undefined
}

/** One `*` matches any run of characters, the empty one included; anything else matches itself. */
function wildcardMatch (pattern: string, value: string): boolean {
  const star = pattern.indexOf('*')
  if (star === -1) return pattern === value
  const prefix = pattern.slice(0, star)
  const suffix = pattern.slice(star + 1)
  return value.length >= prefix.length + suffix.length && value.startsWith(prefix) && value.endsWith(suffix)
}

/** Access-Control-Request-Headers as lower-case names, in the order sent, empty list elements dropped. */
function headerList (value: string | undefined): string[] {
  if (value === undefined) return []
  return value.split(',').map(s => s.trim().toLowerCase()).filter(s => s !== '')
}

function headersFor ({ rule, allowedOrigin }: Match, origin: string, requested: string[]): Record<string, string> {
  const wildcard = allowedOrigin === '*'
  const out: Record<string, string> = {
    'access-control-allow-origin': wildcard ? '*' : origin,
    'access-control-allow-methods': rule.allowedMethods.join(', '),
  }
  if (requested.length > 0) out['access-control-allow-headers'] = requested.join(', ')
  if (rule.exposeHeaders.length > 0) out['access-control-expose-headers'] = rule.exposeHeaders.join(', ')
  if (rule.maxAgeSeconds !== undefined) out['access-control-max-age'] = String(rule.maxAgeSeconds)
  if (!wildcard) out['access-control-allow-credentials'] = 'true'
  out.vary = VARY
  return out
}
