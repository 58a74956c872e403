import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto'

/**
 * Server-side encryption of object bytes (SSE-S3 and SSE-C), so that only ciphertext reaches the
 * blockstore.
 *
 * Each encrypted object version (or multipart upload) has its own random 256-bit data key (DEK),
 * stored only wrapped (AES-256-GCM) under a key-encryption key: the operator's master key for
 * SSE-S3, the customer's key for SSE-C.
 *
 * An encrypted object is the concatenation of its parts' ciphertexts; a single PUT is one part.
 * A part's ciphertext is a 16-byte random salt, then its plaintext cut into 64 KiB segments (the last
 * may be shorter; an empty part has exactly one empty segment), each sealed with AES-256-GCM as
 * `ciphertext | 16-byte tag` under
 *
 * - key: HMAC-SHA256(DEK, "s3-ipfs-gateway sse v1 part" | salt)
 * - IV: 4 zero bytes | the segment index as 8 bytes big-endian
 * - AAD: one byte, 1 for the part's final segment and 0 otherwise
 *
 * so a segment that is altered, moved, dropped from the end or decrypted with another key fails
 * authentication. Parts are not bound to their position: the object's CID and part list, kept in the
 * metadata store, fix which part is where.
 */

export const SEGMENT_SIZE = 65536
export const TAG_SIZE = 16
export const SALT_SIZE = 16
export const KEY_SIZE = 32

const IV_SIZE = 12
const WRAP_VERSION = 1
const WRAPPED_SIZE = 1 + IV_SIZE + KEY_SIZE + TAG_SIZE
const PART_KEY_LABEL = Buffer.from('s3-ipfs-gateway sse v1 part', 'utf8')
const FINAL = Buffer.from([1])
const NOT_FINAL = Buffer.from([0])
const SEGMENT_CIPHER_SIZE = SEGMENT_SIZE + TAG_SIZE

/** A fresh random 256-bit data key. */
export function newDataKey (): Uint8Array {
  return new Uint8Array(randomBytes(KEY_SIZE))
}

/**
 * Seals `dek` under `kek` (both 32 bytes) as base64 of version byte | 12-byte IV | ciphertext | tag.
 * The version byte is authenticated too.
 */
export function wrapKey (kek: Uint8Array, dek: Uint8Array): string {
  checkKey(kek, 'key-encryption key')
  checkKey(dek, 'data key')
  const version = Buffer.from([WRAP_VERSION])
  const iv = randomBytes(IV_SIZE)
  const cipher = createCipheriv('aes-256-gcm', kek, iv)
  cipher.setAAD(version)
  const sealed = Buffer.concat([cipher.update(dek), cipher.final()])
  return Buffer.concat([version, iv, sealed, cipher.getAuthTag()]).toString('base64')
}

/** Throws an Error with code 'ERR_KEY_UNWRAP' when the KEK is wrong or the wrapped key was altered. */
export function unwrapKey (kek: Uint8Array, wrapped: string): Uint8Array {
  checkKey(kek, 'key-encryption key')
  const bytes = typeof wrapped === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(wrapped) ? Buffer.from(wrapped, 'base64') : Buffer.alloc(0)
  if (bytes.byteLength !== WRAPPED_SIZE || bytes[0] !== WRAP_VERSION) throw unwrapError()
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, bytes.subarray(1, 1 + IV_SIZE))
    decipher.setAAD(bytes.subarray(0, 1))
    decipher.setAuthTag(bytes.subarray(WRAPPED_SIZE - TAG_SIZE))
    const dek = Buffer.concat([decipher.update(bytes.subarray(1 + IV_SIZE, WRAPPED_SIZE - TAG_SIZE)), decipher.final()])
    return new Uint8Array(dek)
  } catch {
    throw unwrapError()
  }
}

/** The size of the ciphertext of a part of `plainSize` bytes. */
export function cipherSize (plainSize: number): number {
  checkSize(plainSize, 'plainSize')
  return SALT_SIZE + plainSize + TAG_SIZE * segmentCount(plainSize)
}

/**
 * Encrypts one part as it streams. Yields the salt header first, then one chunk per segment. Chunks
 * of `source` may have any size; memory held is about one segment plus the incoming chunk.
 */
export async function * encryptPart (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, dek: Uint8Array): AsyncGenerator<Uint8Array> {
  checkKey(dek, 'data key')
  const salt = new Uint8Array(randomBytes(SALT_SIZE))
  const key = partKey(dek, salt)
  yield salt
  // A full segment is held back until more bytes arrive: only then is it known not to be the final one.
  const pending = Buffer.allocUnsafe(SEGMENT_SIZE)
  let filled = 0
  let index = 0
  for await (const chunk of source) {
    let pos = 0
    while (pos < chunk.byteLength) {
      if (filled === SEGMENT_SIZE) {
        yield sealSegment(key, index++, pending, false)
        filled = 0
      }
      if (filled === 0 && chunk.byteLength - pos > SEGMENT_SIZE) {
        yield sealSegment(key, index++, chunk.subarray(pos, pos + SEGMENT_SIZE), false)
        pos += SEGMENT_SIZE
        continue
      }
      const n = Math.min(SEGMENT_SIZE - filled, chunk.byteLength - pos)
      pending.set(chunk.subarray(pos, pos + n), filled)
      filled += n
      pos += n
    }
  }
  yield sealSegment(key, index, pending.subarray(0, filled), true)
}

/**
 * Where plaintext bytes [offset, offset+length) of an object made of parts with these PLAINTEXT sizes
 * live in the ciphertext: one entry per part touched, in order.
 */
export interface CipherSpan {
  partIndex: number
  /** Where the part's ciphertext (its salt header) starts in the whole object's ciphertext. */
  partCipherOffset: number
  partPlainSize: number
  firstSegment: number
  lastSegment: number
  /** Absolute offset of firstSegment's ciphertext in the whole object's ciphertext. */
  cipherOffset: number
  cipherLength: number
  /** Plaintext bytes to drop from the first decrypted segment. */
  skip: number
  /** Plaintext bytes to output from this span. */
  take: number
}

/**
 * The spans of ciphertext to read and decrypt for plaintext bytes [offset, offset+length). Empty
 * parts and a zero length touch nothing. Throws RangeError for a range outside the object.
 */
export function cipherSpans (partPlainSizes: number[], offset: number, length: number): CipherSpan[] {
  partPlainSizes.forEach((size, i) => checkSize(size, `partPlainSizes[${i}]`))
  checkSize(offset, 'offset')
  checkSize(length, 'length')
  const total = partPlainSizes.reduce((n, size) => n + size, 0)
  if (offset + length > total) throw new RangeError(`Range ${offset}+${length} is outside an object of ${total} bytes`)
  const end = offset + length
  const spans: CipherSpan[] = []
  let partPlainOffset = 0
  let partCipherOffset = 0
  for (let partIndex = 0; partIndex < partPlainSizes.length; partIndex++) {
    const size = partPlainSizes[partIndex]
    const start = Math.max(offset, partPlainOffset) - partPlainOffset
    const stop = Math.min(end, partPlainOffset + size) - partPlainOffset
    if (stop > start) {
      const firstSegment = Math.floor(start / SEGMENT_SIZE)
      const lastSegment = Math.floor((stop - 1) / SEGMENT_SIZE)
      const plainEnd = Math.min((lastSegment + 1) * SEGMENT_SIZE, size)
      spans.push({
        partIndex,
        partCipherOffset,
        partPlainSize: size,
        firstSegment,
        lastSegment,
        cipherOffset: partCipherOffset + SALT_SIZE + firstSegment * SEGMENT_CIPHER_SIZE,
        cipherLength: plainEnd - firstSegment * SEGMENT_SIZE + (lastSegment - firstSegment + 1) * TAG_SIZE,
        skip: start - firstSegment * SEGMENT_SIZE,
        take: stop - start,
      })
    }
    partPlainOffset += size
    partCipherOffset += cipherSize(size)
    if (partPlainOffset >= end) break
  }
  return spans
}

/**
 * Decrypts one span. `salt` is the part's 16-byte header (at span.partCipherOffset); `ciphertext`
 * yields exactly span.cipherLength bytes in any chunking. Yields exactly span.take plaintext bytes,
 * each segment's only after its tag verified. Throws an Error with code 'ERR_DECRYPT' on any
 * tampering, truncation, excess bytes or wrong key.
 */
export async function * decryptSpan (ciphertext: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, dek: Uint8Array, salt: Uint8Array, span: CipherSpan): AsyncGenerator<Uint8Array> {
  checkKey(dek, 'data key')
  if (salt.byteLength !== SALT_SIZE) throw decryptError(`The salt header of part ${span.partIndex} has ${salt.byteLength} bytes, not ${SALT_SIZE}`)
  const key = partKey(dek, salt)
  const finalSegment = segmentCount(span.partPlainSize) - 1
  const segmentLength = (segment: number): number => Math.min(SEGMENT_SIZE, span.partPlainSize - segment * SEGMENT_SIZE) + TAG_SIZE
  let segment = span.firstSegment
  let skip = span.skip
  let left = span.take
  let want = segmentLength(segment)
  const pending = Buffer.allocUnsafe(SEGMENT_CIPHER_SIZE)
  let filled = 0

  function * open (bytes: Uint8Array): Generator<Uint8Array> {
    const plain = openSegment(key, segment, bytes, segment === finalSegment, span.partIndex)
    const out = plain.subarray(skip, Math.min(plain.byteLength, skip + left))
    skip = 0
    left -= out.byteLength
    segment++
    if (segment <= span.lastSegment) want = segmentLength(segment)
    if (out.byteLength > 0) yield out
  }

  for await (const chunk of ciphertext) {
    let pos = 0
    while (pos < chunk.byteLength) {
      if (segment > span.lastSegment) throw decryptError(`Part ${span.partIndex} has more ciphertext than its span of ${span.cipherLength} bytes`)
      if (filled === 0 && chunk.byteLength - pos >= want) {
        const bytes = chunk.subarray(pos, pos + want)
        pos += want
        yield * open(bytes)
        continue
      }
      const n = Math.min(want - filled, chunk.byteLength - pos)
      pending.set(chunk.subarray(pos, pos + n), filled)
      filled += n
      pos += n
      if (filled === want) {
        filled = 0
        yield * open(pending.subarray(0, want))
      }
    }
  }
  if (segment <= span.lastSegment) throw decryptError(`The ciphertext of part ${span.partIndex} ends inside segment ${segment}`)
}

function partKey (dek: Uint8Array, salt: Uint8Array): Buffer {
  return createHmac('sha256', dek).update(PART_KEY_LABEL).update(salt).digest()
}

function segmentIv (index: number): Buffer {
  const iv = Buffer.alloc(IV_SIZE)
  iv.writeUInt32BE(Math.floor(index / 0x100000000), 4)
  iv.writeUInt32BE(index >>> 0, 8)
  return iv
}

function sealSegment (key: Buffer, index: number, plain: Uint8Array, final: boolean): Uint8Array {
  const cipher = createCipheriv('aes-256-gcm', key, segmentIv(index))
  cipher.setAAD(final ? FINAL : NOT_FINAL)
  const out = Buffer.allocUnsafe(plain.byteLength + TAG_SIZE)
  let n = cipher.update(plain).copy(out)
  n += cipher.final().copy(out, n)
  cipher.getAuthTag().copy(out, n)
  return out
}

function openSegment (key: Buffer, index: number, sealed: Uint8Array, final: boolean, partIndex: number): Buffer {
  const tagAt = sealed.byteLength - TAG_SIZE
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, segmentIv(index))
    decipher.setAAD(final ? FINAL : NOT_FINAL)
    decipher.setAuthTag(sealed.subarray(tagAt))
    const plain = decipher.update(sealed.subarray(0, tagAt))
    const rest = decipher.final()
    return rest.byteLength === 0 ? plain : Buffer.concat([plain, rest])
  } catch {
    throw decryptError(`Segment ${index} of part ${partIndex} failed authentication: the ciphertext was altered or the key is wrong`)
  }
}

function segmentCount (plainSize: number): number {
  return Math.max(1, Math.ceil(plainSize / SEGMENT_SIZE))
}

function checkKey (key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.byteLength !== KEY_SIZE) throw new TypeError(`The ${what} must be ${KEY_SIZE} bytes`)
}

function checkSize (n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer, not ${n}`)
}

function unwrapError (): Error {
  return Object.assign(new Error('The data key could not be unwrapped: the key-encryption key is wrong or the wrapped key was altered'), { code: 'ERR_KEY_UNWRAP' })
}

function decryptError (message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_DECRYPT' })
}
