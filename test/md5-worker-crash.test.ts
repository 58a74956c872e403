import test from 'ava'
import { createHash } from 'node:crypto'
import { batchBufferStats, crashDigestWorkerForTest, createStreamDigest, digestWorkerDisabled } from '../src/protocol/md5-worker.js'

const MiB = 1 << 20

// Its own file (own process): a crash switches hashing to the main thread for good.
test.serial('a worker crash fails the streams in flight, logs once, and later streams hash in-thread', async t => {
  const data = Buffer.alloc(3 * MiB + 9, 7)
  const errors: Error[] = []
  const onWarning = (warning: Error): void => { if ((warning as { code?: string }).code === 'S3IPFS_DIGEST_WORKER') errors.push(warning) }
  process.on('warning', onWarning)
  try {
    const inFlight = createStreamDigest(['md5'])
    const wait = inFlight.update(data.subarray(0, 2 * MiB))
    if (wait !== undefined) await wait
    await crashDigestWorkerForTest()
    await t.throwsAsync(async () => {
      const w = inFlight.update(data.subarray(2 * MiB))
      if (w !== undefined) await w
      await inFlight.digest()
    })
    t.true(digestWorkerDisabled())
    t.is(batchBufferStats().lent, 0, 'the batches lost with the worker are no longer counted as out')

    for (let i = 0; i < 2; i++) {
      const next = createStreamDigest(['md5'])
      next.update(data)
      t.is((await next.digest())[0], createHash('md5').update(data).digest('hex'))
    }
    // process warnings are emitted on the next tick
    await new Promise((resolve) => setImmediate(resolve))
    t.is(errors.length, 1)
  } finally {
    process.off('warning', onWarning)
  }
})
