import test from 'ava'
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { BATCH_SIZE, batchBufferStats, createStreamDigest } from '../src/protocol/md5-worker.js'
import type { HashedLeaf } from '../src/content/leaves.js'
import { deterministicBytes } from './helpers/s3.js'

// Its own file (its own process under ava): the batch buffers are shared by every body in a
// process, and other files' bodies would move these counters.

const BODY = deterministicBytes('digest-buffer-pool', 8 * BATCH_SIZE)
const BODY_MD5 = createHash('md5').update(BODY).digest('hex')
const PIECE = 64 * 1024

/** One body in leaf mode; each leaf is released `holdMs` after it arrives, as a blockstore write would release it. */
async function body (holdMs: number): Promise<void> {
  const writes: Array<Promise<void>> = []
  const digest = createStreamDigest(['md5'], {
    onLeaf: (leaf) => {
      writes.push(sleep(holdMs).then(() => { leaf.release(true) }))
    }
  })
  for (let at = 0; at < BODY.length; at += PIECE) {
    const wait = digest.update(BODY.subarray(at, at + PIECE))
    if (wait !== undefined) await wait
  }
  const [md5] = await digest.digest()
  await Promise.all(writes)
  if (md5 !== BODY_MD5) throw new Error('wrong MD5')
  if (writes.length !== 8) throw new Error(`${writes.length} leaves, expected 8`)
}

async function wave (bodies: number, holdMs: number): Promise<void> {
  await Promise.all(Array.from({ length: bodies }, async () => { await body(holdMs) }))
}

/** A leaf held until told otherwise (a write that has not finished). */
async function heldLeaf (): Promise<HashedLeaf> {
  let held: HashedLeaf | undefined
  const digest = createStreamDigest(['md5'], { onLeaf: (leaf) => { held = leaf } })
  digest.update(BODY.subarray(0, BATCH_SIZE))
  await digest.digest()
  if (held === undefined) throw new Error('no leaf')
  return held
}

test.serial('under load, buffers given back are all reused; once idle, the pool shrinks back', async t => {
  const anchor = await heldLeaf() // batches stay in use between the waves

  await wave(6, 5)
  const afterFirst = batchBufferStats()
  t.is(afterFirst.lent, 1)

  await wave(6, 5)
  await wave(3, 5)
  const afterMore = batchBufferStats()
  t.is(afterMore.made, afterFirst.made, 'the later waves made no buffer: every one given back was kept')
  t.is(afterMore.lent, 1)

  anchor.release(true)
  const idle = batchBufferStats()
  t.is(idle.lent, 0)
  t.true(idle.pooled <= 8, `${idle.pooled} buffers kept while idle`)

  await wave(1, 5)
  t.is(batchBufferStats().made, afterFirst.made, 'the next body reuses what was kept')
})

test.serial('leaves kept by their receiver are no longer counted as out', async t => {
  const held: HashedLeaf[] = []
  const digest = createStreamDigest(['md5'], { onLeaf: (leaf) => { held.push(leaf) } })
  for (let at = 0; at < 2 * BATCH_SIZE; at += PIECE) {
    const wait = digest.update(BODY.subarray(at, at + PIECE))
    if (wait !== undefined) await wait
  }
  await digest.digest()
  t.is(batchBufferStats().lent, 2)
  for (const leaf of held) leaf.release(false) // the receiver keeps the bytes
  t.is(batchBufferStats().lent, 0)
})

test.serial('a batch the worker fails on is counted back', async t => {
  const digest = createStreamDigest(['no-such-hash' as 'md5'])
  // One whole batch goes to the worker, which cannot hash it and keeps it.
  await t.throwsAsync(async () => {
    for (let at = 0; at < BATCH_SIZE; at += PIECE) {
      const wait = digest.update(BODY.subarray(at, at + PIECE))
      if (wait !== undefined) await wait
    }
    await digest.digest()
  })
  t.is(batchBufferStats().lent, 0)
})
