import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ExecutionContext } from 'ava'
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, ListObjectVersionsCommand, PutObjectCommand, RestoreObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { CID } from 'multiformats/cid'
import { createNodeHandler } from '../../adapters/node.js'
import type { ArchiveTarget } from '../../src/archive/target.js'
import { MemoryBlockstore } from '../../src/blockstores/memory.js'
import { createGateway } from '../../src/gateway.js'
import type { MetadataStore } from '../../src/metadata/metadata-store.js'
import type { Gateway, GatewayInit } from '../../src/types.js'
import { nodeHost } from './hosts.js'
import { s3Client, s3Error } from './s3.js'

export const DAY = 86_400_000

/** A gateway with an archive target, on the test's clock (days pass when the test says so), over loopback HTTP. */
export interface ArchiveGateway {
  gateway: Gateway
  s3: S3Client
  url: string
  metadata?: MetadataStore
  advance(days: number): void
  /** Whether the blockstore holds the block of this CID. */
  has(cid: string): Promise<boolean>
  close(): Promise<void>
}

/** `ipfs`: the gateway's IPFS node (give `blockstore` too: the one the node serves). */
export async function startArchiveGateway (archive: ArchiveTarget, init: { metadata?: MetadataStore, blockstore?: MemoryBlockstore, ipfs?: GatewayInit['ipfs'] } = {}): Promise<ArchiveGateway> {
  // The gateway's clock runs with real time from tomorrow's noon UTC (so "a day later, at the next
  // midnight" is unambiguous, and jobs enqueued at the store's real time are due), plus the days the
  // test lets pass.
  let offset = Math.ceil(Date.now() / DAY) * DAY + DAY / 2 - Date.now()
  const blockstore = init.blockstore ?? new MemoryBlockstore()
  const gateway = createGateway({
    blockstore,
    metadata: init.metadata,
    ipfs: init.ipfs,
    archive,
    now: () => new Date(Date.now() + offset),
    signatureClock: () => new Date(),
    jobs: { pollMs: 25, retryBaseMs: 50 },
  })
  const host = await nodeHost.start(gateway, '', { adminPath: '/-' })
  const s3 = s3Client(host.url)
  return {
    gateway,
    s3,
    url: host.url,
    metadata: init.metadata,
    advance: (days) => { offset += days * DAY },
    has: async (cid) => await blockstore.has(CID.parse(cid)),
    close: async () => { s3.destroy(); await host.close(); await gateway.close() },
  }
}

/**
 * A gateway serving as the archive's S3 bucket, on a port that stays the same when it is stopped
 * and started again (the archive target's endpoint names it).
 */
export interface StoppableGateway {
  url: string
  gateway: Gateway
  s3: S3Client
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
}

export async function startStoppableGateway (init: { onRequest?: (method: string, url: string) => void } = {}): Promise<StoppableGateway> {
  const gateway = createGateway()
  const served = createNodeHandler(gateway)
  const handler: typeof served = (req, res) => { init.onRequest?.(req.method ?? '', req.url ?? ''); served(req, res) }
  let server: Server = createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const url = `http://127.0.0.1:${port}`
  const s3 = s3Client(url)
  let running = true
  const stop = async (): Promise<void> => {
    if (!running) return
    running = false
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
  return {
    url,
    gateway,
    s3,
    stop,
    start: async () => {
      if (running) return
      server = createServer(handler)
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
      running = true
    },
    close: async () => { s3.destroy(); await stop(); await gateway.close() },
  }
}

/** Waits (polling) until `check` holds: the archive jobs run in the background. */
export async function eventually (t: ExecutionContext, what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await check()) { t.pass(what); return }
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  t.fail(`${what}: not within ${timeoutMs / 1000} s`)
}

export async function bodyOf (s3: S3Client, Bucket: string, Key: string, VersionId?: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket, Key, VersionId }))
  return Buffer.from(await (res.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray())
}

export async function storageClass (s3: S3Client, Bucket: string, Key: string): Promise<string> {
  return (await s3.send(new HeadObjectCommand({ Bucket, Key }))).StorageClass ?? 'STANDARD'
}

/**
 * The whole cold cycle of one GLACIER object on one target: written GLACIER (archived by its job,
 * its blocks freed by gc), GET and Copy refused, RestoreObject (202, then 409 while it runs or 200
 * once done), the bytes back identical, the restore extended (200), then expired (archived again:
 * refused, blocks freed), and finally deleted (the CAR leaves the target).
 */
export async function coldCycle (t: ExecutionContext, env: ArchiveGateway, bucket: string, body: Buffer, stored: () => Promise<boolean>): Promise<void> {
  const { s3 } = env
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cold', Body: body, StorageClass: 'GLACIER' }))
  t.truthy(put.ETag)
  const cid = (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'cold' }))).Metadata?.cid as string
  t.is(await storageClass(s3, bucket, 'cold'), 'GLACIER', 'GLACIER from the start, as in S3')
  t.like(await s3Error(bodyOf(s3, bucket, 'cold')), { code: 'InvalidObjectState', status: 403 })

  await eventually(t, 'the archive job stores the CAR on the target', stored)
  const record = async (): Promise<boolean> => await (env.gateway as unknown as { gc: Gateway['gc'] }).gc({ gracePeriodMs: 0 }).then(async () => !await env.has(cid))
  await eventually(t, 'gc frees the archived blocks', record)
  t.like(await s3Error(bodyOf(s3, bucket, 'cold')), { code: 'InvalidObjectState', status: 403 })

  const restored = await s3.send(new RestoreObjectCommand({ Bucket: bucket, Key: 'cold', RestoreRequest: { Days: 2, GlacierJobParameters: { Tier: 'Standard' } } }))
  t.is(restored.$metadata.httpStatusCode, 202)
  await eventually(t, 'the restore completes', async () =>
    (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'cold' }))).Restore?.startsWith('ongoing-request="false"') === true)
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'cold' }))
  t.regex(head.Restore ?? '', /^ongoing-request="false", expiry-date="\w{3}, \d\d \w{3} \d{4} 00:00:00 GMT"$/)
  t.is(head.StorageClass, 'GLACIER')
  t.true((await bodyOf(s3, bucket, 'cold')).equals(body), 'the restored bytes are the original ones')
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, OptionalObjectAttributes: ['RestoreStatus'] }))
  const status = listed.Contents?.find(o => o.Key === 'cold')?.RestoreStatus
  t.is(status?.IsRestoreInProgress, false)
  t.true(status?.RestoreExpiryDate instanceof Date, 'listings show the restore when asked (x-amz-optional-object-attributes)')
  t.is((await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, OptionalObjectAttributes: ['RestoreStatus'] }))).Versions?.find(o => o.Key === 'cold')?.RestoreStatus?.IsRestoreInProgress, false)
  t.is((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.find(o => o.Key === 'cold')?.RestoreStatus, undefined, 'and only then')
  t.true(await env.has(cid))
  await env.gateway.gc({ gracePeriodMs: 0 })
  t.true(await env.has(cid), 'gc keeps a restored copy')

  const again = await s3.send(new RestoreObjectCommand({ Bucket: bucket, Key: 'cold', RestoreRequest: { Days: 3 } }))
  t.is(again.$metadata.httpStatusCode, 200, 'restored already: the expiry moves')
  const extended = (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'cold' }))).Restore ?? ''
  t.not(extended, head.Restore)

  env.advance(5)
  await eventually(t, 'the restored copy expires', async () => (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'cold' }))).Restore === undefined)
  t.like(await s3Error(bodyOf(s3, bucket, 'cold')), { code: 'InvalidObjectState', status: 403 })
  await env.gateway.gc({ gracePeriodMs: 0 })
  t.false(await env.has(cid), 'archived again: gc frees the blocks')
}
