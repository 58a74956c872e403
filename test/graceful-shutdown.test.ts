// Graceful shutdown: readiness flips first, requests keep being served (each closing its
// connection) for the shutdown delay, then in-flight requests finish within the deadline, and
// multipart uploads stay resumable by the next process. The high-availability rehearsal
// (test/ha-rehearsal.test.ts) shows the same behind a real load balancer.
import { Agent, get, type IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand,
  HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, PutObjectAclCommand, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { startServer } from '../bin/server.js'
import type { RunningServer, ServerOptions } from '../bin/server.js'
import { createGateway } from '../src/gateway.js'
import type { S3Request } from '../src/types.js'
import { tempDir } from './helpers/child.js'
import { cli, client, serve } from './helpers/serve-process.js'
import { credentials, deterministicBytes, md5Hex, s3Client, s3Error } from './helpers/s3.js'

const MiB = 1024 * 1024

interface Answer { status: number, connection: string | undefined, body: string }

/** A plain GET (anonymous), on `agent`'s kept-alive connection when it has one. */
async function fetchOver (url: string, agent?: Agent): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    get(url, { agent }, (res: IncomingMessage) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }) })
      res.on('error', reject)
    }).on('error', reject)
  })
}

async function started (t: ExecutionContext, options: ServerOptions): Promise<RunningServer> {
  const running = await startServer({ port: 0, accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, ...options })
  t.teardown(async () => { await running.close() })
  return running
}

test('gateway.drain() turns /ready to 503 "draining" while S3 requests are still served; close() drains too', async (t) => {
  const gateway = createGateway({ credentials: { [credentials.accessKeyId]: credentials.secretAccessKey } })
  t.teardown(async () => { await gateway.close() })
  const request = (path: string): S3Request => ({ method: 'GET', path, basePath: '', query: '', headers: {}, body: [] }) as unknown as S3Request
  const ready = async (): Promise<{ status: number, body: { status: string } }> => {
    const response = await gateway.admin.handle(request('/ready'))
    return { status: response.status, body: JSON.parse(Buffer.from(response.body as Uint8Array).toString()) as { status: string } }
  }
  t.like(await ready(), { status: 200, body: { status: 'ready' } })
  gateway.drain()
  t.like(await ready(), { status: 503, body: { status: 'draining' } })
  t.is((await gateway.ready()).status, 'draining')
  // Still serving: a bucket listing answers as before.
  const res = await gateway.handle(request('/'))
  t.is(res.status, 403, 'an anonymous ListBuckets is refused as before, not turned away as shutting down')

  const other = createGateway()
  t.is((await other.ready()).status, 'ready')
  await other.close()
  t.is((await other.ready()).status, 'draining')
})

test('close() with a shutdown delay: unready at once, still serving (each response closing its connection), then no longer listening', async (t) => {
  const dataDir = await tempDir(t, 's3ipfs-drain-')
  const running = await started(t, { dataDir, shutdownDelay: 15_000 })
  const s3 = s3Client(running.url)
  t.teardown(() => { s3.destroy() })
  await s3.send(new CreateBucketCommand({ Bucket: 'drain' }))
  await s3.send(new PutObjectCommand({ Bucket: 'drain', Key: 'public', Body: 'still here' }))
  await s3.send(new PutObjectAclCommand({ Bucket: 'drain', Key: 'public', ACL: 'public-read' }))

  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  const object = `${running.url}/drain/public`
  t.like(await fetchOver(object, agent), { status: 200, connection: 'keep-alive', body: 'still here' })
  t.like(await fetchOver(`${running.url}/-/ready`), { status: 200 })

  // The checks below need the delay not to have run out: 15 s is ample for three requests.
  const closing = running.close()
  const ready = await fetchOver(`${running.url}/-/ready`)
  t.is(ready.status, 503)
  t.is((JSON.parse(ready.body) as { status: string }).status, 'draining')
  // The kept-alive connection gets its answer, and is told to go.
  t.like(await fetchOver(object, agent), { status: 200, connection: 'close', body: 'still here' })
  // Signed writes are still taken.
  await s3.send(new PutObjectCommand({ Bucket: 'drain', Key: 'late', Body: 'written while draining' }))

  await closing
  const refused = await t.throwsAsync(fetchOver(`${running.url}/-/ready`))
  t.is((refused as { code?: string }).code, 'ECONNREFUSED')

  const again = await started(t, { dataDir })
  const s3again = s3Client(again.url)
  t.teardown(() => { s3again.destroy() })
  t.is(await (await s3again.send(new GetObjectCommand({ Bucket: 'drain', Key: 'late' }))).Body?.transformToString(), 'written while draining')
})

test('an upload in flight when close() begins finishes; one still running at the deadline is cut and leaves nothing', async (t) => {
  const dataDir = await tempDir(t, 's3ipfs-drain-')
  const running = await started(t, { dataDir, shutdownTimeout: 3000 })
  const s3 = client(t, running.url, credentials)
  await s3.send(new CreateBucketCommand({ Bucket: 'inflight' }))

  const data = deterministicBytes('drain-finishes', 24 * MiB)
  const stalled = deterministicBytes('drain-cut', 24 * MiB)
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  let paused!: () => void
  let pausedToo!: () => void
  const bothPaused = Promise.all([new Promise<void>((resolve) => { paused = resolve }), new Promise<void>((resolve) => { pausedToo = resolve })])
  t.teardown(() => { release() })
  // Each body stalls after 8 MiB (more than socket buffers hold, so the server is reading it).
  async function * finishing (): AsyncGenerator<Buffer> {
    for (let offset = 0; offset < data.length; offset += MiB) {
      if (offset === 8 * MiB) { paused(); await released }
      yield data.subarray(offset, offset + MiB)
    }
  }
  let forever!: () => void
  const never = new Promise<void>((resolve) => { forever = resolve })
  t.teardown(() => { forever() })
  async function * stalling (): AsyncGenerator<Buffer> {
    for (let offset = 0; offset < stalled.length; offset += MiB) {
      if (offset === 8 * MiB) { pausedToo(); await never }
      yield stalled.subarray(offset, offset + MiB)
    }
  }
  const finished = s3.send(new PutObjectCommand({ Bucket: 'inflight', Key: 'finished', Body: Readable.from(finishing()), ContentLength: data.length }))
  const cut = s3.send(new PutObjectCommand({ Bucket: 'inflight', Key: 'cut', Body: Readable.from(stalling()), ContentLength: stalled.length }))
  finished.catch(() => {})
  cut.catch(() => {})
  await bothPaused

  const closing = running.close()
  release()
  t.is((await finished).ETag, `"${md5Hex(data)}"`)
  await closing
  await t.throwsAsync(cut, undefined, 'the upload still streaming at the deadline is cut')

  const again = await started(t, { dataDir })
  const s3again = client(t, again.url, credentials)
  const got = await s3again.send(new GetObjectCommand({ Bucket: 'inflight', Key: 'finished' }))
  t.is(md5Hex(await got.Body?.transformToByteArray() ?? new Uint8Array()), md5Hex(data))
  t.is((await s3Error(s3again.send(new HeadObjectCommand({ Bucket: 'inflight', Key: 'cut' })))).status, 404)
})

test('a multipart upload begun before a shutdown is resumed and completed after the restart', async (t) => {
  const dataDir = await tempDir(t, 's3ipfs-drain-')
  const first = await started(t, { dataDir })
  const s3 = client(t, first.url, credentials)
  await s3.send(new CreateBucketCommand({ Bucket: 'resume' }))
  const part1 = deterministicBytes('resume-1', 5 * MiB)
  const part2 = deterministicBytes('resume-2', 1 * MiB + 7)
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'resume', Key: 'object' }))
  const one = await s3.send(new UploadPartCommand({ Bucket: 'resume', Key: 'object', UploadId, PartNumber: 1, Body: part1 }))
  await first.close()

  const second = await started(t, { dataDir })
  const s3b = client(t, second.url, credentials)
  const uploads = await s3b.send(new ListMultipartUploadsCommand({ Bucket: 'resume' }))
  t.deepEqual(uploads.Uploads?.map(u => u.UploadId), [UploadId])
  const parts = await s3b.send(new ListPartsCommand({ Bucket: 'resume', Key: 'object', UploadId }))
  t.deepEqual(parts.Parts?.map(p => [p.PartNumber, p.ETag, p.Size]), [[1, one.ETag, part1.length]])
  const two = await s3b.send(new UploadPartCommand({ Bucket: 'resume', Key: 'object', UploadId, PartNumber: 2, Body: part2 }))
  await s3b.send(new CompleteMultipartUploadCommand({
    Bucket: 'resume', Key: 'object', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: one.ETag }, { PartNumber: 2, ETag: two.ETag }] },
  }))
  const got = await s3b.send(new GetObjectCommand({ Bucket: 'resume', Key: 'object' }))
  t.is(md5Hex(await got.Body?.transformToByteArray() ?? new Uint8Array()), md5Hex(Buffer.concat([part1, part2])))
})

test('serve --shutdown-delay (or S3IPFS_SHUTDOWN_DELAY): on SIGTERM /-/ready answers 503 at once, then the process exits 0; a bad value is a usage error', async (t) => {
  t.timeout(3 * 60_000)
  const dataDir = await tempDir(t, 's3ipfs-drain-')
  const served = await serve(t, dataDir, ['--shutdown-timeout', '5s'], { S3IPFS_SHUTDOWN_DELAY: '6s' })
  t.like(await fetchOver(`${served.endpoint}/-/ready`), { status: 200 })
  served.child.proc.kill('SIGTERM')
  await served.child.waitFor('stderr', /SIGTERM: unready now; serving 6000 ms more/)
  const ready = await fetchOver(`${served.endpoint}/-/ready`)
  t.is(ready.status, 503)
  t.is((JSON.parse(ready.body) as { status: string }).status, 'draining')
  t.like(await fetchOver(`${served.endpoint}/-/healthy`), { status: 200, connection: 'close' }, 'alive while draining')
  t.deepEqual(await served.child.exited(), { code: 0, signal: null })

  for (const [args, env] of [[['--shutdown-delay', 'soon'], {}], [[], { S3IPFS_SHUTDOWN_TIMEOUT: '-1' }]] as const) {
    const child = cli(t, ['serve', '--port', '0', '--data-dir', dataDir, ...args], env)
    t.is((await child.exited()).code, 2)
    t.regex(child.stderr(), /Invalid --shutdown-(delay|timeout)/)
  }
})
