/**
 * `Expect: 100-continue` on each adapter: a request the gateway refuses (bad signature, no
 * permission, no such bucket) gets its final response instead of `100 Continue`, so the client
 * never sends the body; an accepted one gets `100 Continue` when the operation starts reading the
 * body. Raw node:http clients send the body only on 'continue'; the AWS SDK (which sends the
 * header for bodies of 2 MiB and more) still uploads, and gets refusals as S3 errors.
 */
import { once } from 'node:events'
import { createServer as createHttpServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import test from 'ava'
import express from 'express'
import Fastify from 'fastify'
import { deferContinue, s3Middleware } from '../adapters/express.js'
import { s3Plugin } from '../adapters/fastify.js'
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { createGateway } from '../src/gateway.js'
import { hosts, type Host } from './helpers/hosts.js'
import { deterministicBytes, md5Hex, s3Client, s3Error } from './helpers/s3.js'
import { signHeaders } from './helpers/sign.js'

interface Outcome {
  /** Whether the server wrote `100 Continue` (and so the body was sent). */
  continued: boolean
  status: number
  text: string
}

/** A PUT with `Expect: 100-continue` whose body is sent only when the server says `100 Continue`. */
async function putExpecting (url: string, headers: Record<string, string>, body: Buffer): Promise<Outcome> {
  const target = new URL(url)
  return await new Promise<Outcome>((resolve, reject) => {
    const req = httpRequest({
      host: target.hostname,
      port: target.port,
      path: target.pathname + target.search,
      method: 'PUT',
      agent: false,
      headers: { ...headers, expect: '100-continue', 'content-length': String(body.byteLength) },
    })
    let continued = false
    req.on('continue', () => {
      continued = true
      req.end(body)
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        resolve({ continued, status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() })
        // A refused request's body was never sent; the exchange is over.
        if (!continued) req.destroy()
      })
      res.on('error', reject)
    })
    req.on('error', (err) => { if (!continued) reject(err) })
    req.flushHeaders()
  })
}

const codeOf = (xml: string): string | undefined => /<Code>([^<]*)<\/Code>/.exec(xml)?.[1]

async function started (host: Host): Promise<{ url: string, s3: S3Client, expected: string[], close: () => Promise<void> }> {
  const expected: string[] = []
  const gateway = createGateway({
    // What the gateway saw of the header, once it has decided to run an operation.
    beforeOperation: ({ operation, request }) => { if (request.headers.expect !== undefined) expected.push(`${operation} ${request.headers.expect}`) },
  })
  const running = await host.start(gateway, '/s3')
  const s3 = s3Client(running.url)
  await s3.send(new CreateBucketCommand({ Bucket: 'bkt' }))
  return { url: running.url, s3, expected, close: async () => { s3.destroy(); await running.close(); await gateway.close() } }
}

for (const host of hosts) {
  test(`${host.name}: a refused PUT with Expect: 100-continue gets its error and no 100 Continue; an accepted one gets 100 and then 200`, async (t) => {
    const { url, s3, close } = await started(host)
    t.teardown(close)
    const body = Buffer.from('the body of the upload')
    const signed = async (path: string): Promise<Record<string, string>> => await signHeaders({ method: 'PUT', url: `${url}${path}`, body })

    const good = await signed('/bkt/k')
    const badSignature = { ...good, authorization: good.authorization.replace(/.$/, (c) => c === '0' ? '1' : '0') }
    const refused = await putExpecting(`${url}/bkt/k`, badSignature, body)
    t.like(refused, { continued: false, status: 403 })
    t.is(codeOf(refused.text), 'SignatureDoesNotMatch')

    const anonymous = await putExpecting(`${url}/bkt/k`, {}, body)
    t.like(anonymous, { continued: false, status: 403 })
    t.is(codeOf(anonymous.text), 'AccessDenied')

    const missing = await putExpecting(`${url}/no-such-bucket/k`, await signed('/no-such-bucket/k'), body)
    t.like(missing, { continued: false, status: 404 })
    t.is(codeOf(missing.text), 'NoSuchBucket')

    t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'k' }))), { code: 'NoSuchKey', status: 404 }, 'nothing was stored')
    const accepted = await putExpecting(`${url}/bkt/k`, good, body)
    t.like(accepted, { continued: true, status: 200 })
    t.is(await (await s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'k' }))).Body?.transformToString(), body.toString())
  })

  test(`${host.name}: the AWS SDK's Expect: 100-continue uploads still go through, and its refused ones fail with S3 errors`, async (t) => {
    const { url, s3, expected, close } = await started(host)
    t.teardown(close)
    const bytes = deterministicBytes('expect-continue', 3 * 1024 * 1024)
    const put = await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'big', Body: bytes }))
    t.is(put.ETag, `"${md5Hex(bytes)}"`)
    t.deepEqual(expected, ['PutObject 100-continue'], 'the SDK asked for 100 Continue')
    const got = await (await s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'big' }))).Body?.transformToByteArray()
    t.is(md5Hex(got ?? new Uint8Array()), md5Hex(bytes))

    t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket: 'no-such-bucket', Key: 'big', Body: bytes }))), { code: 'NoSuchBucket', status: 404 })
    const stranger = new S3Client({
      endpoint: url, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: 'AKIASTRANGER', secretAccessKey: 'nope' },
    })
    t.teardown(() => { stranger.destroy() })
    t.deepEqual(await s3Error(stranger.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'big', Body: bytes }))), { code: 'InvalidAccessKeyId', status: 403 })
  })
}

test('fastify and express: the application\'s other routes still get 100 Continue when their body parser reads the body', async (t) => {
  const gateway = createGateway()
  t.teardown(async () => { await gateway.close() })
  const body = Buffer.from('{"hello":"world"}')

  const fastify = Fastify()
  await fastify.register(s3Plugin, { gateway, prefix: '/s3' })
  fastify.put('/echo', async (request) => request.body)
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { fastify.server.closeAllConnections(); await fastify.close() })
  const fastifyUrl = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`
  t.like(await putExpecting(`${fastifyUrl}/echo`, { 'content-type': 'application/json' }, body), { continued: true, status: 200, text: body.toString() })

  const app = express()
  app.use('/s3', s3Middleware(gateway))
  app.put('/echo', express.json(), (req, res) => { res.json(req.body) })
  const server = createHttpServer(app)
  deferContinue(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })
  const expressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.like(await putExpecting(`${expressUrl}/echo`, { 'content-type': 'application/json' }, body), { continued: true, status: 200, text: body.toString() })
})
