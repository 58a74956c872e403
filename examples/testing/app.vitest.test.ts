// The app in ./app.ts tested with vitest against the real gateway, in memory.
// Run: npx vitest run --config examples/testing/vitest.config.ts
import { S3Client } from '@aws-sdk/client-s3'
import { createTestGateway, inProcessHandler, startTestServer, TEST_CREDENTIALS } from 's3-ipfs-gateway/testing'
import { afterAll, beforeEach, expect, onTestFinished, test } from 'vitest'
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

// vitest runs a file's tests one after another, so they can share the gateway, emptied before each.
beforeEach(async () => { await gateway.reset() })
afterAll(async () => { s3.destroy(); await gateway.close() })

test('saves, lists and deletes reports', async () => {
  await saveReport(s3, 'reports', '2030/jan.txt', 'January')
  await saveReport(s3, 'reports', '2030/feb.txt', 'February')
  await saveReport(s3, 'reports', '2031/jan.txt', 'January again')

  expect(await listReports(s3, 'reports', { prefix: '2030/', pageSize: 1 })).toEqual([
    { name: '2030/feb.txt', size: 8, lastModified: NOW },
    { name: '2030/jan.txt', size: 7, lastModified: NOW },
  ])
  expect(await deleteReports(s3, 'reports', '2030/')).toBe(2)
  expect((await gateway.objects('reports')).map(o => o.key)).toEqual(['2031/jan.txt'])
})

test('stores each report as IPFS content', async () => {
  expect(await saveReport(s3, 'reports', 'hello.txt', 'hello world')).toBe('"5eb63bbbe01eeed093cb22bb8f5acdc3"') // MD5, as S3
  expect(await gateway.objects('reports')).toMatchObject([{ key: 'hello.txt', size: 11, cid: HELLO_CID }])
})

test('rides out throttling: the SDK retries SlowDown', async () => {
  gateway.injectFault({ operation: 'PutObject', error: 'SlowDown' }) // the next PutObject only
  await saveReport(s3, 'reports', 'busy.txt', 'saved at the second attempt')
  expect((await gateway.objects('reports')).map(o => o.key)).toEqual(['busy.txt'])
})

test('fails once the SDK gives up, and stores nothing', async () => {
  gateway.injectFault({ operation: 'PutObject', error: 'InternalError', times: 3 }) // all 3 attempts
  await expect(saveReport(s3, 'reports', 'busy.txt', 'never saved')).rejects.toMatchObject({ name: 'InternalError' })
  expect(await gateway.objects('reports')).toEqual([])
})

test('works over HTTP too: startTestServer gives an endpoint URL', async () => {
  const server = await startTestServer({ buckets: ['reports'] })
  const overHttp = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: server.region, credentials: server.credentials })
  onTestFinished(async () => { overHttp.destroy(); await server.close() })

  await saveReport(overHttp, 'reports', 'remote.txt', 'over a socket')
  expect((await listReports(overHttp, 'reports')).map(r => r.name)).toEqual(['remote.txt'])
  expect(await deleteReports(overHttp, 'reports', '')).toBe(1)
  expect(await server.gateway.objects()).toEqual([])
})
