import { S3Error } from '../errors.js'
import { childText, children, parseXml, type XmlNode } from '../xml/parse.js'
import { renderXml } from '../xml/render.js'
import { storedJson } from './stored-json.js'

/**
 * A bucket's default encryption (PutBucketEncryption / GetBucketEncryption): the
 * ServerSideEncryptionConfiguration document and its stored form. Only SSE-S3 (`AES256`) exists
 * here; SSE-KMS and DSSE-KMS need a key management service this gateway does not have.
 */
export interface BucketEncryption {
  algorithm: 'AES256'
  /** Accepted and echoed, as S3 does; it only changes anything for SSE-KMS. */
  bucketKeyEnabled?: boolean
}

const MAX_DOCUMENT_BYTES = 64 * 1024
const KMS_ALGORITHMS = new Set(['aws:kms', 'aws:kms:dsse'])

/** Elements other than these (and whitespace) in `node` → MalformedXML. */
function onlyElements (node: XmlNode, allowed: string[]): void {
  for (const name of Object.keys(node)) {
    if (name === '#text') {
      if (String(node[name]).trim() !== '') throw new S3Error('MalformedXML')
    } else if (!allowed.includes(name)) {
      throw new S3Error('MalformedXML')
    }
  }
}

function one (node: XmlNode, name: string): XmlNode {
  const list = children(node, name)
  if (list.length !== 1) throw new S3Error('MalformedXML')
  return list[0]
}

/**
 * The PutBucketEncryption body: one Rule whose ApplyServerSideEncryptionByDefault names
 * SSEAlgorithm, optionally with BucketKeyEnabled.
 *
 * - not XML, another root, a missing, repeated or unknown element, an SSEAlgorithm S3 does not
 *   know, or BucketKeyEnabled other than true / false → MalformedXML;
 * - `aws:kms` / `aws:kms:dsse` → NotImplemented;
 * - a KMSMasterKeyID with `AES256` → InvalidArgument, as S3 answers.
 */
export function parseBucketEncryption (body: Uint8Array): BucketEncryption {
  const root = parseXml(body, 'ServerSideEncryptionConfiguration', MAX_DOCUMENT_BYTES)
  onlyElements(root, ['Rule'])
  const rule = one(root, 'Rule')
  onlyElements(rule, ['ApplyServerSideEncryptionByDefault', 'BucketKeyEnabled'])
  const byDefault = one(rule, 'ApplyServerSideEncryptionByDefault')
  onlyElements(byDefault, ['SSEAlgorithm', 'KMSMasterKeyID'])
  const algorithm = childText(byDefault, 'SSEAlgorithm')?.trim()
  if (algorithm === undefined) throw new S3Error('MalformedXML')
  if (KMS_ALGORITHMS.has(algorithm)) throw new S3Error('NotImplemented', 'KMS is not supported by this gateway')
  if (algorithm !== 'AES256') throw new S3Error('MalformedXML')
  if (childText(byDefault, 'KMSMasterKeyID') !== undefined) {
    throw new S3Error('InvalidArgument', 'a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse',
      { ArgumentName: 'ApplyServerSideEncryptionByDefault' })
  }
  const out: BucketEncryption = { algorithm: 'AES256' }
  const bucketKey = childText(rule, 'BucketKeyEnabled')?.trim()
  if (bucketKey !== undefined) {
    if (bucketKey !== 'true' && bucketKey !== 'false') throw new S3Error('MalformedXML')
    out.bucketKeyEnabled = bucketKey === 'true'
  }
  return out
}

/** The GetBucketEncryption document; BucketKeyEnabled is always written (false unless set), as S3 does. */
export function renderBucketEncryption (config: BucketEncryption): Uint8Array {
  return renderXml('ServerSideEncryptionConfiguration', {
    Rule: {
      ApplyServerSideEncryptionByDefault: { SSEAlgorithm: config.algorithm },
      BucketKeyEnabled: config.bucketKeyEnabled ?? false,
    },
  })
}

/** JSON text for a metadata store (`BucketRecord.config.encryption`). */
export function toStoredBucketEncryption (config: BucketEncryption): string {
  return JSON.stringify(config.bucketKeyEnabled === undefined
    ? { algorithm: config.algorithm }
    : { algorithm: config.algorithm, bucketKeyEnabled: config.bucketKeyEnabled })
}

/**
 * Back from toStoredBucketEncryption; `undefined` (or '') = the bucket has no default encryption.
 * Text that is not a stored configuration → InternalError.
 */
export function fromStoredBucketEncryption (text: string | undefined): BucketEncryption | undefined {
  const json = storedJson(text)
  if (json === undefined) return undefined
  const value = json.value
  const stored = value as { algorithm?: unknown, bucketKeyEnabled?: unknown } | null
  if (stored === null || typeof stored !== 'object' || stored.algorithm !== 'AES256' ||
    (stored.bucketKeyEnabled !== undefined && typeof stored.bucketKeyEnabled !== 'boolean')) {
    throw new S3Error('InternalError', 'The stored default encryption of this bucket is not readable.')
  }
  return stored.bucketKeyEnabled === undefined ? { algorithm: 'AES256' } : { algorithm: 'AES256', bucketKeyEnabled: stored.bucketKeyEnabled }
}
