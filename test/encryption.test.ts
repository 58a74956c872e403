import { createHash } from 'node:crypto'
import test from 'ava'
import {
  SALT_SIZE, SEGMENT_SIZE, TAG_SIZE, cipherSize, cipherSpans, decryptSpan, encryptPart, newDataKey, unwrapKey, wrapKey,
} from '../src/content/encryption.js'
import type { CipherSpan } from '../src/content/encryption.js'
import type { ExecutionContext } from 'ava'

const SEG_CIPHER = SEGMENT_SIZE + TAG_SIZE
const SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536 + 5]

/** Deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng (seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n: number) => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n)
  }
}

function randomBytesSeeded (size: number, rand: (n: number) => number): Uint8Array {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = rand(256)
  return out
}

/** Yields `bytes` in random-sized chunks (empty chunks included), as copies. */
async function * chunked (bytes: Uint8Array, rand: (n: number) => number, max = 3 * SEGMENT_SIZE): AsyncGenerator<Uint8Array> {
  let pos = 0
  while (pos < bytes.byteLength) {
    const kind = rand(10)
    const n = kind === 0 ? 0 : kind === 1 ? 1 + rand(16) : 1 + rand(max)
    yield bytes.slice(pos, pos + n)
    pos += n
  }
  if (rand(2) === 0) yield new Uint8Array(0)
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Decrypts what it can, returning the bytes yielded before any error and the error. */
async function drain (source: AsyncIterable<Uint8Array>): Promise<{ bytes: Uint8Array, error?: { code?: string } }> {
  const chunks: Uint8Array[] = []
  try {
    for await (const chunk of source) chunks.push(chunk)
    return { bytes: Buffer.concat(chunks) }
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error: error as { code?: string } }
  }
}

async function encryptObject (parts: Uint8Array[], dek: Uint8Array, rand: (n: number) => number): Promise<Uint8Array> {
  const out: Uint8Array[] = []
  for (const part of parts) out.push(await collect(encryptPart(chunked(part, rand), dek)))
  return Buffer.concat(out)
}

function readSpan (cipher: Uint8Array, dek: Uint8Array, span: CipherSpan, rand: (n: number) => number): AsyncGenerator<Uint8Array> {
  const salt = cipher.subarray(span.partCipherOffset, span.partCipherOffset + SALT_SIZE)
  return decryptSpan(chunked(cipher.subarray(span.cipherOffset, span.cipherOffset + span.cipherLength), rand), dek, salt, span)
}

async function readRange (cipher: Uint8Array, sizes: number[], dek: Uint8Array, offset: number, length: number, rand: (n: number) => number): Promise<Uint8Array> {
  const out: Uint8Array[] = []
  for (const span of cipherSpans(sizes, offset, length)) {
    const bytes = await collect(readSpan(cipher, dek, span, rand))
    if (bytes.byteLength !== span.take) throw new Error(`span yielded ${bytes.byteLength} bytes, not ${span.take}`)
    out.push(bytes)
  }
  return Buffer.concat(out)
}

/** The span that authenticates a whole part, the empty part included (cipherSpans never touches an empty part). */
function wholePart (size: number, partCipherOffset = 0): CipherSpan {
  const lastSegment = Math.max(0, Math.ceil(size / SEGMENT_SIZE) - 1)
  return {
    partIndex: 0,
    partCipherOffset,
    partPlainSize: size,
    firstSegment: 0,
    lastSegment,
    cipherOffset: partCipherOffset + SALT_SIZE,
    cipherLength: cipherSize(size) - SALT_SIZE,
    skip: 0,
    take: size,
  }
}

function sameBytes (t: ExecutionContext, actual: Uint8Array, expected: Uint8Array, message?: string): void {
  t.is(actual.byteLength, expected.byteLength, message)
  t.true(Buffer.from(actual).equals(Buffer.from(expected)), message)
}

test('cipherSize follows 16 + n + 16 per segment, one segment at least', t => {
  t.is(cipherSize(0), 32)
  t.is(cipherSize(1), 33)
  t.is(cipherSize(65535), 16 + 65535 + 16)
  t.is(cipherSize(65536), 16 + 65536 + 16)
  t.is(cipherSize(65537), 16 + 65537 + 32)
  t.is(cipherSize(3 * 65536 + 5), 16 + 3 * 65536 + 5 + 64)
  t.is(cipherSize(5 * 1024 ** 3), 16 + 5 * 1024 ** 3 + 16 * 81920)
  t.throws(() => cipherSize(-1), { instanceOf: RangeError })
  t.throws(() => cipherSize(1.5), { instanceOf: RangeError })
})

test('round trips every size through random chunkings, and the ciphertext is cipherSize long', async t => {
  const rand = rng(1)
  const dek = newDataKey()
  for (const size of SIZES) {
    const plain = randomBytesSeeded(size, rand)
    for (let round = 0; round < 4; round++) {
      const chunks: Uint8Array[] = []
      for await (const chunk of encryptPart(chunked(plain, rand), dek)) chunks.push(chunk)
      t.is(chunks[0].byteLength, SALT_SIZE, 'the salt header is yielded first')
      const cipher = Buffer.concat(chunks)
      t.is(cipher.byteLength, cipherSize(size), `size ${size}`)
      sameBytes(t, await collect(readSpan(cipher, dek, wholePart(size), rand)), plain, `size ${size}`)
      if (size > 0) sameBytes(t, await readRange(cipher, [size], dek, 0, size, rand), plain)
    }
  }
})

test('accepts a synchronous iterable and 1-byte chunks', async t => {
  const rand = rng(2)
  const dek = newDataKey()
  const plain = randomBytesSeeded(SEGMENT_SIZE + 3, rand)
  const bytes = Array.from(plain, b => Uint8Array.of(b))
  const cipher = await collect(encryptPart(bytes, dek))
  t.is(cipher.byteLength, cipherSize(plain.byteLength))
  sameBytes(t, await collect(decryptSpan([cipher.subarray(SALT_SIZE)], dek, cipher.subarray(0, SALT_SIZE), wholePart(plain.byteLength))), plain)
})

test('the ciphertext hides the plaintext and differs on every encryption', async t => {
  const rand = rng(3)
  const dek = newDataKey()
  const plain = new Uint8Array(2 * SEGMENT_SIZE)
  const a = await encryptObject([plain], dek, rand)
  const b = await encryptObject([plain], dek, rand)
  t.false(Buffer.from(a).equals(Buffer.from(b)))
  // Zero plaintext under a stream cipher would show as a keystream repeating across segments; it must not.
  t.false(Buffer.from(a.subarray(SALT_SIZE, SALT_SIZE + 64)).equals(Buffer.from(a.subarray(SALT_SIZE + SEG_CIPHER, SALT_SIZE + SEG_CIPHER + 64))))
  t.false(Buffer.from(a).includes(Buffer.alloc(64)))
})

test('cipherSpans locates segments, skips and takes', t => {
  t.deepEqual(cipherSpans([10], 2, 5), [{
    partIndex: 0, partCipherOffset: 0, partPlainSize: 10, firstSegment: 0, lastSegment: 0, cipherOffset: 16, cipherLength: 26, skip: 2, take: 5,
  }])
  const big = 3 * SEGMENT_SIZE + 5
  t.deepEqual(cipherSpans([big], SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE), [{
    partIndex: 0,
    partCipherOffset: 0,
    partPlainSize: big,
    firstSegment: 1,
    lastSegment: 3,
    cipherOffset: 16 + SEG_CIPHER,
    cipherLength: 2 * SEG_CIPHER + 5 + TAG_SIZE,
    skip: 1,
    take: 2 * SEGMENT_SIZE,
  }])
  // Across parts, empty parts skipped; the second part's ciphertext starts after the first's.
  const spans = cipherSpans([5, 0, 7, 0], 3, 6)
  t.deepEqual(spans.map(s => [s.partIndex, s.partCipherOffset, s.cipherOffset, s.cipherLength, s.skip, s.take]), [
    [0, 0, 16, 21, 3, 2],
    [2, cipherSize(5) + cipherSize(0), cipherSize(5) + cipherSize(0) + 16, 23, 0, 4],
  ])
  t.deepEqual(cipherSpans([5, 7], 4, 0), [])
  t.deepEqual(cipherSpans([], 0, 0), [])
  t.throws(() => cipherSpans([5, 7], 10, 3), { instanceOf: RangeError })
  t.throws(() => cipherSpans([5], -1, 1), { instanceOf: RangeError })
})

test('random ranges of one part decrypt to exactly the plaintext slice', async t => {
  const rand = rng(4)
  const dek = newDataKey()
  for (const size of SIZES.filter(s => s > 0)) {
    const plain = randomBytesSeeded(size, rand)
    const cipher = await encryptObject([plain], dek, rand)
    const ranges: Array<[number, number]> = [[0, size], [size - 1, 1], [0, 1]]
    for (const b of [SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE]) {
      if (b < size) ranges.push([b, size - b], [0, b], [b, 1])
    }
    for (let i = 0; i < 60; i++) {
      const offset = rand(size)
      ranges.push([offset, 1 + rand(size - offset)])
    }
    for (const [offset, length] of ranges) {
      sameBytes(t, await readRange(cipher, [size], dek, offset, length, rand), plain.subarray(offset, offset + length), `size ${size} range ${offset}+${length}`)
    }
  }
})

test('random ranges across multipart layouts, empty parts included, decrypt to exactly the slice', async t => {
  const rand = rng(5)
  const dek = newDataKey()
  const layouts = [
    [0, 5, SEGMENT_SIZE, 0, 200000, 1, SEGMENT_SIZE - 1, 0],
    [SEGMENT_SIZE + 1, SEGMENT_SIZE + 1, 3],
    [0, 0, 1, 0],
  ]
  for (let i = 0; i < 3; i++) layouts.push(Array.from({ length: 1 + rand(6) }, () => rand(4) === 0 ? 0 : rand(3 * SEGMENT_SIZE)))
  for (const sizes of layouts) {
    const parts = sizes.map(size => randomBytesSeeded(size, rand))
    const plain = Buffer.concat(parts)
    const cipher = await encryptObject(parts, dek, rand)
    t.is(cipher.byteLength, sizes.reduce((n, s) => n + cipherSize(s), 0))
    const total = plain.byteLength
    if (total === 0) continue
    const ranges: Array<[number, number]> = [[0, total]]
    let at = 0
    for (const size of sizes) {
      if (at > 0 && at < total) ranges.push([at - 1, Math.min(2, total - at + 1)])
      at += size
    }
    for (let i = 0; i < 80; i++) {
      const offset = rand(total)
      ranges.push([offset, 1 + rand(total - offset)])
    }
    for (const [offset, length] of ranges) {
      const spans = cipherSpans(sizes, offset, length)
      t.is(spans.reduce((n, s) => n + s.take, 0), length)
      t.true(spans.every(s => s.partPlainSize > 0 && s.skip < SEGMENT_SIZE))
      sameBytes(t, await readRange(cipher, sizes, dek, offset, length, rand), plain.subarray(offset, offset + length), `layout ${sizes.join(',')} range ${offset}+${length}`)
    }
  }
})

test('a range read touches only its segments', async t => {
  const rand = rng(6)
  const dek = newDataKey()
  const size = 3 * SEGMENT_SIZE + 5
  const plain = randomBytesSeeded(size, rand)
  const cipher = await encryptObject([plain], dek, rand)
  const [span] = cipherSpans([size], SEGMENT_SIZE + 10, 20)
  t.is(span.firstSegment, 1)
  t.is(span.lastSegment, 1)
  const damaged = Buffer.from(cipher)
  damaged[SALT_SIZE + 5] ^= 1 // segment 0
  damaged[SALT_SIZE + 2 * SEG_CIPHER + 5] ^= 1 // segment 2
  sameBytes(t, await collect(readSpan(damaged, dek, span, rand)), plain.subarray(SEGMENT_SIZE + 10, SEGMENT_SIZE + 30))
})

/** Reads the whole part from `cipher` and checks it fails with nothing of segment `damaged` (or later) yielded. */
async function expectDamage (t: ExecutionContext, cipher: Uint8Array, dek: Uint8Array, size: number, plain: Uint8Array, damaged: number, what: string): Promise<void> {
  const { bytes, error } = await drain(readSpan(cipher, dek, wholePart(size), rng(damaged)))
  t.is(error?.code, 'ERR_DECRYPT', what)
  sameBytes(t, bytes, plain.subarray(0, damaged * SEGMENT_SIZE), `${what}: only the segments before the damaged one are yielded`)
}

test('flipping any byte of the salt or of a segment fails with ERR_DECRYPT, yielding nothing of that segment', async t => {
  const rand = rng(7)
  const dek = newDataKey()
  const size = 3 * SEGMENT_SIZE + 5
  const plain = randomBytesSeeded(size, rand)
  const cipher = await encryptObject([plain], dek, rand)
  const positions = new Set<number>()
  for (let i = 0; i < SALT_SIZE; i++) positions.add(i)
  for (let s = 0; s < 4; s++) {
    const start = SALT_SIZE + s * SEG_CIPHER
    const end = Math.min(start + SEG_CIPHER, cipher.byteLength)
    for (const p of [start, start + 1, end - TAG_SIZE - 1, end - TAG_SIZE, end - 1]) positions.add(p)
  }
  for (let i = 0; i < 150; i++) positions.add(rand(cipher.byteLength))
  for (const p of positions) {
    const damaged = Buffer.from(cipher)
    damaged[p] ^= 1 << rand(8)
    const segment = p < SALT_SIZE ? 0 : Math.floor((p - SALT_SIZE) / SEG_CIPHER)
    await expectDamage(t, damaged, dek, size, plain, segment, `byte ${p}`)
  }
})

test('a range read fails on damage inside the segments it touches', async t => {
  const rand = rng(8)
  const dek = newDataKey()
  const sizes = [SEGMENT_SIZE + 7, 0, 2 * SEGMENT_SIZE]
  const parts = sizes.map(size => randomBytesSeeded(size, rand))
  const cipher = await encryptObject(parts, dek, rand)
  const total = sizes.reduce((n, s) => n + s, 0)
  for (let i = 0; i < 40; i++) {
    const offset = rand(total)
    const length = 1 + rand(total - offset)
    const spans = cipherSpans(sizes, offset, length)
    const span = spans[rand(spans.length)]
    const damaged = Buffer.from(cipher)
    const salted = rand(4) === 0
    damaged[salted ? span.partCipherOffset + rand(SALT_SIZE) : span.cipherOffset + rand(span.cipherLength)] ^= 0x80
    const { error } = await drain(readSpan(damaged, dek, span, rand))
    t.is(error?.code, 'ERR_DECRYPT')
  }
})

test('an empty part authenticates its one empty segment', async t => {
  const dek = newDataKey()
  const cipher = await collect(encryptPart([], dek))
  t.is(cipher.byteLength, 32)
  t.is((await collect(readSpan(cipher, dek, wholePart(0), rng(9)))).byteLength, 0)
  for (let p = 0; p < cipher.byteLength; p++) {
    const damaged = Buffer.from(cipher)
    damaged[p] ^= 1
    t.is((await drain(readSpan(damaged, dek, wholePart(0), rng(p)))).error?.code, 'ERR_DECRYPT')
  }
  t.is((await drain(decryptSpan([cipher.subarray(16, 31)], dek, cipher.subarray(0, 16), wholePart(0)))).error?.code, 'ERR_DECRYPT')
})

test('truncation fails: a stream that ends early, and a part cut back to a segment boundary', async t => {
  const rand = rng(10)
  const dek = newDataKey()
  const size = 3 * SEGMENT_SIZE + 5
  const plain = randomBytesSeeded(size, rand)
  const cipher = await encryptObject([plain], dek, rand)
  // The final segment short by one byte, or missing entirely.
  for (const cut of [1, TAG_SIZE, 5 + TAG_SIZE, 5 + TAG_SIZE + 1]) {
    const span = wholePart(size)
    const { bytes, error } = await drain(decryptSpan(chunked(cipher.subarray(SALT_SIZE, cipher.byteLength - cut), rand), dek, cipher.subarray(0, SALT_SIZE), span))
    t.is(error?.code, 'ERR_DECRYPT', `cut ${cut}`)
    const whole = cut > 5 + TAG_SIZE ? 2 : 3
    sameBytes(t, bytes, plain.subarray(0, whole * SEGMENT_SIZE))
  }
  // Dropping the final segment and claiming the shorter size: the now-last segment was not sealed as final.
  const shorter = 3 * SEGMENT_SIZE
  const truncated = cipher.subarray(0, cipherSize(shorter))
  await expectDamage(t, truncated, dek, shorter, plain, 2, 'cut to a segment boundary')
  const [span] = cipherSpans([shorter], shorter - 1, 1)
  t.is((await drain(readSpan(truncated, dek, span, rand))).error?.code, 'ERR_DECRYPT')
  // And an exact-multiple part whose final segment is dropped.
  const even = randomBytesSeeded(2 * SEGMENT_SIZE, rand)
  const evenCipher = await encryptObject([even], dek, rand)
  await expectDamage(t, evenCipher.subarray(0, cipherSize(SEGMENT_SIZE)), dek, SEGMENT_SIZE, even, 0, 'exact multiple cut')
})

test('extra ciphertext beyond the span fails', async t => {
  const dek = newDataKey()
  const cipher = await collect(encryptPart([new Uint8Array(100)], dek))
  const { bytes, error } = await drain(decryptSpan([cipher.subarray(SALT_SIZE), new Uint8Array(1)], dek, cipher.subarray(0, SALT_SIZE), wholePart(100)))
  t.is(error?.code, 'ERR_DECRYPT')
  t.true(bytes.byteLength === 0 || bytes.byteLength === 100)
})

test('swapping or repeating segments fails', async t => {
  const rand = rng(11)
  const dek = newDataKey()
  const size = 4 * SEGMENT_SIZE
  const plain = randomBytesSeeded(size, rand)
  const cipher = await encryptObject([plain], dek, rand)
  const seg = (i: number): Uint8Array => cipher.subarray(SALT_SIZE + i * SEG_CIPHER, SALT_SIZE + (i + 1) * SEG_CIPHER)
  const rebuild = (order: number[]): Uint8Array => Buffer.concat([cipher.subarray(0, SALT_SIZE), ...order.map(seg)])
  await expectDamage(t, rebuild([1, 0, 2, 3]), dek, size, plain, 0, 'swap 0 and 1')
  await expectDamage(t, rebuild([0, 2, 1, 3]), dek, size, plain, 1, 'swap 1 and 2')
  await expectDamage(t, rebuild([0, 1, 3, 2]), dek, size, plain, 2, 'swap 2 and 3 (final)')
  await expectDamage(t, rebuild([0, 0, 2, 3]), dek, size, plain, 1, 'repeat 0')
})

test('a salt from another part, or another data key, fails', async t => {
  const rand = rng(12)
  const dek = newDataKey()
  const plain = randomBytesSeeded(SEGMENT_SIZE + 9, rand)
  const a = await encryptObject([plain], dek, rand)
  const b = await encryptObject([plain], dek, rand)
  const mixed = Buffer.concat([b.subarray(0, SALT_SIZE), a.subarray(SALT_SIZE)])
  await expectDamage(t, mixed, dek, plain.byteLength, plain, 0, 'salt of another part')
  await expectDamage(t, a, newDataKey(), plain.byteLength, plain, 0, 'wrong data key')
  const [span] = cipherSpans([plain.byteLength], SEGMENT_SIZE + 1, 3)
  t.is((await drain(readSpan(a, newDataKey(), span, rand))).error?.code, 'ERR_DECRYPT')
  t.is((await drain(decryptSpan([a.subarray(SALT_SIZE)], dek, a.subarray(0, SALT_SIZE - 1), wholePart(plain.byteLength)))).error?.code, 'ERR_DECRYPT')
})

test('wrapKey and unwrapKey round trip; a wrong KEK or any altered byte is ERR_KEY_UNWRAP', t => {
  const kek = newDataKey()
  const dek = newDataKey()
  const wrapped = wrapKey(kek, dek)
  const bytes = Buffer.from(wrapped, 'base64')
  t.is(bytes.byteLength, 1 + 12 + 32 + 16)
  t.is(bytes[0], 1)
  t.false(bytes.includes(Buffer.from(dek)))
  t.deepEqual(Buffer.from(unwrapKey(kek, wrapped)), Buffer.from(dek))
  t.not(wrapKey(kek, dek), wrapped, 'a fresh IV every time')
  t.deepEqual(Buffer.from(unwrapKey(kek, wrapKey(kek, dek))), Buffer.from(dek))
  t.throws(() => unwrapKey(newDataKey(), wrapped), { message: /unwrapped/ })
  t.is(codeOf(() => unwrapKey(newDataKey(), wrapped)), 'ERR_KEY_UNWRAP')
  for (let i = 0; i < bytes.byteLength; i++) {
    for (const bit of [0x01, 0x80]) {
      const damaged = Buffer.from(bytes)
      damaged[i] ^= bit
      t.is(codeOf(() => unwrapKey(kek, damaged.toString('base64'))), 'ERR_KEY_UNWRAP', `byte ${i}`)
    }
  }
  for (const bad of ['', 'not base64!', bytes.subarray(0, 60).toString('base64'), Buffer.concat([bytes, Buffer.of(0)]).toString('base64')]) {
    t.is(codeOf(() => unwrapKey(kek, bad)), 'ERR_KEY_UNWRAP', JSON.stringify(bad))
  }
  t.throws(() => wrapKey(new Uint8Array(16), dek), { instanceOf: TypeError })
  t.throws(() => wrapKey(kek, new Uint8Array(31)), { instanceOf: TypeError })
})

test('newDataKey gives distinct 32-byte keys', t => {
  const a = newDataKey()
  t.is(a.byteLength, 32)
  t.false(Buffer.from(a).equals(Buffer.from(newDataKey())))
})

test('encrypts 64 MiB streamed in 1 MiB chunks without buffering it, and decrypts it streaming', async t => {
  const MiB = 1024 * 1024
  const chunks = 64
  let produced = 0
  let cipherSeen = 0
  let largest = 0
  const plainHash = createHash('sha256')
  const buffer = new Uint8Array(MiB)
  async function * source (): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < chunks; i++) {
      // Everything before the previous chunk must already have come out as ciphertext.
      t.true(cipherSeen >= Math.max(0, (produced - 1) * MiB - SEGMENT_SIZE), `chunk ${i}: ${cipherSeen} bytes out after ${produced} MiB in`)
      // The one buffer is reused, so an encryptor that kept a reference to a chunk would corrupt its output.
      for (let j = 0; j < MiB; j += 4096) buffer.fill((i * 31 + j / 4096) & 0xFF, j, j + 4096)
      plainHash.update(buffer)
      produced++
      yield buffer
    }
  }
  const dek = newDataKey()
  const encrypted = encryptPart(source(), dek)
  const first = await encrypted.next()
  t.false(first.done)
  const salt = first.value as Uint8Array
  t.is(salt.byteLength, SALT_SIZE)
  cipherSeen += salt.byteLength
  async function * rest (): AsyncGenerator<Uint8Array> {
    for await (const chunk of encrypted) {
      largest = Math.max(largest, chunk.byteLength)
      t.true(chunk.byteLength <= MiB + 64 * TAG_SIZE, `a yielded chunk of ${chunk.byteLength} bytes`)
      cipherSeen += chunk.byteLength
      yield chunk
    }
  }
  const size = chunks * MiB
  const outHash = createHash('sha256')
  let out = 0
  for await (const chunk of decryptSpan(rest(), dek, salt, wholePart(size))) {
    outHash.update(chunk)
    out += chunk.byteLength
  }
  t.is(out, size)
  t.is(cipherSeen, cipherSize(size))
  t.is(outHash.digest('hex'), plainHash.digest('hex'))
  t.true(largest > 0)
})

function codeOf (fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return (error as { code?: string }).code
  }
  return undefined
}
