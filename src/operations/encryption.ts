import { createHash } from 'node:crypto'
import { cipherSize, cipherSpans, decryptSpan, encryptPart, newDataKey, SALT_SIZE, unwrapKey, wrapKey } from '../content/encryption.js'
import type { ContentChunks } from '../content/export.js'
import { S3Error } from '../errors.js'
import type { BucketRecord, MultipartUpload, ObjectEncryption, ObjectVersion } from '../metadata/metadata-store.js'
import { fromStoredBucketEncryption } from '../protocol/bucket-encryption.js'
import { parseSseCustomerKey, parseSseHeader, requireSecureForSseC, type SseCustomerKey } from '../protocol/sse-headers.js'
import type { OperationContext } from './context.js'

/**
 * Server-side encryption as the operations use it. Every encrypted version (or multipart upload)
 * has its own random data key, wrapped by the gateway's master key (SSE-S3) or by the customer's
 * key (SSE-C, never stored: only its MD5 is). Content is encrypted before it is chunked, so only
 * ciphertext reaches the blockstore and any IPFS node; the CID is the ciphertext's.
 */

/** The gateway's encryption settings (GatewayInit). */
export interface EncryptionSettings {
  /** Key-encryption key of SSE-S3; without it SSE-S3 requests are NotImplemented. */
  masterKey?: Uint8Array
  /** Encrypt every new object with SSE-S3 unless the request asks for SSE-C. */
  encryptByDefault: boolean
  /** Accept SSE-C keys over plain HTTP (S3 refuses them). */
  allowInsecureSseC: boolean
}

/** What a write encrypts with: the record to store and the data key. */
export interface WriteEncryption {
  record: ObjectEncryption
  dataKey: Uint8Array
  /** The customer's key (SSE-C), to echo its MD5. */
  customer?: SseCustomerKey
}

const ALGORITHM = 'AES256'
const NEEDS_MASTER_KEY = 'Server-side encryption with AES256 (SSE-S3) needs a master key, and this gateway has none configured.'

function customerKey (ctx: OperationContext, prefix: '' | 'copy-source-'): SseCustomerKey | undefined {
  const key = parseSseCustomerKey(ctx.req.headers, prefix)
  if (key !== undefined) requireSecureForSseC(ctx.req.secure === true, ctx.encryption.allowInsecureSseC)
  return key
}

function masterKey (ctx: OperationContext): Uint8Array {
  if (ctx.encryption.masterKey === undefined) throw new S3Error('NotImplemented', NEEDS_MASTER_KEY)
  return ctx.encryption.masterKey
}

/**
 * The encryption a new version (or multipart upload) gets: SSE-C when the request carries a
 * customer key; SSE-S3 when it asks for AES256, when the bucket's default encryption is set, or
 * when the gateway encrypts by default; otherwise none.
 */
export function newEncryption (ctx: OperationContext, bucket: BucketRecord): WriteEncryption | undefined {
  const requested = parseSseHeader(ctx.req.headers)
  const customer = customerKey(ctx, '')
  if (customer !== undefined) {
    const dataKey = newDataKey()
    return { record: { algorithm: ALGORITHM, customerKey: true, keyMd5: customer.keyMd5, wrappedKey: wrapKey(customer.key, dataKey) }, dataKey, customer }
  }
  const byDefault = fromStoredBucketEncryption(bucket.config?.encryption) !== undefined || ctx.encryption.encryptByDefault
  if (requested === undefined && !byDefault) return undefined
  // A random key costs a synchronous call into OpenSSL: only for content that is encrypted.
  const dataKey = newDataKey()
  return { record: { algorithm: ALGORITHM, customerKey: false, wrappedKey: wrapKey(masterKey(ctx), dataKey) }, dataKey }
}

/**
 * The data key of stored content, from the request's customer key (SSE-C; `prefix` picks the
 * copy source's headers) or the master key; undefined for unencrypted content. Customer-key headers
 * for content that is not SSE-C are InvalidRequest; SSE-C content without a key is InvalidRequest,
 * with another key AccessDenied, as S3 answers.
 */
export function storedDataKey (ctx: OperationContext, stored: { encryption?: ObjectEncryption }, prefix: '' | 'copy-source-' = ''): Uint8Array | undefined {
  const customer = customerKey(ctx, prefix)
  const encryption = stored.encryption
  // A customer key for content that is not SSE-C (unencrypted or SSE-S3) is refused, as S3 does.
  if (encryption?.customerKey !== true && customer !== undefined) {
    throw new S3Error('InvalidRequest', 'The encryption parameters are not applicable to this object.')
  }
  if (encryption === undefined) return undefined
  if (!encryption.customerKey) return unwrap(masterKey(ctx), encryption.wrappedKey)
  if (customer === undefined) {
    throw new S3Error('InvalidRequest', 'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.')
  }
  if (customer.keyMd5 !== encryption.keyMd5) throw new S3Error('AccessDenied', 'The provided customer key does not match the key the object was stored with.')
  return unwrap(customer.key, encryption.wrappedKey)
}

/** The data key a part of an encrypted upload is written with (SSE-C: the same key as at create). */
export function uploadDataKey (ctx: OperationContext, upload: MultipartUpload): Uint8Array | undefined {
  // The upload's encryption was fixed at create; SSE headers on a part are still checked as a
  // write's are (KMS, bogus values, SSE-S3 with SSE-C), never silently ignored.
  parseSseHeader(ctx.req.headers)
  const sseC = upload.encryption?.customerKey === true
  const sent = parseSseCustomerKey(ctx.req.headers) !== undefined
  if (sseC && !sent) {
    throw new S3Error('InvalidRequest', 'The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.')
  }
  if (!sseC && sent) {
    throw new S3Error('InvalidRequest', 'The multipart upload initiate did not request encryption with a customer-provided key. Subsequent part requests must not include customer key parameters.')
  }
  return storedDataKey(ctx, upload)
}

function unwrap (kek: Uint8Array, wrapped: string): Uint8Array {
  try {
    return unwrapKey(kek, wrapped)
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_KEY_UNWRAP') {
      throw new S3Error('AccessDenied', 'The object\'s data key cannot be unwrapped with the key provided.')
    }
    throw err
  }
}

/** Response headers naming how a version is encrypted. */
export function encryptionHeaders (encryption: ObjectEncryption | undefined): Record<string, string> {
  if (encryption === undefined) return {}
  if (!encryption.customerKey) return { 'x-amz-server-side-encryption': ALGORITHM }
  return {
    'x-amz-server-side-encryption-customer-algorithm': ALGORITHM,
    'x-amz-server-side-encryption-customer-key-md5': encryption.keyMd5 ?? '',
  }
}

/** The bytes to store for a plaintext stream: its ciphertext under `dataKey`, or itself. */
export function toStored (plaintext: AsyncIterable<Uint8Array>, dataKey: Uint8Array | undefined): AsyncIterable<Uint8Array> {
  return dataKey === undefined ? plaintext : encryptPart(plaintext, dataKey)
}

/** The stored size of `plainSize` bytes of content (one part). */
export function storedSize (plainSize: number, encrypted: boolean): number {
  return encrypted ? cipherSize(plainSize) : plainSize
}

/**
 * The ETag of a version: the MD5 of its bytes, except for SSE-C, where S3's ETag is not the MD5 of
 * the plaintext (which would let anyone who can list the bucket confirm a guess of the content).
 */
export function etagOf (plaintextMd5: string, cid: string, encryption: ObjectEncryption | undefined): string {
  return encryption?.customerKey === true ? createHash('md5').update(`sse-c ${cid}`).digest('hex') : plaintextMd5
}

/**
 * Plaintext bytes [offset, offset + length) of an encrypted version, decrypting only the segments
 * they touch. Every segment is authenticated before its bytes are yielded: tampered or truncated
 * ciphertext throws (ERR_DECRYPT), never returns wrong bytes.
 */
export async function * readDecrypted (ctx: OperationContext, version: Pick<ObjectVersion, 'cid' | 'size' | 'partSizes'>, dataKey: Uint8Array, offset: number, length: number): AsyncGenerator<Uint8Array> {
  const spans = cipherSpans(version.partSizes ?? [version.size], offset, length)
  for (const span of spans) {
    const salt = await collect(ctx.content.cat(version.cid, { offset: span.partCipherOffset, length: SALT_SIZE, signal: ctx.signal }), SALT_SIZE)
    yield * decryptSpan(ctx.content.cat(version.cid, { offset: span.cipherOffset, length: span.cipherLength, signal: ctx.signal }), dataKey, salt, span)
  }
}

async function collect (chunks: ContentChunks, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size)
  let at = 0
  for await (const chunk of chunks) {
    out.set(chunk.subarray(0, size - at), at)
    at += chunk.byteLength
  }
  if (at < size) throw Object.assign(new Error('Encrypted content ends before its salt header'), { code: 'ERR_DECRYPT' })
  return out
}

/** A CAR import stores the client's own DAG, which cannot be encrypted. */
export function carWithEncryption (): S3Error {
  return new S3Error('InvalidRequest', 'A CAR import (x-amz-meta-import: car) stores the blocks as given and cannot be combined with server-side encryption (requested, or the bucket\'s default).')
}
