import { createHash, randomBytes } from 'node:crypto'
import test from 'ava'
import { isS3Error } from '../src/errors.js'
import { parseSseCustomerKey, parseSseHeader, requireSecureForSseC } from '../src/protocol/sse-headers.js'
import type { S3Error } from '../src/errors.js'
import type { ExecutionContext } from 'ava'

const PROVIDE = 'Requests specifying Server Side Encryption with Customer provided keys must provide'
const key = randomBytes(32)
const keyB64 = key.toString('base64')
const md5 = (bytes: Uint8Array): string => createHash('md5').update(bytes).digest('base64')

function customer (prefix = '', over: Record<string, string | undefined> = {}): Record<string, string> {
  const headers: Record<string, string | undefined> = {
    [`x-amz-${prefix}server-side-encryption-customer-algorithm`]: 'AES256',
    [`x-amz-${prefix}server-side-encryption-customer-key`]: keyB64,
    [`x-amz-${prefix}server-side-encryption-customer-key-md5`]: md5(key),
  }
  for (const [name, value] of Object.entries(over)) headers[`x-amz-${prefix}server-side-encryption-customer-${name}`] = value
  return Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>
}

function s3Error (t: ExecutionContext, fn: () => unknown, code: string, status: number, message?: string | RegExp): S3Error | undefined {
  try {
    fn()
  } catch (error) {
    t.true(isS3Error(error), String(error))
    const err = error as S3Error
    t.is(err.code, code)
    t.is(err.status, status)
    if (typeof message === 'string') t.is(err.message, message)
    else if (message !== undefined) t.regex(err.message, message)
    return err
  }
  t.fail(`expected ${code}`)
  return undefined
}

test('no SSE-C headers: undefined', t => {
  t.is(parseSseCustomerKey({}), undefined)
  t.is(parseSseCustomerKey({ 'x-amz-server-side-encryption': 'AES256' }), undefined)
  t.is(parseSseCustomerKey(customer(), 'copy-source-'), undefined, 'the copy source reads only its own headers')
  t.is(parseSseCustomerKey(customer('copy-source-')), undefined)
})

test('a valid SSE-C key, for the object and for a copy source', t => {
  for (const prefix of ['', 'copy-source-'] as const) {
    const parsed = parseSseCustomerKey(customer(prefix), prefix)
    t.deepEqual(Buffer.from(parsed!.key), key)
    t.true(parsed!.key instanceof Uint8Array)
    t.is(parsed!.keyMd5, md5(key))
  }
})

test('a missing SSE-C header is InvalidArgument naming what is missing', t => {
  for (const prefix of ['', 'copy-source-'] as const) {
    const name = `x-amz-${prefix}server-side-encryption`
    const cases: Array<[Record<string, string | undefined>, string]> = [
      [{ algorithm: undefined }, `${PROVIDE} a valid encryption algorithm.`],
      [{ algorithm: undefined, 'key-md5': undefined }, `${PROVIDE} a valid encryption algorithm.`],
      [{ key: undefined }, `${PROVIDE} an appropriate secret key.`],
      [{ key: undefined, 'key-md5': undefined }, `${PROVIDE} an appropriate secret key.`],
      [{ 'key-md5': undefined }, `${PROVIDE} the client calculated MD5 of the secret key.`],
    ]
    for (const [over, message] of cases) {
      const err = s3Error(t, () => parseSseCustomerKey(customer(prefix, over), prefix), 'InvalidArgument', 400, message)
      t.is(err?.detail.ArgumentName, name)
    }
  }
})

test('an algorithm other than AES256 is InvalidEncryptionAlgorithmError', t => {
  for (const algorithm of ['aws:kms', 'AES128', 'aes256', '']) {
    const err = s3Error(t, () => parseSseCustomerKey(customer('', { algorithm })), 'InvalidEncryptionAlgorithmError', 400,
      'The Encryption request you specified is not valid. Supported value: AES256.')
    t.is(err?.detail.ArgumentValue, algorithm)
  }
})

test('a key that is not base64 of 32 bytes is InvalidArgument', t => {
  const bad = [
    randomBytes(16).toString('base64'),
    randomBytes(31).toString('base64'),
    randomBytes(33).toString('base64'),
    '',
    'not base64 at all, but 44 characters long!!',
    keyB64.replace(/=$/, '') + '==',
  ]
  for (const value of bad) {
    s3Error(t, () => parseSseCustomerKey(customer('', { key: value, 'key-md5': md5(Buffer.from(value, 'base64')) })), 'InvalidArgument', 400,
      'The secret key was invalid for the specified algorithm.')
  }
  s3Error(t, () => parseSseCustomerKey(customer('copy-source-', { key: randomBytes(24).toString('base64') }), 'copy-source-'), 'InvalidArgument', 400,
    'The secret key was invalid for the specified algorithm.')
})

test('an MD5 that does not match the key is InvalidArgument', t => {
  const message = 'The calculated MD5 hash of the key did not match the hash that was provided.'
  for (const value of [md5(randomBytes(32)), '', 'garbage', createHash('md5').update(key).digest('hex'), md5(Buffer.from(keyB64))]) {
    s3Error(t, () => parseSseCustomerKey(customer('', { 'key-md5': value })), 'InvalidArgument', 400, message)
  }
  s3Error(t, () => parseSseCustomerKey(customer('copy-source-', { 'key-md5': md5(randomBytes(32)) }), 'copy-source-'), 'InvalidArgument', 400, message)
})

test('x-amz-server-side-encryption: AES256 or absent', t => {
  t.is(parseSseHeader({}), undefined)
  t.is(parseSseHeader({ 'x-amz-server-side-encryption': 'AES256' }), 'AES256')
  t.is(parseSseHeader({ 'x-amz-copy-source-server-side-encryption-customer-algorithm': 'AES256', 'x-amz-server-side-encryption': 'AES256' }), 'AES256',
    'a copy source\'s key does not conflict with encrypting the destination')
})

test('SSE-KMS and DSSE-KMS are NotImplemented', t => {
  for (const value of ['aws:kms', 'aws:kms:dsse']) {
    s3Error(t, () => parseSseHeader({ 'x-amz-server-side-encryption': value }), 'NotImplemented', 501, /KMS/)
    s3Error(t, () => parseSseHeader({ 'x-amz-server-side-encryption': value, 'x-amz-server-side-encryption-aws-kms-key-id': 'k' }), 'NotImplemented', 501, /KMS/)
  }
})

test('any other x-amz-server-side-encryption value is InvalidArgument', t => {
  for (const value of ['aes256', 'AES128', 'aws:kms:other', '', ' AES256']) {
    const err = s3Error(t, () => parseSseHeader({ 'x-amz-server-side-encryption': value }), 'InvalidArgument', 400, 'The encryption method specified is not supported')
    t.is(err?.detail.ArgumentName, 'x-amz-server-side-encryption')
    t.is(err?.detail.ArgumentValue, value)
  }
})

test('SSE-S3 together with SSE-C is InvalidArgument', t => {
  const message = 'Server Side Encryption with Customer provided key is incompatible with the encryption method specified'
  for (const value of ['AES256', 'aws:kms']) {
    s3Error(t, () => parseSseHeader({ ...customer(), 'x-amz-server-side-encryption': value }), 'InvalidArgument', 400, message)
    s3Error(t, () => parseSseHeader({ 'x-amz-server-side-encryption-customer-key': keyB64, 'x-amz-server-side-encryption': value }), 'InvalidArgument', 400, message)
  }
})

test('a KMS key id without aws:kms is InvalidArgument', t => {
  for (const headers of [{}, { 'x-amz-server-side-encryption': 'AES256' }] as Array<Record<string, string>>) {
    const err = s3Error(t, () => parseSseHeader({ ...headers, 'x-amz-server-side-encryption-aws-kms-key-id': 'key-1' }), 'InvalidArgument', 400,
      'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms')
    t.is(err?.detail.ArgumentValue, 'key-1')
  }
})

test('SSE-C needs a secure connection unless the operator allows plain HTTP', t => {
  t.notThrows(() => requireSecureForSseC(true, false))
  t.notThrows(() => requireSecureForSseC(true, true))
  t.notThrows(() => requireSecureForSseC(false, true))
  s3Error(t, () => requireSecureForSseC(false, false), 'InvalidRequest', 400,
    'Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.')
})
