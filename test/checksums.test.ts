import { createHash } from 'node:crypto'
import test from 'ava'
import {
  CHECKSUM_ALGORITHMS, checksumAlgorithmOfHeader, checksumBase64, checksumHeaderName, combineCrc, compositeChecksum,
  createChecksumHasher, decodeChecksumValue, parseChecksumAlgorithm, toBase64
} from '../src/protocol/checksums.js'
import type { ChecksumAlgorithm, CombinableCrc } from '../src/protocol/checksums.js'
import { deterministicBytes } from './helpers/s3.js'

const hex = (h: string): string => Buffer.from(h, 'hex').toString('base64')

test('known answers', async t => {
  t.is(await checksumBase64('CRC32', 'hello world'), hex('0d4a1185'))
  t.is(await checksumBase64('CRC32', 'hello world'), 'DUoRhQ==')
  t.is(await checksumBase64('CRC32', ''), 'AAAAAA==')
  t.is(await checksumBase64('CRC32', '123456789'), hex('cbf43926'))
  t.is(await checksumBase64('CRC32C', '123456789'), hex('e3069283'))
  t.is(await checksumBase64('CRC32C', 'hello world'), hex('c99465aa'))
  t.is(await checksumBase64('CRC64NVME', '123456789'), hex('ae8b14860a799888'))
  t.is(await checksumBase64('SHA1', 'hello world'), hex('2aae6c35c94fcfb415dbe95f408b9ce91ee846ed'))
  t.is(await checksumBase64('SHA256', 'hello world'), hex('b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9'))
})

test('incremental updates equal one shot, for every algorithm', async t => {
  const data = Buffer.alloc(100_003)
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const h = createChecksumHasher(algorithm)
    for (let i = 0; i < data.length; i += 4093) h.update(data.subarray(i, i + 4093))
    t.is(toBase64(await h.digest()), await checksumBase64(algorithm, data), algorithm)
  }
})

test('CRC32 with a high bit set is printed big-endian unsigned', async t => {
  // crc32("a") = 0xe8b7be43
  t.is(await checksumBase64('CRC32', 'a'), hex('e8b7be43'))
})

test('header names map both ways', t => {
  t.is(checksumHeaderName('CRC64NVME'), 'x-amz-checksum-crc64nvme')
  t.is(checksumAlgorithmOfHeader('X-Amz-Checksum-CRC32C'), 'CRC32C')
  t.is(checksumAlgorithmOfHeader('x-amz-checksum-type'), undefined)
  t.is(checksumAlgorithmOfHeader('x-amz-checksum-algorithm'), undefined)
  t.is(checksumAlgorithmOfHeader('content-md5'), undefined)
  t.is(parseChecksumAlgorithm('sha256'), 'SHA256')
  t.is(parseChecksumAlgorithm('MD5'), undefined)
})

test('decodeChecksumValue checks base64 and length', t => {
  t.deepEqual(decodeChecksumValue('CRC32', 'DUoRhQ=='), new Uint8Array([0x0d, 0x4a, 0x11, 0x85]))
  t.is(decodeChecksumValue('CRC32', 'DUoRhQ'), undefined)
  t.is(decodeChecksumValue('CRC32', 'not base64!'), undefined)
  t.is(decodeChecksumValue('CRC64NVME', 'DUoRhQ=='), undefined)
  t.is(decodeChecksumValue('SHA256', hex('b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9'))?.length, 32)
})

const CRCS: CombinableCrc[] = ['CRC32', 'CRC32C', 'CRC64NVME']

async function digestOf (algorithm: ChecksumAlgorithm, ...chunks: Uint8Array[]): Promise<Uint8Array> {
  const h = createChecksumHasher(algorithm)
  for (const chunk of chunks) h.update(chunk)
  return await h.digest()
}

test('combineCrc of two parts equals the CRC of the whole, for random splits and an empty second part', async t => {
  const data = deterministicBytes('crc-combine', 70_001)
  // Deterministic split points, the ends included (empty first or second part).
  const splits = [0, 1, 7, 4096, 33_333, 65_536, 69_999, 70_000, 70_001]
  for (const algorithm of CRCS) {
    const whole = await digestOf(algorithm, data)
    for (const at of splits) {
      const a = data.subarray(0, at)
      const b = data.subarray(at)
      const combined = combineCrc(algorithm, await digestOf(algorithm, a), await digestOf(algorithm, b), b.length)
      t.deepEqual(combined, whole, `${algorithm} split at ${at}`)
    }
  }
})

test('combineCrc is associative, also across a length beyond 2^32', async t => {
  // b and c stand for 2 GiB + 1 and 2 GiB + 5 bytes: any CRC values do for them, since combining
  // is linear. Grouped as (a ‖ b) ‖ c every length is below 2^32; as a ‖ (b ‖ c) the last one is not.
  const a = deterministicBytes('crc-a', 1000)
  const bLength = 2 ** 31 + 1
  const cLength = 2 ** 31 + 5
  for (const algorithm of CRCS) {
    const ca = await digestOf(algorithm, a)
    const cb = await digestOf(algorithm, deterministicBytes('crc-b', 17))
    const cc = await digestOf(algorithm, deterministicBytes('crc-c', 64))
    const left = combineCrc(algorithm, combineCrc(algorithm, ca, cb, bLength), cc, cLength)
    const right = combineCrc(algorithm, ca, combineCrc(algorithm, cb, cc, cLength), bLength + cLength)
    t.deepEqual(left, right, algorithm)
  }
})

test('combineCrc of many parts folds to the CRC of the whole', async t => {
  const data = deterministicBytes('crc-fold', 50_000)
  const sizes = [1, 12_345, 0, 8_192, 29_462]
  for (const algorithm of CRCS) {
    let offset = 0
    let crc = await digestOf(algorithm)
    for (const size of sizes) {
      const part = data.subarray(offset, offset + size)
      crc = combineCrc(algorithm, crc, await digestOf(algorithm, part), size)
      offset += size
    }
    t.is(offset, data.length)
    t.deepEqual(crc, await digestOf(algorithm, data), algorithm)
  }
})

test('combineCrc checks digest lengths', t => {
  t.throws(() => combineCrc('CRC64NVME', new Uint8Array(4), new Uint8Array(4), 1), { instanceOf: RangeError })
  t.throws(() => combineCrc('CRC32', new Uint8Array(4), new Uint8Array(4), -1), { instanceOf: RangeError })
})

test('compositeChecksum is the checksum of the concatenated part checksums, then -N', async t => {
  // CRC32("hello") = 3610a686, CRC32(" world") = 4a3b42cb; the composite is CRC32 of those 8 bytes.
  const p1 = Buffer.from('3610a686', 'hex')
  const p2 = Buffer.from('4a3b42cb', 'hex')
  t.deepEqual(await digestOf('CRC32', new TextEncoder().encode('hello')), new Uint8Array(p1))
  t.deepEqual(await digestOf('CRC32', new TextEncoder().encode(' world')), new Uint8Array(p2))
  const expected = Buffer.alloc(4)
  expected.writeUInt32BE(crc32Of(Buffer.concat([p1, p2])))
  t.is(await compositeChecksum('CRC32', [p1, p2]), `${expected.toString('base64')}-2`)
  const sha1 = createHash('sha1').update(Buffer.concat([p1, p2])).digest('base64')
  t.is(await compositeChecksum('SHA1', [p1, p2]), `${sha1}-2`)
})

/** Bitwise CRC-32 (reflected 0xEDB88320), written out as the independent reference. */
function crc32Of (data: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of data) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = (crc & 1) !== 0 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}
