import test from 'ava'
import type { ExecutionContext } from 'ava'
import { XMLParser } from 'fast-xml-parser'
import {
  ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY, aclAllows, aclFromHeaders, aclPermissionFor, cannedAcl,
  fromStoredAcl, isPublicAcl, parseAccessControlPolicy, renderAccessControlPolicy, toStoredAcl,
} from '../src/auth/acl.js'
import type { Acl, Grant, Permission } from '../src/auth/acl.js'

type AclPermission = Exclude<Permission, 'FULL_CONTROL'> | undefined

const OWNER = { id: 'owner-id', displayName: 'owner' }
const BUCKET_OWNER = { id: 'bucket-owner-id', displayName: 'bucketowner' }
const EC2 = '6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c'
const KNOWN = new Set(['alice', 'bob'])
const known = (id: string): boolean => KNOWN.has(id)

const ownerFull: Grant = { grantee: { type: 'CanonicalUser', id: 'owner-id', displayName: 'owner' }, permission: 'FULL_CONTROL' }
const allUsers = (permission: Grant['permission']): Grant => ({ grantee: { type: 'Group', uri: ALL_USERS }, permission })
const xml = (s: string): Uint8Array => Buffer.from(s, 'utf8')
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8')

function throwsCode (t: ExecutionContext, fn: () => unknown, code: string, message?: string): void {
  const err = t.throws(fn, undefined, message) as { code?: string } | undefined
  t.is(err?.code, code, message)
}

function policy (grants: string, ownerId = 'owner-id'): Uint8Array {
  return xml('<?xml version="1.0" encoding="UTF-8"?><AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Owner><ID>${ownerId}</ID></Owner><AccessControlList>${grants}</AccessControlList></AccessControlPolicy>`)
}

function grant (grantee: string, permission: string, type?: string): string {
  const attrs = type === undefined ? '' : ` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="${type}"`
  return `<Grant><Grantee${attrs}>${grantee}</Grantee><Permission>${permission}</Permission></Grant>`
}

test('every canned ACL on a bucket, listed as Ceph RGW lists them (groups first, the owner last)', t => {
  const expected: Record<string, Grant[]> = {
    private: [ownerFull],
    'public-read': [allUsers('READ'), ownerFull],
    'public-read-write': [allUsers('READ'), allUsers('WRITE'), ownerFull],
    'authenticated-read': [{ grantee: { type: 'Group', uri: AUTHENTICATED_USERS }, permission: 'READ' }, ownerFull],
    'aws-exec-read': [{ grantee: { type: 'CanonicalUser', id: EC2, displayName: 'za-team' }, permission: 'READ' }, ownerFull],
    'log-delivery-write': [{ grantee: { type: 'Group', uri: LOG_DELIVERY }, permission: 'WRITE' },
      { grantee: { type: 'Group', uri: LOG_DELIVERY }, permission: 'READ_ACP' }, ownerFull],
    // S3 accepts these two on a bucket and ignores them.
    'bucket-owner-read': [ownerFull],
    'bucket-owner-full-control': [ownerFull],
  }
  for (const [name, grants] of Object.entries(expected)) {
    t.deepEqual(cannedAcl(name, 'bucket', OWNER, BUCKET_OWNER), { owner: OWNER, grants }, name)
  }
})

test('every canned ACL on an object, with the bucket owner ones', t => {
  const bucketOwner = (permission: Grant['permission']): Grant =>
    ({ grantee: { type: 'CanonicalUser', id: 'bucket-owner-id', displayName: 'bucketowner' }, permission })
  t.deepEqual(cannedAcl('private', 'object', OWNER, BUCKET_OWNER).grants, [ownerFull])
  t.deepEqual(cannedAcl('public-read', 'object', OWNER, BUCKET_OWNER).grants, [allUsers('READ'), ownerFull])
  t.deepEqual(cannedAcl('public-read-write', 'object', OWNER).grants, [allUsers('READ'), allUsers('WRITE'), ownerFull])
  t.deepEqual(cannedAcl('authenticated-read', 'object', OWNER).grants,
    [{ grantee: { type: 'Group', uri: AUTHENTICATED_USERS }, permission: 'READ' }, ownerFull])
  t.deepEqual(cannedAcl('aws-exec-read', 'object', OWNER).grants,
    [{ grantee: { type: 'CanonicalUser', id: EC2, displayName: 'za-team' }, permission: 'READ' }, ownerFull])
  t.deepEqual(cannedAcl('bucket-owner-read', 'object', OWNER, BUCKET_OWNER).grants, [bucketOwner('READ'), ownerFull])
  t.deepEqual(cannedAcl('bucket-owner-full-control', 'object', OWNER, BUCKET_OWNER).grants, [bucketOwner('FULL_CONTROL'), ownerFull])
  // The uploader owns the bucket too, or the bucket owner is not known: one grant, as S3 shows.
  t.deepEqual(cannedAcl('bucket-owner-full-control', 'object', OWNER, OWNER).grants, [ownerFull])
  t.deepEqual(cannedAcl('bucket-owner-read', 'object', OWNER).grants, [ownerFull])
  t.deepEqual(cannedAcl('private', 'object', { id: 'x' }), { owner: { id: 'x' }, grants: [{ grantee: { type: 'CanonicalUser', id: 'x' }, permission: 'FULL_CONTROL' }] })
})

test('unknown and not applicable canned ACLs are InvalidArgument', t => {
  for (const [name, target] of [['public', 'object'], ['Private', 'bucket'], ['', 'bucket'], ['log-delivery-write', 'object']] as const) {
    const err = t.throws(() => cannedAcl(name, target, OWNER, BUCKET_OWNER)) as { code?: string, detail?: Record<string, string> }
    t.is(err.code, 'InvalidArgument', name)
    t.deepEqual(err.detail, { ArgumentName: 'x-amz-acl', ArgumentValue: name })
  }
})

test('aclFromHeaders: nothing, canned, or both', t => {
  t.is(aclFromHeaders({ 'content-type': 'text/plain' }, 'object', OWNER, BUCKET_OWNER, known), undefined)
  t.deepEqual(aclFromHeaders({ 'x-amz-acl': 'public-read' }, 'bucket', OWNER, undefined, known), { owner: OWNER, grants: [allUsers('READ'), ownerFull] })
  t.deepEqual(aclFromHeaders({ 'x-amz-acl': 'bucket-owner-read' }, 'object', OWNER, BUCKET_OWNER, known)?.grants.length, 2)
  throwsCode(t, () => aclFromHeaders({ 'x-amz-acl': 'bogus' }, 'object', OWNER, BUCKET_OWNER, known), 'InvalidArgument')
  const err = t.throws(() => aclFromHeaders({ 'x-amz-acl': 'private', 'x-amz-grant-read': 'id=alice' }, 'object', OWNER, BUCKET_OWNER, known)) as { code?: string }
  t.is(err.code, 'InvalidRequest')
  t.is((err as Error).message, 'Specifying both Canned ACLs and Header Grants is not allowed')
  throwsCode(t, () => aclFromHeaders({ 'x-amz-acl': 'private', 'x-amz-grant-full-control': 'uri=' + ALL_USERS }, 'bucket', OWNER, undefined, known), 'InvalidRequest')
})

test('aclFromHeaders: grant headers with several grantees, quoting and spacing; no implicit owner grant', t => {
  const acl = aclFromHeaders({
    'x-amz-grant-read': `id="alice", uri="${ALL_USERS}",id=bob`,
    'x-amz-grant-write': `uri=${LOG_DELIVERY}`,
    'x-amz-grant-read-acp': ` ID = "bob" `,
    'x-amz-grant-write-acp': 'id=owner-id',
    'x-amz-grant-full-control': `id="bucket-owner-id",uri="${AUTHENTICATED_USERS}"`,
  }, 'bucket', OWNER, BUCKET_OWNER, known)
  t.deepEqual(acl, {
    owner: OWNER,
    grants: [
      { grantee: { type: 'CanonicalUser', id: 'alice' }, permission: 'READ' },
      { grantee: { type: 'Group', uri: ALL_USERS }, permission: 'READ' },
      { grantee: { type: 'CanonicalUser', id: 'bob' }, permission: 'READ' },
      { grantee: { type: 'Group', uri: LOG_DELIVERY }, permission: 'WRITE' },
      { grantee: { type: 'CanonicalUser', id: 'bob' }, permission: 'READ_ACP' },
      { grantee: { type: 'CanonicalUser', id: 'owner-id', displayName: 'owner' }, permission: 'WRITE_ACP' },
      { grantee: { type: 'CanonicalUser', id: 'bucket-owner-id', displayName: 'bucketowner' }, permission: 'FULL_CONTROL' },
      { grantee: { type: 'Group', uri: AUTHENTICATED_USERS }, permission: 'FULL_CONTROL' },
    ],
  })
  t.deepEqual(aclFromHeaders({ 'x-amz-grant-read': 'id=alice,id="alice"' }, 'object', OWNER, undefined, known)?.grants,
    [{ grantee: { type: 'CanonicalUser', id: 'alice' }, permission: 'READ' }], 'repeats collapse')
})

test('aclFromHeaders: bad grant headers', t => {
  const cases: Array<[string, string]> = [
    ['id=mallory', 'InvalidArgument'],
    ['uri="http://acs.amazonaws.com/groups/global/Everyone"', 'InvalidArgument'],
    ['alice', 'InvalidArgument'],
    ['id=', 'InvalidArgument'],
    ['id=""', 'InvalidArgument'],
    ['id=alice,', 'InvalidArgument'],
    ['', 'InvalidArgument'],
    ['name=alice', 'InvalidArgument'],
    ['id="alice', 'InvalidArgument'],
    ['emailAddress="someone@example.com"', 'UnresolvableGrantByEmailAddress'],
    ['id=alice, emailaddress=someone@example.com', 'UnresolvableGrantByEmailAddress'],
  ]
  for (const [value, code] of cases) {
    throwsCode(t, () => aclFromHeaders({ 'x-amz-grant-read': value }, 'object', OWNER, BUCKET_OWNER, known), code, value)
  }
  const err = t.throws(() => aclFromHeaders({ 'x-amz-grant-write': 'id=mallory' }, 'bucket', OWNER, undefined, known)) as Error & { detail: Record<string, string> }
  t.is(err.message, 'Invalid id')
  t.is(err.detail.ArgumentValue, 'mallory')
  const many = Array.from({ length: 101 }, (_, i) => `id=u${i}`).join(',')
  throwsCode(t, () => aclFromHeaders({ 'x-amz-grant-read': many }, 'bucket', OWNER, undefined, () => true), 'MalformedACLError')
})

test('render: S3 namespace, xsi:type on each Grantee, escaped text', t => {
  const acl: Acl = {
    owner: OWNER,
    grants: [ownerFull, allUsers('READ'), { grantee: { type: 'CanonicalUser', id: 'a<b', displayName: 'x & y' }, permission: 'WRITE_ACP' }],
  }
  t.is(text(renderAccessControlPolicy(acl)), '<?xml version="1.0" encoding="UTF-8"?>' +
    '<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>owner-id</ID><DisplayName>owner</DisplayName></Owner>' +
    '<AccessControlList>' +
    '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>owner-id</ID><DisplayName>owner</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>' +
    '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>' +
    '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>a&lt;b</ID><DisplayName>x &amp; y</DisplayName></Grantee><Permission>WRITE_ACP</Permission></Grant>' +
    '</AccessControlList></AccessControlPolicy>')
  // Every account is shown complete: one without a known display name is named by its id.
  t.is(text(renderAccessControlPolicy({ owner: { id: 'o' }, grants: [{ grantee: { type: 'CanonicalUser', id: 'u' }, permission: 'READ' }] })), '<?xml version="1.0" encoding="UTF-8"?>' +
    '<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID><DisplayName>o</DisplayName></Owner><AccessControlList>' +
    '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>u</ID><DisplayName>u</DisplayName></Grantee><Permission>READ</Permission></Grant>' +
    '</AccessControlList></AccessControlPolicy>')
  // A generic namespace-aware reader sees the xsi:type attribute.
  const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' }).parse(text(renderAccessControlPolicy(acl)))
  t.is(parsed.AccessControlPolicy.AccessControlList.Grant[1].Grantee['@xsi:type'], 'Group')
})

test('render then parse gives the same ACL, for every canned ACL and for header grants', t => {
  const acls: Acl[] = [
    ...['private', 'public-read', 'public-read-write', 'authenticated-read', 'aws-exec-read', 'log-delivery-write'].map(n => cannedAcl(n, 'bucket', OWNER)),
    cannedAcl('bucket-owner-full-control', 'object', OWNER, BUCKET_OWNER),
    cannedAcl('bucket-owner-read', 'object', OWNER, BUCKET_OWNER),
    aclFromHeaders({ 'x-amz-grant-read': `id=alice, uri="${ALL_USERS}"`, 'x-amz-grant-write-acp': 'id=bob' }, 'object', OWNER, undefined, known) as Acl,
    { owner: OWNER, grants: [] },
    { owner: { id: 'owner-id' }, grants: [{ grantee: { type: 'CanonicalUser', id: 'owner-id' }, permission: 'READ' }] },
  ]
  const knownHere = (id: string): boolean => KNOWN.has(id) || id === BUCKET_OWNER.id
  // Rendering names an account without a display name by its id; parsing keeps what it reads.
  const named = (p: { id: string, displayName?: string }) => ({ ...p, displayName: p.displayName ?? p.id })
  const complete = (acl: Acl): Acl => ({
    owner: named(acl.owner),
    grants: acl.grants.map(g => g.grantee.type === 'CanonicalUser' ? { ...g, grantee: { ...g.grantee, ...named(g.grantee) } } : g),
  })
  for (const acl of acls) {
    t.deepEqual(parseAccessControlPolicy(renderAccessControlPolicy(acl), named(acl.owner), knownHere), complete(acl))
  }
})

test('parse: what SDKs send (pretty-printed, no DisplayName), and grantee type from the child when xsi:type is absent', t => {
  const body = xml(`<?xml version="1.0" encoding="UTF-8"?>
<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Owner>
    <ID>owner-id</ID>
    <DisplayName>ignored</DisplayName>
  </Owner>
  <AccessControlList>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">
        <ID> owner-id </ID>
      </Grantee>
      <Permission>FULL_CONTROL</Permission>
    </Grant>
    <Grant>
      <Grantee><URI>${AUTHENTICATED_USERS}</URI></Grantee>
      <Permission>READ</Permission>
    </Grant>
    <Grant>
      <Grantee><ID>alice</ID><DisplayName>Alice</DisplayName></Grantee>
      <Permission>WRITE</Permission>
    </Grant>
  </AccessControlList>
</AccessControlPolicy>`)
  t.deepEqual(parseAccessControlPolicy(body, OWNER, known), {
    owner: OWNER,
    grants: [ownerFull, { grantee: { type: 'Group', uri: AUTHENTICATED_USERS }, permission: 'READ' },
      { grantee: { type: 'CanonicalUser', id: 'alice', displayName: 'Alice' }, permission: 'WRITE' }],
  })
  t.deepEqual(parseAccessControlPolicy(xml('<AccessControlPolicy><Owner><ID>owner-id</ID></Owner><AccessControlList/></AccessControlPolicy>'), OWNER, known),
    { owner: OWNER, grants: [] }, 'an empty list is allowed')
})

test('parse: malformed bodies', t => {
  const notXml = ['', 'not xml', '<AccessControlPolicy><Owner></AccessControlPolicy>', '<!DOCTYPE x [<!ENTITY a "b">]><AccessControlPolicy>&a;</AccessControlPolicy>']
  for (const body of notXml) throwsCode(t, () => parseAccessControlPolicy(xml(body), OWNER, known), 'MalformedXML', body)
  const user = grant('<ID>alice</ID>', 'READ', 'CanonicalUser')
  const malformed = [
    '<Other/>',
    '<AccessControlPolicy><AccessControlList/></AccessControlPolicy>',
    '<AccessControlPolicy><Owner><ID>owner-id</ID></Owner></AccessControlPolicy>',
    '<AccessControlPolicy><Owner><DisplayName>x</DisplayName></Owner><AccessControlList/></AccessControlPolicy>',
    '<AccessControlPolicy><Owner><ID></ID></Owner><AccessControlList/></AccessControlPolicy>',
    '<AccessControlPolicy><Owner><ID>owner-id</ID></Owner><Owner><ID>owner-id</ID></Owner><AccessControlList/></AccessControlPolicy>',
    '<AccessControlPolicy><Owner><ID>owner-id</ID></Owner><AccessControlList/><Extra/></AccessControlPolicy>',
    policy('<Other/>'),
    policy('stray text'),
    policy(grant('<ID>alice</ID>', 'EVERYTHING', 'CanonicalUser')),
    policy(grant('<ID>alice</ID>', 'read', 'CanonicalUser')),
    policy('<Grant><Grantee xsi:type="CanonicalUser" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><ID>alice</ID></Grantee></Grant>'),
    policy('<Grant><Permission>READ</Permission></Grant>'),
    policy(grant('<ID>alice</ID>', 'READ', 'Group')),
    policy(grant(`<URI>${ALL_USERS}</URI>`, 'READ', 'CanonicalUser')),
    policy(grant('<ID>alice</ID>', 'READ', 'Nobody')),
    policy(grant(`<ID>alice</ID><URI>${ALL_USERS}</URI>`, 'READ')),
    policy(grant('', 'READ')),
    policy(grant('<ID>alice</ID><ID>bob</ID>', 'READ', 'CanonicalUser')),
    policy(grant('<ID>alice</ID><Nickname>al</Nickname>', 'READ', 'CanonicalUser')),
    policy(user + user.replace('</Grant>', '<Permission>READ</Permission></Grant>')),
    policy(Array.from({ length: 101 }, (_, i) => grant(`<ID>u${i}</ID>`, 'READ', 'CanonicalUser')).join('')),
  ]
  for (const body of malformed) {
    const bytes = typeof body === 'string' ? xml(body) : body
    throwsCode(t, () => parseAccessControlPolicy(bytes, OWNER, () => true), 'MalformedACLError', text(bytes))
  }
})

test('parse: owner mismatch, unknown grantees and email grantees', t => {
  throwsCode(t, () => parseAccessControlPolicy(policy(grant('<ID>alice</ID>', 'READ', 'CanonicalUser'), 'alice'), OWNER, known), 'AccessDenied')
  const unknownId = t.throws(() => parseAccessControlPolicy(policy(grant('<ID>mallory</ID>', 'READ', 'CanonicalUser')), OWNER, known)) as Error & { code: string, detail: Record<string, string> }
  t.is(unknownId.code, 'InvalidArgument')
  t.is(unknownId.message, 'Invalid id')
  t.deepEqual(unknownId.detail, { ArgumentName: 'CanonicalUser/ID', ArgumentValue: 'mallory' })
  throwsCode(t, () => parseAccessControlPolicy(policy(grant('<URI>http://acs.amazonaws.com/groups/global/Nobody</URI>', 'READ', 'Group')), OWNER, known), 'InvalidArgument')
  throwsCode(t, () => parseAccessControlPolicy(policy(grant('<EmailAddress>a@example.com</EmailAddress>', 'READ', 'AmazonCustomerByEmail')), OWNER, known), 'UnresolvableGrantByEmailAddress')
  throwsCode(t, () => parseAccessControlPolicy(policy(grant('<EmailAddress>a@example.com</EmailAddress>', 'READ')), OWNER, known), 'UnresolvableGrantByEmailAddress')
  // The EC2 reader of aws-exec-read is always a valid grantee, so GetObjectAcl output can be put back.
  t.is(parseAccessControlPolicy(policy(grant(`<ID>${EC2}</ID>`, 'READ', 'CanonicalUser')), OWNER, known).grants.length, 1)
})

test('aclAllows: anonymous, authenticated, named user, owner, ignorePublic', t => {
  const acl: Acl = {
    owner: OWNER,
    grants: [
      ownerFull,
      allUsers('READ'),
      { grantee: { type: 'Group', uri: AUTHENTICATED_USERS }, permission: 'READ_ACP' },
      { grantee: { type: 'Group', uri: LOG_DELIVERY }, permission: 'WRITE' },
      { grantee: { type: 'CanonicalUser', id: 'alice' }, permission: 'WRITE' },
      { grantee: { type: 'CanonicalUser', id: 'bob' }, permission: 'FULL_CONTROL' },
    ],
  }
  // anonymous: AllUsers only
  t.true(aclAllows(acl, undefined, 'READ'))
  t.false(aclAllows(acl, undefined, 'READ_ACP'))
  t.false(aclAllows(acl, undefined, 'WRITE'))
  // any authenticated requester: AllUsers and AuthenticatedUsers
  t.true(aclAllows(acl, 'carol', 'READ'))
  t.true(aclAllows(acl, 'carol', 'READ_ACP'))
  t.false(aclAllows(acl, 'carol', 'WRITE'))
  t.false(aclAllows(acl, 'carol', 'WRITE_ACP'))
  // named users, FULL_CONTROL implying everything
  t.true(aclAllows(acl, 'alice', 'WRITE'))
  t.false(aclAllows(acl, 'alice', 'WRITE_ACP'))
  for (const p of ['READ', 'WRITE', 'READ_ACP', 'WRITE_ACP'] as const) t.true(aclAllows(acl, 'bob', p), p)
  // ignorePublic drops AllUsers and AuthenticatedUsers grants, not named ones
  t.false(aclAllows(acl, undefined, 'READ', { ignorePublic: true }))
  t.false(aclAllows(acl, 'carol', 'READ', { ignorePublic: true }))
  t.false(aclAllows(acl, 'carol', 'READ_ACP', { ignorePublic: true }))
  t.true(aclAllows(acl, 'alice', 'WRITE', { ignorePublic: true }))
  t.true(aclAllows(acl, 'owner-id', 'READ', { ignorePublic: true }))
  // the owner: its grant, and READ_ACP/WRITE_ACP even without one; READ/WRITE only through a grant
  const bare: Acl = { owner: OWNER, grants: [allUsers('WRITE')] }
  t.true(aclAllows(bare, 'owner-id', 'READ_ACP'))
  t.true(aclAllows(bare, 'owner-id', 'WRITE_ACP'))
  t.false(aclAllows(bare, 'owner-id', 'READ'))
  t.true(aclAllows(bare, 'owner-id', 'WRITE'))
  t.false(aclAllows(bare, 'owner-id', 'WRITE', { ignorePublic: true }))
  t.false(aclAllows(bare, undefined, 'READ_ACP'), 'anonymous is never the owner')
})

test('isPublicAcl', t => {
  t.false(isPublicAcl(cannedAcl('private', 'bucket', OWNER)))
  t.true(isPublicAcl(cannedAcl('public-read', 'bucket', OWNER)))
  t.true(isPublicAcl(cannedAcl('public-read-write', 'object', OWNER)))
  t.true(isPublicAcl(cannedAcl('authenticated-read', 'object', OWNER)))
  t.false(isPublicAcl(cannedAcl('log-delivery-write', 'bucket', OWNER)))
  t.false(isPublicAcl(cannedAcl('aws-exec-read', 'object', OWNER)))
  t.false(isPublicAcl(cannedAcl('bucket-owner-full-control', 'object', OWNER, BUCKET_OWNER)))
  t.true(isPublicAcl({ owner: OWNER, grants: [{ grantee: { type: 'Group', uri: AUTHENTICATED_USERS }, permission: 'WRITE_ACP' }] }))
})

test('stored form round-trips and rejects junk', t => {
  const acl = aclFromHeaders({ 'x-amz-grant-read': `id=alice, uri=${ALL_USERS}`, 'x-amz-grant-full-control': 'id=owner-id' }, 'object', OWNER, undefined, known) as Acl
  t.deepEqual(fromStoredAcl(toStoredAcl(acl)), acl)
  t.deepEqual(fromStoredAcl(toStoredAcl({ owner: { id: 'o' }, grants: [] })), { owner: { id: 'o' }, grants: [] })
  t.is(fromStoredAcl(undefined), undefined)
  const extra = { ...acl, secret: 1, grants: acl.grants.map(g => ({ ...g, note: 'x' })) }
  t.false(toStoredAcl(extra as Acl).includes('secret'))
  t.false(toStoredAcl(extra as Acl).includes('note'))
  for (const junk of ['', '{', 'null', '[]', '{"owner":{"id":1},"grants":[]}', '{"owner":{"id":"o"}}',
    '{"owner":{"id":"o"},"grants":[{"grantee":{"type":"Group","uri":"u"},"permission":"ALL"}]}',
    '{"owner":{"id":"o"},"grants":[{"grantee":{"type":"Email","id":"x"},"permission":"READ"}]}']) {
    t.throws(() => fromStoredAcl(junk), { instanceOf: TypeError }, junk)
  }
})

test('aclPermissionFor follows S3\'s ACL-to-policy mapping', t => {
  const bucket: Record<string, AclPermission> = {
    's3:ListBucket': 'READ',
    's3:ListBucketVersions': 'READ',
    's3:ListBucketMultipartUploads': 'READ',
    's3:PutObject': 'WRITE',
    's3:DeleteObject': 'WRITE',
    's3:GetBucketAcl': 'READ_ACP',
    's3:PutBucketAcl': 'WRITE_ACP',
    's3:DeleteObjectVersion': undefined,
    's3:GetObject': undefined,
    's3:PutBucketPolicy': undefined,
    's3:PutBucketVersioning': undefined,
    's3:DeleteBucket': undefined,
    's3:GetBucketTagging': undefined,
    's3:PutObjectAcl': undefined,
  }
  const object: Record<string, AclPermission> = {
    's3:GetObject': 'READ',
    's3:GetObjectVersion': 'READ',
    's3:GetObjectAttributes': 'READ',
    's3:GetObjectAcl': 'READ_ACP',
    's3:GetObjectVersionAcl': 'READ_ACP',
    's3:PutObjectAcl': 'WRITE_ACP',
    's3:PutObjectVersionAcl': 'WRITE_ACP',
    's3:PutObject': undefined,
    's3:DeleteObject': undefined,
    's3:PutObjectTagging': undefined,
    's3:GetObjectTagging': undefined,
    's3:ListBucket': undefined,
    's3:GetBucketAcl': undefined,
    'toString': undefined,
    's3:constructor': undefined,
  }
  for (const [action, permission] of Object.entries(bucket)) t.is(aclPermissionFor(action, 'bucket'), permission, `bucket ${action}`)
  for (const [action, permission] of Object.entries(object)) t.is(aclPermissionFor(action, 'object'), permission, `object ${action}`)
  t.is(aclPermissionFor('ListBucket', 'bucket'), 'READ', 'the s3: prefix is optional')
})
