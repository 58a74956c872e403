import { createHash } from 'node:crypto'
import { S3Error } from '../errors.js'

/**
 * Server-side encryption request headers, checked as Amazon S3 checks them. Header names are
 * lower-case. Errors name `x-amz-server-side-encryption` as the argument, as S3 does.
 */

export interface SseCustomerKey {
  /** The customer's 32-byte AES-256 key. */
  key: Uint8Array
  /** Base64 MD5 of the key, as the client sent it (and as S3 echoes it in responses). */
  keyMd5: string
}

const SSE = 'x-amz-server-side-encryption'
const KMS_KEY_ID = 'x-amz-server-side-encryption-aws-kms-key-id'
const PROVIDE = 'Requests specifying Server Side Encryption with Customer provided keys must provide'

/**
 * The SSE-C key of a request: `x-amz-server-side-encryption-customer-algorithm`, `-key` and
 * `-key-md5` (prefix '') or the `x-amz-copy-source-server-side-encryption-customer-*` headers of a
 * copy's source (prefix 'copy-source-'). `undefined` when none of the three is present.
 *
 * Missing headers are reported first (algorithm, key, MD5), then an algorithm other than AES256
 * (InvalidEncryptionAlgorithmError), a key that is not base64 of 32 bytes, and an MD5 that does not
 * match the key (InvalidArgument).
 */
export function parseSseCustomerKey (headers: Record<string, string>, prefix: '' | 'copy-source-' = ''): SseCustomerKey | undefined {
  const name = `x-amz-${prefix}server-side-encryption`
  const algorithm = headers[`${name}-customer-algorithm`]
  const key = headers[`${name}-customer-key`]
  const keyMd5 = headers[`${name}-customer-key-md5`]
  if (algorithm === undefined && key === undefined && keyMd5 === undefined) return undefined
  const invalid = (message: string): S3Error => new S3Error('InvalidArgument', message, { ArgumentName: name })
  if (algorithm === undefined) throw invalid(`${PROVIDE} a valid encryption algorithm.`)
  if (key === undefined) throw invalid(`${PROVIDE} an appropriate secret key.`)
  if (keyMd5 === undefined) throw invalid(`${PROVIDE} the client calculated MD5 of the secret key.`)
  if (algorithm !== 'AES256') {
    throw new S3Error('InvalidEncryptionAlgorithmError', 'The Encryption request you specified is not valid. Supported value: AES256.',
      { ArgumentName: name, ArgumentValue: algorithm })
  }
  const bytes = Buffer.from(key, 'base64')
  // Only canonical base64 (what re-encoding the decoded bytes gives): Buffer itself skips junk.
  if (bytes.byteLength !== 32 || bytes.toString('base64') !== key) throw invalid('The secret key was invalid for the specified algorithm.')
  if (createHash('md5').update(bytes).digest('base64') !== keyMd5) {
    throw invalid('The calculated MD5 hash of the key did not match the hash that was provided.')
  }
  return { key: new Uint8Array(bytes), keyMd5 }
}

/**
 * The SSE-S3 request of a write: `x-amz-server-side-encryption: AES256` gives 'AES256', no header
 * gives `undefined`. SSE-KMS and DSSE-KMS ('aws:kms', 'aws:kms:dsse') are NotImplemented; any other
 * value is InvalidArgument, as is the header together with SSE-C headers, or a KMS key id without
 * `aws:kms`.
 */
export function parseSseHeader (headers: Record<string, string>): 'AES256' | undefined {
  const value = headers[SSE]
  const kmsKeyId = headers[KMS_KEY_ID]
  const customer = [`${SSE}-customer-algorithm`, `${SSE}-customer-key`, `${SSE}-customer-key-md5`].some(h => headers[h] !== undefined)
  if (value !== undefined && customer) {
    throw new S3Error('InvalidArgument', 'Server Side Encryption with Customer provided key is incompatible with the encryption method specified',
      { ArgumentName: SSE, ArgumentValue: value })
  }
  if (value === 'aws:kms' || value === 'aws:kms:dsse') {
    throw new S3Error('NotImplemented', `Server-side encryption with AWS KMS keys (${value}) is not supported by this gateway; use AES256 (SSE-S3) or SSE-C.`)
  }
  if (kmsKeyId !== undefined) {
    throw new S3Error('InvalidArgument', 'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms',
      { ArgumentName: KMS_KEY_ID, ArgumentValue: kmsKeyId })
  }
  if (value === undefined) return undefined
  if (value !== 'AES256') {
    throw new S3Error('InvalidArgument', 'The encryption method specified is not supported', { ArgumentName: SSE, ArgumentValue: value })
  }
  return 'AES256'
}

/**
 * S3 refuses SSE-C keys over plain HTTP. Call when a request carries SSE-C headers (its own or a
 * copy source's); `allowInsecure` is the operator's opt-out, say behind a TLS-terminating proxy.
 */
export function requireSecureForSseC (secure: boolean, allowInsecure: boolean): void {
  if (secure || allowInsecure) return
  throw new S3Error('InvalidRequest', 'Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.')
}
