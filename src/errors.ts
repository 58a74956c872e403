/**
 * The one error type of the core. Codes and statuses follow Amazon S3's ErrorResponses table.
 * Stores and blockstores never throw these: `toS3Error` maps their errors here, at one place.
 */

const STATUS: Record<string, number> = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadDigest: 400,
  BucketAlreadyExists: 409,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  ConditionalRequestConflict: 409,
  RestoreAlreadyInProgress: 409,
  OperationAborted: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  ExpiredToken: 400,
  IllegalLocationConstraintException: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidEncryptionAlgorithmError: 400,
  InvalidObjectState: 403,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidStorageClass: 400,
  InvalidURI: 400,
  InvalidPartNumber: 416,
  BadRequest: 400,
  InvalidTag: 400,
  InvalidLocationConstraint: 400,
  KeyTooLongError: 400,
  MalformedXML: 400,
  MalformedPOSTRequest: 400,
  MaxPostPreDataLengthExceededError: 400,
  MaxMessageLengthExceeded: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  MissingRequestBodyError: 400,
  MissingSecurityHeader: 400,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NoSuchVersion: 404,
  NoSuchTagSet: 404,
  NoSuchBucketPolicy: 404,
  NotImplemented: 501,
  NotModified: 304,
  PreconditionFailed: 412,
  RequestTimeTooSkewed: 403,
  RequestTimeout: 400,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  SlowDown: 503,
  TooManyBuckets: 400,
  UnexpectedContent: 400,
  XAmzContentSHA256Mismatch: 400,
  InvalidChunkSizeError: 403,
  MalformedPolicy: 400,
  MalformedACLError: 400,
  UnresolvableGrantByEmailAddress: 400,
  InvalidPolicyDocument: 400,
  NoSuchCORSConfiguration: 404,
  NoSuchPublicAccessBlockConfiguration: 404,
  ServerSideEncryptionConfigurationNotFoundError: 404,
  AccessForbidden: 403,
  RequestHeaderSectionTooLarge: 400,
  KMS: 400,
  InvalidEncryptionKey: 400,
  AccessControlListNotSupported: 400,
  InvalidBucketAclWithObjectOwnership: 400,
  OwnershipControlsNotFoundError: 404,
  NoSuchLifecycleConfiguration: 404,
}

const DEFAULT_MESSAGE: Record<string, string> = {
  AccessDenied: 'Access Denied',
  BadDigest: 'The Content-MD5 or checksum value that you specified did not match what the server received.',
  BucketAlreadyOwnedByYou: 'Your previous request to create the named bucket succeeded and you already own it.',
  BucketNotEmpty: 'The bucket that you tried to delete is not empty.',
  ConditionalRequestConflict: 'A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.',
  EntityTooLarge: 'Your proposed upload exceeds the maximum allowed size.',
  IncompleteBody: 'You did not provide the number of bytes specified by the Content-Length HTTP header.',
  InternalError: 'We encountered an internal error. Please try again.',
  InvalidAccessKeyId: 'The AWS access key ID that you provided does not exist in our records.',
  InvalidBucketName: 'The specified bucket is not valid.',
  InvalidDigest: 'The Content-MD5 you specified is not valid.',
  InvalidRange: 'The requested range is not satisfiable',
  InvalidPartNumber: 'The requested partnumber is not satisfiable',
  InvalidURI: 'Couldn\'t parse the specified URI.',
  KeyTooLongError: 'Your key is too long.',
  MalformedXML: 'The XML you provided was not well-formed or did not validate against our published schema.',
  MetadataTooLarge: 'Your metadata headers exceed the maximum allowed metadata size.',
  MethodNotAllowed: 'The specified method is not allowed against this resource.',
  MissingContentLength: 'You must provide the Content-Length HTTP header.',
  NoSuchBucket: 'The specified bucket does not exist.',
  NoSuchKey: 'The specified key does not exist.',
  NoSuchUpload: 'The specified multipart upload does not exist.',
  NoSuchVersion: 'The specified version does not exist.',
  NoSuchTagSet: 'The TagSet does not exist.',
  NotImplemented: 'A header or query you provided implies functionality that is not implemented.',
  NotModified: 'Not Modified',
  PreconditionFailed: 'At least one of the preconditions you specified did not hold.',
  RequestTimeTooSkewed: 'The difference between the request time and the server\'s time is too large.',
  ServiceUnavailable: 'Service is unable to handle request.',
  SignatureDoesNotMatch: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  SlowDown: 'Please reduce your request rate.',
  NoSuchBucketPolicy: 'The bucket policy does not exist',
  NoSuchCORSConfiguration: 'The CORS configuration does not exist',
  NoSuchPublicAccessBlockConfiguration: 'The public access block configuration was not found',
  ServerSideEncryptionConfigurationNotFoundError: 'The server side encryption configuration was not found',
  RequestHeaderSectionTooLarge: 'Your request header section exceeds the maximum allowed size.',
  AccessControlListNotSupported: 'The bucket does not allow ACLs',
  InvalidBucketAclWithObjectOwnership: 'Bucket cannot have ACLs set with ObjectOwnership\'s BucketOwnerEnforced setting',
  OwnershipControlsNotFoundError: 'The bucket ownership controls were not found',
  NoSuchLifecycleConfiguration: 'The lifecycle configuration does not exist',
  XAmzContentSHA256Mismatch: 'The provided \'x-amz-content-sha256\' header does not match what was computed.',
}

export class S3Error extends Error {
  override readonly name = 'S3Error'
  readonly code: string
  readonly status: number
  /** Extra elements rendered into the <Error> document (e.g. Key, BucketName, ArgumentName). */
  readonly detail: Record<string, string>
  /** Extra response headers (e.g. Allow for 405). */
  readonly headers: Record<string, string>

  constructor (code: string, message?: string, detail: Record<string, string> = {}, headers: Record<string, string> = {}) {
    super(message ?? DEFAULT_MESSAGE[code] ?? code)
    this.code = code
    this.status = STATUS[code] ?? 400
    this.detail = detail
    this.headers = headers
  }
}

/** Duck-typed check, so two copies of this module still recognise each other's errors. */
export function isS3Error (err: unknown): err is S3Error {
  return err != null && typeof err === 'object' && (err as { name?: unknown }).name === 'S3Error' &&
    typeof (err as { code?: unknown }).code === 'string' && typeof (err as { status?: unknown }).status === 'number'
}

export function isAbortError (err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name
  const code = (err as { code?: unknown } | null)?.code
  return name === 'AbortError' || code === 'ABORT_ERR' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET'
}

/**
 * The single mapping point from anything thrown below the operations to an S3 error.
 * Returns `undefined` for errors that are genuinely unexpected (the caller logs them and answers
 * InternalError).
 */
export function toS3Error (err: unknown): S3Error | undefined {
  if (isS3Error(err)) return err
  if (isAbortError(err)) return new S3Error('RequestTimeout', 'Your socket connection to the server was closed before the request completed.')
  const name = (err as { name?: unknown } | null)?.name
  const code = (err as { code?: unknown } | null)?.code
  if (name === 'BodyAlreadyConsumedError') {
    return new S3Error('InternalError', 'The request body was already consumed by a body parser of the host application; mount the S3 gateway before any body parser.')
  }
  if (code === 'ERR_NO_SUCH_BUCKET') return new S3Error('NoSuchBucket')
  if (code === 'ERR_CONDITION_FAILED') return conditionError(err as { wanted?: unknown, current?: unknown })
  // A metadata store closed under a request (the gateway is shutting down).
  if (code === 'ERR_STORE_CLOSED') return new S3Error('ServiceUnavailable')
  // A metadata store that cannot hold U+0000 in names (PostgreSQL text) refuses such a key.
  if (code === 'ERR_SOURCE_RELEASED') return new S3Error('NoSuchKey', 'The copy source was deleted while it was being copied.')
  if (code === 'ERR_NUL_IN_NAME') return new S3Error('InvalidArgument', 'This gateway\'s metadata store cannot hold the character U+0000 in names.')
  if (code === 'ERR_IPFS_UNAVAILABLE') return new S3Error('ServiceUnavailable', `The IPFS node that stores this gateway's content cannot be reached; try again later. (${(err as Error).message})`)
  if (code === 'ERR_IPFS_TIMEOUT') return new S3Error('SlowDown', `The IPFS node that stores this gateway's content is not answering in time; try again later. (${(err as Error).message})`)
  if (code === 'ERR_IPFS_RPC') return new S3Error('InternalError', `The IPFS node refused a call: ${(err as Error).message}`)
  if (code === 'ERR_BLOCK_CORRUPT') return new S3Error('InternalError', `A block failed verification against its CID: ${(err as Error).message}`)
  // A body sent with `x-amz-meta-import: car` that is not an acceptable CAR (src/content/car-import.ts).
  if (name === 'InvalidCarError') return new S3Error('InvalidRequest', `Invalid CAR: ${(err as Error).message}`)
  // Encrypted content that fails authentication: altered blocks (under matching CIDs only if the
  // store was tampered with beneath the gateway), never returned as plaintext.
  if (code === 'ERR_DECRYPT') return new S3Error('InternalError', `The object's encrypted content failed authentication: ${(err as Error).message}`)
  if (name === 'NotFoundError') return new S3Error('InternalError', 'A block of this object is missing from the blockstore.')
  if (isUnreachable(err)) return new S3Error('ServiceUnavailable', 'A store this gateway depends on cannot be reached; try again later.')
  return undefined
}

/**
 * A conditional write (If-None-Match / If-Match) whose condition failed at commit time, as Amazon S3
 * answers it: the key has a current object (If-None-Match: *, or If-Match with another ETag) → 412;
 * the key has none, though the operation saw one before it read the body (it answers NoSuchKey
 * itself when the key is missing from the start) → a delete succeeded before the write completed:
 * 409 ConditionalRequestConflict.
 */
function conditionError (err: { wanted?: unknown, current?: unknown }): S3Error {
  if (err.current === 'none') return new S3Error('ConditionalRequestConflict')
  return new S3Error('PreconditionFailed', undefined, { Condition: err.wanted === 'none' ? 'If-None-Match' : 'If-Match' })
}

/**
 * Network failures reaching a dependency, PostgreSQL's "cannot serve now" states, and a TLS
 * connection to it whose certificate does not verify (the store cannot be reached safely; the
 * readiness report names the cause).
 */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
  '57P01', '57P02', '57P03', '53300',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'ERR_TLS_CERT_ALTNAME_INVALID'])

function isUnreachable (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true
  // A refused connection tried on IPv4 and IPv6 arrives as an AggregateError of two.
  const errors = (err as { errors?: unknown } | null)?.errors
  if (Array.isArray(errors) && errors.length > 0 && errors.every(isUnreachable)) return true
  // pg's own words for a connection lost or never made (no code).
  const message = (err as { message?: unknown } | null)?.message
  return typeof message === 'string' && /^Connection terminated/.test(message)
}
