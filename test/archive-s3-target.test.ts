import { once } from 'node:events'
import { readdir, readFile } from 'node:fs/promises'
import { createServer as createNetServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import { CreateBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { parseS3ArchiveConfig, S3ArchiveTarget } from '../src/archive/s3-target.js'
import type { S3ArchiveConfig } from '../src/archive/s3-target.js'
import { ContentStore } from '../src/content/content-store.js'
import { createGateway } from '../src/gateway.js'
import { nodeHost } from './helpers/hosts.js'
import { credentials as gatewayCredentials, deterministicBytes } from './helpers/s3.js'
import { startS3rver as startS3rverProcess } from './helpers/s3rver.js'

const MiB = 1024 * 1024
const names = ['s3rver', 'gateway'] as const
const BUCKET = 'archive'

interface Backend {
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
  sdk: S3Client
  /** Keys of the multipart uploads in progress under `prefix`. */
  uploads(prefix: string): Promise<string[]>
  /** AbortMultipartUpload works (s3rver 3.7.1 answers 405 MethodNotAllowed and keeps the parts). */
  abortsUploads: boolean
  close(): Promise<void>
}

/**
 * What each backend is sent to be refused. s3rver 3.7.1 does not check SigV4 signatures at all (it
 * accepts any secret), so against it only an unknown access key id can be refused.
 */
const WRONG_CREDENTIALS: Record<typeof names[number], { accessKeyId?: string, code: string }> = {
  s3rver: { accessKeyId: 'NOT-S3RVER', code: 'InvalidAccessKeyId' },
  gateway: { code: 'SignatureDoesNotMatch' },
}

const backends = new Map<string, Backend>()

let smallCar: { cid: CID, bytes: Buffer }
let bigCar: { cid: CID, bytes: Buffer, content: ContentStore }

async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return Buffer.concat(chunks)
}

async function * chunked (bytes: Uint8Array, size = 256 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, i + size)
}

async function rawCid (seed: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(Buffer.from(seed)))
}

function sdkClient (endpoint: string, keys: { accessKeyId: string, secretAccessKey: string }): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: keys, maxAttempts: 1 })
}

async function startS3rver (): Promise<Backend> {
  const server = await startS3rverProcess()
  const dir = server.dir
  const keys = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }
  const endpoint = server.endpoint
  const sdk = sdkClient(endpoint, keys)
  return {
    endpoint,
    ...keys,
    sdk,
    // s3rver answers ListMultipartUploads NotImplemented: read its upload directories instead
    uploads: async (prefix) => {
      const root = join(dir, BUCKET, '._S3rver_uploads')
      const ids = await readdir(root).catch(() => [])
      const keys = await Promise.all(ids.map(async (id) => await readFile(join(root, id, 'key'), 'utf8').catch(() => '')))
      return keys.filter(k => k !== '' && k.startsWith(prefix))
    },
    abortsUploads: false,
    close: async () => {
      sdk.destroy()
      await server.close()
    },
  }
}

async function startGateway (): Promise<Backend> {
  const gateway = createGateway()
  const host = await nodeHost.start(gateway, '/s3')
  const sdk = sdkClient(host.url, gatewayCredentials)
  return {
    endpoint: host.url,
    ...gatewayCredentials,
    sdk,
    uploads: async (prefix) => {
      const listed = await sdk.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }))
      return (listed.Uploads ?? []).map(u => u.Key ?? '')
    },
    abortsUploads: true,
    close: async () => { sdk.destroy(); await host.close(); await gateway.close() },
  }
}

test.before(async () => {
  const [s3rver, gateway] = await Promise.all([startS3rver(), startGateway()])
  backends.set('s3rver', s3rver)
  backends.set('gateway', gateway)
  for (const b of backends.values()) await b.sdk.send(new CreateBucketCommand({ Bucket: BUCKET }))

  const content = new ContentStore({ blockstore: new MemoryBlockstore() })
  const small = await content.add([Buffer.from('a small archived object')])
  smallCar = { cid: small.cid, bytes: await collect(await content.exportCar(small.cid)) }
  const big = await content.add(chunked(deterministicBytes('archive-s3-target', 12 * MiB)))
  bigCar = { cid: big.cid, bytes: await collect(await content.exportCar(big.cid)), content }
})

test.after.always(async () => {
  await Promise.all([...backends.values()].map(async (b) => { await b.close() }))
})

function target (t: { teardown: (f: () => Promise<void>) => void }, backend: Backend, config: Partial<S3ArchiveConfig> = {}): S3ArchiveTarget {
  const archive = new S3ArchiveTarget({
    type: 's3',
    endpoint: backend.endpoint,
    bucket: BUCKET,
    accessKeyId: backend.accessKeyId,
    secretAccessKey: backend.secretAccessKey,
    partSize: 5 * MiB,
    ...config,
  })
  t.teardown(async () => { await archive.close() })
  return archive
}

async function rejection (promise: Promise<unknown>): Promise<Error & { code?: string, status?: number }> {
  try {
    await promise
  } catch (err) {
    return err as Error & { code?: string, status?: number }
  }
  throw new Error('expected a rejection')
}

for (const name of names) {
  const backend = (): Backend => backends.get(name) as Backend

  test(`${name}: a small CAR round-trips through one PutObject; putting it again is harmless`, async (t) => {
    const archive = target(t, backend(), { prefix: 'small/' })
    const { cid, bytes } = smallCar
    const location = await archive.put(cid, chunked(bytes, 7))
    t.like(location, { bucket: BUCKET, key: `small/${cid.toString()}.car`, size: bytes.byteLength })
    t.is(typeof location.etag, 'string')
    t.deepEqual(await collect(await archive.get(cid, location)), bytes)

    const again = await archive.put(cid, chunked(bytes))
    t.is(again.size, bytes.byteLength)
    t.deepEqual(await collect(await archive.get(cid, again)), bytes)
    t.deepEqual(await archive.status(cid, again), { stored: true, detail: { size: bytes.byteLength, etag: again.etag } })
  })

  test(`${name}: a CAR larger than partSize round-trips byte-identical through a multipart upload`, async (t) => {
    const archive = target(t, backend(), { prefix: 'big/' })
    const { cid, bytes, content } = bigCar
    t.true(bytes.byteLength > 10 * MiB)
    // Before the source gives its last bytes, the upload is under way on the server: the CAR is
    // streamed up part by part, not read whole first.
    let uploadsBeforeEnd: string[] = []
    const source = async function * (): AsyncGenerator<Uint8Array> {
      let offset = 0
      for await (const chunk of await content.exportCar(cid)) {
        offset += chunk.byteLength
        if (offset === bytes.byteLength) uploadsBeforeEnd = await backend().uploads('big/')
        yield chunk
      }
    }
    const location = await archive.put(cid, source())
    t.deepEqual(uploadsBeforeEnd, [`big/${cid.toString()}.car`])
    t.like(location, { bucket: BUCKET, key: `big/${cid.toString()}.car`, size: bytes.byteLength })
    const got = await collect(await archive.get(cid, location))
    t.is(got.byteLength, bytes.byteLength)
    t.true(got.equals(bytes))
    // an abort while the body streams stops it with the caller's reason
    const controller = new AbortController()
    const reason = new Error('restore cancelled')
    const reading = async (): Promise<number> => {
      let read = 0
      for await (const chunk of await archive.get(cid, location, { signal: controller.signal })) {
        read += chunk.byteLength
        controller.abort(reason)
      }
      return read
    }
    t.is(await rejection(reading()), reason)
    const head = await backend().sdk.send(new HeadObjectCommand({ Bucket: BUCKET, Key: location.key as string }))
    t.is(head.ContentLength, bytes.byteLength)
    // S3's multipart ETag names the part count (s3rver stores a plain MD5 instead)
    if (name === 'gateway') t.regex(String(location.etag), /-3$/)
    // exactly one part's worth: the last part is a whole part too
    const exact = await rawCid(`${name}-exact`)
    const twoParts = bytes.subarray(0, 10 * MiB)
    const exactLocation = await archive.put(exact, chunked(twoParts, 3 * MiB))
    t.is(exactLocation.size, 10 * MiB)
    t.true((await collect(await archive.get(exact, exactLocation))).equals(twoParts))
  })

  test(`${name}: delete, then get is ERR_NOT_FOUND and status says not stored; deleting twice is fine`, async (t) => {
    const archive = target(t, backend(), { prefix: 'deleted/' })
    const { cid, bytes } = smallCar
    const location = await archive.put(cid, chunked(bytes))
    await archive.delete(cid, location)
    const err = await rejection(archive.get(cid, location))
    t.is(err.code, 'ERR_NOT_FOUND')
    t.deepEqual(await archive.status(cid, location), { stored: false })
    await t.notThrowsAsync(archive.delete(cid, location))
    t.is((await rejection(archive.get(await rawCid(`${name}-never`), {}))).code, 'ERR_NOT_FOUND')
  })

  test(`${name}: a prefix with slashes, spaces and other characters is the key as given`, async (t) => {
    const prefix = "cold cars/2024 q1/a+b (c)!'*~=&;/ü/"
    const archive = target(t, backend(), { prefix })
    const { cid, bytes } = smallCar
    const location = await archive.put(cid, chunked(bytes))
    t.is(location.key, `${prefix}${cid.toString()}.car`)
    const listed = await backend().sdk.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'cold cars/' }))
    t.deepEqual(listed.Contents?.map(o => o.Key), [location.key])
    t.deepEqual(await collect(await archive.get(cid, location)), bytes)
    await archive.delete(cid, location)
    t.is((await rejection(archive.get(cid, location))).code, 'ERR_NOT_FOUND')
  })

  test(`${name}: wrong credentials reject with S3's code and without the secret`, async (t) => {
    const secret = 'wrong-secret-do-not-print-0123456789'
    const { accessKeyId, code } = WRONG_CREDENTIALS[name]
    const { cid, bytes } = smallCar
    // the CAR is there (s3rver answers NoSuchKey before it looks at credentials)
    await target(t, backend(), { prefix: 'wrong/' }).put(cid, chunked(bytes))
    const archive = target(t, backend(), { prefix: 'wrong/', accessKeyId: accessKeyId ?? backend().accessKeyId, secretAccessKey: secret })
    const put = await rejection(archive.put(cid, chunked(bytes)))
    const get = await rejection(archive.get(cid, {}))
    // a HEAD answer has no body: only its status says what failed
    const status = await rejection(archive.status(cid, {}))
    t.like(put, { code, status: 403 })
    t.like(get, { code, status: 403 })
    t.is(status.status, 403)
    for (const err of [put, get, status]) {
      t.regex(err.message, /^s3:archive: /)
      t.false(err.message.includes(secret))
      t.false(JSON.stringify(err).includes(secret))
    }
  })

  test(`${name}: an aborted multipart put leaves no object and no upload`, async (t) => {
    const archive = target(t, backend(), { prefix: 'aborted/' })
    const cid = await rawCid(`${name}-aborted`)
    const controller = new AbortController()
    let produced = 0
    const source = async function * (): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 7; i++) {
        produced += MiB
        yield deterministicBytes(`aborted-${i}`, MiB)
      }
      await sleep(60_000, undefined, { signal: controller.signal }).catch(() => {})
      yield Buffer.alloc(MiB)
    }
    const put = archive.put(cid, source(), { signal: controller.signal })
    // the upload exists on the server, so the abort has something to undo
    for (let i = 0; i < 250 && (await backend().uploads('aborted/')).length === 0; i++) await sleep(20)
    t.is((await backend().uploads('aborted/')).length, 1)
    t.true(produced >= 5 * MiB)
    const reason = new Error('operator stopped the job')
    t.timeout(60_000, 'an abort must end the put')
    controller.abort(reason)
    t.is(await rejection(put), reason)
    t.is((await rejection(archive.get(cid, {}))).code, 'ERR_NOT_FOUND')
    if (backend().abortsUploads) t.deepEqual(await backend().uploads('aborted/'), [])
  })

  test(`${name}: a source that fails mid-stream aborts the multipart upload`, async (t) => {
    const archive = target(t, backend(), { prefix: 'failed/' })
    const cid = await rawCid(`${name}-failed`)
    const broken = new Error('block missing')
    let uploadsBeforeFailure: string[] = []
    const source = async function * (): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 11; i++) yield deterministicBytes(`failed-${i}`, MiB)
      uploadsBeforeFailure = await backend().uploads('failed/')
      throw broken
    }
    t.is(await rejection(archive.put(cid, source())), broken)
    t.deepEqual(uploadsBeforeFailure, [`failed/${cid.toString()}.car`])
    t.is((await rejection(archive.get(cid, {}))).code, 'ERR_NOT_FOUND')
    if (backend().abortsUploads) t.deepEqual(await backend().uploads('failed/'), [])
  })
}

const anyConfig: S3ArchiveConfig = { type: 's3', endpoint: 'http://127.0.0.1:1', bucket: 'b', accessKeyId: 'AK', secretAccessKey: 'SK' }

test('an endpoint nobody listens on rejects at once', async (t) => {
  const server = createNetServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  const archive = target(t, { endpoint: `http://127.0.0.1:${port}`, accessKeyId: 'AK', secretAccessKey: 'SK' } as unknown as Backend)
  t.timeout(60_000, 'a refused connection must not hang')
  const err = await rejection(archive.put(smallCar.cid, chunked(smallCar.bytes)))
  t.is(err.code, 'ECONNREFUSED')
  t.is((await rejection(archive.get(smallCar.cid, {}))).code, 'ECONNREFUSED')
})

test('a server that never answers times out after timeoutMs', async (t) => {
  const sockets = new Set<Socket>()
  const server = createNetServer((socket) => { sockets.add(socket); socket.resume() })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  const { port } = server.address() as AddressInfo
  const archive = target(t, { endpoint: `http://127.0.0.1:${port}`, accessKeyId: 'AK', secretAccessKey: 'SK' } as unknown as Backend, { timeoutMs: 300 })
  t.timeout(60_000, 'timeoutMs must end a silent request')
  t.is((await rejection(archive.get(smallCar.cid, {}))).code, 'ERR_TIMEOUT')
  t.is((await rejection(archive.put(smallCar.cid, chunked(smallCar.bytes)))).code, 'ERR_TIMEOUT')
})

test('an aborted signal rejects every method before any I/O', async (t) => {
  let connections = 0
  const server = createNetServer((socket) => { connections++; socket.destroy() })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const archive = new S3ArchiveTarget({ ...anyConfig, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })
  const reason = new Error('stop')
  const signal = AbortSignal.abort(reason)
  let read = false
  const source = async function * (): AsyncGenerator<Uint8Array> { read = true; yield new Uint8Array(1) }
  t.is(await rejection(archive.put(smallCar.cid, source(), { signal })), reason)
  t.is(await rejection(archive.get(smallCar.cid, {}, { signal })), reason)
  t.is(await rejection(archive.delete(smallCar.cid, {}, { signal })), reason)
  t.is(await rejection(archive.status(smallCar.cid, {}, { signal })), reason)
  t.false(read)
  t.is(connections, 0)
  await archive.close()
})

test('parseS3ArchiveConfig accepts a full config and names the field that is wrong, never the secret', (t) => {
  const full = { ...anyConfig, region: 'eu-west-1', prefix: 'cars/', forcePathStyle: false, partSize: 8 * MiB, timeoutMs: 1000 }
  t.deepEqual(parseS3ArchiveConfig(full), full)
  t.deepEqual(parseS3ArchiveConfig(anyConfig), anyConfig)
  t.is(new S3ArchiveTarget(anyConfig).name, 's3:b')

  const secret = 'top-secret-value'
  const cases: Array<[unknown, RegExp]> = [
    [null, /JSON object/],
    [[], /JSON object/],
    [{ ...anyConfig, type: 'fs' }, /"type"/],
    [{ ...anyConfig, type: undefined }, /"type" is missing/],
    [{ ...anyConfig, endpoint: undefined }, /"endpoint" is missing/],
    [{ ...anyConfig, endpoint: 'ftp://host' }, /"endpoint"/],
    [{ ...anyConfig, endpoint: 'not a url' }, /"endpoint"/],
    [{ ...anyConfig, endpoint: `http://AK:${secret}@host` }, /"endpoint" must not hold credentials/],
    [{ ...anyConfig, bucket: '' }, /"bucket"/],
    [{ ...anyConfig, bucket: 'a/b' }, /"bucket"/],
    [{ ...anyConfig, accessKeyId: 3 }, /"accessKeyId"/],
    [{ ...anyConfig, secretAccessKey: undefined }, /"secretAccessKey" is missing/],
    [{ ...anyConfig, secretAccessKey: 12 }, /"secretAccessKey"/],
    [{ ...anyConfig, region: '' }, /"region"/],
    [{ ...anyConfig, prefix: 1 }, /"prefix"/],
    [{ ...anyConfig, forcePathStyle: 'yes' }, /"forcePathStyle"/],
    [{ ...anyConfig, partSize: 5 * MiB - 1 }, /"partSize"/],
    [{ ...anyConfig, partSize: 6.5 * MiB + 0.5 }, /"partSize"/],
    [{ ...anyConfig, timeoutMs: 0 }, /"timeoutMs"/],
    [{ ...anyConfig, partsize: 6 * MiB }, /"partsize" is not a known field/],
  ]
  for (const [input, message] of cases) {
    const withSecret = typeof input === 'object' && input !== null && !Array.isArray(input) && 'secretAccessKey' in input && typeof (input as { secretAccessKey: unknown }).secretAccessKey === 'string'
      ? { ...input, secretAccessKey: secret }
      : input
    const err = t.throws(() => parseS3ArchiveConfig(withSecret), { instanceOf: TypeError, message }, JSON.stringify(input))
    t.false(err?.message.includes(secret))
    t.throws(() => new S3ArchiveTarget(withSecret as S3ArchiveConfig), { instanceOf: TypeError })
  }
})
