import test from 'ava'
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'
import { Readable } from 'node:stream'
import { bodyBytesRead, RECLAIM_BYTES } from '../src/protocol/read-buffers.js'
import { startTestServer } from '../src/testing/index.js'

/** Counts the scavenges something asked for (a `gc()` call sets the forced flag) while `run` runs. */
async function forcedScavenges (run: () => Promise<void> | void): Promise<number> {
  let forced = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as PerformanceEntry & { detail: { kind: number, flags: number } }).detail
      if (detail.kind === constants.NODE_PERFORMANCE_GC_MINOR && (detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0) forced++
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  try {
    await run()
    // GC entries are delivered asynchronously
    await new Promise(resolve => setTimeout(resolve, 50))
  } finally {
    observer.disconnect()
  }
  return forced
}

test.serial('every RECLAIM_BYTES of body bytes read asks V8 for a scavenge', async t => {
  const forced = await forcedScavenges(() => {
    for (let i = 0; i < 3 * RECLAIM_BYTES / 65536; i++) bodyBytesRead(65536)
  })
  t.true(forced >= 3 && forced <= 4, `${forced} forced scavenges for 3 × RECLAIM_BYTES`)
  // gc is not left exposed to new contexts
  t.is(typeof (globalThis as { gc?: unknown }).gc, 'undefined')
})

test.serial('a streamed PUT through a gateway reclaims its dead socket buffers as it goes', async t => {
  const server = await startTestServer({ buckets: ['app'] })
  t.teardown(async () => { await server.close() })
  const s3 = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: server.credentials })
  t.teardown(() => { s3.destroy() })
  const size = 4 * RECLAIM_BYTES
  const piece = Buffer.alloc(256 * 1024, 7)
  const body = Readable.from((function * () { for (let sent = 0; sent < size; sent += piece.length) yield piece })())
  const forced = await forcedScavenges(async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'app', Key: 'big', Body: body, ContentLength: size }))
  })
  t.true(forced >= 3, `${forced} forced scavenges during a PUT of 4 × RECLAIM_BYTES`)
})
