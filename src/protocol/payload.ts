import { createHash, type Hash } from 'node:crypto'
import { S3Error } from '../errors.js'
import { decodeAwsChunked } from '../auth/chunked.js'
import { parseQuery, type AuthContext } from '../auth/sigv4.js'
import type { S3Request } from '../types.js'
import {
  CHECKSUM_ALGORITHMS, checksumAlgorithmOfHeader, checksumHeaderName, createChecksumHasher, decodeChecksumValue,
  parseChecksumAlgorithm, toBase64, type ChecksumAlgorithm, type Hasher
} from './checksums.js'
import { BATCH_SIZE, createStreamDigest, type DigestAlgorithm } from './md5-worker.js'
import { HASHED_LEAVES, type HashedLeaf, type HashedLeafSource } from '../content/leaves.js'

export interface PayloadDigests {
  /** Decoded object bytes. */
  size: number
  /** Lower-case hex MD5 of the decoded bytes (the ETag of a single-part object). */
  md5: string
  /** The one flexible checksum the client sent, announced or asked for; verified when it sent a value. */
  checksum?: { algorithm: ChecksumAlgorithm, value: string }
}

/**
 * A request body, decoded and checked while it streams. Iterate it once; it yields the object
 * bytes. Every check (framing, signatures, lengths, SHA-256, Content-MD5, checksums, size limit)
 * throws an S3Error from the iterator, at the latest from the final `next()` before it reports
 * done, so a consumer that stores the bytes fails before committing anything.
 */
export interface Payload extends AsyncIterable<Uint8Array>, HashedLeafSource {
  /** Valid once iteration has completed without error; throws before that. */
  digests (): PayloadDigests
}

export interface OpenPayloadOptions {
  /** Largest decoded body accepted; more gives EntityTooLarge as soon as it is exceeded. */
  maxSize: number
  /**
   * A multipart upload's checksum algorithm: computed when the request names none, and a request
   * naming another algorithm is InvalidRequest (S3's "Checksum Type mismatch").
   */
  checksumAlgorithm?: ChecksumAlgorithm
  /**
   * The request's `x-amz-checksum-*` headers describe something else than its body (the object
   * CompleteMultipartUpload makes), so they are not checked against the body.
   */
  checksumHeadersDescribeObject?: boolean
  /**
   * The body is a request document (XML or JSON) read whole with `readSmallBody`: over `maxSize` is
   * S3's MaxMessageLengthExceeded, not EntityTooLarge.
   */
  document?: boolean
}

/**
 * Prepares the request body for reading. Problems visible in the headers alone (malformed
 * Content-MD5 or checksum values, conflicting checksum headers, a declared length over maxSize)
 * throw here, before any byte is read.
 */
export function openPayload (req: S3Request, auth: AuthContext, opts: OpenPayloadOptions): Payload {
  const plan = planPayload(req, auth, opts)
  let result: PayloadDigests | undefined
  let started = false
  const start = (): void => {
    if (started) throw new Error('A request body can be read only once')
    started = true
  }
  const done = (d: PayloadDigests): void => { result = d }
  return {
    [Symbol.asyncIterator] () {
      start()
      return readBody(req, auth, plan, done)[Symbol.asyncIterator]()
    },
    // A body of a chunk or more is batched for the digest worker anyway: those batches are the leaves.
    ...(plan.document || (plan.declaredSize !== undefined && plan.declaredSize < BATCH_SIZE)
      ? {}
      : { [HASHED_LEAVES]: { size: BATCH_SIZE, leaves: () => { start(); return leavesOf(req, auth, plan, done) } } }),
    digests () {
      if (result == null) throw new Error('Payload digests are available only after the body has been read completely')
      return result
    }
  }
}

/**
 * The body as hashed leaves: reading it feeds the digest stream, whose batches come back as
 * leaves; the pieces themselves are dropped. Reading stops while leaves wait to be taken.
 */
async function * leavesOf (req: S3Request, auth: AuthContext, plan: Plan, done: (d: PayloadDigests) => void): AsyncGenerator<HashedLeaf, void, undefined> {
  const ready: HashedLeaf[] = []
  const body = readBody(req, auth, plan, done, (leaf) => { ready.push(leaf) })
  try {
    for (;;) {
      while (ready.length > 0) yield ready.shift() as HashedLeaf
      if ((await body.next()).done === true) break
    }
    while (ready.length > 0) yield ready.shift() as HashedLeaf
  } finally {
    for (const leaf of ready.splice(0)) leaf.release()
    await body.return(undefined)
  }
}

interface Plan {
  chunked: boolean
  trailer: boolean
  declaredSize?: number
  maxSize: number
  document: boolean
  contentMd5?: string
  algorithm?: ChecksumAlgorithm
  /** Base64 value from a header: binding. */
  expectedChecksum?: string
  /** Name of the checksum trailer announced by x-amz-trailer. */
  trailerName?: string
}

function planPayload (req: S3Request, auth: AuthContext, opts: OpenPayloadOptions): Plan {
  const h = req.headers
  const encodings = (h['content-encoding'] ?? '').split(',').map(s => s.trim().toLowerCase())
  const chunked = auth.payloadMode.startsWith('STREAMING-') || encodings.includes('aws-chunked')
  const plan: Plan = { chunked, trailer: false, maxSize: opts.maxSize, document: opts.document === true }

  const lengthHeader = chunked ? h['x-amz-decoded-content-length'] : h['content-length']
  if (lengthHeader != null) {
    if (!/^\d+$/.test(lengthHeader.trim())) {
      throw new S3Error('InvalidArgument', `${chunked ? 'x-amz-decoded-content-length' : 'Content-Length'} is not a valid length.`, { ArgumentName: chunked ? 'x-amz-decoded-content-length' : 'Content-Length', ArgumentValue: lengthHeader })
    }
    plan.declaredSize = Number(lengthHeader.trim())
    if (plan.declaredSize > opts.maxSize) throw plan.document ? tooLong() : tooLarge(opts.maxSize, plan.declaredSize)
  }

  const md5 = h['content-md5']
  if (md5 != null) {
    const bytes = /^[A-Za-z0-9+/]{22}==$/.test(md5.trim()) ? Buffer.from(md5.trim(), 'base64') : undefined
    if (bytes?.length !== 16) throw new S3Error('InvalidDigest')
    plan.contentMd5 = bytes.toString('hex')
  }

  // Flexible checksums: a value in a header binds; a value announced as a trailer binds when it
  // arrives; an algorithm named without a value is only computed, so that it can be stored.
  const sent = opts.checksumHeadersDescribeObject === true
    ? []
    : Object.keys(h).map(name => [name, checksumAlgorithmOfHeader(name)] as const).filter(([, a]) => a != null) as Array<[string, ChecksumAlgorithm]>
  if (sent.length > 1) {
    throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.')
  }
  const sdkAlgorithmHeader = h['x-amz-sdk-checksum-algorithm']
  const sdkAlgorithm = sdkAlgorithmHeader == null ? undefined : parseChecksumAlgorithm(sdkAlgorithmHeader)
  if (sdkAlgorithmHeader != null && sdkAlgorithm == null) {
    throw new S3Error('InvalidRequest', 'Value for x-amz-sdk-checksum-algorithm header is invalid.')
  }
  const announced = (h['x-amz-trailer'] ?? '').split(',').map(s => s.trim().toLowerCase()).filter(s => s !== '')
  const trailerChecksums = announced.filter(name => checksumAlgorithmOfHeader(name) != null)
  if (announced.length > 0 && !chunked) {
    throw new S3Error('InvalidRequest', 'x-amz-trailer requires an aws-chunked request body.')
  }
  if (trailerChecksums.length > 1 || (trailerChecksums.length === 1 && sent.length === 1)) {
    throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.')
  }
  plan.trailer = announced.length > 0 || auth.payloadMode.endsWith('-TRAILER')

  if (sent.length === 1) {
    const [name, algorithm] = sent[0]
    // A value that is not a digest of the algorithm's size cannot match the body: BadDigest, as
    // for a wrong one (what Ceph RGW answers and conformance suites expect).
    if (decodeChecksumValue(algorithm, h[name]) == null) {
      throw new S3Error('BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`)
    }
    plan.algorithm = algorithm
    plan.expectedChecksum = h[name].trim()
  } else if (trailerChecksums.length === 1) {
    plan.trailerName = trailerChecksums[0]
    plan.algorithm = checksumAlgorithmOfHeader(plan.trailerName)
  } else if (sdkAlgorithm != null) {
    plan.algorithm = sdkAlgorithm
  } else if (opts.checksumAlgorithm == null) {
    // (a presigned URL's non-binding checksum parameters give way to an upload's algorithm)
    plan.algorithm = queryChecksumAlgorithm(req.query)
  }
  if (sdkAlgorithm != null && plan.algorithm !== sdkAlgorithm) {
    throw new S3Error('InvalidRequest', 'Value for x-amz-sdk-checksum-algorithm header is invalid.')
  }
  if (opts.checksumAlgorithm != null) {
    if (plan.algorithm != null && plan.algorithm !== opts.checksumAlgorithm) {
      throw new S3Error('InvalidRequest', `Checksum Type mismatch occurred, expected checksum Type: ${opts.checksumAlgorithm.toLowerCase()}, actual checksum Type: ${plan.algorithm.toLowerCase()}`)
    }
    plan.algorithm = opts.checksumAlgorithm
  }
  return plan
}

/**
 * Checksums that arrive only in the query string of a presigned URL are not binding: only the
 * algorithm they name is computed. The AWS SDK for JavaScript (v3.729 and later, default
 * `requestChecksumCalculation: WHEN_SUPPORTED`) computes the CRC32 while presigning, when there
 * is no body yet, and puts `x-amz-checksum-crc32=AAAAAA==` (the CRC32 of zero bytes) and
 * `x-amz-sdk-checksum-algorithm=CRC32` in the URL. Enforcing that value would reject every
 * non-empty upload through such a URL. Amazon S3 documents that presigned URLs do not support
 * the flexible checksum algorithms (clients are told to use Content-MD5 instead), and it has
 * been observed to ignore these parameters; we do the same.
 */
function queryChecksumAlgorithm (rawQuery: string): ChecksumAlgorithm | undefined {
  if (!/x-amz-(sdk-)?checksum-/i.test(rawQuery)) return undefined
  const query = parseQuery(rawQuery)
  for (const [name, value] of Object.entries(query)) {
    const lower = name.toLowerCase()
    if (lower === 'x-amz-sdk-checksum-algorithm') {
      const algorithm = parseChecksumAlgorithm(Array.isArray(value) ? value[0] : value)
      if (algorithm != null) return algorithm
    }
  }
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    if (Object.keys(query).some(k => k.toLowerCase() === checksumHeaderName(algorithm))) return algorithm
  }
  return undefined
}

async function * readBody (req: S3Request, auth: AuthContext, plan: Plan, done: (d: PayloadDigests) => void, onLeaf?: (leaf: HashedLeaf) => void): AsyncGenerator<Uint8Array, void, undefined> {
  const signedHash = auth.payloadMode === 'SHA256'
  // Without aws-chunked framing the wire bytes are the object bytes: their SHA-256 is computed
  // alongside the MD5, off the main thread. With framing it is taken of the wire, in-thread.
  const sha256 = signedHash && plan.chunked ? createHash('sha256') : undefined
  const wire = sha256 == null ? req.body : tap(req.body, sha256)
  let trailers: Record<string, string> = {}
  const source = plan.chunked
    ? decodeAwsChunked(wire, {
      signing: auth.payloadMode === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' || auth.payloadMode === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
        ? requireSigning(auth)
        : undefined,
      trailer: plan.trailer,
      onTrailers: (t) => { trailers = t }
    })
    : wire

  const algorithms: DigestAlgorithm[] = signedHash && !plan.chunked ? ['md5', 'sha256'] : ['md5']
  const digest = createStreamDigest(algorithms, { sizeHint: plan.declaredSize, onLeaf })
  const checksum: Hasher | undefined = plan.algorithm != null ? createChecksumHasher(plan.algorithm) : undefined
  const limit = Math.min(plan.maxSize, plan.declaredSize ?? Infinity)
  let size = 0
  let md5Hex: string
  let payloadSha256: string | undefined
  try {
    for await (const piece of source) {
      req.signal?.throwIfAborted()
      size += piece.length
      if (size > limit) {
        if (size > plan.maxSize) throw plan.document ? tooLong() : tooLarge(plan.maxSize)
        throw new S3Error('IncompleteBody', 'The request body is longer than its declared length.')
      }
      const wait = digest.update(piece)
      checksum?.update(piece)
      yield piece
      if (wait !== undefined) await wait
    }
    if (plan.declaredSize != null && size !== plan.declaredSize) throw new S3Error('IncompleteBody')
    const hex = await digest.digest()
    md5Hex = hex[0]
    payloadSha256 = hex[1]
  } finally {
    digest.abort() // no-op once digest() has resolved
  }

  if (sha256 != null) payloadSha256 = sha256.digest('hex')
  if (payloadSha256 != null) {
    const computed = payloadSha256
    if (computed !== auth.payloadSha256) {
      throw new S3Error('XAmzContentSHA256Mismatch', undefined, { ClientComputedContentSHA256: auth.payloadSha256 ?? '', S3ComputedContentSHA256: computed })
    }
  }
  if (plan.contentMd5 != null && plan.contentMd5 !== md5Hex) {
    throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', {
      ExpectedDigest: Buffer.from(plan.contentMd5, 'hex').toString('base64'),
      CalculatedDigest: Buffer.from(md5Hex, 'hex').toString('base64')
    })
  }
  let expected = plan.expectedChecksum
  if (plan.trailerName != null && plan.algorithm != null) {
    const value = trailers[plan.trailerName]
    if (value == null) throw new S3Error('InvalidRequest', `The announced trailing checksum ${plan.trailerName} was not sent.`)
    if (decodeChecksumValue(plan.algorithm, value) == null) throw new S3Error('BadDigest', `The ${plan.algorithm} you specified did not match the calculated checksum.`)
    expected = value
  }
  let result: PayloadDigests['checksum']
  if (checksum != null && plan.algorithm != null) {
    const value = toBase64(await checksum.digest())
    if (expected != null && expected !== value) {
      throw new S3Error('BadDigest', `The ${plan.algorithm} you specified did not match the calculated checksum.`)
    }
    result = { algorithm: plan.algorithm, value }
  }
  done({ size, md5: md5Hex, ...(result != null ? { checksum: result } : {}) })
}

function requireSigning (auth: AuthContext): NonNullable<AuthContext['signing']> {
  if (auth.signing == null) throw new S3Error('InvalidRequest', 'A signed streaming payload requires a signed request.')
  return auth.signing
}

async function * tap (source: AsyncIterable<Uint8Array>, hash: Hash): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const piece of source) {
    hash.update(piece)
    yield piece
  }
}

function tooLong (): S3Error {
  return new S3Error('MaxMessageLengthExceeded', 'Your request was too big.')
}

function tooLarge (maxSize: number, proposed?: number): S3Error {
  return new S3Error('EntityTooLarge', undefined, {
    ...(proposed != null ? { ProposedSize: String(proposed) } : {}),
    MaxSizeAllowed: String(maxSize)
  })
}

/**
 * Reads a small body (an XML request document) completely. Over `limit` bytes gives
 * MaxMessageLengthExceeded as soon as the limit is passed; the rest is not read.
 */
export async function readSmallBody (payload: AsyncIterable<Uint8Array>, limit: number): Promise<Uint8Array> {
  const pieces: Uint8Array[] = []
  let size = 0
  for await (const piece of payload) {
    size += piece.length
    if (size > limit) throw tooLong()
    pieces.push(piece)
  }
  return Buffer.concat(pieces, size)
}
