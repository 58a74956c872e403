import test from 'ava'
import type { ExecutionContext } from 'ava'
import { isS3Error } from '../src/errors.js'
import {
  S3_ACTIONS, evaluatePolicy, isPublicPolicy, isWildcardPrincipal, parsePolicy, principalMatches
} from '../src/auth/policy.js'
import type { Decision, Policy, RequestFacts } from '../src/auth/policy.js'
import { parseCidr, parseIp, wildcardMatch } from '../src/auth/policy-conditions.js'

type Doc = Record<string, unknown>
const ARN = 'arn:aws:s3:::b'
const OBJECTS = ARN + '/*'

/** A valid bucket-policy statement; an element set to undefined is dropped. */
function statement (elements: Doc = {}): Doc {
  const s: Doc = { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: OBJECTS, ...elements }
  for (const k of Object.keys(s)) if (s[k] === undefined) delete s[k]
  return s
}

function bucketPolicy (...statements: Doc[]): Policy {
  return parsePolicy(JSON.stringify({ Version: '2012-10-17', Statement: statements }), { kind: 'bucket', bucket: 'b' })
}

function facts (parts: Partial<RequestFacts> = {}): RequestFacts {
  return { principal: 'alice', action: 's3:GetObject', resource: ARN + '/a/b.txt', context: {}, ...parts }
}

/** The decision for one Allow statement to everyone with this Condition. */
function decide (condition: Doc, context: RequestFacts['context'], parts: Partial<RequestFacts> = {}): Decision {
  return evaluatePolicy(bucketPolicy(statement({ Condition: condition })), facts({ context, ...parts }))
}

function refuses (t: ExecutionContext, text: string | Doc, message: string, kind: 'bucket' | 'identity' = 'bucket'): void {
  const body = typeof text === 'string' ? text : JSON.stringify(text)
  const err = t.throws(() => parsePolicy(body, { kind, bucket: 'b' }))
  t.true(isS3Error(err), body)
  t.is((err as unknown as { code: string }).code, 'MalformedPolicy', body)
  t.is((err as unknown as { status: number }).status, 400)
  t.is(err?.message, message, body)
}

// ---- parsing ------------------------------------------------------------------------------

test('keeps the text verbatim and reads each element', t => {
  const text = ` \n{"Version":"2012-10-17","Id":"p1","Statement":[{"Sid":"read","Effect":"Allow",
    "Principal":{"AWS":["alice","arn:aws:iam::111122223333:root"],"CanonicalUser":"abc"},
    "Action":["s3:GetObject","S3:LISTBUCKET"],"Resource":["${OBJECTS}","${ARN}"],
    "Condition":{"StringLike":{"S3:Prefix":["a/*",1,true]}}}]}`
  const policy = parsePolicy(text, { kind: 'bucket', bucket: 'b' })
  t.is(policy.text, text)
  t.is(policy.version, '2012-10-17')
  t.is(policy.id, 'p1')
  const [s] = policy.statements
  t.is(s.sid, 'read')
  t.deepEqual(s.principal, { everyone: false, aws: ['alice', 'arn:aws:iam::111122223333:root'], canonicalUser: ['abc'], service: [] })
  t.deepEqual(s.actions, ['s3:getobject', 's3:listbucket'])
  t.deepEqual(s.conditions, [{ type: 'StringLike', operator: 'StringLike', ifExists: false, key: 's3:prefix', values: ['a/*', '1', 'true'] }])
})

test('accepts one statement outside an array, no Version, a Service principal, "*" and wildcard actions', t => {
  const p = parsePolicy(JSON.stringify({ Statement: statement({ Principal: { Service: 'logging.s3.amazonaws.com' } }) }), { kind: 'bucket', bucket: 'b' })
  t.is(p.version, '2008-10-17')
  t.deepEqual(p.statements[0].principal?.service, ['logging.s3.amazonaws.com'])
  for (const action of ['*', 's3:*', 's3:Get*', 's3:?etObject', 's3:getobject', ['s3:ListBucket', 's3:*Tagging']]) {
    t.notThrows(() => bucketPolicy(statement({ Action: action, Resource: [ARN, OBJECTS] })), JSON.stringify(action))
  }
  t.notThrows(() => bucketPolicy(statement({ Effect: 'Deny', Principal: undefined, NotPrincipal: { AWS: 'alice' } })))
})

test('refuses documents that are not JSON objects, or too large', t => {
  for (const text of ['', ' ', 'invalid json', '[{"Effect":"Allow"}]', '"policy"', '\uFEFF{"Statement":[]}', '{"Statement":[', '{"Statement":[]} x']) {
    refuses(t, text, 'Policies must be valid JSON and the first byte must be \'{\'')
  }
  const resources = (n: number): string[] => Array.from({ length: n }, (_, i) => `${ARN}/${String(i).padStart(4, '0')}/*`)
  // White space does not count: the limit is on the normalised document.
  const within = JSON.stringify({ Statement: [statement({ Resource: resources(600) })] }, null, 8)
  t.true(within.length > 20480)
  t.notThrows(() => parsePolicy(within, { kind: 'bucket', bucket: 'b' }))
  refuses(t, { Statement: [statement({ Resource: resources(900) })] }, 'Normalized policy document exceeds the maximum allowed size of 20480 bytes')
})

test('refuses malformed top-level elements with S3\'s messages', t => {
  const valid = statement()
  refuses(t, {}, 'Missing required field Statement')
  refuses(t, { Version: '2012-10-17' }, 'Missing required field Statement')
  refuses(t, { Statement: [] }, 'Could not parse the policy: Statement is empty!')
  refuses(t, { Version: '2012-10-18', Statement: [valid] }, 'The policy must contain a valid version string')
  refuses(t, { Version: null, Statement: [valid] }, 'The policy must contain a valid version string')
  refuses(t, { Statement: 'Allow' }, 'Invalid policy syntax.')
  refuses(t, { Statement: [null] }, 'Invalid policy syntax.')
  refuses(t, { Id: 1, Statement: [valid] }, 'Invalid policy syntax.')
  refuses(t, { Statement: [valid], Foo: 1 }, 'Unknown field Foo')
  refuses(t, { statement: [valid] }, 'Unknown field statement')
  refuses(t, `{"Statement":[${JSON.stringify(valid)}],"Statement":[${JSON.stringify(valid)}]}`, 'Statement/policy already has instance of Statement')
  refuses(t, '{"Statement":[{"Effect":"Deny","\\u0045ffect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}',
    'Statement/policy already has instance of Effect')
})

test('refuses malformed statements with S3\'s messages', t => {
  const cases: Array<[Doc, string]> = [
    [{ Foo: 1 }, 'Unknown field Foo'],
    [{ Sid: 1 }, 'Invalid policy syntax.'],
    [{ Effect: undefined }, 'Missing required field Effect'],
    [{ Effect: 'allow' }, 'Invalid effect: allow'],
    [{ Effect: true }, 'Invalid effect: true'],
    [{ Principal: undefined }, 'Missing required field Principal'],
    [{ NotPrincipal: '*' }, 'Statement/policy already has instance of Principal'],
    [{ NotAction: 's3:PutObject' }, 'Statement/policy already has instance of Action'],
    [{ NotResource: ARN }, 'Statement/policy already has instance of Resource'],
    [{ Action: undefined }, 'Missing required field Action'],
    [{ Action: [] }, 'Missing required field Action cannot be empty!'],
    [{ Action: null }, 'Invalid policy syntax.'],
    [{ Action: ['s3:GetObject', 1] }, 'Invalid policy syntax.'],
    [{ Resource: undefined }, 'Missing required field Resource'],
    [{ Resource: [] }, 'Missing required field Resource cannot be empty!'],
    [{ Condition: 'StringEquals' }, 'Invalid policy syntax.'],
    [{ Condition: { StringEquals: { 'aws:username': null } } }, 'Invalid policy syntax.'],
    [{ Condition: { StringEquals: { 'aws:username': [] } } }, 'Invalid policy syntax.']
  ]
  for (const [elements, message] of cases) refuses(t, { Statement: [statement(elements)] }, message)
})

test('refuses invalid principals, and any principal in an identity policy', t => {
  for (const principal of ['alice', '', ['*'], null, {}, { AWS: [] }, { AWS: '' }, { aws: '*' }, { Federated: 'cognito-identity.amazonaws.com' },
    { Service: '*' }, { AWS: 'arn:aws:iam::1:user/*' }, { AWS: ['alice', 1] }, { IAM: 'x' }]) {
    refuses(t, { Statement: [statement({ Principal: principal })] }, 'Invalid principal in policy')
  }
  // "NotPrincipal must be used with "Effect":"Deny"".
  refuses(t, { Statement: [statement({ Principal: undefined, NotPrincipal: { AWS: 'alice' } })] }, 'Invalid principal in policy')
  refuses(t, { Statement: [statement()] }, 'Policy document should not specify a principal.', 'identity')
  refuses(t, { Statement: [statement({ Principal: undefined, NotPrincipal: '*', Effect: 'Deny' })] }, 'Policy document should not specify a principal.', 'identity')
})

test('refuses actions S3 does not define', t => {
  for (const action of ['', 's3:', 'GetObject', 's3:Get Object', 'ec2:RunInstances', 'iam:*', '**', 's?:GetObject', 's3:PutObjectLockConfiguration', 's3:Foo*']) {
    refuses(t, { Statement: [statement({ Action: action })] }, 'Policy has invalid action')
    refuses(t, { Statement: [statement({ Action: undefined, NotAction: ['s3:GetObject', action] })] }, 'Policy has invalid action')
  }
  t.true(S3_ACTIONS.includes('GetObject') && S3_ACTIONS.includes('ListAllMyBuckets') && S3_ACTIONS.includes('PutBucketPolicy'))
})

test('refuses resources outside the policy\'s bucket; identity policies take any ARN', t => {
  for (const resource of ['*', 'b', 'b/*', 'arn:aws:s3:::*', 'arn:aws:s3:::*/*', 'arn:aws:s3:::b*', 'arn:aws:s3:::b?', 'arn:aws:s3:::bb/*',
    'arn:aws:s3:::other/*', 'arn:aws:s3:::B/*', 'arn:aws:s3:::', 'arn:aws:s3:::${aws:username}/*', 'arn:aws:sqs:::b', 'ARN:AWS:S3:::b/*']) {
    refuses(t, { Statement: [statement({ Resource: [OBJECTS, resource] })] }, 'Policy has invalid resource')
    refuses(t, { Statement: [statement({ Resource: undefined, NotResource: resource })] }, 'Policy has invalid resource')
  }
  for (const resource of [ARN, OBJECTS, ARN + '/', ARN + '/a b/${aws:username}/?*']) {
    t.notThrows(() => bucketPolicy(statement({ Resource: resource })), resource)
  }
  const identity = (r: unknown): Policy => parsePolicy(JSON.stringify({ Statement: [statement({ Principal: undefined, Resource: r })] }), { kind: 'identity' })
  t.notThrows(() => identity(['*', 'arn:aws:s3:::*', 'arn:aws:s3:::other/*']))
  refuses(t, { Statement: [statement({ Principal: undefined, Resource: 'bucket/*' })] }, 'Policy has invalid resource', 'identity')
})

test('refuses unknown condition types, S3 condition keys and IP addresses', t => {
  for (const type of ['stringequals', 'StringEqualz', 'IfExists', 'NullIfExists', 'ForAnyValues:StringEquals', 'StringEqualsIfExistsIfExists', 'constructor', '']) {
    refuses(t, { Statement: [statement({ Condition: { [type]: { 'aws:username': 'a' } } })] }, `Invalid Condition type : ${type}`)
  }
  refuses(t, { Statement: [statement({ Condition: { StringEquals: { 's3:VersionStatus': 'Enabled' } } })] }, 'Policy has an invalid condition key')
  refuses(t, { Statement: [statement({ Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/33' } } })] }, 'Invalid IP address in Conditions')
  refuses(t, { Statement: [statement({ Condition: { NotIpAddress: { 'aws:SourceIp': ['10.0.0.1', 'nope'] } } })] }, 'Invalid IP address in Conditions')
  t.notThrows(() => bucketPolicy(statement({
    Condition: {
      'ForAnyValue:StringLikeIfExists': { 's3:RequestObjectTagKeys': 'a*' },
      StringEquals: { 's3:ExistingObjectTag/Security': 'public', 's3:x-amz-acl': 'private', 'aws:PrincipalType': 'User' },
      Null: { 's3:x-amz-server-side-encryption': true },
      IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '2001:db8::/32', '192.0.2.1'] }
    }
  })))
})

// ---- evaluation ---------------------------------------------------------------------------

test('Allow, Deny and NoMatch; an explicit Deny wins whatever the order', t => {
  const allow = statement({ Action: ['s3:GetObject', 's3:DeleteObject'] })
  const deny = statement({ Effect: 'Deny', Action: 's3:DeleteObject' })
  for (const order of [[allow, deny], [deny, allow], [allow, deny, allow]]) {
    const p = bucketPolicy(...order)
    t.is(evaluatePolicy(p, facts({ action: 's3:DeleteObject' })), 'Deny')
    t.is(evaluatePolicy(p, facts({ action: 's3:getobject' })), 'Allow')
    t.is(evaluatePolicy(p, facts({ action: 's3:PutObject' })), 'NoMatch')
  }
  const p = bucketPolicy(allow)
  t.is(evaluatePolicy(p, facts({ resource: ARN })), 'NoMatch')
  t.is(evaluatePolicy(p, facts({ resource: 'arn:aws:s3:::bb/a' })), 'NoMatch')
  t.is(evaluatePolicy(p, facts({ resource: ARN + '/' })), 'Allow')
})

test('action and resource wildcards', t => {
  const p = bucketPolicy(statement({ Action: ['s3:Get*Tagging', 's3:?utObject'], Resource: ARN + '/*/test/?.jpg' }))
  const at = (action: string, resource: string): Decision => evaluatePolicy(p, facts({ action, resource }))
  t.is(at('s3:GetObjectTagging', ARN + '/1/2/test/a.jpg'), 'Allow')
  t.is(at('s3:GetObjectVersionTagging', ARN + '//test/a.jpg'), 'Allow')
  t.is(at('S3:PUTOBJECT', ARN + '/x/test/b.jpg'), 'Allow')
  t.is(at('s3:GetObject', ARN + '/x/test/a.jpg'), 'NoMatch')
  t.is(at('s3:PutObject', ARN + '/x/test/ab.jpg'), 'NoMatch')
  t.is(at('s3:PutObject', ARN + '/test/a.jpg'), 'NoMatch')
  t.is(at('s3:PutObject', ARN + '/x/Test/a.jpg'), 'NoMatch', 'resources compare with case')
  t.true(wildcardMatch('a*b*c*d*e*f*g*h*i*j*k', 'a'.repeat(3000) + 'bcdefghijk'))
  t.false(wildcardMatch('a*a*a*a*a*a*a*a*b', 'a'.repeat(5000)))
})

test('NotAction, NotResource and NotPrincipal', t => {
  const notAction = bucketPolicy(statement({ Effect: 'Deny', Action: undefined, NotAction: 's3:Get*', Resource: [ARN, OBJECTS] }))
  t.is(evaluatePolicy(notAction, facts({ action: 's3:PutObject' })), 'Deny')
  t.is(evaluatePolicy(notAction, facts({ action: 's3:GetObjectAcl' })), 'NoMatch')
  const notResource = bucketPolicy(statement({ Resource: undefined, NotResource: ARN + '/private/*' }))
  t.is(evaluatePolicy(notResource, facts({ resource: ARN + '/public/a' })), 'Allow')
  t.is(evaluatePolicy(notResource, facts({ resource: ARN + '/private/a' })), 'NoMatch')
  const notPrincipal = bucketPolicy(statement({ Effect: 'Deny', Principal: undefined, NotPrincipal: { AWS: ['alice', 'arn:aws:iam::1:user/team/bob'] } }))
  t.is(evaluatePolicy(notPrincipal, facts({ principal: 'alice' })), 'NoMatch')
  t.is(evaluatePolicy(notPrincipal, facts({ principal: 'bob' })), 'NoMatch')
  t.is(evaluatePolicy(notPrincipal, facts({ principal: 'carol' })), 'Deny')
  t.is(evaluatePolicy(notPrincipal, facts({ principal: undefined })), 'Deny')
})

test('principal forms, and anonymous requests matching only everyone', t => {
  const cases: Array<[unknown, boolean[]]> = [ // [alice, bob, anonymous]
    ['*', [true, true, true]],
    [{ AWS: '*' }, [true, true, true]],
    [{ AWS: ['bob', '*'] }, [true, true, true]],
    [{ AWS: 'alice' }, [true, false, false]],
    [{ AWS: 'arn:aws:iam::111122223333:user/alice' }, [true, false, false]],
    [{ AWS: 'arn:aws:iam::111122223333:user/path/alice' }, [true, false, false]],
    [{ AWS: 'arn:aws:iam::alice:root' }, [true, false, false]],
    [{ AWS: 'arn:aws:iam::111122223333:role/alice' }, [false, false, false]],
    [{ CanonicalUser: ['bob'] }, [false, true, false]],
    [{ Service: 'logging.s3.amazonaws.com' }, [false, false, false]],
    [{ AWS: 'alice', CanonicalUser: 'bob' }, [true, true, false]]
  ]
  for (const [principal, expected] of cases) {
    const p = bucketPolicy(statement({ Principal: principal }))
    t.deepEqual(['alice', 'bob', undefined].map(who => evaluatePolicy(p, facts({ principal: who })) === 'Allow'), expected, JSON.stringify(principal))
    t.is(isWildcardPrincipal(p.statements[0]), expected[2])
  }
  t.false(principalMatches({ everyone: false, aws: ['alice'], canonicalUser: [], service: [] }, undefined))
})

test('identity policies apply to their holder, whatever the principal', t => {
  const p = parsePolicy(JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: 'arn:aws:s3:::*' },
      { Effect: 'Allow', Action: 's3:*', Resource: 'arn:aws:s3:::home/${aws:username}/*' }
    ]
  }), { kind: 'identity' })
  t.is(evaluatePolicy(p, facts({ action: 's3:ListAllMyBuckets', resource: '*' })), 'Allow')
  t.is(evaluatePolicy(p, facts({ action: 's3:PutObject', resource: 'arn:aws:s3:::home/alice/x' })), 'Allow')
  t.is(evaluatePolicy(p, facts({ action: 's3:PutObject', resource: 'arn:aws:s3:::home/bob/x' })), 'NoMatch')
  const narrow = parsePolicy(JSON.stringify({ Statement: { Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: 'arn:aws:s3:::b*' } }), { kind: 'identity' })
  t.is(evaluatePolicy(narrow, facts({ action: 's3:ListAllMyBuckets', resource: '*' })), 'NoMatch')
})

// ---- conditions ---------------------------------------------------------------------------

test('each operator, its negation, and a missing key', t => {
  const cases: Array<[string, string, unknown, Array<[string | string[] | undefined, Decision]>]> = [
    ['StringEquals', 's3:x-amz-acl', ['private', 'public-read'], [['public-read', 'Allow'], ['Public-Read', 'NoMatch'], [undefined, 'NoMatch']]],
    ['StringNotEquals', 's3:x-amz-acl', 'private', [['public-read', 'Allow'], ['private', 'NoMatch'], [undefined, 'Allow']]],
    ['StringEqualsIgnoreCase', 'aws:useragent', 'curl/*', [['CURL/*', 'Allow'], ['curl/8', 'NoMatch']]],
    ['StringNotEqualsIgnoreCase', 'aws:useragent', 'curl', [['CURL', 'NoMatch'], ['wget', 'Allow'], [undefined, 'Allow']]],
    ['StringLike', 'aws:useragent', 'aws-cli/?.*', [['aws-cli/2.15', 'Allow'], ['aws-cli/22', 'NoMatch'], [undefined, 'NoMatch']]],
    ['StringNotLike', 'aws:useragent', 'aws-cli/*', [['aws-cli/2', 'NoMatch'], ['boto3', 'Allow'], [undefined, 'Allow']]],
    ['NumericEquals', 's3:max-keys', 10, [['10', 'Allow'], ['10.0', 'Allow'], ['11', 'NoMatch'], ['ten', 'NoMatch'], [undefined, 'NoMatch']]],
    ['NumericNotEquals', 's3:max-keys', '10', [['10', 'NoMatch'], ['9', 'Allow'], [undefined, 'Allow']]],
    ['NumericLessThan', 's3:max-keys', '10', [['9', 'Allow'], ['10', 'NoMatch']]],
    ['NumericLessThanEquals', 's3:max-keys', '10', [['10', 'Allow'], ['11', 'NoMatch']]],
    ['NumericGreaterThan', 's3:max-keys', '10', [['11', 'Allow'], ['10', 'NoMatch']]],
    ['NumericGreaterThanEquals', 's3:max-keys', '10', [['10', 'Allow'], ['9.5', 'NoMatch']]],
    ['DateEquals', 'aws:currenttime', '2020-01-01T00:00:00Z', [['2020-01-01T00:00:00.000Z', 'Allow'], ['2020-01-01T00:00:01Z', 'NoMatch']]],
    ['DateNotEquals', 'aws:currenttime', '2020-01-01', [['2020-01-01T00:00:00Z', 'NoMatch'], ['2020-01-02T00:00:00Z', 'Allow'], [undefined, 'Allow']]],
    ['DateLessThan', 'aws:currenttime', '2020-01-01T00:00:00Z', [['2019-12-31T23:59:59Z', 'Allow'], ['2020-01-01T00:00:00Z', 'NoMatch']]],
    ['DateLessThanEquals', 'aws:epochtime', '1577836800', [['1577836800', 'Allow'], ['1577836801', 'NoMatch']]],
    ['DateGreaterThan', 'aws:currenttime', '1577836800', [['2020-01-01T00:00:01Z', 'Allow'], ['2020-01-01T00:00:00Z', 'NoMatch']]],
    ['DateGreaterThanEquals', 'aws:currenttime', '2020-01-01T01:00:00+01:00', [['2020-01-01T00:00:00Z', 'Allow'], ['2019-12-31T23:00:00Z', 'NoMatch']]],
    ['Bool', 'aws:securetransport', false, [['false', 'Allow'], ['true', 'NoMatch'], [undefined, 'NoMatch']]],
    ['BinaryEquals', 'aws:binary', 'QmluYXJ5', [['QmluYXJ5', 'Allow'], ['QmluYXJZ', 'NoMatch']]],
    ['ArnEquals', 'aws:sourcearn', 'arn:aws:s3:::b', [['arn:aws:s3:::b', 'Allow'], ['arn:aws:s3:::c', 'NoMatch']]],
    ['ArnLike', 'aws:sourcearn', 'arn:aws:sns:*:111122223333:topic-?', [['arn:aws:sns:eu-west-1:111122223333:topic-a', 'Allow'],
      ['arn:aws:sns:eu-west-1:111122223333:topic-ab', 'NoMatch'], ['arn:aws:sqs:eu-west-1:111122223333:topic-a', 'NoMatch'], ['not-an-arn', 'NoMatch']]],
    ['ArnNotEquals', 'aws:sourcearn', 'arn:aws:s3:::b', [['arn:aws:s3:::b', 'NoMatch'], ['arn:aws:s3:::c', 'Allow'], [undefined, 'Allow']]],
    ['ArnNotLike', 'aws:sourcearn', 'arn:aws:s3:::*', [['arn:aws:s3:::c', 'NoMatch'], ['arn:aws:sns:::c', 'Allow'], [undefined, 'Allow']]]
  ]
  for (const [operator, key, value, checks] of cases) {
    for (const [requestValue, expected] of checks) {
      t.is(decide({ [operator]: { [key]: value } }, { [key]: requestValue }), expected, `${operator} ${String(requestValue)}`)
    }
  }
})

test('IpAddress and NotIpAddress on IPv4 and IPv6 ranges', t => {
  const range = { IpAddress: { 'aws:SourceIp': ['192.0.2.0/24', '2001:db8:1::/48', '203.0.113.7'] } }
  const checks: Array<[string | undefined, Decision]> = [
    ['192.0.2.200', 'Allow'], ['192.0.3.1', 'NoMatch'], ['::ffff:192.0.2.9', 'Allow'], ['203.0.113.7', 'Allow'], ['203.0.113.8', 'NoMatch'],
    ['2001:db8:1:ffff::1', 'Allow'], ['2001:DB8:1::', 'Allow'], ['2001:db8:2::1', 'NoMatch'], ['::1', 'NoMatch'], ['garbage', 'NoMatch'], [undefined, 'NoMatch']
  ]
  for (const [ip, expected] of checks) t.is(decide(range, { 'aws:sourceip': ip }), expected, String(ip))
  const outside = { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', 'fd00::/8'] } }
  t.is(decide(outside, { 'aws:sourceip': '10.9.9.9' }), 'NoMatch')
  t.is(decide(outside, { 'aws:sourceip': 'fd12::1' }), 'NoMatch')
  t.is(decide(outside, { 'aws:sourceip': '11.0.0.1' }), 'Allow')
  t.is(decide(outside, { 'aws:sourceip': 'fe80::1%eth0' }), 'Allow')
  t.is(decide({ IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } }, { 'aws:sourceip': '8.8.8.8' }), 'Allow')
  t.is(decide({ IpAddress: { 'aws:SourceIp': '::/0' } }, { 'aws:sourceip': '8.8.8.8' }), 'NoMatch', 'families do not mix')
  t.deepEqual(parseIp('1.2.3.4'), { v6: false, bits: 0x01020304n })
  t.deepEqual(parseCidr('::ffff:1.2.3.4'), { v6: true, bits: 0xffff01020304n, prefix: 128 })
  for (const bad of ['1.2.3.256', '1::2::3', '1:2:3:4:5:6:7:8:9', '10.0.0.0/33', '::/129', '10.0.0.0/']) t.is(parseCidr(bad), undefined, bad)
})

test('S3 condition keys: SecureTransport, prefix, ExistingObjectTag, Referer', t => {
  const https = bucketPolicy(statement(), statement({ Effect: 'Deny', Action: 's3:*', Resource: [ARN, OBJECTS], Condition: { Bool: { 'aws:SecureTransport': 'false' } } }))
  t.is(evaluatePolicy(https, facts({ context: { 'aws:securetransport': 'true' } })), 'Allow')
  t.is(evaluatePolicy(https, facts({ context: { 'aws:securetransport': 'false' } })), 'Deny')

  const list = { StringLike: { 's3:prefix': ['home/${aws:username}/*', 'public/*'] } }
  const p = bucketPolicy(statement({ Action: 's3:ListBucket', Resource: ARN, Condition: list }))
  const ls = (prefix: string | undefined, principal = 'alice'): Decision =>
    evaluatePolicy(p, facts({ action: 's3:ListBucket', resource: ARN, principal, context: { 's3:prefix': prefix } }))
  t.is(ls('public/'), 'Allow')
  t.is(ls('home/alice/docs/'), 'Allow')
  t.is(ls('home/bob/'), 'NoMatch')
  t.is(ls('home/bob/', 'bob'), 'Allow')
  t.is(ls(''), 'NoMatch')
  t.is(ls(undefined), 'NoMatch')

  const tag = { StringEquals: { 's3:ExistingObjectTag/Security': 'public' } }
  t.is(decide(tag, { 's3:existingobjecttag/Security': 'public' }), 'Allow')
  t.is(decide(tag, { 's3:existingobjecttag/security': 'public' }), 'NoMatch', 'tag keys keep their case')
  t.is(decide(tag, { 's3:existingobjecttag/Security': 'private' }), 'NoMatch')
  t.is(decide(tag, {}), 'NoMatch')

  const referer = { StringLike: { 'aws:Referer': ['http://www.example.com/*', 'https://*.example.com/*'] } }
  t.is(decide(referer, { 'aws:referer': 'http://www.example.com/page' }, { principal: undefined }), 'Allow')
  t.is(decide(referer, { 'aws:referer': 'https://cdn.example.com/a' }, { principal: undefined }), 'Allow')
  t.is(decide(referer, { 'aws:referer': 'https://example.org/' }, { principal: undefined }), 'NoMatch')
  t.is(decide(referer, {}, { principal: undefined }), 'NoMatch')
})

test('IfExists makes a missing key satisfy any operator, and changes nothing when it is present', t => {
  const deny = (condition: Doc): Policy => bucketPolicy(statement(), statement({ Effect: 'Deny', Condition: condition }))
  const notAcl = deny({ StringNotEqualsIfExists: { 's3:x-amz-acl': 'private' } })
  t.is(evaluatePolicy(notAcl, facts()), 'Deny')
  t.is(evaluatePolicy(notAcl, facts({ context: { 's3:x-amz-acl': 'private' } })), 'Allow')
  const referer = { StringLikeIfExists: { 'aws:Referer': 'https://example.com/*' } }
  t.is(decide(referer, {}), 'Allow')
  t.is(decide(referer, { 'aws:referer': 'https://example.com/x' }), 'Allow')
  t.is(decide(referer, { 'aws:referer': 'https://evil.com/' }), 'NoMatch')
  t.is(decide({ NumericLessThanEqualsIfExists: { 's3:max-keys': 10 } }, {}), 'Allow')
  t.is(decide({ NumericLessThanEqualsIfExists: { 's3:max-keys': 10 } }, { 's3:max-keys': '11' }), 'NoMatch')
  t.is(decide({ BoolIfExists: { 'aws:SecureTransport': 'true' } }, { 'aws:securetransport': undefined }), 'Allow')
})

test('ForAnyValue and ForAllValues over multi-valued keys', t => {
  const any = { 'ForAnyValue:StringEquals': { 's3:RequestObjectTagKeys': ['Project', 'Owner'] } }
  t.is(decide(any, { 's3:requestobjecttagkeys': ['Owner', 'Cost'] }), 'Allow')
  t.is(decide(any, { 's3:requestobjecttagkeys': ['Cost'] }), 'NoMatch')
  t.is(decide(any, { 's3:requestobjecttagkeys': [] }), 'NoMatch')
  t.is(decide(any, {}), 'NoMatch')
  const all = { 'ForAllValues:StringEquals': { 's3:RequestObjectTagKeys': ['Project', 'Owner'] } }
  t.is(decide(all, { 's3:requestobjecttagkeys': ['Owner', 'Project'] }), 'Allow')
  t.is(decide(all, { 's3:requestobjecttagkeys': ['Owner', 'Cost'] }), 'NoMatch')
  t.is(decide(all, {}), 'Allow', 'holds on a missing key')
  const anyNot = { 'ForAnyValue:StringNotLike': { 'aws:TagKeys': ['Owner:*', 'State:??'] } }
  t.is(decide(anyNot, { 'aws:tagkeys': ['Owner:Legal', 'State:NY'] }), 'NoMatch')
  t.is(decide(anyNot, { 'aws:tagkeys': ['owner:Legal', 'Owner:Legal'] }), 'Allow')
  t.is(decide(anyNot, {}), 'NoMatch')
  const allNot = { 'ForAllValues:StringNotLike': { 'aws:TagKeys': ['Owner:*'] } }
  t.is(decide(allNot, { 'aws:tagkeys': ['owner:x', 'State:NY'] }), 'Allow')
  t.is(decide(allNot, { 'aws:tagkeys': ['owner:x', 'Owner:y'] }), 'NoMatch')
  // Without a qualifier, a positive operator needs one value to match, a negated one none.
  t.is(decide({ StringEquals: { 'aws:tagkeys': 'a' } }, { 'aws:tagkeys': ['b', 'a'] }), 'Allow')
  t.is(decide({ StringNotEquals: { 'aws:tagkeys': 'a' } }, { 'aws:tagkeys': ['b', 'a'] }), 'NoMatch')
})

test('Null tests whether a key is present; several operators and keys are ANDed', t => {
  t.is(decide({ Null: { 's3:x-amz-server-side-encryption': 'true' } }, {}), 'Allow')
  t.is(decide({ Null: { 's3:x-amz-server-side-encryption': true } }, { 's3:x-amz-server-side-encryption': 'AES256' }), 'NoMatch')
  t.is(decide({ Null: { 's3:x-amz-server-side-encryption': 'false' } }, { 's3:x-amz-server-side-encryption': 'AES256' }), 'Allow')
  t.is(decide({ Null: { 's3:versionid': 'false' } }, { 's3:versionid': undefined }), 'NoMatch')
  const both = { StringEquals: { 's3:x-amz-acl': 'private', 's3:x-amz-storage-class': 'STANDARD' }, Bool: { 'aws:SecureTransport': true } }
  t.is(decide(both, { 's3:x-amz-acl': 'private', 's3:x-amz-storage-class': 'STANDARD', 'aws:securetransport': 'true' }), 'Allow')
  t.is(decide(both, { 's3:x-amz-acl': 'private', 's3:x-amz-storage-class': 'STANDARD', 'aws:securetransport': 'false' }), 'NoMatch')
  t.is(decide(both, { 's3:x-amz-acl': 'private', 'aws:securetransport': 'true' }), 'NoMatch')
})

test('policy variables in Resource and Condition, under Version 2012-10-17 only', t => {
  const own = bucketPolicy(statement({ Resource: ARN + '/home/${aws:username}/*' }))
  t.is(evaluatePolicy(own, facts({ resource: ARN + '/home/alice/a' })), 'Allow')
  t.is(evaluatePolicy(own, facts({ resource: ARN + '/home/bob/a' })), 'NoMatch')
  t.is(evaluatePolicy(own, facts({ resource: ARN + '/home/alice/a', principal: undefined })), 'NoMatch', 'no value: matches no resource')
  const old = parsePolicy(JSON.stringify({ Version: '2008-10-17', Statement: [statement({ Resource: ARN + '/home/${aws:username}/*' })] }), { kind: 'bucket', bucket: 'b' })
  t.is(evaluatePolicy(old, facts({ resource: ARN + '/home/alice/a' })), 'NoMatch')
  t.is(evaluatePolicy(old, facts({ resource: ARN + '/home/${aws:username}/a' })), 'Allow')

  // ${*}, ${?} and ${$} are literal characters, and a variable's value never acts as a wildcard.
  const literal = bucketPolicy(statement({ Resource: ARN + '/${*}${?}${$}/${aws:userid}' }))
  t.is(evaluatePolicy(literal, facts({ resource: ARN + '/*?$/alice' })), 'Allow')
  t.is(evaluatePolicy(literal, facts({ resource: ARN + '/ab$/alice' })), 'NoMatch')
  t.is(evaluatePolicy(literal, facts({ resource: ARN + '/*?$/anonymous', principal: undefined })), 'Allow')
  t.is(evaluatePolicy(own, facts({ principal: '*', resource: ARN + '/home/bob/a' })), 'NoMatch')

  t.is(decide({ StringEquals: { 'aws:PrincipalType': '${aws:principaltype}' } }, {}), 'Allow')
  t.is(decide({ StringEquals: { 's3:prefix': "${aws:username, 'guest'}/" } }, { 's3:prefix': 'guest/' }, { principal: undefined }), 'Allow')
  t.is(decide({ StringEquals: { 's3:prefix': "${AWS:UserName, 'guest'}/" } }, { 's3:prefix': 'alice/' }), 'Allow')
  // A variable without a value: positive operators do not match, negated ones do.
  t.is(decide({ StringEquals: { 's3:prefix': '${aws:username}' } }, { 's3:prefix': '' }, { principal: undefined }), 'NoMatch')
  t.is(decide({ StringNotEquals: { 's3:prefix': '${aws:username}' } }, { 's3:prefix': '' }, { principal: undefined }), 'Allow')
  // Context values override the defaults taken from the principal.
  t.is(decide({ StringEquals: { 'aws:username': 'svc' } }, { 'aws:username': 'svc' }), 'Allow')
  t.is(decide({ StringEquals: { 'aws:userid': 'anonymous' } }, {}, { principal: undefined }), 'Allow')
  t.is(decide({ DateLessThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' } }, { 'aws:epochtime': '1500000000' }), 'Allow')
})

// ---- public -------------------------------------------------------------------------------

test('isPublicPolicy: a grant to everyone, unless a condition pins it to fixed values', t => {
  const pub = (...statements: Doc[]): boolean => isPublicPolicy(bucketPolicy(...statements))
  t.true(pub(statement()))
  t.true(pub(statement({ Principal: { AWS: '*' } })))
  t.true(pub(statement({ Principal: { AWS: ['alice', '*'] } })))
  t.false(pub(statement({ Principal: { AWS: 'alice' } })))
  t.false(pub(statement({ Effect: 'Deny' })))
  t.false(pub(statement({ Effect: 'Deny', Principal: undefined, NotPrincipal: { AWS: 'alice' } })))
  t.true(pub(statement({ Principal: { AWS: 'alice' } }), statement({ Action: 's3:PutObject' })))
  t.false(pub(statement({ Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/32' } } })))
  t.false(pub(statement({ Condition: { IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '2001:db8::/32'] } } })))
  t.true(pub(statement({ Condition: { IpAddress: { 'aws:SourceIp': '0.0.0.0/1' } } })))
  t.true(pub(statement({ Condition: { IpAddress: { 'aws:SourceIp': '2001:db8::/31' } } })))
  t.true(pub(statement({ Condition: { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } })))
  t.false(pub(statement({ Condition: { StringEquals: { 'aws:SourceVpc': 'vpc-91237329' } } })))
  t.true(pub(statement({ Condition: { StringLike: { 'aws:SourceVpc': 'vpc-*' } } })))
  t.false(pub(statement({ Condition: { ArnEquals: { 'aws:SourceArn': 'arn:aws:cloudfront::111122223333:distribution/E1' } } })))
  t.false(pub(statement({ Condition: { StringEquals: { 'aws:SourceAccount': '111122223333' } } })))
  t.true(pub(statement({ Condition: { StringEquals: { 'aws:SourceAccount': '${aws:username}' } } })))
  t.true(pub(statement({ Condition: { StringEqualsIfExists: { 'aws:SourceAccount': '111122223333' } } })))
  t.true(pub(statement({ Condition: { StringNotEquals: { 'aws:SourceAccount': '111122223333' } } })))
  t.true(pub(statement({ Condition: { StringEquals: { 'aws:Referer': 'https://example.com/' } } })))
  t.true(pub(statement({ Condition: { Bool: { 'aws:SecureTransport': 'true' } } })))
  t.false(pub(statement({ Condition: { Bool: { 'aws:SecureTransport': 'true' }, StringEquals: { 'aws:PrincipalOrgID': 'o-abc' } } })))
})
