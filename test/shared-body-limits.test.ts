/**
 * Bodies at once share what they may hold: batches queued at the digest workers (12 in all, each
 * stream at least one, at most three) and leaf writes in flight (16 in all, each import at least
 * one, at most its writeConcurrency). Its own file: the counts are per process.
 */
import { createHash } from 'node:crypto'
import test from 'ava'
import type { CID } from 'multiformats/cid'
import { importContent } from '../src/content/import.js'
import { BATCH_SIZE, createStreamDigest } from '../src/protocol/md5-worker.js'
import { leafSource } from './helpers/hashed-leaves.js'
import { deterministicBytes } from './helpers/s3.js'

const BATCH = deterministicBytes('shared-body-limits', BATCH_SIZE)

test.serial('a stream alone queues three batches at the worker; with twelve streams, one each', async t => {
  const alone = createStreamDigest(['md5'])
  t.is(alone.update(BATCH), undefined)
  t.is(alone.update(BATCH), undefined)
  const third = alone.update(BATCH)
  t.not(third, undefined, 'the third batch queued waits')
  await third
  const [md5] = await alone.digest()
  t.is(md5, createHash('md5').update(BATCH).update(BATCH).update(BATCH).digest('hex'))

  const streams = Array.from({ length: 12 }, () => createStreamDigest(['md5']))
  // One batch each, so that all twelve are at a worker; no reply can arrive in between.
  const firsts = streams.map(s => s.update(BATCH))
  t.is(firsts[0], undefined, 'the first stream, alone when it sent, did not wait')
  t.not(firsts[11], undefined, 'the twelfth, with twelve at the workers, waits with one queued')
  const second = streams[0].update(BATCH)
  t.not(second, undefined, 'now the first waits with two queued')
  await Promise.all([...firsts, second])
  const digests = await Promise.all(streams.map(async s => (await s.digest())[0]))
  t.is(digests[0], createHash('md5').update(BATCH).update(BATCH).digest('hex'))
  t.true(digests.slice(1).every(d => d === createHash('md5').update(BATCH).digest('hex')))
})

test.serial('eight imports of hashed leaves at once have sixteen writes in flight between them, one each at least', async t => {
  let open: () => void = () => {}
  const gate = new Promise<void>(resolve => { open = resolve })
  let writing = 0
  let most = 0
  const started = new Set<number>()
  const store = (n: number): { put: (cid: CID) => Promise<CID> } => ({
    put: async (cid) => {
      started.add(n)
      writing++
      most = Math.max(most, writing)
      await gate
      writing--
      return cid
    }
  })
  const imports = Array.from({ length: 8 }, async (_, n) => await importContent(leafSource(() => Array.from({ length: 6 }, () => BATCH)), store(n), { profile: 'unixfs-v1-2025' }))
  // Until the writes in flight have stopped growing for a second: every import has one, and none may start another.
  for (let last = -1, still = 0; still < 20; await new Promise(resolve => setTimeout(resolve, 50))) {
    still = writing === last && started.size === 8 ? still + 1 : 0
    last = writing
  }
  t.is(started.size, 8, 'every import has a write in flight')
  t.true(most <= 16, `${most} writes in flight at most`)
  t.true(most > 8, `${most} writes in flight at most: more than one for some import`)
  open()
  const results = await Promise.all(imports)
  t.true(results.every(r => r.size === 6 * BATCH_SIZE))
})
