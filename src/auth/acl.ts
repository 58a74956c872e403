import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { S3Error } from '../errors.js'
import { parseXml, type XmlNode } from '../xml/parse.js'
import { XmlText, escapeXml, renderXml } from '../xml/render.js'

/**
 * Access control lists as Amazon S3 has them: canned ACLs, the `x-amz-grant-*` headers, the
 * AccessControlPolicy document of Get/PutBucketAcl and Get/PutObjectAcl, and the check of a grant
 * against the sender of a request. Pure functions; who exists and who owns what is the caller's.
 */

export type Permission = 'READ' | 'WRITE' | 'READ_ACP' | 'WRITE_ACP' | 'FULL_CONTROL'

export type Grantee =
  | { type: 'CanonicalUser', id: string, displayName?: string }
  | { type: 'Group', uri: string }

export interface Grant { grantee: Grantee, permission: Permission }

export interface Acl { owner: { id: string, displayName?: string }, grants: Grant[] }

export type AclTarget = 'bucket' | 'object'

type Principal = { id: string, displayName?: string }

export const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers'
export const AUTHENTICATED_USERS = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers'
export const LOG_DELIVERY = 'http://acs.amazonaws.com/groups/s3/LogDelivery'

const GROUPS = [ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY]
const PERMISSIONS: Permission[] = ['READ', 'WRITE', 'READ_ACP', 'WRITE_ACP', 'FULL_CONTROL']

/** The account S3 names in `aws-exec-read` (Amazon EC2 reading machine image bundles). */
const EC2_BUNDLE_READER = { id: '6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c', displayName: 'za-team' }

/** S3 keeps at most 100 grants in one ACL. */
const MAX_GRANTS = 100

const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance'
const MALFORMED_ACL = 'The XML you provided was not well-formed or did not validate against our published schema'

const GRANT_HEADERS: Array<[string, Permission]> = [
  ['x-amz-grant-read', 'READ'],
  ['x-amz-grant-write', 'WRITE'],
  ['x-amz-grant-read-acp', 'READ_ACP'],
  ['x-amz-grant-write-acp', 'WRITE_ACP'],
  ['x-amz-grant-full-control', 'FULL_CONTROL'],
]

function principal (p: Principal): Principal {
  return p.displayName === undefined || p.displayName === '' ? { id: p.id } : { id: p.id, displayName: p.displayName }
}

function user (p: Principal): Grantee {
  return { type: 'CanonicalUser', ...principal(p) }
}

function group (uri: string): Grantee {
  return { type: 'Group', uri }
}

function sameGrantee (a: Grantee, b: Grantee): boolean {
  return a.type === 'CanonicalUser' ? b.type === 'CanonicalUser' && a.id === b.id : b.type === 'Group' && a.uri === b.uri
}

/** Drops exact repeats (same grantee, same permission), keeping the first; refuses more than S3 keeps. */
function finish (owner: Principal, grants: Grant[]): Acl {
  const out: Grant[] = []
  for (const g of grants) {
    if (!out.some(o => o.permission === g.permission && sameGrantee(o.grantee, g.grantee))) out.push(g)
  }
  if (out.length > MAX_GRANTS) throw new S3Error('MalformedACLError', `An ACL can have at most ${MAX_GRANTS} grants.`)
  return { owner: principal(owner), grants: out }
}

const CANNED = new Set(['private', 'public-read', 'public-read-write', 'authenticated-read', 'aws-exec-read',
  'bucket-owner-read', 'bucket-owner-full-control', 'log-delivery-write'])

/**
 * The ACL a canned name stands for. The owner always gets FULL_CONTROL.
 *
 * - `bucket-owner-read` / `bucket-owner-full-control` on an object add READ / FULL_CONTROL for
 *   `bucketOwner` when it differs from `owner` (absent `bucketOwner` = same as the owner). On a
 *   bucket S3 accepts and ignores them: the result is `private`.
 * - `log-delivery-write` applies to buckets only (LogDelivery gets WRITE and READ_ACP); on an object
 *   it is InvalidArgument.
 * - Unknown names (names are case-sensitive) are InvalidArgument with an empty message, as S3 sends.
 */
export function cannedAcl (name: string, target: AclTarget, owner: Principal, bucketOwner?: Principal): Acl {
  if (!CANNED.has(name) || (target === 'object' && name === 'log-delivery-write')) {
    throw new S3Error('InvalidArgument', '', { ArgumentName: 'x-amz-acl', ArgumentValue: name })
  }
  // Listed as Ceph RGW lists canned grants (code written against it indexes into them): group
  // grants first, other accounts next, the owner's FULL_CONTROL last.
  const grants: Grant[] = []
  const other = target === 'object' && bucketOwner !== undefined && bucketOwner.id !== owner.id ? bucketOwner : undefined
  switch (name) {
    case 'public-read':
      grants.push({ grantee: group(ALL_USERS), permission: 'READ' })
      break
    case 'public-read-write':
      grants.push({ grantee: group(ALL_USERS), permission: 'READ' }, { grantee: group(ALL_USERS), permission: 'WRITE' })
      break
    case 'authenticated-read':
      grants.push({ grantee: group(AUTHENTICATED_USERS), permission: 'READ' })
      break
    case 'aws-exec-read':
      grants.push({ grantee: user(EC2_BUNDLE_READER), permission: 'READ' })
      break
    case 'log-delivery-write':
      grants.push({ grantee: group(LOG_DELIVERY), permission: 'WRITE' }, { grantee: group(LOG_DELIVERY), permission: 'READ_ACP' })
      break
    case 'bucket-owner-read':
      if (other !== undefined) grants.push({ grantee: user(other), permission: 'READ' })
      break
    case 'bucket-owner-full-control':
      if (other !== undefined) grants.push({ grantee: user(other), permission: 'FULL_CONTROL' })
      break
  }
  grants.push({ grantee: user(owner), permission: 'FULL_CONTROL' })
  return finish(owner, grants)
}

/** Resolves a canonical-user id to a grantee (with the display names this module knows), or throws. */
function resolveId (id: string, known: Principal[], knownPrincipal: (id: string) => boolean): Grantee {
  const match = known.find(p => p.id === id)
  if (match !== undefined) return user(match)
  if (id === EC2_BUNDLE_READER.id) return user(EC2_BUNDLE_READER)
  if (id === '' || !knownPrincipal(id)) {
    throw new S3Error('InvalidArgument', 'Invalid id', { ArgumentName: 'CanonicalUser/ID', ArgumentValue: id })
  }
  return { type: 'CanonicalUser', id }
}

function resolveUri (uri: string): Grantee {
  if (!GROUPS.includes(uri)) throw new S3Error('InvalidArgument', 'Invalid group uri', { ArgumentName: 'Group/URI', ArgumentValue: uri })
  return group(uri)
}

function unresolvableEmail (email: string): S3Error {
  return new S3Error('UnresolvableGrantByEmailAddress', 'The e-mail address you provided does not match any account on record.', { EmailAddress: email })
}

// One `type=value` or `type="value"` item of a grant header, with the comma or end after it.
const GRANT_ITEM = /\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^",]*))\s*(,|$)/y

function parseGrantHeader (name: string, value: string): Array<{ kind: string, value: string }> {
  const bad = (): S3Error => new S3Error('InvalidArgument', 'Argument format not recognized', { ArgumentName: name, ArgumentValue: value })
  const items: Array<{ kind: string, value: string }> = []
  GRANT_ITEM.lastIndex = 0
  while (true) {
    const m = GRANT_ITEM.exec(value)
    if (m === null) throw bad()
    const v = (m[2] ?? m[3]).trim()
    if (v === '') throw bad()
    items.push({ kind: m[1].toLowerCase(), value: v })
    if (m[4] === '') break
  }
  return items
}

/**
 * The ACL a request's headers ask for (header names lower-case): `x-amz-acl` (see cannedAcl) or the
 * `x-amz-grant-*` headers; undefined when neither is present.
 *
 * Grant headers hold comma-separated `id=…`, `uri=…` or `emailAddress=…` items, values optionally
 * double-quoted; the ACL then holds exactly those grants (the owner gets no implicit grant, as in
 * S3). Errors: both kinds of header → InvalidRequest; a malformed item or an unknown `uri` →
 * InvalidArgument; an id that is not the owner, the bucket owner or `knownPrincipal` →
 * InvalidArgument "Invalid id"; any emailAddress → UnresolvableGrantByEmailAddress.
 */
export function aclFromHeaders (headers: Record<string, string>, target: AclTarget, owner: Principal,
  bucketOwner: Principal | undefined, knownPrincipal: (id: string) => boolean): Acl | undefined {
  const canned = headers['x-amz-acl']
  const present = GRANT_HEADERS.filter(([name]) => headers[name] !== undefined)
  if (canned !== undefined && present.length > 0) {
    throw new S3Error('InvalidRequest', 'Specifying both Canned ACLs and Header Grants is not allowed')
  }
  if (canned !== undefined) return cannedAcl(canned, target, owner, bucketOwner)
  if (present.length === 0) return undefined
  const known = bucketOwner === undefined ? [owner] : [owner, bucketOwner]
  const grants: Grant[] = []
  for (const [name, permission] of present) {
    for (const item of parseGrantHeader(name, headers[name])) {
      if (item.kind === 'id') grants.push({ grantee: resolveId(item.value, known, knownPrincipal), permission })
      else if (item.kind === 'uri') grants.push({ grantee: resolveUri(item.value), permission })
      else if (item.kind === 'emailaddress') throw unresolvableEmail(item.value)
      else throw new S3Error('InvalidArgument', 'Argument format not recognized', { ArgumentName: name, ArgumentValue: headers[name] })
    }
  }
  return finish(owner, grants)
}

// parseXml ignores attributes; the Grantee's xsi:type needs them. parseXml still runs first, for its
// size, DOCTYPE and entity checks; this parser only reads the text it accepted.
const attributeParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: true,
  isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
})

function malformedAcl (): S3Error {
  return new S3Error('MalformedACLError', MALFORMED_ACL)
}

/** The element children of a node, by name; anything but whitespace text or listed names is malformed. */
function elements (node: XmlNode | string, allowed: string[]): Record<string, Array<XmlNode | string>> {
  if (typeof node === 'string') {
    if (node.trim() !== '') throw malformedAcl()
    return {}
  }
  const out: Record<string, Array<XmlNode | string>> = {}
  for (const [name, value] of Object.entries(node)) {
    if (name.startsWith('@')) continue
    if (name === '#text') {
      if (String(value).trim() !== '') throw malformedAcl()
      continue
    }
    if (!allowed.includes(name) || !Array.isArray(value)) throw malformedAcl()
    out[name] = value as Array<XmlNode | string>
  }
  return out
}

/** The trimmed text of an optional single child; repeated or nested → MalformedACLError. */
function text (list: Array<XmlNode | string> | undefined): string | undefined {
  if (list === undefined) return undefined
  if (list.length !== 1) throw malformedAcl()
  const v = list[0]
  if (typeof v === 'string') return v.trim()
  for (const name of Object.keys(v)) if (name !== '#text' && !name.startsWith('@')) throw malformedAcl()
  return String(v['#text'] ?? '').trim()
}

function readPolicy (body: Uint8Array): XmlNode | string {
  try {
    parseXml(body, 'AccessControlPolicy')
  } catch (err) {
    // Well-formed XML with another root element is an ACL problem, not an XML one.
    const t = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')
    if (t.trim() !== '' && !/<!DOCTYPE|<!ENTITY/i.test(t) && XMLValidator.validate(t) === true) throw malformedAcl()
    throw err
  }
  const doc = attributeParser.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as Record<string, unknown>
  return (doc.AccessControlPolicy as Array<XmlNode | string>)[0]
}

function parseGrantee (node: XmlNode | string, owner: Principal, knownPrincipal: (id: string) => boolean): Grantee {
  const parts = elements(node, ['ID', 'DisplayName', 'URI', 'EmailAddress'])
  const declared = typeof node === 'string' ? undefined : node['@type']
  const id = text(parts.ID)
  const uri = text(parts.URI)
  const email = text(parts.EmailAddress)
  const given = [id, uri, email].filter(v => v !== undefined).length
  // The xsi:type S3 requires says which child names the grantee; without one, the single child does.
  const type = typeof declared === 'string'
    ? declared
    : given !== 1 ? undefined : id !== undefined ? 'CanonicalUser' : uri !== undefined ? 'Group' : 'AmazonCustomerByEmail'
  if (type === 'CanonicalUser' && id !== undefined && uri === undefined && email === undefined) {
    const grantee = resolveId(id, [owner], knownPrincipal)
    const displayName = text(parts.DisplayName)
    if (grantee.type === 'CanonicalUser' && grantee.displayName === undefined && displayName !== undefined && displayName !== '') {
      return { ...grantee, displayName }
    }
    return grantee
  }
  if (type === 'Group' && uri !== undefined && id === undefined && email === undefined) return resolveUri(uri)
  if (type === 'AmazonCustomerByEmail' && email !== undefined && id === undefined && uri === undefined) throw unresolvableEmail(email)
  throw malformedAcl()
}

/**
 * The body of PutBucketAcl / PutObjectAcl. Not XML → MalformedXML; XML that is not an
 * AccessControlPolicy with one Owner/ID and an AccessControlList of Grant (Grantee + Permission)
 * → MalformedACLError; an Owner ID other than `expectedOwner.id` → AccessDenied (an ACL cannot
 * change the owner); unknown grantee id or group uri → InvalidArgument; an AmazonCustomerByEmail
 * grantee → UnresolvableGrantByEmailAddress.
 *
 * The returned owner is `expectedOwner` (its display name, not the body's). A grantee's DisplayName is
 * the known one for the owner, else the body's. An empty AccessControlList is allowed (S3 keeps it;
 * the owner still has READ_ACP/WRITE_ACP, see aclAllows).
 */
export function parseAccessControlPolicy (body: Uint8Array, expectedOwner: Principal, knownPrincipal: (id: string) => boolean): Acl {
  const root = readPolicy(body)
  const parts = elements(root, ['Owner', 'AccessControlList'])
  if (parts.Owner?.length !== 1 || parts.AccessControlList?.length !== 1) throw malformedAcl()
  const ownerId = text(elements(parts.Owner[0], ['ID', 'DisplayName']).ID)
  if (ownerId === undefined || ownerId === '') throw malformedAcl()
  if (ownerId !== expectedOwner.id) throw new S3Error('AccessDenied')
  const list = elements(parts.AccessControlList[0], ['Grant'])
  const grants: Grant[] = []
  for (const node of list.Grant ?? []) {
    const g = elements(node, ['Grantee', 'Permission'])
    if (g.Grantee?.length !== 1) throw malformedAcl()
    const permission = text(g.Permission) as Permission | undefined
    if (permission === undefined || !PERMISSIONS.includes(permission)) throw malformedAcl()
    grants.push({ grantee: parseGrantee(g.Grantee[0], expectedOwner, knownPrincipal), permission })
  }
  return finish(expectedOwner, grants)
}

/** An account's display name; one without a known name is shown by its id (every grantee is complete). */
function displayName (p: Principal): string {
  return p.displayName === undefined || p.displayName === '' ? p.id : p.displayName
}

/** The GetBucketAcl / GetObjectAcl document: S3 namespace, and xmlns:xsi + xsi:type on each Grantee. */
export function renderAccessControlPolicy (acl: Acl): Uint8Array {
  let grants = ''
  for (const { grantee, permission } of acl.grants) {
    grants += `<Grant><Grantee xmlns:xsi="${XSI_NS}" xsi:type="${grantee.type}">`
    grants += grantee.type === 'CanonicalUser'
      ? `<ID>${escapeXml(grantee.id)}</ID><DisplayName>${escapeXml(displayName(grantee))}</DisplayName>`
      : `<URI>${escapeXml(grantee.uri)}</URI>`
    grants += `</Grantee><Permission>${permission}</Permission></Grant>`
  }
  return renderXml('AccessControlPolicy', {
    Owner: { ID: acl.owner.id, DisplayName: displayName(acl.owner) },
    AccessControlList: new XmlText(grants),
  })
}

function granteeMatches (grantee: Grantee, who: string | undefined, ignorePublic: boolean): boolean {
  if (grantee.type === 'CanonicalUser') return who !== undefined && grantee.id === who
  if (ignorePublic) return false
  return grantee.uri === ALL_USERS || (grantee.uri === AUTHENTICATED_USERS && who !== undefined)
}

/**
 * Whether the ACL gives `permission` to the requester (`principal` = its canonical id; undefined =
 * anonymous). FULL_CONTROL implies every permission. Anonymous requesters match AllUsers grants only;
 * authenticated ones also their own id and AuthenticatedUsers. LogDelivery grants match nobody here.
 * `ignorePublic` drops AllUsers and AuthenticatedUsers grants (IgnorePublicAcls).
 *
 * As in S3, the ACL's owner always has READ_ACP and WRITE_ACP, whatever the grants say; the owner
 * needs a grant for READ and WRITE like anyone else.
 */
export function aclAllows (acl: Acl, principal: string | undefined, permission: Exclude<Permission, 'FULL_CONTROL'>,
  options: { ignorePublic?: boolean } = {}): boolean {
  if (principal !== undefined && principal === acl.owner.id && (permission === 'READ_ACP' || permission === 'WRITE_ACP')) return true
  const ignorePublic = options.ignorePublic === true
  return acl.grants.some(g => (g.permission === permission || g.permission === 'FULL_CONTROL') &&
    granteeMatches(g.grantee, principal, ignorePublic))
}

/** True when some grant goes to AllUsers or AuthenticatedUsers (BlockPublicAcls refuses such ACLs). */
export function isPublicAcl (acl: Acl): boolean {
  return acl.grants.some(g => g.grantee.type === 'Group' && (g.grantee.uri === ALL_USERS || g.grantee.uri === AUTHENTICATED_USERS))
}

/** JSON text for a metadata store. Only the Acl fields are kept. */
export function toStoredAcl (acl: Acl): string {
  return JSON.stringify({
    owner: principal(acl.owner),
    grants: acl.grants.map(g => ({ grantee: g.grantee.type === 'Group' ? group(g.grantee.uri) : user(g.grantee), permission: g.permission })),
  })
}

/** Back from toStoredAcl; undefined stays undefined. Text that is not a stored ACL throws a TypeError. */
export function fromStoredAcl (text: string | undefined): Acl | undefined {
  if (text === undefined) return undefined
  const corrupt = (): TypeError => new TypeError('Stored ACL is not valid')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw corrupt()
  }
  const isPrincipal = (p: unknown): p is Principal => typeof p === 'object' && p !== null &&
    typeof (p as Principal).id === 'string' && ['string', 'undefined'].includes(typeof (p as Principal).displayName)
  const v = value as { owner?: unknown, grants?: unknown }
  if (typeof v !== 'object' || v === null || !isPrincipal(v.owner) || !Array.isArray(v.grants)) throw corrupt()
  const grants = v.grants.map((g: { grantee?: { type?: unknown, uri?: unknown }, permission?: unknown }): Grant => {
    if (typeof g !== 'object' || g === null || !PERMISSIONS.includes(g.permission as Permission)) throw corrupt()
    const grantee = g.grantee
    if (grantee?.type === 'Group' && typeof grantee.uri === 'string') return { grantee: group(grantee.uri), permission: g.permission as Permission }
    if (grantee?.type === 'CanonicalUser' && isPrincipal(grantee)) return { grantee: user(grantee), permission: g.permission as Permission }
    throw corrupt()
  })
  return { owner: principal(v.owner), grants }
}

// S3's "Mapping of ACL permissions and access policy permissions", keyed by action without "s3:".
const BUCKET_ACTIONS: Record<string, Exclude<Permission, 'FULL_CONTROL'>> = {
  ListBucket: 'READ',
  ListBucketVersions: 'READ',
  ListBucketMultipartUploads: 'READ',
  PutObject: 'WRITE',
  DeleteObject: 'WRITE',
  GetBucketAcl: 'READ_ACP',
  PutBucketAcl: 'WRITE_ACP',
}
const OBJECT_ACTIONS: Record<string, Exclude<Permission, 'FULL_CONTROL'>> = {
  GetObject: 'READ',
  GetObjectVersion: 'READ',
  GetObjectTorrent: 'READ',
  // GetObjectAttributes: S3 documents that READ access to the object is enough.
  GetObjectAttributes: 'READ',
  GetObjectVersionAttributes: 'READ',
  GetObjectAcl: 'READ_ACP',
  GetObjectVersionAcl: 'READ_ACP',
  PutObjectAcl: 'WRITE_ACP',
  PutObjectVersionAcl: 'WRITE_ACP',
}

/**
 * The ACL permission (of the bucket's ACL for `bucket`, the object's for `object`) that grants an
 * IAM-style action (`s3:ListBucket`; the `s3:` prefix is optional). Undefined when that ACL grants
 * nothing for the action: only the owner or a policy can (tagging, versioning, policies, ...).
 * s3:DeleteObjectVersion is undefined too: S3 lets a bucket WRITE grant cover it for the bucket
 * owner only, so callers handle it with the owner. An object ACL's WRITE grants nothing.
 */
export function aclPermissionFor (action: string, target: AclTarget): Exclude<Permission, 'FULL_CONTROL'> | undefined {
  const name = action.replace(/^s3:/i, '')
  const table = target === 'bucket' ? BUCKET_ACTIONS : OBJECT_ACTIONS
  return Object.hasOwn(table, name) ? table[name] : undefined
}
