import test from 'ava'
import { createHash } from 'node:crypto'
import { BATCH_SIZE, batchBufferStats, createStreamDigest, digestWorkersRunning, setDigestWorkerLimitForTest } from '../src/protocol/md5-worker.js'
import type { HashedLeaf } from '../src/content/leaves.js'
import { deterministicBytes } from './helpers/s3.js'

// Its own file (its own process under ava): the digest workers are shared by every body in a process.

const PIECE = 64 * 1024

async function digestOf (body: Buffer): Promise<{ md5: string, leaves: string[] }> {
  const sha: string[] = []
  // Each leaf is released as it arrives, as a blockstore write would release it.
  const digest = createStreamDigest(['md5'], { onLeaf: (leaf: HashedLeaf) => { sha.push(Buffer.from(leaf.sha256).toString('hex')); leaf.release(true) } })
  for (let at = 0; at < body.length; at += PIECE) {
    const wait = digest.update(body.subarray(at, at + PIECE))
    if (wait !== undefined) await wait
  }
  const [md5] = await digest.digest()
  return { md5, leaves: sha }
}

test.serial('bodies at once are spread over several workers, each body on one, every digest right', async t => {
  setDigestWorkerLimitForTest(3)
  const bodies = Array.from({ length: 6 }, (_, i) => deterministicBytes(`digest-workers-${i}`, 4 * BATCH_SIZE + 17 * i))
  const results = await Promise.all(bodies.map(digestOf))
  t.is(digestWorkersRunning(), 3, 'six bodies at once started the three workers allowed')
  for (const [i, body] of bodies.entries()) {
    t.is(results[i].md5, createHash('md5').update(body).digest('hex'))
    const expected = []
    for (let at = 0; at < body.length; at += BATCH_SIZE) expected.push(createHash('sha256').update(body.subarray(at, at + BATCH_SIZE)).digest('hex'))
    t.deepEqual(results[i].leaves, expected)
  }
  t.is(batchBufferStats().lent, 0)

  // One body at a time goes to a worker already running: no more are started.
  await digestOf(bodies[0])
  t.is(digestWorkersRunning(), 3)
})

test.serial('with a limit of one, every body shares the one worker', async t => {
  setDigestWorkerLimitForTest(1)
  const before = digestWorkersRunning()
  const body = deterministicBytes('digest-workers-one', 3 * BATCH_SIZE)
  await Promise.all([digestOf(body), digestOf(body)])
  t.is(digestWorkersRunning(), before, 'no worker started past the limit')
})
