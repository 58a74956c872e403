import { createHash, randomBytes } from 'node:crypto'
import { CreateBucketCommand, HeadObjectCommand, PutBucketPolicyCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import * as dagPb from '@ipld/dag-pb'
import { importer } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import { createGateway } from '../../src/gateway.js'
import { MemoryBlockstore } from '../../src/blockstores/memory.js'
import type { MetadataStore } from '../../src/metadata/metadata-store.js'
import type { Gateway } from '../../src/types.js'
import { nodeHost, type RunningHost } from './hosts.js'
import { signedFetch } from './sign.js'

/** Fixtures of the /ipfs gateway suites: two users, a public and a private bucket each side. */
export const USERS = { alice: { accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' }, bob: { accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' } }
export type User = keyof typeof USERS
const CREDENTIALS = { [USERS.alice.accessKeyId]: USERS.alice.secretAccessKey, [USERS.bob.accessKeyId]: USERS.bob.secretAccessKey }
const MASTER_KEY = Buffer.alloc(32, 7)
export const SMALL = 'hello from a public bucket'
/** Three 1 MiB leaves and a bit, all different: a root and four leaves. */
export const BIG = randomBytes(2 * 1024 * 1024).toString('hex').slice(0, 3 * 1024 * 1024 + 5)
export const PRIVATE = 'alice keeps this to herself'
export const SECRET = 'encrypted at rest'
export const ABSENT = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'

export interface Cids {
  small: string
  big: string
  private: string
  bob: string
  /** Differs per gateway (a fresh data key each time). */
  encrypted: string
  /** The second leaf of `big`: an inner block no version names. */
  leaf: string
}

export interface Running { host: RunningHost, gateway: Gateway, blockstore: MemoryBlockstore, cids: Cids }

export function client (origin: string, user: User): S3Client {
  return new S3Client({ endpoint: origin, region: 'us-east-1', forcePathStyle: true, credentials: USERS[user], maxAttempts: 1 })
}

export async function cidOf (s3: S3Client, Bucket: string, Key: string, VersionId?: string): Promise<string> {
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key, VersionId }))
  return head.Metadata?.cid ?? ''
}

/**
 * A gateway (node adapter, loopback) in `mode` on `metadata` (undefined: memory), holding the same
 * objects whatever the mode: alice-public (public by bucket policy: SMALL and BIG), alice-private
 * (PRIVATE, and SECRET encrypted at rest), bob-private.
 */
export async function startIpfsGateway (mode: 'open' | 'authorized', metadata?: MetadataStore): Promise<Running> {
  const blockstore = new MemoryBlockstore()
  const gateway = createGateway({ blockstore, metadata, credentials: CREDENTIALS, masterKey: MASTER_KEY, ipfsGateway: mode })
  const host = await nodeHost.start(gateway, '')
  const alice = client(host.origin, 'alice')
  const bob = client(host.origin, 'bob')
  await alice.send(new CreateBucketCommand({ Bucket: 'alice-public' }))
  await alice.send(new PutBucketPolicyCommand({
    Bucket: 'alice-public',
    Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::alice-public/*'] }] }),
  }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-public', Key: 'small.txt', Body: SMALL }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-public', Key: 'big.txt', Body: BIG }))
  await alice.send(new CreateBucketCommand({ Bucket: 'alice-private' }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-private', Key: 'private.txt', Body: PRIVATE }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-private', Key: 'encrypted.txt', Body: SECRET, ServerSideEncryption: 'AES256' }))
  await bob.send(new CreateBucketCommand({ Bucket: 'bob-private' }))
  await bob.send(new PutObjectCommand({ Bucket: 'bob-private', Key: 'bob.txt', Body: 'bob only' }))
  const big = await cidOf(alice, 'alice-public', 'big.txt')
  const cids: Cids = {
    small: await cidOf(alice, 'alice-public', 'small.txt'),
    big,
    private: await cidOf(alice, 'alice-private', 'private.txt'),
    bob: await cidOf(bob, 'bob-private', 'bob.txt'),
    encrypted: await cidOf(alice, 'alice-private', 'encrypted.txt'),
    leaf: dagPb.decode(await blockOf(blockstore, big)).Links[1].Hash.toString(),
  }
  return { host, gateway, blockstore, cids }
}

export async function stopIpfsGateway (running: Running | undefined): Promise<void> {
  await running?.host.close()
  await running?.gateway.close()
}

/** `ipfs add -r --cid-version=1` of a directory, written straight into the blockstore; returns the root. */
export async function addDirectory (blockstore: MemoryBlockstore, files: Array<{ path: string, content: string }>, options: { shardSplitThresholdBytes?: number } = {}): Promise<string> {
  let root: CID | undefined
  for await (const entry of importer(files.map((f) => ({ path: f.path, content: Buffer.from(f.content) })), blockstore, { cidVersion: 1, rawLeaves: true, wrapWithDirectory: true, ...options })) {
    if (entry.path === '') root = entry.cid
  }
  return String(root)
}

export async function blockOf (blockstore: MemoryBlockstore, cid: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of blockstore.get(CID.parse(cid))) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** A request to the gateway: unsigned, or signed (SigV4 header) as `user`. */
export async function get (running: Running, path: string, init: { user?: User, headers?: Record<string, string>, method?: string } = {}): Promise<Response> {
  const url = `${running.host.origin}${path}`
  const method = init.method ?? 'GET'
  if (init.user !== undefined) return await signedFetch({ method, url, headers: init.headers, ...USERS[init.user] })
  return await fetch(url, { method, headers: init.headers, redirect: 'manual' })
}

/** The status of a GET, its body read (and dropped). */
export async function statusOf (running: Running, path: string, user?: User): Promise<number> {
  const res = await get(running, path, { user })
  await res.arrayBuffer()
  return res.status
}

export function verifyBlock (t: { true: (v: boolean, m?: string) => void }, cid: CID, bytes: Uint8Array): void {
  t.true(Buffer.from(cid.multihash.digest).equals(createHash('sha256').update(bytes).digest()), `block ${cid} matches its CID`)
}
