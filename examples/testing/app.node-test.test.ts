// The app in ./app.ts tested with node:test against the real gateway, in memory.
// Run: node --import tsx --test examples/testing/app.node-test.test.ts
import assert from 'node:assert/strict'
import { after, beforeEach, test } from 'node:test'
import { S3Client } from '@aws-sdk/client-s3'
import { createTestGateway, inProcessHandler, startTestServer, TEST_CREDENTIALS } from 's3-ipfs-gateway/testing'
import { deleteReports, listReports, saveReport } from './app.js'

const NOW = new Date('2030-01-01T00:00:00Z')
// `ipfs add --cid-version 1 --raw-leaves` of "hello world"
const HELLO_CID = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'

const gateway = createTestGateway({ buckets: ['reports'], clock: NOW })
const s3 = new S3Client({
  requestHandler: inProcessHandler(gateway), // no socket: each signed request goes straight to the gateway
  endpoint: 'http://s3.test',
  forcePathStyle: true,
  region: 'us-east-1',
  credentials: TEST_CREDENTIALS,
  maxAttempts: 3,
})

// node:test runs a file's tests one after another, so they can share the gateway, emptied before each.
beforeEach(async () => { await gateway.reset() })
after(async () => { s3.destroy(); await gateway.close() })

test('saves, lists and deletes reports', async () => {
  await saveReport(s3, 'reports', '2030/jan.txt', 'January')
  await saveReport(s3, 'reports', '2030/feb.txt', 'February')
  await saveReport(s3, 'reports', '2031/jan.txt', 'January again')

  assert.deepEqual(await listReports(s3, 'reports', { prefix: '2030/', pageSize: 1 }), [
    { name: '2030/feb.txt', size: 8, lastModified: NOW },
    { name: '2030/jan.txt', size: 7, lastModified: NOW },
  ])
  assert.equal(await deleteReports(s3, 'reports', '2030/'), 2)
  assert.deepEqual((await gateway.objects('reports')).map(o => o.key), ['2031/jan.txt'])
})

test('stores each report as IPFS content', async () => {
  assert.equal(await saveReport(s3, 'reports', 'hello.txt', 'hello world'), '"5eb63bbbe01eeed093cb22bb8f5acdc3"') // MD5, as S3
  const [stored] = await gateway.objects('reports')
  assert.equal(stored.key, 'hello.txt')
  assert.equal(stored.size, 11)
  assert.equal(stored.cid, HELLO_CID)
})

test('rides out throttling: the SDK retries SlowDown', async () => {
  gateway.injectFault({ operation: 'PutObject', error: 'SlowDown' }) // the next PutObject only
  await saveReport(s3, 'reports', 'busy.txt', 'saved at the second attempt')
  assert.deepEqual((await gateway.objects('reports')).map(o => o.key), ['busy.txt'])
})

test('fails once the SDK gives up, and stores nothing', async () => {
  gateway.injectFault({ operation: 'PutObject', error: 'InternalError', times: 3 }) // all 3 attempts
  await assert.rejects(saveReport(s3, 'reports', 'busy.txt', 'never saved'), { name: 'InternalError' })
  assert.deepEqual(await gateway.objects('reports'), [])
})

test('works over HTTP too: startTestServer gives an endpoint URL', async (t) => {
  const server = await startTestServer({ buckets: ['reports'] })
  const overHttp = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: server.region, credentials: server.credentials })
  t.after(async () => { overHttp.destroy(); await server.close() })

  await saveReport(overHttp, 'reports', 'remote.txt', 'over a socket')
  assert.deepEqual((await listReports(overHttp, 'reports')).map(r => r.name), ['remote.txt'])
  assert.equal(await deleteReports(overHttp, 'reports', ''), 1)
  assert.deepEqual(await server.gateway.objects(), [])
})
