import test from 'ava'
import { createHmac } from 'node:crypto'
import { createRequire } from 'node:module'
import { checkPostPolicy, limitContentLength, missingPostField, verifyPostSignature, type PostPolicyCheck } from '../src/auth/post-policy.js'
import { readPostForm, expandFilename } from '../src/protocol/form-data.js'
import type { S3Error } from '../src/errors.js'
import type { CredentialProvider } from '../src/types.js'

const ACCESS_KEY = 'AKIDPOSTEXAMPLE'
const SECRET = 'post/example+secret'
const REGION = 'eu-west-3'
const credentials: CredentialProvider = (id) => id === ACCESS_KEY ? { secretAccessKey: SECRET } : undefined

/**
 * What @aws-sdk/s3-presigned-post 3.1164.0 returned for `createPresignedPost(client, { Bucket:
 * 'photos', Key: 'user/eric/${filename}', Expires: 600, Conditions: [['content-length-range', 1,
 * 1048576], ['starts-with', '$Content-Type', 'image/']], Fields: { acl: 'public-read',
 * 'Content-Type': 'image/png' } })`, its client in eu-west-3 with the key pair above and its clock
 * at 2025-03-01T12:00:00Z. The package is not a dependency; the live test below runs when it is
 * installed.
 */
const SDK_FIELDS: Record<string, string> = {
  acl: 'public-read',
  'Content-Type': 'image/png',
  bucket: 'photos',
  'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
  'X-Amz-Credential': 'AKIDPOSTEXAMPLE/20250301/eu-west-3/s3/aws4_request',
  'X-Amz-Date': '20250301T120000Z',
  key: 'user/eric/${filename}',
  Policy: 'eyJleHBpcmF0aW9uIjoiMjAyNS0wMy0wMVQxMjoxMDowMFoiLCJjb25kaXRpb25zIjpbWyJjb250ZW50LWxlbmd0aC1yYW5nZSIsMSwxMDQ4NTc2XSxbInN0YXJ0cy13aXRoIiwiJENvbnRlbnQtVHlwZSIsImltYWdlLyJdLHsiYWNsIjoicHVibGljLXJlYWQifSx7IkNvbnRlbnQtVHlwZSI6ImltYWdlL3BuZyJ9LHsiYnVja2V0IjoicGhvdG9zIn0seyJYLUFtei1BbGdvcml0aG0iOiJBV1M0LUhNQUMtU0hBMjU2In0seyJYLUFtei1DcmVkZW50aWFsIjoiQUtJRFBPU1RFWEFNUExFLzIwMjUwMzAxL2V1LXdlc3QtMy9zMy9hd3M0X3JlcXVlc3QifSx7IlgtQW16LURhdGUiOiIyMDI1MDMwMVQxMjAwMDBaIn0sWyJzdGFydHMtd2l0aCIsIiRrZXkiLCJ1c2VyL2VyaWMvIl1dfQ==',
  'X-Amz-Signature': 'c00d30c9408c724b8d5a2886aa40b84e07bb07c203d0c216372472560a36db4e'
}
const SDK_NOW = new Date('2025-03-01T12:05:00Z')
const SDK_EXPIRATION = new Date('2025-03-01T12:10:00Z')

/** Form fields as `readPostForm` gives them: names lower-cased. */
function formFields (fields: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(fields).map(([k, v]) => [k.toLowerCase(), v]))
}

function sdkForm (changes: Record<string, string | undefined> = {}): Map<string, string> {
  const fields = formFields(SDK_FIELDS)
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) fields.delete(k)
    else fields.set(k, v)
  }
  return fields
}

/** SigV4 POST signature, computed here from node:crypto alone. */
function signPolicy (policy: string, secret: string, date: string, region: string): string {
  let key: Buffer = Buffer.from(`AWS4${secret}`)
  for (const part of [date, region, 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest()
  return createHmac('sha256', key).update(policy).digest('hex')
}

function policyOf (doc: unknown): string {
  return Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)).toString('base64')
}

const NOW = new Date('2025-06-01T10:00:00Z')
const LATER = '2025-06-01T11:00:00.000Z'

interface CheckOptions { bucket?: string, now?: Date, expiration?: string }

/** Checks a form of `fields` (plus the policy) against a policy of `conditions`. */
function check (conditions: unknown[], fields: Record<string, string>, opts: CheckOptions = {}): PostPolicyCheck {
  const policy = policyOf({ expiration: opts.expiration ?? LATER, conditions })
  const form = formFields({ ...fields, policy })
  return checkPostPolicy(policy, form, { bucket: opts.bucket ?? 'photos', now: opts.now ?? NOW })
}

function failure (run: () => unknown): { code?: string, message?: string, detail?: Record<string, string> } | undefined {
  try {
    run()
    return undefined
  } catch (err) {
    const e = err as S3Error
    return { code: e.code, message: e.message, detail: e.detail }
  }
}

function conditionFailed (text: string): { code: string, message: string } {
  return { code: 'AccessDenied', message: `Invalid according to Policy: Policy Condition failed: ${text}` }
}

// ---- signatures ------------------------------------------------------------------------------

test('a form signed by @aws-sdk/s3-presigned-post verifies', async t => {
  const auth = await verifyPostSignature(sdkForm(), { credentials, region: REGION, now: SDK_NOW })
  t.deepEqual(auth, { anonymous: false, accessKeyId: ACCESS_KEY, principal: ACCESS_KEY, displayName: ACCESS_KEY, signatureVersion: 4 })
  t.is(signPolicy(SDK_FIELDS.Policy, SECRET, '20250301', REGION), SDK_FIELDS['X-Amz-Signature'])
})

test('the signer\'s principal and display name come from the credential provider', async t => {
  const named: CredentialProvider = async () => ({ secretAccessKey: SECRET, principal: 'owner-1', displayName: 'Eric' })
  t.like(await verifyPostSignature(sdkForm(), { credentials: named, region: REGION, now: SDK_NOW }), { principal: 'owner-1', displayName: 'Eric' })
})

test('field names are matched case-insensitively, and the signature\'s hex case does not matter', async t => {
  const mixed = new Map(Object.entries(SDK_FIELDS))
  mixed.set('X-Amz-Signature', SDK_FIELDS['X-Amz-Signature'].toUpperCase())
  t.false((await verifyPostSignature(mixed, { credentials, region: REGION, now: SDK_NOW })).anonymous)
})

test('wrong secret, tampered policy or signature: SignatureDoesNotMatch', async t => {
  const wrongSecret: CredentialProvider = () => ({ secretAccessKey: 'not-the-secret' })
  await t.throwsAsync(verifyPostSignature(sdkForm(), { credentials: wrongSecret, region: REGION, now: SDK_NOW }), { code: 'SignatureDoesNotMatch' })
  const tampered = policyOf(Buffer.from(SDK_FIELDS.Policy, 'base64').toString().replace('user/eric/', 'user/'))
  await t.throwsAsync(verifyPostSignature(sdkForm({ policy: tampered }), { credentials, region: REGION, now: SDK_NOW }), { code: 'SignatureDoesNotMatch' })
  await t.throwsAsync(verifyPostSignature(sdkForm({ 'x-amz-signature': '00' + SDK_FIELDS['X-Amz-Signature'].slice(2) }), { credentials, region: REGION, now: SDK_NOW }), { code: 'SignatureDoesNotMatch' })
  const err = await t.throwsAsync<S3Error>(verifyPostSignature(sdkForm({ 'x-amz-signature': 'abc' }), { credentials, region: REGION, now: SDK_NOW }), { code: 'SignatureDoesNotMatch' })
  t.is(err?.status, 403)
})

test('an unknown access key is InvalidAccessKeyId', async t => {
  const policy = SDK_FIELDS.Policy
  const form = sdkForm({ 'x-amz-credential': 'AKIDUNKNOWN/20250301/eu-west-3/s3/aws4_request', 'x-amz-signature': signPolicy(policy, SECRET, '20250301', REGION) })
  const err = await t.throwsAsync<S3Error>(verifyPostSignature(form, { credentials, region: REGION, now: SDK_NOW }), { code: 'InvalidAccessKeyId' })
  t.deepEqual(err?.detail, { AWSAccessKeyId: 'AKIDUNKNOWN' })
})

test('a credential for another region, date, service, or malformed: AuthorizationQueryParametersError', async t => {
  const err = await t.throwsAsync<S3Error>(verifyPostSignature(sdkForm(), { credentials, region: 'us-east-1', now: SDK_NOW }), { code: 'AuthorizationQueryParametersError' })
  t.is(err?.message, 'Error parsing the X-Amz-Credential parameter; the region \'eu-west-3\' is wrong; expecting \'us-east-1\'')
  t.deepEqual(err?.detail, { Region: 'us-east-1' })
  for (const credential of [
    'AKIDPOSTEXAMPLE/20250302/eu-west-3/s3/aws4_request', // not the x-amz-date's day
    'AKIDPOSTEXAMPLE/2025-03-01/eu-west-3/s3/aws4_request',
    'AKIDPOSTEXAMPLE/20250301/eu-west-3/ec2/aws4_request',
    'AKIDPOSTEXAMPLE/20250301/eu-west-3/s3/aws4',
    'AKIDPOSTEXAMPLE/20250301/eu-west-3/s3',
    'malformed'
  ]) {
    await t.throwsAsync(verifyPostSignature(sdkForm({ 'x-amz-credential': credential }), { credentials, region: REGION, now: SDK_NOW }), { code: 'AuthorizationQueryParametersError' }, credential)
  }
  await t.throwsAsync(verifyPostSignature(sdkForm({ 'x-amz-algorithm': 'AWS4-HMAC-SHA1' }), { credentials, region: REGION, now: SDK_NOW }), { code: 'AuthorizationQueryParametersError' })
  await t.throwsAsync(verifyPostSignature(sdkForm({ 'x-amz-date': '2025-03-01T12:00:00Z' }), { credentials, region: REGION, now: SDK_NOW }), { code: 'AccessDenied' })
})

test('some signature fields but not all: InvalidArgument naming the missing one', async t => {
  for (const name of ['policy', 'x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature']) {
    for (const value of [undefined, '']) {
      const err = await t.throwsAsync<S3Error>(verifyPostSignature(sdkForm({ [name]: value }), { credentials, region: REGION, now: SDK_NOW }), { code: 'InvalidArgument' })
      t.is(err?.message, `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`)
      t.is(err?.detail.ArgumentName, name)
    }
  }
  t.is(missingPostField('key').message, 'Bucket POST must contain a field named \'key\'.  If it is specified, please check the order of the fields.')
})

test('no signature fields: anonymous; a policy alone is AccessDenied; SigV2 forms are refused when SigV2 is off', async t => {
  const opts = { credentials, region: REGION, now: SDK_NOW }
  t.deepEqual(await verifyPostSignature(formFields({ key: 'k', acl: 'public-read' }), opts), { anonymous: true })
  t.deepEqual(await verifyPostSignature(formFields({ key: 'k', policy: '', 'x-amz-signature': '' }), opts), { anonymous: true })
  await t.throwsAsync(verifyPostSignature(formFields({ key: 'k', policy: SDK_FIELDS.Policy }), opts), { code: 'AccessDenied', message: 'Access Denied' })
  const v2 = formFields({ key: 'k', policy: SDK_FIELDS.Policy, AWSAccessKeyId: ACCESS_KEY, signature: 'abc=' })
  await t.throwsAsync(verifyPostSignature(v2, { ...opts, signatureV2: false }), { code: 'InvalidRequest' })
  await t.throwsAsync(verifyPostSignature(v2, opts), { code: 'SignatureDoesNotMatch' })
})

test('SigV2 forms: signature = base64 HMAC-SHA1(secret, policy); missing fields, unknown keys; AWSAccessKeyId and signature need no condition', async t => {
  const opts = { credentials, region: REGION, now: SDK_NOW }
  const policy = SDK_FIELDS.Policy
  const signature = createHmac('sha1', SECRET).update(policy).digest('base64')
  t.like(await verifyPostSignature(formFields({ key: 'k', AWSAccessKeyId: ACCESS_KEY, policy, signature }), opts), { anonymous: false, accessKeyId: ACCESS_KEY, signatureVersion: 2 })
  await t.throwsAsync(verifyPostSignature(formFields({ key: 'k', AWSAccessKeyId: ACCESS_KEY, policy, signature: signature.replace(/^./, c => c === 'A' ? 'B' : 'A') }), opts), { code: 'SignatureDoesNotMatch' })
  await t.throwsAsync(verifyPostSignature(formFields({ key: 'k', AWSAccessKeyId: 'AKIDUNKNOWN', policy, signature }), opts), { code: 'InvalidAccessKeyId' })
  for (const [drop, label] of [['AWSAccessKeyId', 'AWSAccessKeyId'], ['policy', 'policy'], ['signature', 'signature']]) {
    const fields: Record<string, string> = { key: 'k', AWSAccessKeyId: ACCESS_KEY, policy, signature }
    delete fields[drop]
    const err = await t.throwsAsync(verifyPostSignature(formFields(fields), opts)) as S3Error
    t.is(err.code, 'InvalidArgument', drop)
    t.is(err.detail?.ArgumentName, label)
  }
  const doc = (conditions: unknown[]): string => Buffer.from(JSON.stringify({ expiration: '2099-01-01T00:00:00Z', conditions })).toString('base64')
  const v2Policy = doc([{ bucket: 'b' }, ['starts-with', '$key', '']])
  const fields = formFields({ key: 'k', AWSAccessKeyId: ACCESS_KEY, policy: v2Policy, signature: 'x' })
  t.deepEqual(checkPostPolicy(v2Policy, fields, { bucket: 'b', now: SDK_NOW, signatureVersion: 2 }), {})
  const e = t.throws(() => checkPostPolicy(v2Policy, fields, { bucket: 'b', now: SDK_NOW })) as S3Error
  t.regex(e.message, /Extra input fields: awsaccesskeyid, signature/, 'under SigV4 rules they are fields like any other')
})

// ---- the SDK's policy ------------------------------------------------------------------------

test('the SDK\'s policy holds for its own form, with ${filename} expanded, and gives its content-length-range', t => {
  const form = sdkForm({ key: expandFilename(SDK_FIELDS.key, 'cat.png') })
  t.deepEqual(checkPostPolicy(SDK_FIELDS.Policy, form, { bucket: 'photos', now: SDK_NOW }), { contentLengthRange: { min: 1, max: 1048576 } })
  // Until its expiration, inclusive; then it has expired.
  t.notThrows(() => checkPostPolicy(SDK_FIELDS.Policy, form, { bucket: 'photos', now: SDK_EXPIRATION }))
  t.like(failure(() => checkPostPolicy(SDK_FIELDS.Policy, form, { bucket: 'photos', now: new Date(SDK_EXPIRATION.getTime() + 1000) })), { code: 'AccessDenied', message: 'Invalid according to Policy: Policy expired.' })
})

test('the SDK\'s policy refuses another key prefix, content type, bucket or ACL, naming the condition', t => {
  const opts = { bucket: 'photos', now: SDK_NOW }
  t.like(failure(() => checkPostPolicy(SDK_FIELDS.Policy, sdkForm({ key: 'user/bob/cat.png' }), opts)), conditionFailed('["starts-with", "$key", "user/eric/"]'))
  t.like(failure(() => checkPostPolicy(SDK_FIELDS.Policy, sdkForm({ key: 'user/eric/a', 'content-type': 'text/html' }), opts)), conditionFailed('["starts-with", "$Content-Type", "image/"]'))
  t.like(failure(() => checkPostPolicy(SDK_FIELDS.Policy, sdkForm({ key: 'user/eric/a', 'content-type': 'image/gif' }), opts)), conditionFailed('["eq", "$Content-Type", "image/png"]'))
  t.like(failure(() => checkPostPolicy(SDK_FIELDS.Policy, sdkForm({ key: 'user/eric/a', acl: 'private' }), opts)), conditionFailed('["eq", "$acl", "public-read"]'))
  // The bucket posted to counts, not the form's bucket field.
  t.like(failure(() => checkPostPolicy(SDK_FIELDS.Policy, sdkForm({ key: 'user/eric/a' }), { ...opts, bucket: 'other' })), conditionFailed('["eq", "$bucket", "photos"]'))
  t.like(failure(() => checkPostPolicy(SDK_FIELDS.Policy, sdkForm({ key: 'user/eric/a', 'x-amz-meta-x': '1' }), opts)), { code: 'AccessDenied', message: 'Invalid according to Policy: Extra input fields: x-amz-meta-x' })
})

// ---- conditions ------------------------------------------------------------------------------

test('exact match, both spellings: holds only for the same value', t => {
  for (const condition of [{ acl: 'private' }, ['eq', '$acl', 'private']]) {
    t.deepEqual(check([{ bucket: 'photos' }, condition], { acl: 'private' }), {})
    const text = '["eq", "$acl", "private"]'
    t.like(failure(() => check([{ bucket: 'photos' }, condition], { acl: 'Private' })), conditionFailed(text))
    t.like(failure(() => check([{ bucket: 'photos' }, condition], { acl: 'private ' })), conditionFailed(text))
    t.like(failure(() => check([{ bucket: 'photos' }, condition], {})), conditionFailed(text))
  }
  t.like(failure(() => check([{ bucket: 'photos' }, ['eq', '$x-amz-meta-foo', '']], { 'x-amz-meta-foo': 'barclamp' })), conditionFailed('["eq", "$x-amz-meta-foo", ""]'))
})

test('starts-with: a prefix; an empty prefix matches anything, an absent field too', t => {
  const base = [{ bucket: 'photos' }]
  t.deepEqual(check([...base, ['starts-with', '$key', 'user/eric/']], { key: 'user/eric/a.png' }), {})
  t.deepEqual(check([...base, ['starts-with', '$key', 'user/eric/']], { key: 'user/eric/' }), {})
  t.like(failure(() => check([...base, ['starts-with', '$key', 'user/eric/']], { key: 'user/eri' })), conditionFailed('["starts-with", "$key", "user/eric/"]'))
  t.like(failure(() => check([...base, ['starts-with', '$key', 'user/eric/']], { key: 'USER/eric/a' })), { code: 'AccessDenied' })
  t.deepEqual(check([...base, ['starts-with', '$x-amz-meta-tag', '']], { 'x-amz-meta-tag': 'anything' }), {})
  t.deepEqual(check([...base, ['starts-with', '$success_action_redirect', '']], {}), {})
})

test('starts-with on Content-Type holds for each type of a comma-separated list', t => {
  const conditions = [{ bucket: 'photos' }, ['starts-with', '$Content-Type', 'image/']]
  t.deepEqual(check(conditions, { 'Content-Type': 'image/jpg,image/png, image/gif' }), {})
  t.like(failure(() => check(conditions, { 'Content-Type': 'image/jpg,text/plain' })), conditionFailed('["starts-with", "$Content-Type", "image/"]'))
})

test('field names and operations are case-insensitive; values are not', t => {
  const conditions = [{ bUcKeT: 'photos' }, ['StArTs-WiTh', '$KeY', 'foo'], { AcL: 'private' }, ['EQ', '$CoNtEnT-TyPe', 'text/plain']]
  t.deepEqual(check(conditions, { kEy: 'foo.txt', aCl: 'private', 'content-type': 'text/plain' }), {})
  t.like(failure(() => check(conditions, { key: 'foo.txt', acl: 'PRIVATE', 'content-type': 'text/plain' })), conditionFailed('["eq", "$AcL", "private"]'))
})

test('a condition on a name without its $ never holds', t => {
  t.like(failure(() => check([{ bucket: 'photos' }, ['eq', 'key', 'k']], { key: 'k' })), conditionFailed('["eq", "key", "k"]'))
})

test('every field must be named by a condition, but x-amz-signature, file, policy and x-ignore-*', t => {
  const conditions = [{ bucket: 'photos' }, ['starts-with', '$key', '']]
  t.deepEqual(check(conditions, { key: 'k', 'x-amz-signature': 'sig', file: 'f', 'x-ignore-submit': 'Upload', 'X-Ignore-Other': 'y' }), {})
  t.like(failure(() => check(conditions, { key: 'k', 'Content-Type': 'text/plain' })), { code: 'AccessDenied', message: 'Invalid according to Policy: Extra input fields: content-type' })
  t.like(failure(() => check(conditions, { key: 'k', 'x-amz-meta-a': '1', 'x-amz-meta-b': '2' })), { message: 'Invalid according to Policy: Extra input fields: x-amz-meta-a, x-amz-meta-b' })
  t.like(failure(() => check(conditions, { key: 'k', 'x-amz-date': '20250601T000000Z' })), { message: 'Invalid according to Policy: Extra input fields: x-amz-date' })
  // The bucket is always there: a policy must name it.
  t.like(failure(() => check([['starts-with', '$key', '']], { key: 'k' })), { code: 'AccessDenied', message: 'Invalid according to Policy: Extra input fields: bucket' })
  t.deepEqual(check([['eq', '$bucket', 'photos'], ['starts-with', '$key', '']], { key: 'k', bucket: 'photos' }), {})
})

test('content-length-range is returned for the caller, several intersect, numbers may be strings', t => {
  t.deepEqual(check([{ bucket: 'photos' }, ['content-length-range', 0, 1024]], {}), { contentLengthRange: { min: 0, max: 1024 } })
  t.deepEqual(check([{ bucket: 'photos' }, ['content-length-range', 10, 1000], ['content-length-range', '100', '5000']], {}), { contentLengthRange: { min: 100, max: 1000 } })
})

test('S3\'s escapes in policy strings: \\$ is a dollar sign', t => {
  const raw = `{"expiration": "${LATER}", "conditions": [{"bucket": "photos"}, ["starts-with", "$key", "\\$foo"], {"x-amz-meta-v": "a\\vb\\x41"}]}`
  const policy = policyOf(raw)
  const form = formFields({ key: '$foo.txt', 'x-amz-meta-v': 'a\u000bbA', policy })
  t.deepEqual(checkPostPolicy(policy, form, { bucket: 'photos', now: NOW }), {})
  const escapedBackslash = policyOf(`{"expiration": "${LATER}", "conditions": [{"bucket": "photos"}, ["starts-with", "$key", "\\\\$foo"]]}`)
  t.deepEqual(checkPostPolicy(escapedBackslash, formFields({ key: '\\$foo.txt' }), { bucket: 'photos', now: NOW }), {})
})

// ---- malformed policies ----------------------------------------------------------------------

test('policies that do not decode or parse are InvalidPolicyDocument', t => {
  const cases: Array<[string, string]> = [
    ['', 'Invalid Policy: Expecting \'{\' but found End-of-Input'],
    ['not base64!', 'Invalid Policy: invalid Base64 encoding.'],
    [policyOf('not json'), 'Invalid Policy: Invalid JSON.'],
    [policyOf('[]'), 'Invalid Policy: Invalid JSON.'],
    [policyOf({ conditions: [] }), 'Invalid Policy: Policy missing expiration.'],
    [policyOf({ EXPIRATION: LATER, conditions: [] }), 'Invalid Policy: Unexpected: "EXPIRATION"'],
    [policyOf({ expiration: LATER, conditions: [], extra: 'field' }), 'Invalid Policy: Unexpected: "extra"'],
    [policyOf({ expiration: true, conditions: [] }), 'Invalid Policy: Invalid JSON.'],
    [policyOf({ expiration: '2025-06-01 11:00:00+00:00', conditions: [] }), 'Invalid Policy: Invalid \'expiration\' value: \'2025-06-01 11:00:00+00:00\''],
    [policyOf({ expiration: '2025-02-30T00:00:00Z', conditions: [] }), 'Invalid Policy: Invalid \'expiration\' value: \'2025-02-30T00:00:00Z\''],
    [policyOf({ expiration: LATER }), 'Invalid Policy: Policy missing conditions.'],
    [policyOf({ expiration: LATER, conditions: true }), 'Invalid Policy: Invalid \'conditions\' value: must be a List.'],
    [policyOf({ expiration: LATER, conditions: [true] }), 'Invalid Policy: Invalid condition test: must be a List or Object.'],
    [policyOf({ expiration: LATER, conditions: [[]] }), 'Invalid Policy: Invalid Condition: missing operation identifier.'],
    [policyOf({ expiration: LATER, conditions: [['ends-with', '$key', 'x']] }), 'Invalid Policy: Invalid Condition: unknown operation \'ends-with\'.'],
    [policyOf({ expiration: LATER, conditions: [['eq', '$key', 'x', 'y']] }), 'Invalid Policy: Invalid eq: wrong number of arguments.'],
    [policyOf({ expiration: LATER, conditions: [['content-length-range', 0]] }), 'Invalid Policy: Invalid content-length-range: wrong number of arguments.'],
    [policyOf({ expiration: LATER, conditions: [['content-length-range', -1, 0]] }), 'Invalid Policy: Invalid JSON.'],
    [policyOf({ expiration: LATER, conditions: [['content-length-range', 1.5, 10]] }), 'Invalid Policy: Invalid JSON.'],
    [policyOf({ expiration: LATER, conditions: [['content-length-range', 'a', '10']] }), 'Invalid Policy: Invalid JSON.'],
    [policyOf({ expiration: LATER, conditions: [['eq', false, 'x']] }), 'Invalid Policy: Invalid JSON.'],
    [policyOf({ expiration: LATER, conditions: [['eq', '$key', true]] }), 'Invalid Policy: Invalid JSON.'],
    [policyOf({ expiration: LATER, conditions: [{}] }), 'Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.'],
    [policyOf({ expiration: LATER, conditions: [{ a: 'b', c: 'd' }] }), 'Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.'],
    [policyOf({ expiration: LATER, conditions: [{ expires: true }] }), 'Invalid Policy: Invalid Simple-Condition: value must be a string.'],
    [Buffer.from([0x7b, 0xff, 0x7d]).toString('base64'), 'Invalid Policy: Invalid JSON.']
  ]
  for (const [policy, message] of cases) {
    const err = failure(() => checkPostPolicy(policy, formFields({ policy }), { bucket: 'photos', now: NOW }))
    t.deepEqual(err && { code: err.code, message: err.message }, { code: 'InvalidPolicyDocument', message }, message)
  }
})

test('base64 wrapped over lines is accepted', t => {
  const policy = policyOf({ expiration: LATER, conditions: [{ bucket: 'photos' }] })
  const wrapped = policy.replace(/(.{20})/g, '$1\r\n')
  t.deepEqual(checkPostPolicy(wrapped, formFields({}), { bucket: 'photos', now: NOW }), {})
})

// ---- the file's size -------------------------------------------------------------------------

async function * bytes (...sizes: number[]): AsyncGenerator<Uint8Array> {
  for (const n of sizes) yield new Uint8Array(n)
}

async function total (stream: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0
  for await (const c of stream) n += c.byteLength
  return n
}

test('limitContentLength: EntityTooLarge as soon as the file passes max, EntityTooSmall under min', async t => {
  t.is(await total(limitContentLength(bytes(10, 10), { min: 20, max: 20 })), 20)
  const large = await t.throwsAsync<S3Error>(total(limitContentLength(bytes(10, 11, 1000000), { min: 0, max: 20 })), { code: 'EntityTooLarge' })
  t.deepEqual(large?.detail, { ProposedSize: '21', MaxSizeAllowed: '20' })
  const small = await t.throwsAsync<S3Error>(total(limitContentLength(bytes(3), { min: 512, max: 1000 })), { code: 'EntityTooSmall' })
  t.deepEqual(small?.detail, { ProposedSize: '3', MinSizeAllowed: '512' })
  await t.throwsAsync(total(limitContentLength(bytes(), { min: 1, max: 10 })), { code: 'EntityTooSmall' })
})

// ---- end to end ------------------------------------------------------------------------------

/** The SDK's fields and a file, framed as multipart/form-data by undici's FormData. */
async function sdkRequest (file: Uint8Array, filename: string): Promise<{ body: Buffer, contentType?: string }> {
  const fd = new FormData()
  for (const [k, v] of Object.entries(SDK_FIELDS)) fd.append(k, v)
  fd.append('file', new Blob([file], { type: 'image/png' }), filename)
  fd.append('x-amz-meta-after-the-file', 'ignored')
  const request = new Request('http://127.0.0.1:1/photos', { method: 'POST', body: fd })
  return { body: Buffer.from(await request.arrayBuffer()), contentType: request.headers.get('content-type') ?? undefined }
}

async function * cut (data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size)
}

async function upload (file: Uint8Array, filename: string): Promise<{ key: string, bytes: number }> {
  const { body, contentType } = await sdkRequest(file, filename)
  const form = await readPostForm(cut(body, 1000), contentType)
  if (form.file === undefined) throw new Error('the form has no file')
  await verifyPostSignature(form.fields, { credentials, region: REGION, now: SDK_NOW })
  const fields = new Map(form.fields)
  const key = expandFilename(fields.get('key') ?? '', form.file.filename)
  fields.set('key', key)
  const policy = checkPostPolicy(fields.get('policy') ?? '', fields, { bucket: 'photos', now: SDK_NOW })
  const stream = policy.contentLengthRange === undefined ? form.file.stream : limitContentLength(form.file.stream, policy.contentLengthRange)
  return { key, bytes: await total(stream) }
}

test('end to end: an SDK-signed form through readPostForm, verifyPostSignature and checkPostPolicy', async t => {
  t.deepEqual(await upload(new Uint8Array(5000), 'C:\\Users\\eric\\cat.png'), { key: 'user/eric/cat.png', bytes: 5000 })
  await t.throwsAsync(upload(new Uint8Array(1048577), 'big.png'), { code: 'EntityTooLarge' })
  await t.throwsAsync(upload(new Uint8Array(0), 'empty.png'), { code: 'EntityTooSmall' })
})

// ---- the live SDK, when it is installed ------------------------------------------------------

/** Whether a package resolves from here, without loading it (tests must be declared synchronously). */
function installed (name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name)
    return true
  } catch {
    return false
  }
}

// Names in variables, so that the type checker does not look for packages that may be absent.
const PRESIGNED_POST = '@aws-sdk/s3-presigned-post'
const CLIENT_S3 = '@aws-sdk/client-s3'

;(installed(PRESIGNED_POST) && installed(CLIENT_S3) ? test : test.skip)('live @aws-sdk/s3-presigned-post: its forms verify and hold, and a wrong secret does not', async t => {
  const { createPresignedPost } = await import(PRESIGNED_POST)
  const { S3Client } = await import(CLIENT_S3)
  const at = Date.parse('2025-09-15T08:30:00Z')
  const client = new S3Client({
    region: REGION,
    endpoint: 'http://127.0.0.1:1',
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
    systemClockOffset: at - Date.now()
  })
  const { fields } = await createPresignedPost(client, {
    Bucket: 'photos',
    Key: 'docs/${filename}',
    Expires: 300,
    Conditions: [['content-length-range', 0, 100], ['starts-with', '$x-amz-meta-tag', '']],
    Fields: { 'x-amz-meta-tag': 'sdk', success_action_status: '201' }
  })
  const form = formFields(fields as Record<string, string>)
  const now = new Date(at + 60000)
  t.like(await verifyPostSignature(form, { credentials, region: REGION, now }), { anonymous: false, accessKeyId: ACCESS_KEY })
  await t.throwsAsync(verifyPostSignature(form, { credentials: () => ({ secretAccessKey: 'wrong' }), region: REGION, now }), { code: 'SignatureDoesNotMatch' })
  form.set('key', expandFilename(form.get('key') ?? '', 'report.pdf'))
  t.deepEqual(checkPostPolicy(form.get('policy') ?? '', form, { bucket: 'photos', now }), { contentLengthRange: { min: 0, max: 100 } })
  t.like(failure(() => checkPostPolicy(form.get('policy') ?? '', form, { bucket: 'photos', now: new Date(at + 301000) })), { message: 'Invalid according to Policy: Policy expired.' })
  client.destroy()
})
