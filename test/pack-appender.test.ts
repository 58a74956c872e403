import { randomBytes } from 'node:crypto'
import { closeSync, openSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { PackAppender } from '../src/blockstores/pack-appender.js'

const SYNC_MAX = 64 * 1024

async function tempFile (t: ExecutionContext): Promise<{ path: string, fd: number }> {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-appender-'))
  const path = join(dir, 'file')
  const fd = openSync(path, 'w+')
  t.teardown(async () => {
    closeSync(fd)
    await rm(dir, { recursive: true, force: true })
  })
  return { path, fd }
}

/** Appends `records` end to end from offset 0, all issued at once, as the pack store does. */
function appendAll (appender: PackAppender, records: Uint8Array[][]): Array<Promise<void>> {
  let at = 0
  return records.map(buffers => {
    const size = buffers.reduce((n, b) => n + b.byteLength, 0)
    const done = appender.append(buffers, at, size)
    at += size
    return done
  })
}

test('records appended while a write is in flight go out together, in order, as one write', async t => {
  const file = await tempFile(t)
  const appender = new PackAppender(file.fd, SYNC_MAX)
  // A large record first (written on the thread pool), then large and small ones behind it.
  const records = [1 << 20, 100, 300_000, 7, 1 << 20, 4096].map(n => [randomBytes(16), randomBytes(n)])
  await Promise.all(appendAll(appender, records))
  t.true((await readFile(file.path)).equals(Buffer.concat(records.flat())), 'the file holds the records end to end')
  t.deepEqual(appender.writes, { now: 0, pooled: 2 }, 'the first record alone, then the five queued behind it in one call')
})

test('a small record with nothing in flight is written on the calling thread', async t => {
  const file = await tempFile(t)
  const appender = new PackAppender(file.fd, SYNC_MAX)
  const records = [[randomBytes(40), randomBytes(4096)]]
  await Promise.all(appendAll(appender, records))
  const big = [[randomBytes(40), randomBytes(SYNC_MAX)]]
  const bigDone = appender.append(big[0], 4136, 40 + SYNC_MAX)
  // Behind the big one, a small record waits for it instead of writing beside it.
  const small = [randomBytes(40), randomBytes(10)]
  await Promise.all([bigDone, appender.append(small, 4136 + 40 + SYNC_MAX, 50)])
  t.true((await readFile(file.path)).equals(Buffer.concat([...records.flat(), ...big.flat(), ...small])), 'the file holds the records end to end')
  t.deepEqual(appender.writes, { now: 1, pooled: 2 })
})

test('one write covers at most 16 MiB: a longer queue takes several, each record once', async t => {
  const file = await tempFile(t)
  const appender = new PackAppender(file.fd, SYNC_MAX)
  const records = Array.from({ length: 40 }, () => [randomBytes(8), randomBytes(1 << 20)])
  await Promise.all(appendAll(appender, records))
  t.true((await readFile(file.path)).equals(Buffer.concat(records.flat())), 'the file holds the records end to end')
  // 1 alone, then the 39 queued behind it: 15 + 15 + 9 (a 16th record would pass 16 MiB).
  t.deepEqual(appender.writes, { now: 0, pooled: 4 })
})

test('a failed write rejects every record it covered, and later appends are still tried', async t => {
  const file = await tempFile(t)
  const readOnly = openSync(file.path, 'r')
  t.teardown(() => { closeSync(readOnly) })
  const appender = new PackAppender(readOnly, SYNC_MAX)
  const results = await Promise.allSettled(appendAll(appender, [[randomBytes(SYNC_MAX + 1)], [randomBytes(10)], [randomBytes(10)]]))
  t.deepEqual(results.map(r => r.status === 'rejected' && (r.reason as NodeJS.ErrnoException).code), ['EBADF', 'EBADF', 'EBADF'])
  t.deepEqual(appender.writes, { now: 0, pooled: 2 })
  // Not stuck behind the failure: the next append is written (and fails the same way here).
  await t.throwsAsync(appender.append([randomBytes(SYNC_MAX + 1)], SYNC_MAX + 21, SYNC_MAX + 1), { code: 'EBADF' })
  t.is((await readFile(file.path)).byteLength, 0)
})

test('after close, an append rejects and writes nothing', async t => {
  const file = await tempFile(t)
  const appender = new PackAppender(file.fd, SYNC_MAX)
  const first = [randomBytes(40), randomBytes(100)]
  await appender.append(first, 0, 140)
  appender.close()
  await t.throwsAsync(appender.append([randomBytes(10)], 140, 10), { message: /sealed/ })
  await t.throwsAsync(appender.append([randomBytes(SYNC_MAX * 2)], 140, SYNC_MAX * 2), { message: /sealed/ })
  t.true((await readFile(file.path)).equals(Buffer.concat(first)))
  t.deepEqual(appender.writes, { now: 1, pooled: 0 })
})
