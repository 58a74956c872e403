import { S3Error } from './errors.js'

export type Target = 'service' | 'bucket' | 'object'

export interface Route {
  method: string
  target: Target
  /** Query parameters that must be present. */
  query?: string[]
  /** A header that must be present. */
  header?: string
  operation: string
}

/**
 * Ordered route table, most specific first: a row with a subresource or header precedes the plain
 * row for the same method and target. A new S3 action is one row here plus one file in operations/.
 */
export const ROUTES: Route[] = [
  { method: 'GET', target: 'service', operation: 'ListBuckets' },

  { method: 'GET', target: 'bucket', query: ['location'], operation: 'GetBucketLocation' },
  { method: 'GET', target: 'bucket', query: ['versioning'], operation: 'GetBucketVersioning' },
  { method: 'GET', target: 'bucket', query: ['policy'], operation: 'GetBucketPolicy' },
  { method: 'GET', target: 'bucket', query: ['policyStatus'], operation: 'GetBucketPolicyStatus' },
  { method: 'GET', target: 'bucket', query: ['acl'], operation: 'GetBucketAcl' },
  { method: 'GET', target: 'bucket', query: ['cors'], operation: 'GetBucketCors' },
  { method: 'GET', target: 'bucket', query: ['publicAccessBlock'], operation: 'GetPublicAccessBlock' },
  { method: 'GET', target: 'bucket', query: ['encryption'], operation: 'GetBucketEncryption' },
  { method: 'GET', target: 'bucket', query: ['tagging'], operation: 'GetBucketTagging' },
  { method: 'GET', target: 'bucket', query: ['lifecycle'], operation: 'GetBucketLifecycleConfiguration' },
  { method: 'GET', target: 'bucket', query: ['ownershipControls'], operation: 'GetBucketOwnershipControls' },
  { method: 'GET', target: 'bucket', query: ['list-type'], operation: 'ListObjectsV2' },
  { method: 'GET', target: 'bucket', query: ['uploads'], operation: 'ListMultipartUploads' },
  { method: 'GET', target: 'bucket', query: ['versions'], operation: 'ListObjectVersions' },
  { method: 'GET', target: 'bucket', operation: 'ListObjects' },
  { method: 'HEAD', target: 'bucket', operation: 'HeadBucket' },
  { method: 'PUT', target: 'bucket', query: ['versioning'], operation: 'PutBucketVersioning' },
  { method: 'PUT', target: 'bucket', query: ['policy'], operation: 'PutBucketPolicy' },
  { method: 'PUT', target: 'bucket', query: ['acl'], operation: 'PutBucketAcl' },
  { method: 'PUT', target: 'bucket', query: ['cors'], operation: 'PutBucketCors' },
  { method: 'PUT', target: 'bucket', query: ['publicAccessBlock'], operation: 'PutPublicAccessBlock' },
  { method: 'PUT', target: 'bucket', query: ['encryption'], operation: 'PutBucketEncryption' },
  { method: 'PUT', target: 'bucket', query: ['tagging'], operation: 'PutBucketTagging' },
  { method: 'PUT', target: 'bucket', query: ['lifecycle'], operation: 'PutBucketLifecycleConfiguration' },
  { method: 'PUT', target: 'bucket', query: ['ownershipControls'], operation: 'PutBucketOwnershipControls' },
  { method: 'PUT', target: 'bucket', operation: 'CreateBucket' },
  { method: 'DELETE', target: 'bucket', query: ['policy'], operation: 'DeleteBucketPolicy' },
  { method: 'DELETE', target: 'bucket', query: ['cors'], operation: 'DeleteBucketCors' },
  { method: 'DELETE', target: 'bucket', query: ['publicAccessBlock'], operation: 'DeletePublicAccessBlock' },
  { method: 'DELETE', target: 'bucket', query: ['encryption'], operation: 'DeleteBucketEncryption' },
  { method: 'DELETE', target: 'bucket', query: ['tagging'], operation: 'DeleteBucketTagging' },
  { method: 'DELETE', target: 'bucket', query: ['lifecycle'], operation: 'DeleteBucketLifecycle' },
  { method: 'DELETE', target: 'bucket', query: ['ownershipControls'], operation: 'DeleteBucketOwnershipControls' },
  { method: 'DELETE', target: 'bucket', operation: 'DeleteBucket' },
  { method: 'POST', target: 'bucket', query: ['delete'], operation: 'DeleteObjects' },
  { method: 'POST', target: 'bucket', operation: 'PostObject' },
  { method: 'OPTIONS', target: 'bucket', operation: 'OptionsObject' },

  { method: 'GET', target: 'object', query: ['tagging'], operation: 'GetObjectTagging' },
  { method: 'GET', target: 'object', query: ['attributes'], operation: 'GetObjectAttributes' },
  { method: 'PUT', target: 'object', query: ['tagging'], operation: 'PutObjectTagging' },
  { method: 'DELETE', target: 'object', query: ['tagging'], operation: 'DeleteObjectTagging' },
  { method: 'GET', target: 'object', query: ['acl'], operation: 'GetObjectAcl' },
  { method: 'PUT', target: 'object', query: ['acl'], operation: 'PutObjectAcl' },
  { method: 'POST', target: 'object', query: ['uploads'], operation: 'CreateMultipartUpload' },
  { method: 'POST', target: 'object', query: ['restore'], operation: 'RestoreObject' },
  { method: 'POST', target: 'object', query: ['uploadId'], operation: 'CompleteMultipartUpload' },
  { method: 'PUT', target: 'object', query: ['uploadId'], header: 'x-amz-copy-source', operation: 'UploadPartCopy' },
  { method: 'PUT', target: 'object', query: ['uploadId'], operation: 'UploadPart' },
  { method: 'GET', target: 'object', query: ['uploadId'], operation: 'ListParts' },
  { method: 'DELETE', target: 'object', query: ['uploadId'], operation: 'AbortMultipartUpload' },
  { method: 'PUT', target: 'object', header: 'x-amz-copy-source', operation: 'CopyObject' },
  { method: 'OPTIONS', target: 'object', operation: 'OptionsObject' },
  { method: 'GET', target: 'object', operation: 'GetObject' },
  { method: 'HEAD', target: 'object', operation: 'HeadObject' },
  { method: 'PUT', target: 'object', operation: 'PutObject' },
  { method: 'DELETE', target: 'object', operation: 'DeleteObject' },
]

/**
 * Query parameters that name an S3 subresource or action. A request carrying one that no route
 * claims is an operation we do not implement: NotImplemented, never a plain GET/PUT by mistake.
 * Other query parameters (the SDK's `x-id`, `response-*`, list parameters) do not select operations.
 */
const SUBRESOURCES = new Set([
  'accelerate', 'acl', 'analytics', 'attributes', 'cors', 'delete', 'encryption', 'intelligent-tiering',
  'inventory', 'legal-hold', 'lifecycle', 'location', 'logging', 'metadataConfiguration', 'metadataTable',
  'metrics', 'notification', 'object-lock', 'ownershipControls', 'policy', 'policyStatus',
  'publicAccessBlock', 'renameObject', 'replication', 'requestPayment', 'restore', 'retention', 'select',
  'session', 'tagging', 'torrent', 'uploadId', 'uploads', 'versioning', 'versions', 'website', 'list-type',
  'abac', 'inventoryConfiguration',
])

export interface RouteMatch {
  operation: string
  bucket: string
  key: string
}

export interface Addressing {
  /** The path with the mount prefix removed, still percent-encoded. */
  path: string
  hostname?: string
  baseDomains: string[]
}

function decode (segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new S3Error('InvalidURI')
  }
}

/**
 * Splits a request into bucket and key: virtual-hosted style when the Host is `<bucket>.<base domain>`
 * for a configured base domain, path style otherwise.
 */
export function address (a: Addressing): { bucket: string, key: string, virtualHosted?: true } {
  const path = a.path.startsWith('/') ? a.path.slice(1) : a.path
  const host = a.hostname?.toLowerCase()
  if (host !== undefined) {
    for (const base of a.baseDomains) {
      if (host.endsWith(`.${base}`)) {
        return { bucket: host.slice(0, -(base.length + 1)), key: decode(path), virtualHosted: true }
      }
    }
  }
  const slash = path.indexOf('/')
  if (slash < 0) return { bucket: decode(path), key: '' }
  return { bucket: decode(path.slice(0, slash)), key: decode(path.slice(slash + 1)) }
}

export function route (method: string, addr: { bucket: string, key: string }, query: URLSearchParams, headers: Record<string, string>): RouteMatch {
  const target: Target = addr.bucket === '' ? 'service' : addr.key === '' ? 'bucket' : 'object'
  const names = [...query.keys()]
  for (const r of ROUTES) {
    if (r.method !== method || r.target !== target) continue
    if (r.query !== undefined && !r.query.every(q => query.has(q))) continue
    if (r.header !== undefined && headers[r.header] === undefined) continue
    // A preflight (OPTIONS) is for whatever request follows it, subresources included.
    if (names.length > 0 && method !== 'OPTIONS') {
      const claimed = r.query ?? []
      const unclaimed = names.find(q => SUBRESOURCES.has(q) && !claimed.includes(q))
      if (unclaimed !== undefined) break
    }
    return { operation: r.operation, bucket: addr.bucket, key: addr.key }
  }
  const what = names.find(q => SUBRESOURCES.has(q))
  if (what !== undefined || ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'].includes(method)) {
    throw new S3Error('NotImplemented', what !== undefined
      ? `The '${what}' subresource is not implemented by this gateway for ${method} requests.`
      : `${method} on this resource is not implemented by this gateway.`)
  }
  throw new S3Error('MethodNotAllowed', undefined, { Method: method, ResourceType: target.toUpperCase() })
}
