import { S3Error } from '../errors.js'
import { childText, parseXml, type XmlNode } from '../xml/parse.js'
import { renderXml } from '../xml/render.js'
import { storedJson } from '../protocol/stored-json.js'

/**
 * A bucket's Block Public Access settings (PutPublicAccessBlock / GetPublicAccessBlock), as Amazon
 * S3 has them:
 *
 * - `blockPublicAcls`: a request that would set a public ACL (PutBucketAcl, PutObjectAcl, and the
 *   `x-amz-acl` / `x-amz-grant-*` headers of PutObject, CopyObject, CreateMultipartUpload) is
 *   AccessDenied. ACLs already stored are left as they are.
 * - `ignorePublicAcls`: grants to AllUsers and AuthenticatedUsers give nobody anything.
 * - `blockPublicPolicy`: PutBucketPolicy with a public policy is AccessDenied.
 * - `restrictPublicBuckets`: a public bucket policy grants only the bucket owner.
 *
 * A setting absent from the document is false, as in S3.
 */
export interface PublicAccessBlock {
  blockPublicAcls: boolean
  ignorePublicAcls: boolean
  blockPublicPolicy: boolean
  restrictPublicBuckets: boolean
}

/** S3's element names, in the order S3 writes them. */
const ELEMENTS: Array<[string, keyof PublicAccessBlock]> = [
  ['BlockPublicAcls', 'blockPublicAcls'],
  ['IgnorePublicAcls', 'ignorePublicAcls'],
  ['BlockPublicPolicy', 'blockPublicPolicy'],
  ['RestrictPublicBuckets', 'restrictPublicBuckets'],
]
const NAMES = new Set(ELEMENTS.map(([name]) => name))

const MAX_DOCUMENT_BYTES = 64 * 1024

/**
 * The PutPublicAccessBlock body. Not XML, another root, an unknown or repeated element, or a
 * value other than `true` / `false` → MalformedXML; a document that names none of the four
 * settings → InvalidRequest "Must specify at least one configuration." (as S3 answers).
 */
export function parsePublicAccessBlock (body: Uint8Array): PublicAccessBlock {
  const root = parseXml(body, 'PublicAccessBlockConfiguration', MAX_DOCUMENT_BYTES)
  for (const name of Object.keys(root)) {
    if (name === '#text') {
      if (String(root[name]).trim() !== '') throw new S3Error('MalformedXML')
      continue
    }
    if (!NAMES.has(name)) throw new S3Error('MalformedXML')
  }
  const out: PublicAccessBlock = { blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false }
  let given = 0
  for (const [name, field] of ELEMENTS) {
    const value = booleanElement(root, name)
    if (value === undefined) continue
    out[field] = value
    given++
  }
  if (given === 0) throw new S3Error('InvalidRequest', 'Must specify at least one configuration.')
  return out
}

function booleanElement (node: XmlNode, name: string): boolean | undefined {
  const list = node[name]
  if (Array.isArray(list) && list.some(v => typeof v === 'object' && v !== null && Object.keys(v).some(k => k !== '#text'))) {
    throw new S3Error('MalformedXML')
  }
  const text = childText(node, name)?.trim()
  if (text === undefined) return undefined
  if (text === 'true') return true
  if (text === 'false') return false
  throw new S3Error('MalformedXML')
}

/** The GetPublicAccessBlock document: all four settings. */
export function renderPublicAccessBlock (config: PublicAccessBlock): Uint8Array {
  const body: Record<string, boolean> = {}
  for (const [name, field] of ELEMENTS) body[name] = config[field]
  return renderXml('PublicAccessBlockConfiguration', body)
}

/** JSON text for a metadata store (`BucketRecord.config.publicAccessBlock`). */
export function toStoredPublicAccessBlock (config: PublicAccessBlock): string {
  return JSON.stringify({
    blockPublicAcls: config.blockPublicAcls,
    ignorePublicAcls: config.ignorePublicAcls,
    blockPublicPolicy: config.blockPublicPolicy,
    restrictPublicBuckets: config.restrictPublicBuckets,
  })
}

/**
 * Back from toStoredPublicAccessBlock; `undefined` (or '') = the bucket has no public access block.
 * A missing field reads as false. Text that is not a stored configuration → InternalError.
 */
export function fromStoredPublicAccessBlock (text: string | undefined): PublicAccessBlock | undefined {
  const json = storedJson(text)
  if (json === undefined) return undefined
  const value = json.value
  const corrupt = (): S3Error => new S3Error('InternalError', 'The stored public access block configuration of this bucket is not readable.')
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw corrupt()
  const stored = value as Record<string, unknown>
  const out: PublicAccessBlock = { blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false }
  for (const [, field] of ELEMENTS) {
    const v = stored[field]
    if (v === undefined) continue
    if (typeof v !== 'boolean') throw corrupt()
    out[field] = v
  }
  return out
}
