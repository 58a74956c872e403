/**
 * The AWS access policy language as Amazon S3 reads and evaluates it: bucket policies and
 * identity (user) policies. Parsing refuses what S3 refuses, with S3's MalformedPolicy messages;
 * evaluation says whether a policy explicitly allows or denies a request, or says nothing.
 */
import { S3Error } from '../errors.js'
import {
  compileTemplate, evaluateCondition, globMatch, isIpOperator, isValidConditionKey, normalizeKey,
  parseCidr, parseConditionType, wildcardMatch
} from './policy-conditions.js'
import type { ContextLookup, PolicyCondition } from './policy-conditions.js'

export type { PolicyCondition } from './policy-conditions.js'

/** Every action name S3 defines for IAM (Service Authorization Reference), without the `s3:` prefix. */
export const S3_ACTIONS: readonly string[] = `
  AbortMultipartUpload AssociateAccessGrantsIdentityCenter BypassGovernanceRetention CreateAccessGrant
  CreateAccessGrantsInstance CreateAccessGrantsLocation CreateAccessPoint CreateAccessPointForObjectLambda
  CreateBucket CreateBucketMetadataConfiguration CreateBucketMetadataTableConfiguration CreateJob
  CreateMultiRegionAccessPoint CreateStorageLensGroup DeleteAccessGrant DeleteAccessGrantsInstance
  DeleteAccessGrantsInstanceResourcePolicy DeleteAccessGrantsLocation DeleteAccessPoint
  DeleteAccessPointForObjectLambda DeleteAccessPointPolicy DeleteAccessPointPolicyForObjectLambda
  DeleteAccessPointScope DeleteBucket DeleteBucketMetadataConfiguration DeleteBucketMetadataTableConfiguration
  DeleteBucketPolicy DeleteBucketWebsite DeleteJobTagging DeleteMultiRegionAccessPoint DeleteObject
  DeleteObjectTagging DeleteObjectVersion DeleteObjectVersionTagging DeleteStorageLensConfiguration
  DeleteStorageLensConfigurationTagging DeleteStorageLensGroup DescribeJob DescribeMultiRegionAccessPointOperation
  DissociateAccessGrantsIdentityCenter GetAccelerateConfiguration GetAccessGrant GetAccessGrantsInstance
  GetAccessGrantsInstanceForPrefix GetAccessGrantsInstanceResourcePolicy GetAccessGrantsLocation GetAccessPoint
  GetAccessPointConfigurationForObjectLambda GetAccessPointForObjectLambda GetAccessPointPolicy
  GetAccessPointPolicyForObjectLambda GetAccessPointPolicyStatus GetAccessPointPolicyStatusForObjectLambda
  GetAccessPointScope GetAccountPublicAccessBlock GetAnalyticsConfiguration GetBucketAcl GetBucketCORS
  GetBucketLocation GetBucketLogging GetBucketMetadataConfiguration GetBucketMetadataTableConfiguration
  GetBucketNotification GetBucketObjectLockConfiguration GetBucketOwnershipControls GetBucketPolicy
  GetBucketPolicyStatus GetBucketPublicAccessBlock GetBucketRequestPayment GetBucketTagging GetBucketVersioning
  GetBucketWebsite GetDataAccess GetEncryptionConfiguration GetIntelligentTieringConfiguration
  GetInventoryConfiguration GetJobTagging GetLifecycleConfiguration GetMetricsConfiguration
  GetMultiRegionAccessPoint GetMultiRegionAccessPointPolicy GetMultiRegionAccessPointPolicyStatus
  GetMultiRegionAccessPointRoutes GetObject GetObjectAcl GetObjectAttributes GetObjectLegalHold
  GetObjectRetention GetObjectTagging GetObjectTorrent GetObjectVersion GetObjectVersionAcl
  GetObjectVersionAttributes GetObjectVersionForReplication GetObjectVersionTagging GetObjectVersionTorrent
  GetReplicationConfiguration GetStorageLensConfiguration GetStorageLensConfigurationTagging
  GetStorageLensDashboard GetStorageLensGroup InitiateReplication ListAccessGrants ListAccessGrantsInstances
  ListAccessGrantsLocations ListAccessPoints ListAccessPointsForDirectoryBuckets ListAccessPointsForObjectLambda
  ListAllMyBuckets ListBucket ListBucketMultipartUploads ListBucketVersions ListCallerAccessGrants ListJobs
  ListMultiRegionAccessPoints ListMultipartUploadParts ListStorageLensConfigurations ListStorageLensGroups
  ListTagsForResource ObjectOwnerOverrideToBucketOwner PauseReplication PutAccelerateConfiguration
  PutAccessGrantsInstanceResourcePolicy PutAccessPointConfigurationForObjectLambda PutAccessPointPolicy
  PutAccessPointPolicyForObjectLambda PutAccessPointPublicAccessBlock PutAccessPointScope
  PutAccountPublicAccessBlock PutAnalyticsConfiguration PutBucketAcl PutBucketCORS PutBucketLogging
  PutBucketNotification PutBucketObjectLockConfiguration PutBucketOwnershipControls PutBucketPolicy
  PutBucketPublicAccessBlock PutBucketRequestPayment PutBucketTagging PutBucketVersioning PutBucketWebsite
  PutEncryptionConfiguration PutIntelligentTieringConfiguration PutInventoryConfiguration PutJobTagging
  PutLifecycleConfiguration PutMetricsConfiguration PutMultiRegionAccessPointPolicy PutObject PutObjectAcl
  PutObjectLegalHold PutObjectRetention PutObjectTagging PutObjectVersionAcl PutObjectVersionTagging
  PutReplicationConfiguration PutStorageLensConfiguration PutStorageLensConfigurationTagging ReplicateDelete
  ReplicateObject ReplicateTags RestoreObject SubmitMultiRegionAccessPointRoutes TagResource UntagResource
  UpdateAccessGrantsLocation UpdateBucketMetadataInventoryTableConfiguration
  UpdateBucketMetadataJournalTableConfiguration UpdateJobPriority UpdateJobStatus UpdateStorageLensGroup
`.trim().split(/\s+/)

const ACTIONS = S3_ACTIONS.map(name => 's3:' + name.toLowerCase())

/** S3: "Bucket policies are limited to 20 KB in size", counted on the normalised (compact) document. */
export const MAX_POLICY_BYTES = 20480

const NOT_JSON = 'Policies must be valid JSON and the first byte must be \'{\''
const SYNTAX = 'Invalid policy syntax.'
const INVALID_PRINCIPAL = 'Invalid principal in policy'
const TOP_FIELDS = new Set(['Version', 'Id', 'Statement'])
const STATEMENT_FIELDS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition'])

/** `Principal` (or `NotPrincipal`) of a statement, by type. */
export interface PrincipalSet {
  /** `"*"` or `{"AWS": "*"}`: everyone, anonymous requests included. */
  everyone: boolean
  aws: string[]
  canonicalUser: string[]
  /** Service principals, accepted as S3 accepts them; no request of this gateway is one. */
  service: string[]
}

export interface PolicyStatement {
  sid?: string
  effect: 'Allow' | 'Deny'
  /** Absent in identity policies, whose statements apply to whoever holds the policy. */
  principal?: PrincipalSet
  /** `principal` came from `NotPrincipal`: the statement applies to everyone else. */
  notPrincipal: boolean
  /** Action patterns, lower-case. */
  actions: string[]
  notAction: boolean
  /** Resource patterns as written (ARNs compare case-sensitively). */
  resources: string[]
  notResource: boolean
  /** All must hold for the statement to apply. */
  conditions: PolicyCondition[]
}

export interface Policy {
  /** The document as given (returned verbatim by GetBucketPolicy). */
  text: string
  /** '2008-10-17', the default, treats `${...}` as text; '2012-10-17' expands policy variables. */
  version: '2008-10-17' | '2012-10-17'
  id?: string
  statements: PolicyStatement[]
}

export interface ParsePolicyOptions {
  /**
   * 'bucket': a bucket policy (Principal required; every Resource in `bucket`, as
   * `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/...`, so a wildcard in the bucket name, or `*`,
   * is "Policy has invalid resource"). 'identity': a user policy (no Principal; any ARN or `*`).
   */
  kind: 'bucket' | 'identity'
  bucket?: string
}

export interface RequestFacts {
  /** The authenticated principal id (a user name such as 'alice'); undefined for anonymous requests. */
  principal?: string
  /** e.g. 's3:GetObject' (case-insensitive match against policy actions). */
  action: string
  /** 'arn:aws:s3:::bucket' or 'arn:aws:s3:::bucket/key'; '*' for ListAllMyBuckets. */
  resource: string
  /**
   * Condition keys with lower-case names ('aws:sourceip', 'aws:securetransport' = 'true'|'false',
   * 's3:prefix', 's3:existingobjecttag/<TagKey>' whose tag key keeps its case, ...). A key absent,
   * or present with the value undefined, is missing from the request. Multi-valued keys are arrays.
   * 'aws:username', 'aws:userid' and 'aws:principaltype' default from `principal` ('anonymous' /
   * 'Anonymous' without one); 'aws:epochtime' and 'aws:currenttime' are derived from each other.
   */
  context: Record<string, string | string[] | undefined>
}

export type Decision = 'Allow' | 'Deny' | 'NoMatch'

/** No policy needs more: deeper documents are refused before parsing (recursion would overflow). */
const MAX_NESTING = 32

/** The deepest nesting of arrays and objects in JSON text (strings skipped). */
function nestingDepth (text: string): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    }
  }
  return max
}

function malformed (message: string): S3Error {
  return new S3Error('MalformedPolicy', message)
}

function isObject (value: unknown): value is Record<string, unknown> {
  return value != null && typeof value === 'object' && !Array.isArray(value)
}

function has (object: Record<string, unknown>, name: string): boolean {
  return Object.hasOwn(object, name)
}

/** The first member name that an object of `text` (valid JSON) holds twice, if any. */
function duplicateName (text: string): string | undefined {
  const stack: Array<Set<string> | null> = []
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '{') stack.push(new Set())
    else if (c === '[') stack.push(null)
    else if (c === '}' || c === ']') stack.pop()
    else if (c === '"') {
      let end = i + 1
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1
      let next = end + 1
      while (' \t\n\r'.includes(text[next])) next++
      const names = stack[stack.length - 1]
      if (names != null && text[next] === ':') {
        const name = JSON.parse(text.slice(i, end + 1)) as string
        if (names.has(name)) return name
        names.add(name)
      }
      i = end
    }
  }
  return undefined
}

function readDocument (text: string): Record<string, unknown> {
  if (!/^[ \t\n\r]*\{/.test(text)) throw malformed(NOT_JSON)
  let document: unknown
  try {
    if (nestingDepth(text) > MAX_NESTING) throw malformed(SYNTAX)
    document = JSON.parse(text)
  } catch (err) {
    if ((err as { name?: string }).name === 'S3Error') throw err
    throw malformed(NOT_JSON)
  }
  if (Buffer.byteLength(JSON.stringify(document)) > MAX_POLICY_BYTES) {
    throw malformed(`Normalized policy document exceeds the maximum allowed size of ${MAX_POLICY_BYTES} bytes`)
  }
  const twice = duplicateName(text)
  if (twice != null) throw malformed(`Statement/policy already has instance of ${twice}`)
  return document as Record<string, unknown>
}

/** Throws S3Error('MalformedPolicy', <S3's message>) for anything S3 would refuse. */
export function parsePolicy (text: string, options: ParsePolicyOptions): Policy {
  if (options.kind === 'bucket' && (options.bucket == null || options.bucket === '')) {
    throw new TypeError('parsePolicy: a bucket policy needs options.bucket')
  }
  const document = readDocument(text)
  for (const name of Object.keys(document)) {
    if (!TOP_FIELDS.has(name)) throw malformed(`Unknown field ${name}`)
  }
  const version = has(document, 'Version') ? document.Version : '2008-10-17'
  if (version !== '2008-10-17' && version !== '2012-10-17') throw malformed('The policy must contain a valid version string')
  if (has(document, 'Id') && typeof document.Id !== 'string') throw malformed(SYNTAX)
  const statement = document.Statement
  if (statement === undefined) throw malformed('Missing required field Statement')
  if (Array.isArray(statement) && statement.length === 0) throw malformed('Could not parse the policy: Statement is empty!')
  if (!Array.isArray(statement) && !isObject(statement)) throw malformed(SYNTAX)
  const statements = (Array.isArray(statement) ? statement : [statement]).map(s => parseStatement(s, options))
  return { text, version, ...(typeof document.Id === 'string' ? { id: document.Id } : {}), statements }
}

/** An element taking one string or a list of them. */
function strings (value: unknown, field: string): string[] {
  if (value === undefined) throw malformed(`Missing required field ${field}`)
  if (typeof value === 'string') return [value]
  if (!Array.isArray(value)) throw malformed(SYNTAX)
  if (value.length === 0) throw malformed(`Missing required field ${field} cannot be empty!`)
  if (!value.every(v => typeof v === 'string')) throw malformed(SYNTAX)
  return value as string[]
}

function parseStatement (raw: unknown, options: ParsePolicyOptions): PolicyStatement {
  if (!isObject(raw)) throw malformed(SYNTAX)
  for (const name of Object.keys(raw)) {
    if (!STATEMENT_FIELDS.has(name)) throw malformed(`Unknown field ${name}`)
  }
  for (const field of ['Principal', 'Action', 'Resource']) {
    if (has(raw, field) && has(raw, 'Not' + field)) throw malformed(`Statement/policy already has instance of ${field}`)
  }
  if (has(raw, 'Sid') && typeof raw.Sid !== 'string') throw malformed(SYNTAX)
  if (!has(raw, 'Effect')) throw malformed('Missing required field Effect')
  const effect = raw.Effect
  if (effect !== 'Allow' && effect !== 'Deny') {
    throw malformed(`Invalid effect: ${typeof effect === 'object' ? JSON.stringify(effect) : String(effect)}`)
  }

  const notPrincipal = has(raw, 'NotPrincipal')
  let principal: PrincipalSet | undefined
  if (options.kind === 'identity') {
    if (notPrincipal || has(raw, 'Principal')) throw malformed('Policy document should not specify a principal.')
  } else {
    if (!notPrincipal && !has(raw, 'Principal')) throw malformed('Missing required field Principal')
    principal = parsePrincipal(notPrincipal ? raw.NotPrincipal : raw.Principal)
    // "NotPrincipal must be used with "Effect":"Deny"".
    if (notPrincipal && effect === 'Allow') throw malformed(INVALID_PRINCIPAL)
  }

  const notAction = has(raw, 'NotAction')
  const actions = strings(notAction ? raw.NotAction : raw.Action, 'Action').map(action => {
    const lower = action.toLowerCase()
    if (lower === '*') return lower
    if (!/^s3:[a-z0-9*?]+$/.test(lower) || !ACTIONS.some(known => wildcardMatch(lower, known))) {
      throw malformed('Policy has invalid action')
    }
    return lower
  })

  const notResource = has(raw, 'NotResource')
  const resources = strings(notResource ? raw.NotResource : raw.Resource, 'Resource')
  for (const resource of resources) {
    if (!validResource(resource, options)) throw malformed('Policy has invalid resource')
  }

  return {
    ...(typeof raw.Sid === 'string' ? { sid: raw.Sid } : {}),
    effect,
    ...(principal != null ? { principal } : {}),
    notPrincipal,
    actions,
    notAction,
    resources,
    notResource,
    conditions: parseConditions(raw.Condition)
  }
}

function validResource (resource: string, options: ParsePolicyOptions): boolean {
  if (options.kind === 'identity') return resource === '*' || /^arn:[^:]*:[^:]*:[^:]*:[^:]*:/.test(resource)
  const prefix = 'arn:aws:s3:::'
  if (!resource.startsWith(prefix)) return false
  const rest = resource.slice(prefix.length)
  const slash = rest.indexOf('/')
  return (slash < 0 ? rest : rest.slice(0, slash)) === options.bucket
}

function parsePrincipal (raw: unknown): PrincipalSet {
  const set: PrincipalSet = { everyone: false, aws: [], canonicalUser: [], service: [] }
  if (raw === '*') return { ...set, everyone: true }
  if (!isObject(raw) || Object.keys(raw).length === 0) throw malformed(INVALID_PRINCIPAL)
  for (const [type, value] of Object.entries(raw)) {
    const ids = typeof value === 'string' ? [value] : value
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every(id => typeof id === 'string' && id !== '')) {
      throw malformed(INVALID_PRINCIPAL)
    }
    for (const id of ids as string[]) {
      // "You cannot use a wildcard to match part of a principal name or ARN."
      if (type === 'AWS' && id === '*') set.everyone = true
      else if (type === 'AWS' && !id.includes('*')) set.aws.push(id)
      else if (type === 'CanonicalUser') set.canonicalUser.push(id)
      else if (type === 'Service' && !id.includes('*')) set.service.push(id)
      else throw malformed(INVALID_PRINCIPAL)
    }
  }
  return set
}

function parseConditions (raw: unknown): PolicyCondition[] {
  if (raw === undefined) return []
  if (!isObject(raw)) throw malformed(SYNTAX)
  const conditions: PolicyCondition[] = []
  for (const [type, block] of Object.entries(raw)) {
    const parsed = parseConditionType(type)
    if (parsed == null) throw malformed(`Invalid Condition type : ${type}`)
    if (!isObject(block)) throw malformed(SYNTAX)
    for (const [key, value] of Object.entries(block)) {
      if (!isValidConditionKey(key)) throw malformed('Policy has an invalid condition key')
      const list = Array.isArray(value) ? value : [value]
      if (list.length === 0 || !list.every(v => ['string', 'number', 'boolean'].includes(typeof v))) throw malformed(SYNTAX)
      const values = list.map(v => String(v))
      if (isIpOperator(parsed.operator) && !values.every(v => parseCidr(v) != null)) {
        throw malformed('Invalid IP address in Conditions')
      }
      conditions.push({ type, ...parsed, key: normalizeKey(key), values })
    }
  }
  return conditions
}

// ---- evaluation ---------------------------------------------------------------------------

/** Whether `principal` (undefined: anonymous) is one of `set`; anonymous matches only everyone. */
export function principalMatches (set: PrincipalSet, principal: string | undefined): boolean {
  if (set.everyone) return true
  if (principal == null) return false
  return set.canonicalUser.includes(principal) || set.aws.some(id => {
    const arn = /^arn:[^:]+:iam::([^:]*):(.+)$/.exec(id)
    if (arn == null) return id === principal
    if (arn[2] === 'root') return arn[1] === principal
    if (!arn[2].startsWith('user/')) return false
    const name = arn[2].slice('user/'.length)
    return name === principal || name.slice(name.lastIndexOf('/') + 1) === principal
  })
}

function contextLookup (facts: RequestFacts): ContextLookup {
  const values = new Map<string, string | string[]>()
  if (facts.principal != null) values.set('aws:username', facts.principal)
  values.set('aws:userid', facts.principal ?? 'anonymous')
  values.set('aws:principaltype', facts.principal != null ? 'User' : 'Anonymous')
  for (const [key, value] of Object.entries(facts.context)) {
    if (value === undefined) values.delete(normalizeKey(key))
    else values.set(normalizeKey(key), value)
  }
  const current = values.get('aws:currenttime')
  const epoch = values.get('aws:epochtime')
  if (typeof current === 'string' && epoch === undefined && !Number.isNaN(Date.parse(current))) {
    values.set('aws:epochtime', String(Math.floor(Date.parse(current) / 1000)))
  } else if (typeof epoch === 'string' && current === undefined && /^\d+$/.test(epoch)) {
    values.set('aws:currenttime', new Date(Number(epoch) * 1000).toISOString().replace(/\.000Z$/, 'Z'))
  }
  return key => values.get(key)
}

function resourceMatches (pattern: string, resource: string, lookup: ContextLookup | undefined): boolean {
  // ListAllMyBuckets names no bucket: only a pattern covering every S3 resource applies.
  if (resource === '*') return pattern === '*' || /^arn:(aws|\*):s3:::\*$/.test(pattern)
  const glob = compileTemplate(pattern, lookup, true)
  return glob != null && globMatch(glob, resource)
}

function applies (statement: PolicyStatement, facts: RequestFacts, lookup: ContextLookup, variables: boolean): boolean {
  if (statement.principal != null && principalMatches(statement.principal, facts.principal) === statement.notPrincipal) return false
  const action = facts.action.toLowerCase()
  if (statement.actions.some(p => wildcardMatch(p, action)) === statement.notAction) return false
  const expand = variables ? lookup : undefined
  if (statement.resources.some(p => resourceMatches(p, facts.resource, expand)) === statement.notResource) return false
  return statement.conditions.every(c => evaluateCondition(c, lookup, variables))
}

/** Explicit Deny wins over Allow; no statement applying = 'NoMatch'. */
export function evaluatePolicy (policy: Policy, facts: RequestFacts): Decision {
  const lookup = contextLookup(facts)
  const variables = policy.version === '2012-10-17'
  let allowed = false
  for (const statement of policy.statements) {
    if (!applies(statement, facts, lookup, variables)) continue
    if (statement.effect === 'Deny') return 'Deny'
    allowed = true
  }
  return allowed ? 'Allow' : 'NoMatch'
}

// ---- "public" -----------------------------------------------------------------------------

/** The keys S3 counts as confining a grant to everyone, when held to fixed values. */
const PINNING_KEYS = new Set([
  'aws:sourcearn', 'aws:sourcevpc', 'aws:sourcevpce', 'aws:sourceowner', 'aws:sourceaccount',
  'aws:principalorgid', 'aws:principalaccount', 'aws:principalarn', 'aws:userid',
  's3:dataaccesspointarn', 's3:dataaccesspointaccount'
])
const PINNING_OPERATORS = new Set(['StringEquals', 'StringEqualsIgnoreCase', 'StringLike', 'ArnEquals', 'ArnLike'])

/** A condition that only requests with fixed values of a confining key can satisfy. */
function pinsToFixedValues (c: PolicyCondition): boolean {
  // A request without the key satisfies these, so they confine nothing.
  if (c.ifExists || c.set === 'ForAllValues') return false
  if (c.key === 'aws:sourceip') {
    return c.operator === 'IpAddress' && c.values.every(v => {
      const cidr = parseCidr(v)
      return cidr != null && cidr.prefix >= (cidr.v6 ? 32 : 8)
    })
  }
  return PINNING_KEYS.has(c.key) && PINNING_OPERATORS.has(c.operator) && c.values.every(v => !/[*?]|\$\{/.test(v))
}

/** True for `Principal: "*"` or `{"AWS": "*"}` (never for NotPrincipal): the anonymous-capable wildcard. */
export function isWildcardPrincipal (statement: PolicyStatement): boolean {
  return statement.principal?.everyone === true && !statement.notPrincipal
}

/** An Allow to everyone that no condition pins to fixed source/principal values. */
export function isPublicStatement (statement: PolicyStatement): boolean {
  return statement.effect === 'Allow' && isWildcardPrincipal(statement) && !statement.conditions.some(pinsToFixedValues)
}

/**
 * S3's "public" policy (Block Public Access: BlockPublicPolicy, RestrictPublicBuckets): S3 "begins
 * by assuming that the policy is public", and a grant to everyone is non-public only when a
 * condition holds it to fixed values (no wildcard, no policy variable) of aws:SourceIp (ranges no
 * wider than /8 for IPv4, /32 for IPv6), aws:SourceArn, aws:SourceVpc, aws:SourceVpce,
 * aws:SourceOwner, aws:SourceAccount, aws:PrincipalOrgID, aws:userid, s3:DataAccessPointArn, ...
 */
export function isPublicPolicy (policy: Policy): boolean {
  return policy.statements.some(isPublicStatement)
}
