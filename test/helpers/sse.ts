/**
 * Plumbing of the encryption tests (test/encryption-gateway.test.ts): gateways with SSE settings on
 * PackBlockstore + SQLite (the standalone server's storage) and on the in-memory default, a look at the blocks they store (and a way to
 * damage one), SSE-C keys as the SDK takes them, and decryption of what is stored.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { S3Client } from '@aws-sdk/client-s3'
import type { Blockstore } from 'interface-blockstore'
import Database from 'better-sqlite3'
import { MemoryBlockstore } from '../../src/blockstores/memory.js'
import { PackBlockstore } from '../../src/blockstores/pack.js'
import { packName } from '../../src/blockstores/pack-format.js'
import { ContentStore } from '../../src/content/content-store.js'
import { SALT_SIZE, cipherSpans, decryptSpan, unwrapKey } from '../../src/content/encryption.js'
import { createGateway } from '../../src/gateway.js'
import { MemoryMetadataStore } from '../../src/metadata/memory.js'
import type { MetadataStore } from '../../src/metadata/metadata-store.js'
import { SqliteMetadataStore } from '../../src/metadata/sqlite.js'
import type { GatewayInit } from '../../src/types.js'
import { nodeHost } from './hosts.js'
import { captureHeaders, s3Client } from './s3.js'

/** The gateways' master key (given as bytes, base64 or hex, as GatewayInit allows). */
export const MASTER_KEY = randomBytes(32)

export type Storage = 'disk+sqlite' | 'memory'
/** Gateways of each storage: the usual one, and ones with other encryption settings. */
export type Variant = 'main' | 'encryptByDefault' | 'noMasterKey' | 'secureSseCOnly'

const VARIANTS: Record<Variant, Partial<GatewayInit>> = {
  main: { masterKey: MASTER_KEY.toString('base64'), allowInsecureSseC: true },
  encryptByDefault: { masterKey: MASTER_KEY.toString('hex'), encryptByDefault: true, allowInsecureSseC: true },
  noMasterKey: { allowInsecureSseC: true },
  secureSseCOnly: { masterKey: MASTER_KEY },
}

/** A block as stored, and a way to replace its bytes under the same CID (a damaged disk). */
export interface StoredBlock { bytes: Uint8Array, overwrite: (bytes: Uint8Array) => Promise<void> }

export interface Target {
  storage: Storage
  s3: S3Client
  url: string
  metadata: MetadataStore
  content: ContentStore
  blockstore: Blockstore
  headers: { last: () => Record<string, string> }
  blocks: () => AsyncGenerator<StoredBlock>
}

const started = new Map<string, Promise<Target>>()
const cleanup: Array<() => Promise<void>> = []

/**
 * The gateway of a storage and variant, started on first use and shared by the tests that ask for
 * it: its own blockstore and metadata, an SDK client, and a view of its stored blocks.
 */
export async function gatewayOf (storage: Storage, variant: Variant = 'main'): Promise<Target> {
  const id = `${storage} ${variant}`
  let pending = started.get(id)
  if (pending === undefined) {
    pending = start(storage, VARIANTS[variant])
    started.set(id, pending)
  }
  return await pending
}

async function start (storage: Storage, init: Partial<GatewayInit>): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-sse-'))
  cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
  let blockstore: Blockstore
  let metadata: MetadataStore
  let blocks: () => AsyncGenerator<StoredBlock>
  if (storage === 'disk+sqlite') {
    const path = join(dir, 'blocks')
    blockstore = new PackBlockstore({ path })
    metadata = new SqliteMetadataStore({ path: join(dir, 'meta.db'), synchronous: 'NORMAL' })
    // Every indexed block at its place in its pack (see PackBlockstore); overwriting one is a block damaged under its CID.
    blocks = async function * () {
      if (!existsSync(join(path, 'index.db'))) return // the store opens on first use
      const db = new Database(join(path, 'index.db'), { readonly: true })
      let rows: Array<{ pack: number, offset: number, length: number }>
      try {
        rows = db.prepare('SELECT pack, offset, length FROM blocks').all() as typeof rows
      } finally {
        db.close()
      }
      for (const { pack, offset, length } of rows) {
        const file = await open(join(path, 'packs', packName(pack)), 'r+')
        try {
          const bytes = Buffer.alloc(length)
          await file.read(bytes, 0, length, offset)
          yield { bytes, overwrite: async (altered) => { await file.write(altered, 0, Math.min(altered.byteLength, length), offset) } }
        } finally {
          await file.close()
        }
      }
    }
  } else {
    // The gateway's default blockstore, given explicitly to look into it. Its blocks are the
    // stored arrays themselves: overwriting one in place is a block damaged under its CID.
    const memory = new MemoryBlockstore()
    blockstore = memory
    metadata = new MemoryMetadataStore()
    blocks = async function * () {
      for (const { bytes } of memory.getAll()) {
        for await (const block of bytes) yield { bytes: block, overwrite: async (altered) => { block.set(altered) } }
      }
    }
  }
  const gateway = createGateway({ blockstore, metadata, ...init })
  const host = await nodeHost.start(gateway, '')
  const s3 = s3Client(host.url)
  cleanup.unshift(async () => { s3.destroy(); await host.close(); await gateway.close() })
  return { storage, s3, url: host.url, metadata, content: new ContentStore({ blockstore }), blockstore, headers: captureHeaders(s3), blocks }
}

/** Closes every gateway started, and removes their storage. */
export async function closeGateways (): Promise<void> {
  for (const c of cleanup) await c()
}

/** An SSE-C key as the SDK takes it (base64 of 32 bytes), with the headers it stands for. */
export interface CustomerKey { key: string, md5: string, headers: Record<string, string> }

export function customerKey (): CustomerKey {
  const bytes = randomBytes(32)
  const key = bytes.toString('base64')
  const md5 = createHash('md5').update(bytes).digest('base64')
  return {
    key,
    md5,
    headers: {
      'x-amz-server-side-encryption-customer-algorithm': 'AES256',
      'x-amz-server-side-encryption-customer-key': key,
      'x-amz-server-side-encryption-customer-key-md5': md5,
    },
  }
}

export function sseC (k: CustomerKey): { SSECustomerAlgorithm: 'AES256', SSECustomerKey: string } {
  return { SSECustomerAlgorithm: 'AES256', SSECustomerKey: k.key }
}

export function copySourceSseC (k: CustomerKey): { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: string } {
  return { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: k.key }
}

async function collect (chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = []
  for await (const chunk of chunks) out.push(chunk.slice())
  return Buffer.concat(out)
}

/** The bytes stored under an object's CID, read straight from the blockstore. */
export async function storedBytes (target: Target, cid: string): Promise<Buffer> {
  return await collect(target.content.cat(cid))
}

/** Decrypts a whole stored object (the concatenated ciphertexts of its parts) with its data key. */
export async function decryptStored (ciphertext: Uint8Array, dataKey: Uint8Array, partSizes: number[]): Promise<Buffer> {
  const out: Buffer[] = []
  const total = partSizes.reduce((n, s) => n + s, 0)
  for (const span of cipherSpans(partSizes, 0, total)) {
    const salt = ciphertext.subarray(span.partCipherOffset, span.partCipherOffset + SALT_SIZE)
    out.push(await collect(decryptSpan([ciphertext.subarray(span.cipherOffset, span.cipherOffset + span.cipherLength)], dataKey, salt, span)))
  }
  return Buffer.concat(out)
}

/** The data key of a stored version, unwrapped with the master key or the customer's key. */
export async function dataKeyOf (target: Target, Bucket: string, Key: string, kek: Uint8Array = MASTER_KEY): Promise<Uint8Array> {
  const version = await target.metadata.getObject(Bucket, Key)
  if (version?.encryption === undefined) throw new Error(`${Bucket}/${Key} is not encrypted`)
  return unwrapKey(kek, version.encryption.wrappedKey)
}

/** Whether any block in the store contains `text`. */
export async function blockstoreHolds (target: Target, text: string | Uint8Array): Promise<boolean> {
  const needle = Buffer.from(text)
  for await (const block of target.blocks()) {
    if (Buffer.from(block.bytes.buffer, block.bytes.byteOffset, block.bytes.byteLength).includes(needle)) return true
  }
  return false
}

export async function blockCount (target: Target): Promise<number> {
  let n = 0
  for await (const _ of target.blocks()) n++
  return n
}

/** Plaintext with a marker that must never be found in the blockstore when it is encrypted. */
export function marked (marker: string, size = 300_000): Buffer {
  const line = Buffer.from(`${marker}\n`)
  return Buffer.concat(Array.from({ length: Math.ceil(size / line.byteLength) }, () => line)).subarray(0, size)
}
