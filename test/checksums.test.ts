import test from 'ava'
import {
  CHECKSUM_ALGORITHMS, checksumAlgorithmOfHeader, checksumBase64, checksumHeaderName, createChecksumHasher,
  decodeChecksumValue, parseChecksumAlgorithm, toBase64
} from '../src/protocol/checksums.js'

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
