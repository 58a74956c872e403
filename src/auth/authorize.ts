import { S3Error } from '../errors.js'
import type { BucketRecord, MetadataStore, MultipartUpload, ObjectVersion } from '../metadata/metadata-store.js'
import type { S3Request } from '../types.js'
import { aclAllows, aclPermissionFor, cannedAcl, fromStoredAcl } from './acl.js'
import type { Acl } from './acl.js'
import { resourceArn } from './actions.js'
import { evaluatePolicy, isPublicPolicy, parsePolicy } from './policy.js'
import type { Decision, Policy, RequestFacts } from './policy.js'
import { aclsDisabled } from './ownership.js'
import { mayDenySome } from './wildcard-access.js'
import { fromStoredPublicAccessBlock } from './public-access-block.js'

/** The canonical id Amazon S3 gives anonymous requesters (owner of objects they upload). */
export const ANONYMOUS_PRINCIPAL = '65a011a29cdf8ec533ec3d1ccaae921c'

/** Who is asking. */
export interface Requester {
  /** Undefined for anonymous requests. */
  principal?: string
  /** Identity policies: when present, only what a policy allows (see Credentials.policies). */
  policies?: Policy[]
}

export interface AuthorizerInit {
  metadata: MetadataStore
  requester: Requester
  req: S3Request
  query: URLSearchParams
  now: () => Date
  signal?: AbortSignal
  /** How the request was authenticated: 'REST-HEADER', 'REST-QUERY-STRING' or 'POST'. */
  authType?: string
  /** The signature version of an authenticated request (`s3:signatureversion`: 'AWS' for 2). Default 4. */
  signatureVersion?: 2 | 4
}

export interface AccessOptions {
  /** The action is reserved to the bucket owner (bucket policy management). */
  ownerOnly?: boolean
  /** A version of the key the request addresses (object ACL and tag conditions read it). */
  versionId?: string
  /** The multipart upload the request addresses (its initiator may list and abort it). */
  uploadId?: string
  /** The bucket is to be created: whoever owns a bucket of that name, only identity policies apply. */
  newBucket?: boolean
  /** `key` is a pattern standing for many objects (`prefix*`): object ACLs, each one object's, grant nothing. */
  wildcard?: boolean
}

const POLICY_CACHE_SIZE = 500
/** Parsed policies by kind, bucket and text: a request parses none it has seen before. */
const policyCache = new Map<string, Policy>()
/** Policies that name s3:ExistingObjectTag conditions (their requests must read the object's tags). */
const readsTags = new WeakSet<Policy>()

function cachedPolicy (text: string, bucket: string | undefined): Policy {
  const cacheKey = `${bucket ?? ''}\n${text}`
  let policy = policyCache.get(cacheKey)
  if (policy === undefined) {
    policy = parsePolicy(text, bucket === undefined ? { kind: 'identity' } : { kind: 'bucket', bucket })
    if (text.toLowerCase().includes('s3:existingobjecttag')) readsTags.add(policy)
    if (policyCache.size >= POLICY_CACHE_SIZE) policyCache.delete(policyCache.keys().next().value as string)
    policyCache.set(cacheKey, policy)
  }
  return policy
}

/** A bucket's policy, parsed once per distinct text. */
function bucketPolicy (bucket: BucketRecord): Policy | undefined {
  const text = bucket.config?.policy
  return text === undefined ? undefined : cachedPolicy(text, bucket.name)
}

/**
 * A principal's identity policy documents, parsed once per distinct text. A document that does not
 * parse is the credential provider's fault, not the client's: InternalError (fileCredentials
 * refuses such documents when it loads them).
 */
export function identityPolicies (texts: string[] | undefined): Policy[] | undefined {
  if (texts === undefined || texts.length === 0) return undefined
  return texts.map((text) => {
    try {
      return cachedPolicy(text, undefined)
    } catch (err) {
      throw new S3Error('InternalError', `An identity policy of this principal is not a valid policy: ${(err as Error).message}`)
    }
  })
}

/**
 * Decides every access of one request, the way Amazon S3 combines its policies for a bucket
 * owner's account:
 *
 * 1. an explicit Deny in an identity policy or the bucket policy refuses;
 * 2. otherwise an Allow in an identity policy, or in the bucket policy, grants (a public bucket
 *    policy grants only the owner when the bucket's public access block restricts public buckets);
 * 3. otherwise a requester with identity policies is refused (nothing allowed it);
 * 4. otherwise the bucket owner is granted anything on its bucket (except where nothing needs it);
 * 5. otherwise the ACLs decide: the bucket's for listing, writing and its ACL; the object's for
 *    reading an object and its ACL (public grants ignored when the public access block says so);
 *    the initiator of a multipart upload may list its parts and abort it.
 */
export class Authorizer {
  private readonly init: AuthorizerInit
  private readonly buckets = new Map<string, Promise<BucketRecord | undefined>>()

  constructor (init: AuthorizerInit) {
    this.init = init
  }

  /** The bucket, read once per request (operations reuse it). */
  async bucket (name: string): Promise<BucketRecord | undefined> {
    let found = this.buckets.get(name)
    if (found === undefined) {
      found = this.init.metadata.getBucket(name, { signal: this.init.signal })
      this.buckets.set(name, found)
    }
    return await found
  }

  /**
   * The same request decided for another requester (a browser form's signer, known only once the
   * form is read), sharing the buckets read so far.
   */
  as (requester: Requester, authType: string, req: S3Request = this.init.req, signatureVersion?: 2 | 4): Authorizer {
    const other = new Authorizer({ ...this.init, requester, authType, req, signatureVersion })
    for (const [name, bucket] of this.buckets) other.buckets.set(name, bucket)
    return other
  }

  /** Whether the key has a latest version that is not a delete marker. */
  async objectExists (bucket: string, key: string): Promise<boolean> {
    const version = await this.init.metadata.getObject(bucket, key, undefined, { signal: this.init.signal })
    return version !== undefined && !version.deleteMarker
  }

  /** Forget a bucket read earlier (after the request changed it). */
  forget (name: string): void {
    this.buckets.delete(name)
  }

  /**
   * Whether the requester may perform `action` on every object of the bucket whose key starts with
   * `prefix` (a snapshot's objects): a policy (or ownership) must grant it on the pattern
   * `<bucket>/<prefix>*`, no Deny of the bucket policy or the identity policies may apply to any
   * key of that range (see mayDenySome), and object ACLs grant nothing.
   */
  async allowedForAll (action: string, bucketName: string, prefix: string): Promise<boolean> {
    const bucket = await this.bucket(bucketName)
    if (bucket === undefined) return false
    const policies = [...this.init.requester.policies ?? []]
    const policy = bucketPolicy(bucket)
    if (policy !== undefined) policies.push(policy)
    const rangeStart = `${resourceArn(bucketName)}/${prefix}`
    if (policies.some((p) => mayDenySome(p, this.init.requester.principal, action, rangeStart))) return false
    return await this.allowed(action, bucketName, `${prefix}*`, { wildcard: true })
  }

  /** Throws AccessDenied unless `allowed`. */
  async require (action: string, bucketName: string | undefined, key: string | undefined, options: AccessOptions = {}): Promise<void> {
    if (!await this.allowed(action, bucketName, key, options)) throw new S3Error('AccessDenied')
  }

  /**
   * Whether the requester may perform `action` on the bucket (or object `key` in it). A bucket
   * that does not exist grants nothing here; callers that should answer NoSuchBucket check first.
   */
  async allowed (action: string, bucketName: string | undefined, key: string | undefined, options: AccessOptions = {}): Promise<boolean> {
    const { requester } = this.init
    const principal = requester.principal
    const bucket = bucketName === undefined || options.newBucket === true ? undefined : await this.bucket(bucketName)
    const policy = bucket === undefined ? undefined : bucketPolicy(bucket)
    const objectKey = key === undefined || key === '' ? undefined : key
    let object: ObjectVersion | undefined | null = null
    const loadObject = async (): Promise<ObjectVersion | undefined> => {
      if (object === null) {
        object = bucket === undefined || objectKey === undefined
          ? undefined
          : await this.init.metadata.getObject(bucket.name, objectKey, options.versionId, { signal: this.init.signal })
      }
      return object
    }
    const needsTags = (policy !== undefined && mentionsExistingTags(policy)) ||
      (requester.policies?.some(mentionsExistingTags) ?? false)
    const facts: RequestFacts = {
      principal,
      action,
      resource: bucketName === undefined ? '*' : resourceArn(bucketName, objectKey),
      context: this.context(needsTags && objectKey !== undefined && options.wildcard !== true ? await loadObject() : undefined),
    }

    const identity: Decision[] = (requester.policies ?? []).map((p) => evaluatePolicy(p, facts))
    if (identity.includes('Deny')) return false
    const fromBucket: Decision = policy === undefined ? 'NoMatch' : evaluatePolicy(policy, facts)
    if (fromBucket === 'Deny') return false
    const isOwner = principal !== undefined && bucket !== undefined && bucket.owner === principal
    if (options.ownerOnly === true && bucket !== undefined && !isOwner) return false
    if (identity.includes('Allow')) return true
    const access = fromStoredPublicAccessBlock(bucket?.config?.publicAccessBlock)
    if (fromBucket === 'Allow' && !(access?.restrictPublicBuckets === true && policy !== undefined && isPublicPolicy(policy) && !isOwner)) return true
    if (requester.policies !== undefined && requester.policies.length > 0) return false
    // An account creates buckets and lists its own, and owns what its buckets hold.
    if (bucket === undefined) return principal !== undefined
    if (isOwner) return true

    const ignorePublic = access?.ignorePublicAcls === true
    // With ACLs disabled (BucketOwnerEnforced) only policies grant anything to others.
    const acls = !aclsDisabled(bucket)
    if (objectKey !== undefined) {
      const permission = aclPermissionFor(action, 'object')
      if (permission !== undefined) {
        if (!acls || options.wildcard === true) return false
        const version = await loadObject()
        if (version === undefined || version.deleteMarker) return false
        return aclAllows(objectAcl(version), principal, permission, { ignorePublic })
      }
      if ((action === 's3:ListMultipartUploadParts' || action === 's3:AbortMultipartUpload') && options.uploadId !== undefined && principal !== undefined) {
        const upload: MultipartUpload | undefined = await this.init.metadata.getUpload(bucket.name, objectKey, options.uploadId, { signal: this.init.signal })
        if (upload?.owner === principal) return true
      }
    }
    const permission = aclPermissionFor(action, 'bucket')
    if (permission === undefined || !acls) return false
    return aclAllows(bucketAcl(bucket), principal, permission, { ignorePublic })
  }

  /** The request context that policy conditions read (lower-case key names). */
  private context (object: ObjectVersion | undefined): RequestFacts['context'] {
    const { req, query } = this.init
    const headers = req.headers
    const now = this.init.now()
    const context: RequestFacts['context'] = {
      'aws:sourceip': req.remoteAddress,
      'aws:securetransport': req.secure === true ? 'true' : 'false',
      'aws:referer': headers.referer,
      'aws:useragent': headers['user-agent'],
      'aws:currenttime': now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'aws:epochtime': String(Math.floor(now.getTime() / 1000)),
      's3:authtype': this.init.authType,
      's3:signatureversion': this.init.authType === undefined ? undefined : this.init.signatureVersion === 2 ? 'AWS' : 'AWS4-HMAC-SHA256',
      's3:prefix': query.get('prefix') ?? undefined,
      's3:delimiter': query.get('delimiter') ?? undefined,
      's3:max-keys': query.get('max-keys') ?? undefined,
      's3:versionid': query.get('versionId') ?? undefined,
      's3:x-amz-acl': headers['x-amz-acl'],
      's3:x-amz-server-side-encryption': headers['x-amz-server-side-encryption'],
      's3:x-amz-server-side-encryption-customer-algorithm': headers['x-amz-server-side-encryption-customer-algorithm'],
      's3:x-amz-copy-source': headers['x-amz-copy-source'],
      's3:x-amz-metadata-directive': headers['x-amz-metadata-directive'],
      's3:x-amz-storage-class': headers['x-amz-storage-class'],
      's3:x-amz-content-sha256': headers['x-amz-content-sha256'],
    }
    const tagging = headers['x-amz-tagging']
    if (tagging !== undefined) {
      const requested = new URLSearchParams(tagging)
      context['s3:requestobjecttagkeys'] = [...requested.keys()]
      for (const [k, v] of requested) context[`s3:requestobjecttag/${k}`] = v
    }
    if (object !== undefined && !object.deleteMarker) {
      for (const [k, v] of object.tags) context[`s3:existingobjecttag/${k}`] = v
    }
    return context
  }
}

function mentionsExistingTags (policy: Policy): boolean {
  return readsTags.has(policy)
}

/** A bucket's ACL: as stored, or the owner's full control. */
export function bucketAcl (bucket: BucketRecord): Acl {
  return fromStoredAcl(bucket.config?.acl) ?? cannedAcl('private', 'bucket', { id: bucket.owner, displayName: bucket.ownerDisplayName })
}

/** A version's ACL: as stored, or its owner's full control. */
export function objectAcl (version: ObjectVersion): Acl {
  return fromStoredAcl(version.acl) ?? cannedAcl('private', 'object', { id: version.owner })
}
