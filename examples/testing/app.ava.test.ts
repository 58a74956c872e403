// The app in ./app.ts tested with ava against the real gateway, in memory.
// Run: npx ava --config examples/testing/ava.config.mjs
import { S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
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

// The tests share one gateway, emptied before each, so they run one at a time (test.serial).
test.beforeEach(async () => { await gateway.reset() })
test.after.always(async () => { s3.destroy(); await gateway.close() })

test.serial('saves, lists and deletes reports', async t => {
  await saveReport(s3, 'reports', '2030/jan.txt', 'January')
  await saveReport(s3, 'reports', '2030/feb.txt', 'February')
  await saveReport(s3, 'reports', '2031/jan.txt', 'January again')

  t.deepEqual(await listReports(s3, 'reports', { prefix: '2030/', pageSize: 1 }), [
    { name: '2030/feb.txt', size: 8, lastModified: NOW },
    { name: '2030/jan.txt', size: 7, lastModified: NOW },
  ])
  t.is(await deleteReports(s3, 'reports', '2030/'), 2)
  t.deepEqual((await gateway.objects('reports')).map(o => o.key), ['2031/jan.txt'])
})

test.serial('stores each report as IPFS content', async t => {
  t.is(await saveReport(s3, 'reports', 'hello.txt', 'hello world'), '"5eb63bbbe01eeed093cb22bb8f5acdc3"') // MD5, as S3
  t.like(await gateway.objects('reports'), [{ key: 'hello.txt', size: 11, cid: HELLO_CID }])
})

test.serial('rides out throttling: the SDK retries SlowDown', async t => {
  gateway.injectFault({ operation: 'PutObject', error: 'SlowDown' }) // the next PutObject only
  await saveReport(s3, 'reports', 'busy.txt', 'saved at the second attempt')
  t.deepEqual((await gateway.objects('reports')).map(o => o.key), ['busy.txt'])
})

test.serial('fails once the SDK gives up, and stores nothing', async t => {
  gateway.injectFault({ operation: 'PutObject', error: 'InternalError', times: 3 }) // all 3 attempts
  await t.throwsAsync(saveReport(s3, 'reports', 'busy.txt', 'never saved'), { name: 'InternalError' })
  t.deepEqual(await gateway.objects('reports'), [])
})

test.serial('works over HTTP too: startTestServer gives an endpoint URL', async t => {
  const server = await startTestServer({ buckets: ['reports'] })
  const overHttp = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: server.region, credentials: server.credentials })
  t.teardown(async () => { overHttp.destroy(); await server.close() })

  await saveReport(overHttp, 'reports', 'remote.txt', 'over a socket')
  t.deepEqual((await listReports(overHttp, 'reports')).map(r => r.name), ['remote.txt'])
  t.is(await deleteReports(overHttp, 'reports', ''), 1)
  t.deepEqual(await server.gateway.objects(), [])
})
