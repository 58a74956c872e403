import test from 'ava'
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { Readable } from 'node:stream'
import { bodyBytesRead, RECLAIM_BYTES } from '../src/protocol/read-buffers.js'
import { startTestServer } from '../src/testing/index.js'
import { forcedCollections } from './helpers/forced-collections.js'

/** The scavenges something asked for while `run` ran. */
async function forcedScavenges (run: () => Promise<void> | void): Promise<number> {
  const minor = forcedCollections('minor')
  try {
    await run()
    await new Promise(resolve => setTimeout(resolve, 50))
    return minor.count()
  } finally {
    minor.stop()
  }
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
