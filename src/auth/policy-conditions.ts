/**
 * The Condition element of the AWS access policy language, with the policy variables and the
 * `*` / `?` wildcard matching that Action and Resource share with it.
 */

export type ConditionOperator =
  | 'StringEquals' | 'StringNotEquals' | 'StringEqualsIgnoreCase' | 'StringNotEqualsIgnoreCase'
  | 'StringLike' | 'StringNotLike'
  | 'NumericEquals' | 'NumericNotEquals' | 'NumericLessThan' | 'NumericLessThanEquals'
  | 'NumericGreaterThan' | 'NumericGreaterThanEquals'
  | 'DateEquals' | 'DateNotEquals' | 'DateLessThan' | 'DateLessThanEquals'
  | 'DateGreaterThan' | 'DateGreaterThanEquals'
  | 'Bool' | 'BinaryEquals' | 'IpAddress' | 'NotIpAddress'
  | 'ArnEquals' | 'ArnLike' | 'ArnNotEquals' | 'ArnNotLike'
  | 'Null'

/** One operator applied to one key: `{ "ForAnyValue:StringLikeIfExists": { "aws:Referer": [...] } }`. */
export interface PolicyCondition {
  /** The condition type as written, e.g. 'ForAnyValue:StringLikeIfExists'. */
  type: string
  operator: ConditionOperator
  set?: 'ForAllValues' | 'ForAnyValue'
  /** `...IfExists`: a key missing from the request satisfies the condition. */
  ifExists: boolean
  /** The key as `normalizeKey` gives it ('aws:sourceip', 's3:existingobjecttag/Project'). */
  key: string
  /** The values as written; numbers and booleans as their JSON text. */
  values: string[]
}

/** Reads a request's condition key (already normalised); undefined when the request lacks it. */
export type ContextLookup = (key: string) => string | string[] | undefined

type Kind = 'string' | 'istring' | 'like' | 'numeric' | 'date' | 'bool' | 'binary' | 'ip' | 'arn' | 'null'
type Compare = 'eq' | 'lt' | 'le' | 'gt' | 'ge'
interface Spec { kind: Kind, negated?: true, compare?: Compare }

const OPERATORS: Record<ConditionOperator, Spec> = {
  StringEquals: { kind: 'string' },
  StringNotEquals: { kind: 'string', negated: true },
  StringEqualsIgnoreCase: { kind: 'istring' },
  StringNotEqualsIgnoreCase: { kind: 'istring', negated: true },
  StringLike: { kind: 'like' },
  StringNotLike: { kind: 'like', negated: true },
  NumericEquals: { kind: 'numeric', compare: 'eq' },
  NumericNotEquals: { kind: 'numeric', compare: 'eq', negated: true },
  NumericLessThan: { kind: 'numeric', compare: 'lt' },
  NumericLessThanEquals: { kind: 'numeric', compare: 'le' },
  NumericGreaterThan: { kind: 'numeric', compare: 'gt' },
  NumericGreaterThanEquals: { kind: 'numeric', compare: 'ge' },
  DateEquals: { kind: 'date', compare: 'eq' },
  DateNotEquals: { kind: 'date', compare: 'eq', negated: true },
  DateLessThan: { kind: 'date', compare: 'lt' },
  DateLessThanEquals: { kind: 'date', compare: 'le' },
  DateGreaterThan: { kind: 'date', compare: 'gt' },
  DateGreaterThanEquals: { kind: 'date', compare: 'ge' },
  Bool: { kind: 'bool' },
  BinaryEquals: { kind: 'binary' },
  IpAddress: { kind: 'ip' },
  NotIpAddress: { kind: 'ip', negated: true },
  ArnEquals: { kind: 'arn' },
  ArnLike: { kind: 'arn' },
  ArnNotEquals: { kind: 'arn', negated: true },
  ArnNotLike: { kind: 'arn', negated: true },
  Null: { kind: 'null' }
}

/** S3's own condition keys (Service Authorization Reference), lower-case; the `/<key>` families aside. */
const S3_CONDITION_KEYS = new Set(`
  accessgrantscope accessgrantsinstancearn accessgrantslocationscope accesspointnetworkorigin
  dataaccesspointaccount dataaccesspointarn deliverysourcearn destinationregion existingjoboperation
  existingjobpriority inventoryaccessibleoptionalfields jobsuspendedcause objectcreationoperation
  requestjoboperation requestjobpriority requestobjecttagkeys resourceaccount tlsversion authtype delimiter
  if-match if-none-match isreplicationpauserequest locationconstraint max-keys object-lock-legal-hold
  object-lock-mode object-lock-remaining-retention-days object-lock-retain-until-date prefix signatureage
  signatureversion versionid x-amz-acl x-amz-content-sha256 x-amz-copy-source x-amz-grant-full-control
  x-amz-grant-read x-amz-grant-read-acp x-amz-grant-write x-amz-grant-write-acp x-amz-metadata-directive
  x-amz-object-ownership x-amz-server-side-encryption x-amz-server-side-encryption-aws-kms-key-id
  x-amz-server-side-encryption-customer-algorithm x-amz-storage-class x-amz-website-redirect-location
`.trim().split(/\s+/).map(name => 's3:' + name))

/** Reads a condition type such as 'ForAllValues:StringLikeIfExists'; names are case-sensitive. */
export function parseConditionType (type: string): Pick<PolicyCondition, 'operator' | 'set' | 'ifExists'> | undefined {
  const m = /^(?:(ForAllValues|ForAnyValue):)?([A-Za-z]+?)(IfExists)?$/.exec(type)
  if (m == null || !Object.hasOwn(OPERATORS, m[2]) || (m[2] === 'Null' && m[3] != null)) return undefined
  const set = m[1] as PolicyCondition['set']
  return { operator: m[2] as ConditionOperator, ...(set != null ? { set } : {}), ifExists: m[3] != null }
}

/** Whether a condition operator compares IP ranges (its values must then be CIDRs). */
export function isIpOperator (operator: ConditionOperator): boolean {
  return OPERATORS[operator].kind === 'ip'
}

/** Key names compare without case, but the tag key after a `/` keeps its case. */
export function normalizeKey (key: string): string {
  const slash = key.indexOf('/')
  return slash < 0 ? key.toLowerCase() : key.slice(0, slash).toLowerCase() + key.slice(slash)
}

/** S3 refuses an `s3:` key it does not define; keys of other services and global `aws:` keys pass. */
export function isValidConditionKey (key: string): boolean {
  if (key === '') return false
  const k = normalizeKey(key)
  if (!k.startsWith('s3:')) return true
  const family = /^s3:(existingobjecttag|requestobjecttag)\/(.+)$/.exec(k)
  return family != null || S3_CONDITION_KEYS.has(k)
}

// ---- wildcards and policy variables -------------------------------------------------------

const STAR = 0
const ONE = 1
/** A compiled pattern: literal characters, `STAR` (any run) and `ONE` (any one character). */
export type Glob = Array<string | typeof STAR | typeof ONE>

/**
 * Compiles a policy string. With `lookup`, `${key}` and `${key, 'default'}` are replaced by the
 * request's value (taken literally, never as a wildcard), and `${*}`, `${?}`, `${$}` stand for those
 * characters. Undefined when a variable has no single value and no default: such a value matches
 * nothing. `wildcards` false makes `*` and `?` ordinary characters (StringEquals).
 */
export function compileTemplate (template: string, lookup: ContextLookup | undefined, wildcards: boolean): Glob | undefined {
  const out: Glob = []
  const literal = (s: string): void => { for (const ch of s) out.push(ch) }
  const text = (s: string): void => {
    for (const ch of s) out.push(wildcards && ch === '*' ? STAR : wildcards && ch === '?' ? ONE : ch)
  }
  if (lookup == null) {
    text(template)
    return out
  }
  let last = 0
  for (const m of template.matchAll(/\$\{([^}]*)\}/g)) {
    const at = m.index ?? 0
    text(template.slice(last, at))
    last = at + m[0].length
    const inner = m[1]
    if (inner === '*' || inner === '?' || inner === '$') {
      literal(inner)
      continue
    }
    const variable = /^\s*([^\s,']+)\s*(?:,\s*'([^']*)'\s*)?$/.exec(inner)
    if (variable == null) {
      text(m[0])
      continue
    }
    const value = lookup(normalizeKey(variable[1]))
    if (typeof value === 'string') literal(value)
    else if (variable[2] != null) literal(variable[2])
    else return undefined
  }
  text(template.slice(last))
  return out
}

/** Matches in O(pattern × text), whatever the number of stars. */
export function globMatch (glob: Glob, value: string, ignoreCase = false): boolean {
  const t = Array.from(ignoreCase ? value.toLowerCase() : value)
  const same = (g: Glob[number], c: string): boolean =>
    g === ONE || (typeof g === 'string' && (ignoreCase ? g.toLowerCase() : g) === c)
  let p = 0
  let i = 0
  let star = -1
  let mark = 0
  while (i < t.length) {
    if (p < glob.length && glob[p] === STAR) {
      star = p++
      mark = i
    } else if (p < glob.length && same(glob[p], t[i])) {
      p++
      i++
    } else if (star >= 0) {
      p = star + 1
      i = ++mark
    } else {
      return false
    }
  }
  while (p < glob.length && glob[p] === STAR) p++
  return p === glob.length
}

/** `*` matches any run of characters (`/` and `:` included), `?` any one character. */
export function wildcardMatch (pattern: string, value: string, ignoreCase = false): boolean {
  return globMatch(compileTemplate(pattern, undefined, true) as Glob, value, ignoreCase)
}

// ---- values -------------------------------------------------------------------------------

export interface IpAddress { v6: boolean, bits: bigint }
export interface Cidr extends IpAddress { prefix: number }

function parseIpv4 (text: string): bigint | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (m == null) return undefined
  const octets = m.slice(1).map(Number)
  if (octets.some(o => o > 255)) return undefined
  return octets.reduce((acc, o) => (acc << 8n) | BigInt(o), 0n)
}

function parseIpv6 (text: string): bigint | undefined {
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groups = (s: string): number[] | undefined => {
    if (s === '') return []
    const out: number[] = []
    const parts = s.split(':')
    for (let i = 0; i < parts.length; i++) {
      const v4 = i === parts.length - 1 && parts[i].includes('.') ? parseIpv4(parts[i]) : undefined
      if (v4 != null) out.push(Number(v4 >> 16n), Number(v4 & 0xffffn))
      else if (/^[0-9a-fA-F]{1,4}$/.test(parts[i])) out.push(parseInt(parts[i], 16))
      else return undefined
    }
    return out
  }
  const head = groups(halves[0])
  const tail = halves.length === 2 ? groups(halves[1]) : []
  if (head == null || tail == null) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  return [...head, ...new Array<number>(missing).fill(0), ...tail].reduce((acc, g) => (acc << 16n) | BigInt(g), 0n)
}

/** A request's address; an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is read as the IPv4 one. */
export function parseIp (text: string): IpAddress | undefined {
  const v4 = parseIpv4(text)
  if (v4 != null) return { v6: false, bits: v4 }
  const v6 = parseIpv6(text.replace(/%.*$/, ''))
  if (v6 == null) return undefined
  if (v6 >> 32n === 0xffffn) return { v6: false, bits: v6 & 0xffffffffn }
  return { v6: true, bits: v6 }
}

/** A CIDR as policies write one; without a prefix, the whole address (/32, /128). */
export function parseCidr (text: string): Cidr | undefined {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(text.trim())
  if (m == null) return undefined
  const v4 = parseIpv4(m[1])
  const v6 = v4 == null ? parseIpv6(m[1]) : undefined
  if (v4 == null && v6 == null) return undefined
  const width = v4 != null ? 32 : 128
  const prefix = m[2] != null ? Number(m[2]) : width
  if (prefix > width) return undefined
  return { v6: v4 == null, bits: (v4 ?? v6) as bigint, prefix }
}

function cidrContains (cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.v6 !== ip.v6) return false
  const shift = BigInt((cidr.v6 ? 128 : 32) - cidr.prefix)
  return ip.bits >> shift === cidr.bits >> shift
}

function parseNumber (text: string): number | undefined {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text.trim()) ? Number(text) : undefined
}

/** ISO 8601 (a day alone is midnight UTC) or epoch seconds, as milliseconds. */
function parseDate (text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000
  if (!/^\d{4}-\d{2}-\d{2}([T ].*)?$/.test(text)) return undefined
  const ms = Date.parse(text)
  return Number.isNaN(ms) ? undefined : ms
}

function compare (request: number | undefined, policy: number | undefined, op: Compare | undefined): boolean {
  if (request == null || policy == null) return false
  switch (op) {
    case 'lt': return request < policy
    case 'le': return request <= policy
    case 'gt': return request > policy
    case 'ge': return request >= policy
    default: return request === policy
  }
}

/** ARNs compare by their six colon-separated parts, each with its own wildcards. */
function arnMatch (glob: Glob, value: string): boolean {
  const parts: Glob[] = [[]]
  for (const g of glob) {
    if (g === ':' && parts.length < 6) parts.push([])
    else parts[parts.length - 1].push(g)
  }
  if (parts.length < 6) return globMatch(glob, value)
  const v = value.split(':')
  if (v.length < 6) return false
  const segments = [...v.slice(0, 5), v.slice(5).join(':')]
  return parts.every((part, i) => globMatch(part, segments[i]))
}

/** Whether one policy value matches one request value, for the operator's positive form. */
function matches (spec: Spec, policyValue: string, requestValue: string, lookup: ContextLookup | undefined): boolean {
  switch (spec.kind) {
    case 'string':
    case 'istring':
    case 'like': {
      const glob = compileTemplate(policyValue, lookup, spec.kind === 'like')
      return glob != null && globMatch(glob, requestValue, spec.kind === 'istring')
    }
    case 'arn': {
      const glob = compileTemplate(policyValue, lookup, true)
      return glob != null && arnMatch(glob, requestValue)
    }
    case 'numeric': return compare(parseNumber(requestValue), parseNumber(policyValue), spec.compare)
    case 'date': return compare(parseDate(requestValue), parseDate(policyValue), spec.compare)
    case 'bool': return policyValue.toLowerCase() === requestValue.toLowerCase()
    case 'binary': return policyValue === requestValue
    case 'ip': {
      const cidr = parseCidr(policyValue)
      const ip = parseIp(requestValue)
      return cidr != null && ip != null && cidrContains(cidr, ip)
    }
    default: return false
  }
}

/**
 * A condition against a request. A key the request lacks fails a positive operator and satisfies a
 * negated one (`StringNotEquals`, `NotIpAddress`, ...); `...IfExists` makes it satisfy any operator.
 * A key's several policy values are ORed (NORed for a negated operator). `ForAnyValue` needs one
 * request value to hold and fails on a missing key; `ForAllValues` needs every one and holds on a
 * missing key. `variables`: expand `${...}` in string and ARN values (policy Version 2012-10-17).
 */
export function evaluateCondition (condition: PolicyCondition, lookup: ContextLookup, variables: boolean): boolean {
  const spec = OPERATORS[condition.operator]
  const raw = lookup(condition.key)
  const present = raw != null && !(Array.isArray(raw) && raw.length === 0)
  if (spec.kind === 'null') return condition.values.some(v => v.toLowerCase() === String(!present))
  const requestValues = present ? (Array.isArray(raw) ? raw : [raw]) : []
  const expand = variables ? lookup : undefined
  const any = (r: string): boolean => condition.values.some(v => matches(spec, v, r, expand))
  const holds = (r: string): boolean => spec.negated === true ? !any(r) : any(r)
  if (condition.set === 'ForAllValues') return requestValues.every(holds)
  if (condition.set === 'ForAnyValue') return requestValues.some(holds)
  if (!present) return condition.ifExists || spec.negated === true
  return spec.negated === true ? !requestValues.some(any) : requestValues.some(any)
}
