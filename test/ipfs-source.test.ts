/**
 * Per-bucket CID profiles (CreateBucket's x-amz-meta-cid-profile) and CopyObject / UploadPartCopy
 * from `/ipfs/<cid>`, through the AWS SDK over loopback HTTP, on the in-memory default and on the
 * standalone server's storage (FsBlockstore + SQLite).
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagPb from '@ipld/dag-pb'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand,
  HeadBucketCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand, type CompletedPart, type S3Client,
} from '@aws-sdk/client-s3'
import type { Blockstore } from 'interface-blockstore'
import { importBytes, importer, type ImporterOptions } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { blockstoreUnderTest, onIpfsNode } from './helpers/blockstore.js'
import { KuboBlockstore } from '../src/blockstores/kubo.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { collectBytes } from '../src/content/bytes.js'
import { ContentStore } from '../src/content/content-store.js'
import type { CidProfileName } from '../src/content/profiles.js'
import { createGateway } from '../src/gateway.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import type { MetadataStore } from '../src/metadata/metadata-store.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import type { Gateway } from '../src/types.js'
import { nodeHost } from './helpers/hosts.js'
import { captureHeaders, deterministicBytes, headerScope, ipfsAddCid, md5Hex, s3Client, s3Error } from './helpers/s3.js'
import { signedFetch } from './helpers/sign.js'

const MiB = 1024 * 1024
const V0: CidProfileName = 'unixfs-v0-2015'
const V1: CidProfileName = 'unixfs-v1-2025'
/** `ipfs add` with the importer's own defaults: CIDv1, raw leaves, 256 KiB chunks — neither gateway profile. */
const FOREIGN_LAYOUT: Partial<ImporterOptions> = {}
/** Kubo's default `ipfs add` (CIDv0, dag-pb leaves). */
const KUBO_V0: Partial<ImporterOptions> = { cidVersion: 0, rawLeaves: false, chunker: fixedSize({ chunkSize: 262144 }), layout: balanced({ maxChildrenPerNode: 174 }) }

interface Served {
  gateway: Gateway
  blockstore: Blockstore
  metadata: MetadataStore
  s3: S3Client
  url: string
  headers: { last: () => Record<string, string> }
  stop: () => Promise<void>
}

const stops: Array<() => Promise<void>> = []
test.after.always(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {})
})

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-ipfs-source-'))
  stops.push(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** A gateway served over HTTP; on `dir` it is FsBlockstore + SQLite (serving `dir` again is a restart). */
async function serve (options: { dir?: string, profile?: CidProfileName, blockstore?: Blockstore } = {}): Promise<Served> {
  const blockstore = options.blockstore ?? (options.dir === undefined ? new MemoryBlockstore() : blockstoreUnderTest(options.dir))
  const metadata = options.dir === undefined ? new MemoryMetadataStore() : new SqliteMetadataStore({ path: join(options.dir, 'meta.db'), synchronous: 'NORMAL' })
  const gateway = createGateway({ blockstore, metadata, cidProfile: options.profile })
  const host = await nodeHost.start(gateway, '')
  const s3 = s3Client(host.url)
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    s3.destroy()
    await host.close()
    await gateway.close()
  }
  stops.push(stop)
  return { gateway, blockstore, metadata, s3, url: host.url, headers: captureHeaders(s3), stop }
}

/** CreateBucket, with `x-amz-meta-cid-profile` added before signing when a profile is given. */
async function createBucket (s3: S3Client, Bucket: string, profile?: string): Promise<void> {
  const command = new CreateBucketCommand({ Bucket })
  if (profile !== undefined) {
    command.middlewareStack.add((next) => async (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-amz-meta-cid-profile'] = profile
      return await next(args)
    }, { step: 'build', name: 'cidProfileHeader' })
  }
  await s3.send(command)
}

/** The profile HeadBucket reports. */
async function headProfile (served: Served, Bucket: string): Promise<string | undefined> {
  return await headerScope.run({}, async () => {
    await served.s3.send(new HeadBucketCommand({ Bucket }))
    return served.headers.last()['x-amz-meta-cid-profile']
  })
}

async function putCid (s3: S3Client, Bucket: string, Key: string, Body: Uint8Array): Promise<string | undefined> {
  await s3.send(new PutObjectCommand({ Bucket, Key, Body }))
  return (await s3.send(new HeadObjectCommand({ Bucket, Key }))).Metadata?.cid
}

async function getBytes (s3: S3Client, Bucket: string, Key: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket, Key }))
  return Buffer.from(await res.Body!.transformToByteArray())
}

/** Every block of the DAG under `root` (dag-pb nodes followed), root first. */
async function dagBlocks (blockstore: Pick<Blockstore, 'get'>, root: CID): Promise<CID[]> {
  const out: CID[] = []
  const visit = async (cid: CID): Promise<void> => {
    out.push(cid)
    if (cid.code !== dagPb.code) return
    for (const link of dagPb.decode(await collectBytes(blockstore.get(cid))).Links) await visit(link.Hash)
  }
  await visit(root)
  return out
}

async function hasAll (blockstore: Blockstore, cids: CID[]): Promise<boolean> {
  for (const cid of cids) if (!(await blockstore.has(cid))) return false
  return true
}

const pause = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

// ---- A. per-bucket CID profile ----

test('bucket profiles: the same bytes get ipfs add\'s CID under each bucket\'s profile; HEAD bucket reports it', async t => {
  const served = await serve()
  await createBucket(served.s3, 'prof-v0', V0)
  await createBucket(served.s3, 'prof-v1', V1)
  await createBucket(served.s3, 'prof-default')
  t.is(await headProfile(served, 'prof-v0'), V0)
  t.is(await headProfile(served, 'prof-v1'), V1)
  t.is(await headProfile(served, 'prof-default'), V1, 'the gateway default')

  const hello = Buffer.from('hello world')
  t.is(await putCid(served.s3, 'prof-v0', 'hello', hello), 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD')
  t.is(await putCid(served.s3, 'prof-v1', 'hello', hello), 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')
  t.is(await putCid(served.s3, 'prof-default', 'hello', hello), 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')

  // Kubo's own vectors (test/cli/cid_profiles_test.go), then several blocks and levels.
  t.is(await putCid(served.s3, 'prof-v0', 'kubo', deterministicBytes('chunk-v0-seed', 262144)), 'QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE')
  t.is(await putCid(served.s3, 'prof-v1', 'kubo', deterministicBytes('chunk-v1-seed', MiB + 1)), 'bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64')
  const big = deterministicBytes('profiles-big', 3 * MiB + 4321)
  const v0 = await putCid(served.s3, 'prof-v0', 'big', big)
  const v1 = await putCid(served.s3, 'prof-v1', 'big', big)
  t.is(v0, await ipfsAddCid(big, V0))
  t.is(v1, await ipfsAddCid(big, V1))
  t.is(await putCid(served.s3, 'prof-default', 'big', big), v1)
  t.not(v0, v1)
  t.true((await getBytes(served.s3, 'prof-v0', 'big')).equals(big))
})

test('bucket profiles: a gateway whose default is unixfs-v0-2015 gives new buckets that profile unless asked otherwise', async t => {
  const served = await serve({ profile: V0 })
  await createBucket(served.s3, 'd-default')
  await createBucket(served.s3, 'd-v1', V1)
  t.is(await headProfile(served, 'd-default'), V0)
  t.is(await headProfile(served, 'd-v1'), V1)
  const bytes = deterministicBytes('d-profile', 2 * MiB + 3)
  t.is(await putCid(served.s3, 'd-default', 'k', bytes), await ipfsAddCid(bytes, V0))
  t.is(await putCid(served.s3, 'd-v1', 'k', bytes), await ipfsAddCid(bytes, V1))
})

test('bucket profiles: an unknown profile is 400 InvalidArgument naming the header, and creates no bucket', async t => {
  const served = await serve()
  for (const value of ['unixfs-v2-2030', 'UNIXFS-V1-2025', '']) {
    const res = await signedFetch({ method: 'PUT', url: `${served.url}/bad-profile`, headers: { 'x-amz-meta-cid-profile': value } })
    const body = await res.text()
    t.is(res.status, 400, value)
    t.regex(body, /<Code>InvalidArgument<\/Code>/)
    t.regex(body, /<ArgumentName>x-amz-meta-cid-profile<\/ArgumentName>/)
    t.true(body.includes(`<ArgumentValue>${value}</ArgumentValue>`) || (value === '' && /<ArgumentValue\s*\/>|<ArgumentValue><\/ArgumentValue>/.test(body)), body)
  }
  t.deepEqual(await s3Error(served.s3.send(new HeadBucketCommand({ Bucket: 'bad-profile' }))), { code: 'NotFound', status: 404 })
  const sdk = await s3Error(createBucket(served.s3, 'bad-profile-2', 'nope'))
  t.deepEqual(sdk, { code: 'InvalidArgument', status: 400 })
})

test('bucket profiles: recorded at creation, kept across a restart on Fs+SQLite even when the gateway default changes', async t => {
  const dir = await tempDir()
  const bytes = deterministicBytes('restart-profile', MiB + 77)
  const first = await serve({ dir })
  await createBucket(first.s3, 'keep-v0', V0)
  await createBucket(first.s3, 'keep-default')
  t.is(await putCid(first.s3, 'keep-v0', 'before', bytes), await ipfsAddCid(bytes, V0))
  await first.stop()

  const second = await serve({ dir, profile: V0 })
  t.is(await headProfile(second, 'keep-v0'), V0)
  t.is(await headProfile(second, 'keep-default'), V1, 'created under the old default, it keeps it')
  t.is(await putCid(second.s3, 'keep-default', 'after', bytes), await ipfsAddCid(bytes, V1))
  t.is(await putCid(second.s3, 'keep-v0', 'after', bytes), await ipfsAddCid(bytes, V0))
  await createBucket(second.s3, 'new-default')
  t.is(await headProfile(second, 'new-default'), V0, 'a new bucket takes the new default')
  t.is((await second.metadata.getBucket('keep-default'))?.cidProfile, V1)
})

test('bucket profiles: multipart uploads (parts, ranged UploadPartCopy, Complete) use the bucket\'s profile', async t => {
  const served = await serve() // default unixfs-v1-2025
  await createBucket(served.s3, 'mp-v0', V0)
  await createBucket(served.s3, 'mp-v1', V1)
  // 5 MiB parts are whole numbers of both profiles' chunks (256 KiB and 1 MiB).
  const sizes = [5 * MiB, 5 * MiB, MiB + 7]
  const bytes = deterministicBytes('mp-profile', sizes.reduce((a, b) => a + b))
  for (const [Bucket, profile] of [['mp-v0', V0], ['mp-v1', V1]] as const) {
    const { UploadId } = await served.s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'mp' }))
    const done: CompletedPart[] = []
    let at = 0
    for (const [i, size] of sizes.entries()) {
      const { ETag } = await served.s3.send(new UploadPartCommand({ Bucket, Key: 'mp', UploadId, PartNumber: i + 1, Body: bytes.subarray(at, at + size) }))
      done.push({ PartNumber: i + 1, ETag })
      at += size
    }
    await served.s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'mp', UploadId, MultipartUpload: { Parts: done } }))
    const head = await served.s3.send(new HeadObjectCommand({ Bucket, Key: 'mp' }))
    t.is(head.Metadata?.cid, await ipfsAddCid(bytes, profile), `${Bucket}: multipart`)
  }

  // Ranged copies of an object from the v1 bucket into an upload in the v0 bucket are re-imported under v0.
  const { UploadId } = await served.s3.send(new CreateMultipartUploadCommand({ Bucket: 'mp-v0', Key: 'ranged' }))
  const done: CompletedPart[] = []
  let at = 0
  for (const [i, size] of sizes.entries()) {
    const out = await served.s3.send(new UploadPartCopyCommand({
      Bucket: 'mp-v0', Key: 'ranged', UploadId, PartNumber: i + 1, CopySource: 'mp-v1/mp', CopySourceRange: `bytes=${at}-${at + size - 1}`,
    }))
    done.push({ PartNumber: i + 1, ETag: out.CopyPartResult?.ETag })
    at += size
  }
  await served.s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mp-v0', Key: 'ranged', UploadId, MultipartUpload: { Parts: done } }))
  t.is((await served.s3.send(new HeadObjectCommand({ Bucket: 'mp-v0', Key: 'ranged' }))).Metadata?.cid, await ipfsAddCid(bytes, V0))
  t.true((await getBytes(served.s3, 'mp-v0', 'ranged')).equals(bytes))
})

// ---- B. CopyObject / UploadPartCopy from /ipfs/<cid> ----

interface Target { name: string, served: Served }
const targets = new Map<string, Promise<Target>>()
function target (name: 'memory' | 'disk+sqlite'): Promise<Target> {
  let t = targets.get(name)
  if (t === undefined) {
    t = (async () => {
      const served = name === 'memory' ? await serve() : await serve({ dir: await tempDir() })
      await createBucket(served.s3, 'dst-v0', V0)
      await createBucket(served.s3, 'dst-v1', V1)
      return { name, served }
    })()
    targets.set(name, t)
  }
  return t
}

function each (title: string, body: (t: ExecutionContext, served: Served) => Promise<void>): void {
  for (const name of ['memory', 'disk+sqlite'] as const) {
    test(`${name}: ${title}`, async t => { await body(t, (await target(name)).served) })
  }
}

/** Imports `bytes` straight into the gateway's blockstore, as another IPFS tool would: no object references it. */
async function importDirect (served: Served, bytes: Uint8Array, options: Partial<ImporterOptions> = FOREIGN_LAYOUT): Promise<CID> {
  const { cid } = await importBytes(bytes, served.blockstore, { ...options })
  return cid
}

each('CopyObject from /ipfs/<cid> adopts the content: same bytes, MD5 ETag, size, x-amz-meta-cid = the source CID', async (t, served) => {
  const bytes = deterministicBytes(`adopt-${randomBytes(4).toString('hex')}`, 3 * MiB + 5)
  const cid = await importDirect(served, bytes)
  t.is(await served.metadata.refCount(cid.toString()), 0, 'no object references it yet')
  await headerScope.run({}, async () => {
    const out = await served.s3.send(new CopyObjectCommand({ Bucket: 'dst-v0', Key: 'adopted', CopySource: `/ipfs/${cid}` }))
    t.is(out.CopyObjectResult?.ETag, `"${md5Hex(bytes)}"`)
    t.is(served.headers.last()['x-amz-meta-cid'], cid.toString())
    t.is(served.headers.last()['x-ipfs-path'], `/ipfs/${cid}`)
  })
  const head = await served.s3.send(new HeadObjectCommand({ Bucket: 'dst-v0', Key: 'adopted' }))
  t.is(head.ContentLength, bytes.length)
  t.is(head.ETag, `"${md5Hex(bytes)}"`)
  t.is(head.ContentType, 'application/octet-stream')
  t.deepEqual(head.Metadata, { cid: cid.toString() }, 'the source CID as given, not re-chunked under the bucket\'s v0 profile; no user metadata')
  t.not(cid.toString(), await ipfsAddCid(bytes, V0))
  t.true((await getBytes(served.s3, 'dst-v0', 'adopted')).equals(bytes))
  const ranged = await served.s3.send(new GetObjectCommand({ Bucket: 'dst-v0', Key: 'adopted', Range: `bytes=${MiB - 3}-${MiB + 2}` }))
  t.true(Buffer.from(await ranged.Body!.transformToByteArray()).equals(bytes.subarray(MiB - 3, MiB + 3)))
  t.is(await served.metadata.refCount(cid.toString()), 1, 'the new version references the CID')
})

each('CopyObject from IPFS: ipfs/<cid>, URL-encoded, base36 and CIDv0 forms; a Kubo v0 DAG and a single raw block', async (t, served) => {
  const bytes = deterministicBytes(`forms-${randomBytes(4).toString('hex')}`, MiB + 100)
  const v1 = await importDirect(served, bytes)
  const v0 = await importDirect(served, bytes, KUBO_V0)
  t.is(v0.version, 0)
  const small = Buffer.from(`one raw block ${randomBytes(4).toString('hex')}`)
  const leaf = await importDirect(served, small, { rawLeaves: true, cidVersion: 1, reduceSingleLeafToSelf: true })
  t.is(leaf.code, raw.code)
  const cases: Array<[string, string, CID, Buffer]> = [
    ['no-slash', `ipfs/${v1}`, v1, bytes],
    ['encoded', encodeURIComponent(`/ipfs/${v1}`), v1, bytes],
    ['base36', `/ipfs/${v1.toString(base36)}`, v1, bytes],
    ['cidv0', `/ipfs/${v0}`, v0, bytes],
    ['trailing-slash', `/ipfs/${v0}/`, v0, bytes],
    ['raw-leaf', `/ipfs/${leaf}`, leaf, small],
  ]
  for (const [Key, CopySource, cid, expected] of cases) {
    await served.s3.send(new CopyObjectCommand({ Bucket: 'dst-v1', Key, CopySource }))
    const head = await served.s3.send(new HeadObjectCommand({ Bucket: 'dst-v1', Key }))
    t.is(head.Metadata?.cid, cid.toString(), Key)
    t.is(head.ETag, `"${md5Hex(expected)}"`, Key)
    t.true((await getBytes(served.s3, 'dst-v1', Key)).equals(expected), Key)
  }
})

each('CopyObject from IPFS: metadata and tagging directives, content headers, checksum; conditions on the computed ETag', async (t, served) => {
  const bytes = Buffer.from(`attributes ${randomBytes(8).toString('hex')}`)
  const cid = await importDirect(served, bytes)
  const CopySource = `/ipfs/${cid}`
  await served.s3.send(new CopyObjectCommand({
    Bucket: 'dst-v1', Key: 'copy-directive', CopySource, Metadata: { ignored: 'yes' }, ContentType: 'text/plain', Tagging: 'a=b',
  }))
  const copied = await served.s3.send(new HeadObjectCommand({ Bucket: 'dst-v1', Key: 'copy-directive' }))
  t.deepEqual(copied.Metadata, { cid: cid.toString() }, 'COPY: there is no source metadata, and the request\'s is not taken')
  t.is(copied.ContentType, 'text/plain')
  t.is(copied.TagCount, undefined)

  const out = await served.s3.send(new CopyObjectCommand({
    Bucket: 'dst-v1', Key: 'replace-directive', CopySource, MetadataDirective: 'REPLACE', Metadata: { origin: 'ipfs' },
    TaggingDirective: 'REPLACE', Tagging: 'a=b', ChecksumAlgorithm: 'SHA256', CopySourceIfMatch: `"${md5Hex(bytes)}"`,
  }))
  const sha = (await sha256.digest(bytes)).digest
  t.is(out.CopyObjectResult?.ChecksumSHA256, Buffer.from(sha).toString('base64'))
  const replaced = await served.s3.send(new HeadObjectCommand({ Bucket: 'dst-v1', Key: 'replace-directive', ChecksumMode: 'ENABLED' }))
  t.deepEqual(replaced.Metadata, { origin: 'ipfs', cid: cid.toString() })
  t.is(replaced.TagCount, 1)
  t.is(replaced.ChecksumSHA256, Buffer.from(sha).toString('base64'))

  t.deepEqual(await s3Error(served.s3.send(new CopyObjectCommand({ Bucket: 'dst-v1', Key: 'cond', CopySource, CopySourceIfMatch: '"0123"' }))),
    { code: 'PreconditionFailed', status: 412 })
  t.deepEqual(await s3Error(served.s3.send(new CopyObjectCommand({ Bucket: 'dst-v1', Key: 'cond', CopySource, CopySourceIfNoneMatch: `"${md5Hex(bytes)}"` }))),
    { code: 'PreconditionFailed', status: 412 })
  t.deepEqual(await s3Error(served.s3.send(new CopyObjectCommand({ Bucket: 'dst-v1', Key: 'cond', CopySource, CopySourceIfModifiedSince: new Date(0) }))),
    { code: 'InvalidRequest', status: 400 })
  t.deepEqual(await s3Error(served.s3.send(new HeadObjectCommand({ Bucket: 'dst-v1', Key: 'cond' }))), { code: 'NotFound', status: 404 })
})

each('CopyObject from IPFS: a version id, a path, a bad CID are 400; an unknown CID is 404 NoSuchKey; nothing is created', async (t, served) => {
  const bytes = Buffer.from(`errors ${randomBytes(8).toString('hex')}`)
  const cid = await importDirect(served, bytes)
  const copy = async (CopySource: string) => await s3Error(served.s3.send(new CopyObjectCommand({ Bucket: 'dst-v1', Key: 'never', CopySource })))
  t.deepEqual(await copy(`/ipfs/${cid}?versionId=abc`), { code: 'InvalidArgument', status: 400 })
  t.deepEqual(await copy(`/ipfs/${cid}/inner/path`), { code: 'InvalidArgument', status: 400 })
  t.deepEqual(await copy('/ipfs/not-a-cid'), { code: 'InvalidArgument', status: 400 })
  t.deepEqual(await copy('/ipfs/'), { code: 'InvalidArgument', status: 400 })
  const unknown = CID.createV1(raw.code, await sha256.digest(randomBytes(32)))
  t.deepEqual(await copy(`/ipfs/${unknown}`), { code: 'NoSuchKey', status: 404 })
  const unknownNode = CID.createV0(await sha256.digest(randomBytes(32)))
  t.deepEqual(await copy(`/ipfs/${unknownNode}`), { code: 'NoSuchKey', status: 404 })
  const res = await signedFetch({ method: 'PUT', url: `${served.url}/dst-v1/never`, headers: { 'x-amz-copy-source': `/ipfs/${unknown}` } })
  t.regex(await res.text(), new RegExp(`(is not available|could not be fetched).*${unknown}`))
  t.deepEqual(await s3Error(served.s3.send(new HeadObjectCommand({ Bucket: 'dst-v1', Key: 'never' }))), { code: 'NotFound', status: 404 })
  t.deepEqual(await s3Error(served.s3.send(new CreateBucketCommand({ Bucket: 'ipfs' }))), { code: 'InvalidBucketName', status: 400 })
})

each('CopyObject from IPFS: a directory or a non-UnixFS codec is 400 InvalidRequest', async (t, served) => {
  const tag = randomBytes(4).toString('hex')
  let dir: CID | undefined
  for await (const entry of importer([{ path: `d-${tag}/a.txt`, content: Buffer.from('a') }, { path: `d-${tag}/b.txt`, content: Buffer.from('b') }], served.blockstore)) {
    if (entry.path === `d-${tag}`) dir = entry.cid
  }
  if (dir === undefined) throw new Error('no directory entry')
  const block = dagCbor.encode({ hello: tag })
  const cbor = CID.createV1(dagCbor.code, await sha256.digest(block))
  await served.blockstore.put(cbor, block)
  for (const cid of [dir, cbor]) {
    const res = await signedFetch({ method: 'PUT', url: `${served.url}/dst-v1/not-a-file`, headers: { 'x-amz-copy-source': `/ipfs/${cid}` } })
    const body = await res.text()
    t.is(res.status, 400, body)
    t.regex(body, /<Code>InvalidRequest<\/Code>/)
    t.regex(body, /is not a UnixFS file/)
  }
  t.deepEqual(await s3Error(served.s3.send(new HeadObjectCommand({ Bucket: 'dst-v1', Key: 'not-a-file' }))), { code: 'NotFound', status: 404 })
})

each('CopyObject from IPFS: a corrupt block (wrong bytes under its CID) fails the copy and creates nothing', async (t, served) => {
  const bytes = deterministicBytes(`corrupt-${randomBytes(4).toString('hex')}`, 2 * MiB + 9)
  const scratch = new MemoryBlockstore()
  const { cid } = await importBytes(bytes, scratch, { ...FOREIGN_LAYOUT })
  const blocks = await dagBlocks(scratch, cid)
  const bad = blocks.filter(b => b.code === raw.code)[3]
  if (served.blockstore instanceof KuboBlockstore) {
    // An IPFS node hashes what it is given: wrong bytes cannot be stored under a CID there. A node
    // that returns wrong bytes is tested in kubo-blockstore.test.ts.
    await t.throwsAsync(served.blockstore.put(bad, new Uint8Array(10)), { message: /the node stored it as/ })
    return
  }
  for (const block of blocks) {
    const good = await collectBytes(scratch.get(block))
    const stored = block.equals(bad) ? Buffer.from(good).map((b, i) => i === 100 ? b ^ 0xff : b) : good
    await served.blockstore.put(block, stored)
  }
  const res = await signedFetch({ method: 'PUT', url: `${served.url}/dst-v1/corrupt`, headers: { 'x-amz-copy-source': `/ipfs/${cid}` } })
  const body = await res.text()
  t.is(res.status, 500)
  t.regex(body, /<Code>InternalError<\/Code>/)
  t.true(body.includes(`Block ${bad}`), body)
  t.deepEqual(await s3Error(served.s3.send(new HeadObjectCommand({ Bucket: 'dst-v1', Key: 'corrupt' }))), { code: 'NotFound', status: 404 })
  t.is(await served.metadata.refCount(cid.toString()), 0)
})

each('UploadPartCopy from /ipfs/<cid>: the whole file as a part (by CID), a range re-imported; Complete gives the bytes', async (t, served) => {
  const bytes = deterministicBytes(`part-${randomBytes(4).toString('hex')}`, 5 * MiB + 333)
  const cid = await importDirect(served, bytes, KUBO_V0)
  const { UploadId } = await served.s3.send(new CreateMultipartUploadCommand({ Bucket: 'dst-v1', Key: 'from-ipfs', ChecksumAlgorithm: 'CRC32' }))
  const whole = await served.s3.send(new UploadPartCopyCommand({ Bucket: 'dst-v1', Key: 'from-ipfs', UploadId, PartNumber: 1, CopySource: `/ipfs/${cid}` }))
  t.is(whole.CopyPartResult?.ETag, `"${md5Hex(bytes)}"`)
  t.truthy(whole.CopyPartResult?.ChecksumCRC32)
  t.is(await served.metadata.refCount(cid.toString()), 1, 'the part references the source CID')
  const range = await served.s3.send(new UploadPartCopyCommand({
    Bucket: 'dst-v1', Key: 'from-ipfs', UploadId, PartNumber: 2, CopySource: `/ipfs/${cid}`, CopySourceRange: 'bytes=100-199999',
  }))
  t.is(range.CopyPartResult?.ETag, `"${md5Hex(bytes.subarray(100, 200000))}"`)
  t.deepEqual(await s3Error(served.s3.send(new UploadPartCopyCommand({
    Bucket: 'dst-v1', Key: 'from-ipfs', UploadId, PartNumber: 3, CopySource: `/ipfs/${cid}`, CopySourceRange: 'bytes=0-9', CopySourceIfMatch: '"x"',
  }))), { code: 'InvalidRequest', status: 400 })
  await served.s3.send(new CompleteMultipartUploadCommand({
    Bucket: 'dst-v1', Key: 'from-ipfs', UploadId,
    MultipartUpload: { Parts: [{ PartNumber: 1, ETag: whole.CopyPartResult?.ETag, ChecksumCRC32: whole.CopyPartResult?.ChecksumCRC32 }, { PartNumber: 2, ETag: range.CopyPartResult?.ETag, ChecksumCRC32: range.CopyPartResult?.ChecksumCRC32 }] },
  }))
  const got = await getBytes(served.s3, 'dst-v1', 'from-ipfs')
  t.true(got.equals(Buffer.concat([bytes, bytes.subarray(100, 200000)])))
})

test('CopyObject from IPFS and gc: the adopted DAG stays referenced and whole; unreferenced imports are swept', async t => {
  for (const name of ['memory', 'disk+sqlite']) {
    const served = name === 'memory' ? await serve() : await serve({ dir: await tempDir() })
    await createBucket(served.s3, 'gc-bucket')
    const bytes = deterministicBytes(`gc-adopt-${name}`, 4 * MiB + 11)
    const cid = await importDirect(served, bytes)
    const blocks = await dagBlocks(served.blockstore, cid)
    const other = await importDirect(served, deterministicBytes(`gc-garbage-${name}`, 2 * MiB))
    const garbage = await dagBlocks(served.blockstore, other)
    await served.s3.send(new CopyObjectCommand({ Bucket: 'gc-bucket', Key: 'adopted', CopySource: `/ipfs/${cid}` }))
    await pause(20) // written before the collection starts, for a zero grace period
    const report = await served.gateway.gc({ gracePeriodMs: 0 })
    if (!(served.blockstore instanceof KuboBlockstore)) { // an IPFS node collects its own garbage
      t.true((report.blocks?.deleted ?? 0) >= garbage.length, `${name}: the unreferenced import was collected`)
      t.false(await served.blockstore.has(garbage[0]), name)
    }
    t.true(await hasAll(served.blockstore, blocks), `${name}: every block of the adopted DAG survives`)
    t.is(await served.metadata.refCount(cid.toString()), 1, name)
    if (!(served.blockstore instanceof KuboBlockstore)) t.deepEqual(report.blocks?.missing, [])
    t.true((await getBytes(served.s3, 'gc-bucket', 'adopted')).equals(bytes), name)
    await served.stop()
  }
})

test('CopyObject from IPFS holds the source while it reads: a gc during the copy sweeps none of its blocks', async t => {
  const inner = new MemoryBlockstore({ now: () => Date.now() - 60_000 }) // every block "old": only holds protect it
  let gate: Promise<void> | undefined
  let reached: () => void = () => {}
  const atGate = new Promise<void>(resolve => { reached = resolve })
  let gated: CID | undefined
  // The gateway's blockstore, with the copy's read of one raw leaf held up until gc has run.
  const blockstore = {
    put: inner.put.bind(inner),
    has: inner.has.bind(inner),
    delete: inner.delete.bind(inner),
    listBlocks: inner.listBlocks.bind(inner),
    deleteIfOlder: inner.deleteIfOlder.bind(inner),
    async * get (cid: CID, options?: { signal?: AbortSignal }) {
      if (gate !== undefined && gated !== undefined && cid.equals(gated)) {
        reached()
        await gate
      }
      yield * inner.get(cid, options)
    },
  } as unknown as Blockstore
  const served = await serve({ blockstore })
  await createBucket(served.s3, 'held')
  const bytes = deterministicBytes('held-source', 3 * MiB)
  const cid = await importDirect(served, bytes)
  const blocks = await dagBlocks(inner, cid)
  gated = blocks.filter(b => b.code === raw.code)[5]
  let open: () => void = () => {}
  gate = new Promise<void>(resolve => { open = resolve })
  const copy = served.s3.send(new CopyObjectCommand({ Bucket: 'held', Key: 'k', CopySource: `/ipfs/${cid}` }))
  await atGate
  const report = await served.gateway.gc({ gracePeriodMs: 0 })
  open()
  await copy
  t.true((report.blocks?.held ?? 0) >= 1, 'the copy\'s session held the source')
  t.is(report.blocks?.deleted, 0)
  t.true(await hasAll(blockstore, blocks))
  t.true((await getBytes(served.s3, 'held', 'k')).equals(bytes))
})

test('ContentStore.catVerified: a block that never arrives fails within the time allowed', async t => {
  const inner = new MemoryBlockstore()
  const bytes = deterministicBytes('slow', 600 * 1024)
  const { cid } = await importBytes(bytes, inner, { ...FOREIGN_LAYOUT })
  const leaf = (await dagBlocks(inner, cid)).filter(b => b.code === raw.code)[1]
  const hanging = {
    put: inner.put.bind(inner),
    async * get (c: CID, options?: { signal?: AbortSignal }) {
      if (c.equals(leaf)) await new Promise(() => {}) // a networked store that never finds it, ignoring the signal
      yield * inner.get(c, options)
    },
  }
  const content = new ContentStore({ blockstore: hanging })
  // The block never arrives and the store ignores the signal: only the per-block timeout ends the read.
  await t.throwsAsync(async () => { for await (const _ of content.catVerified(cid, { blockTimeoutMs: 200 })) { /* drain */ } }, { name: 'BlockTimeoutError' })
  const read: Uint8Array[] = []
  for await (const chunk of content.catVerified(cid, { offset: 0, length: 1000, blockTimeoutMs: 200 })) read.push(chunk)
  t.true(Buffer.concat(read).equals(bytes.subarray(0, 1000)), 'blocks that arrive are read')
})
