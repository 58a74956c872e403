import test from 'ava'
import { createHash } from 'node:crypto'
import { BATCH_SIZE, createStreamDigest, digestWorkerDisabled, type DigestAlgorithm, type StreamDigest } from '../src/protocol/md5-worker.js'
import { openPayload } from '../src/protocol/payload.js'
import type { AuthContext } from '../src/auth/sigv4.js'
import type { S3Request } from '../src/types.js'

import { deterministicBytes } from './helpers/s3.js'

const MiB = 1 << 20


/** Slices of odd, varying sizes (1 byte up to ~300 KB, and one over a whole batch). */
function * oddSlices (data: Buffer): Generator<Buffer> {
  const sizes = [1, 7, 65_537, 3, 299_999, BATCH_SIZE + 11, 4093, 100_003]
  let offset = 0
  for (let i = 0; offset < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length], data.length - offset)
    yield data.subarray(offset, offset + n)
    offset += n
  }
}

async function feed (digest: StreamDigest, data: Buffer): Promise<void> {
  for (const slice of oddSlices(data)) {
    // The caller may reuse its buffer once update returns: scribble on a copy to prove it.
    const copy = Buffer.from(slice)
    const wait = digest.update(copy)
    copy.fill(0xa5)
    if (wait !== undefined) await wait
  }
}

const expected = (algorithm: DigestAlgorithm, data: Buffer): string => createHash(algorithm).update(data).digest('hex')

for (const size of [0, 1, MiB - 1, MiB, 5 * MiB + 3]) {
  test(`md5 and sha256 of ${size} bytes fed in odd slices match node:crypto (worker path)`, async t => {
    const data = deterministicBytes(`size-${size}`, size)
    const digest = createStreamDigest(['md5', 'sha256'])
    await feed(digest, data)
    t.deepEqual(await digest.digest(), [expected('md5', data), expected('sha256', data)])
  })

  test(`md5 of ${size} bytes matches node:crypto (in-thread path)`, async t => {
    const data = deterministicBytes(`size-${size}`, size)
    const digest = createStreamDigest(['md5'], { inThread: true })
    await feed(digest, data)
    t.deepEqual(await digest.digest(), [expected('md5', data)])
  })
}

test('a size hint under one batch hashes in-thread; the result is the same', async t => {
  const data = deterministicBytes('hint', 1000)
  const digest = createStreamDigest(['md5'], { sizeHint: 1000 })
  await feed(digest, data)
  t.deepEqual(await digest.digest(), [expected('md5', data)])
})

test('concurrent streams do not mix', async t => {
  const inputs = Array.from({ length: 6 }, (_, i) => deterministicBytes(`concurrent-${i}`, 3 * MiB + i * 12_345))
  const results = await Promise.all(inputs.map(async data => {
    const digest = createStreamDigest(['md5'])
    for (const slice of oddSlices(data)) {
      const wait = digest.update(slice)
      if (wait !== undefined) await wait
      await new Promise(resolve => setImmediate(resolve)) // interleave with the other streams
    }
    return (await digest.digest())[0]
  }))
  t.deepEqual(results, inputs.map(data => expected('md5', data)))
})

test('backpressure: update asks the caller to wait once a few batches are queued', async t => {
  const digest = createStreamDigest(['md5'])
  const data = deterministicBytes('pressure', 16 * MiB)
  let waits = 0
  for (let offset = 0; offset < data.length; offset += MiB) {
    const wait = digest.update(data.subarray(offset, offset + MiB))
    if (wait !== undefined) { waits++; await wait }
  }
  t.true(waits > 0)
  t.is((await digest.digest())[0], expected('md5', data))
})

test('aborting mid-stream leaves no stuck state: later streams work, digest after abort rejects', async t => {
  const data = deterministicBytes('abort', 4 * MiB + 5)
  const aborted = createStreamDigest(['md5'])
  const wait = aborted.update(data.subarray(0, 3 * MiB + 1))
  aborted.abort()
  aborted.abort()
  if (wait !== undefined) await t.throwsAsync(wait)
  await t.throwsAsync(aborted.digest())

  const next = createStreamDigest(['md5'])
  await feed(next, data)
  t.is((await next.digest())[0], expected('md5', data))
  t.false(digestWorkerDisabled())
})

const anonymous: AuthContext = { anonymous: true, payloadMode: 'NONE' }

function request (body: AsyncIterable<Uint8Array>, headers: Record<string, string>): S3Request {
  return { method: 'PUT', path: '/b/k', basePath: '', query: '', headers: { host: 'localhost', ...headers }, body }
}

test('a body failing mid-stream rejects the payload; the next payload digests correctly', async t => {
  const data = deterministicBytes('payload', 3 * MiB + 17)
  async function * failing (): AsyncGenerator<Uint8Array> {
    yield data.subarray(0, 2 * MiB + 3)
    throw new Error('connection reset')
  }
  const broken = openPayload(request(failing(), { 'content-length': String(data.length) }), anonymous, { maxSize: 1 << 30 })
  await t.throwsAsync(async () => { for await (const piece of broken) t.truthy(piece) }, { message: 'connection reset' })

  async function * whole (): AsyncGenerator<Uint8Array> { yield * oddSlices(data) }
  const payload = openPayload(request(whole(), { 'content-length': String(data.length) }), anonymous, { maxSize: 1 << 30 })
  let size = 0
  for await (const piece of payload) size += piece.length
  t.is(size, data.length)
  t.is(payload.digests().md5, expected('md5', data))
})

test('a consumer that stops reading early releases the stream', async t => {
  const data = deterministicBytes('early', 4 * MiB)
  async function * whole (): AsyncGenerator<Uint8Array> { yield * oddSlices(data) }
  const payload = openPayload(request(whole(), { 'content-length': String(data.length) }), anonymous, { maxSize: 1 << 30 })
  let size = 0
  for await (const piece of payload) {
    size += piece.length
    if (size > 2 * MiB) break
  }
  t.throws(() => payload.digests())
  const again = createStreamDigest(['md5'])
  await feed(again, data)
  t.is((await again.digest())[0], expected('md5', data))
})
