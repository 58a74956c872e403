import { access, mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Blockstore } from 'interface-blockstore'
import { CachedBlockstore, redisBlockCache } from '../src/blockstores/cached.js'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { KuboBlockstore } from '../src/blockstores/kubo.js'
import { PackBlockstore } from '../src/blockstores/pack.js'
import type { MetadataStore } from '../src/metadata/metadata-store.js'
import { PostgresMetadataStore } from '../src/metadata/postgres.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { loadKuboRpcClient, loadPg } from '../src/optional-peers.js'
import { defaultLogger, type GatewayLogger } from '../src/observability/logger.js'

export interface DataDirStores {
  blockstore: Blockstore
  metadata: MetadataStore
}

/** Which stores a data directory's server uses instead of its own (`serve`'s flags). */
export interface StoreChoices {
  /** Replace the PackBlockstore under `<dataDir>/blocks` (e.g. a MemoryBlockstore in benchmarks). */
  blockstore?: Blockstore
  /** Replace the SQLite store at `<dataDir>/meta.db`. */
  metadata?: MetadataStore
  /**
   * Metadata in PostgreSQL instead of `<dataDir>/meta.db`: `postgres://user@host:5432/db`, with an
   * optional `?schema=name` (default schema 's3ipfs'). Several gateway processes may share it.
   */
  metadataUrl?: string
  /** A Redis block cache shared by gateway processes, e.g. `redis://127.0.0.1:6379`. */
  redisUrl?: string
  /**
   * Content on an IPFS node over the Kubo RPC API (e.g. `http://127.0.0.1:5001`) instead of
   * `<dataDir>/blocks`, behind an in-memory block cache (or the Redis one).
   */
  ipfsApi?: string
  /** Headers for every RPC call to `ipfsApi`, e.g. `{ authorization: 'Basic …' }`. */
  ipfsApiHeaders?: Record<string, string>
}

export interface OpenStoresOptions extends StoreChoices {
  /** Where the Redis block cache reports that it is unavailable (default: the library's logger). */
  logger?: Pick<GatewayLogger, 'warn'>
  /**
   * Fail (code 'ERR_NO_DATA_DIR') unless `<dataDir>/meta.db` exists, instead of creating the
   * directory and an empty database. For tools that must not mistake a wrong path for an empty store.
   */
  existing?: boolean
}

/**
 * The stores `serve` keeps in `dataDir`: a PackBlockstore in `blocks/` (pack files in `blocks/packs/`,
 * their index in `blocks/index.db`) and SQLite (WAL) in `meta.db`. A `blocks/` directory written by
 * an earlier version (FsBlockstore: a file per block in two-letter shard directories) is read
 * through underneath: its blocks stay readable and collectable, new blocks go to packs.
 * Several processes may open the same directory at once (the `gc` command beside a server).
 */
export async function openStores (dataDir: string, options: OpenStoresOptions = {}): Promise<DataDirStores> {
  const metaDb = join(dataDir, 'meta.db')
  const metadata = options.metadata ?? (options.metadataUrl === undefined ? undefined : postgresStore(options.metadataUrl))
  if (metadata === undefined && options.existing === true) {
    try {
      await access(metaDb)
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err
      throw Object.assign(new Error(`${metaDb} not found: ${dataDir} is not a data directory serve has used`), { code: 'ERR_NO_DATA_DIR' })
    }
  }
  if (options.blockstore === undefined || metadata === undefined) await mkdir(dataDir, { recursive: true })
  const kubo = options.blockstore === undefined && options.ipfsApi !== undefined
  // Their optional peer packages, loaded now: a missing one stops the start (ERR_OPTIONAL_PEER_MISSING).
  await Promise.all([options.metadata === undefined && options.metadataUrl !== undefined && loadPg(), kubo && loadKuboRpcClient()])
  let blockstore: Blockstore = options.blockstore ??
    (kubo ? kuboStore(options.ipfsApi ?? '', options.ipfsApiHeaders) : await packStore(join(dataDir, 'blocks')))
  if (options.redisUrl !== undefined) {
    const logger = options.logger ?? defaultLogger()
    blockstore = new CachedBlockstore(blockstore, { cache: await redisBlockCache(options.redisUrl, { logger }) })
  } else if (kubo) {
    // Every read from a node is an RPC call plus a hash: repeated reads come from memory.
    blockstore = new CachedBlockstore(blockstore)
  }
  return {
    blockstore,
    metadata: metadata ?? new SqliteMetadataStore({ path: metaDb }),
  }
}

/** The PackBlockstore of a data directory, over the FsBlockstore files an earlier version left there. */
async function packStore (path: string): Promise<PackBlockstore> {
  let names: string[] = []
  try {
    names = await readdir(path)
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err
  }
  const legacy = names.some(n => /^[a-z2-7]{2}$/.test(n)) ? new FsBlockstore({ path }) : undefined
  return new PackBlockstore({ path, legacy })
}

/** A KuboBlockstore on `url` (http or https), or a usage error. */
export function kuboStore (url: string, headers?: Record<string, string>): KuboBlockstore {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw Object.assign(new Error(`Invalid IPFS API URL "${url}"`), { code: 'ERR_IPFS_API_URL' })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw Object.assign(new Error(`Unsupported IPFS API URL "${url}": expected http://host:5001`), { code: 'ERR_IPFS_API_URL' })
  }
  return new KuboBlockstore({ url: parsed, headers })
}

/** A PostgresMetadataStore from `postgres://...[?schema=name]`. */
export function postgresStore (url: string): PostgresMetadataStore {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw Object.assign(new Error(`Invalid metadata URL "${url}"`), { code: 'ERR_METADATA_URL' })
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw Object.assign(new Error(`Unsupported metadata URL "${url}": expected postgres://...`), { code: 'ERR_METADATA_URL' })
  }
  const schema = parsed.searchParams.get('schema') ?? undefined
  parsed.searchParams.delete('schema')
  return new PostgresMetadataStore({ connectionString: parsed.toString(), schema })
}

/** The stores of a start that failed after opening them. */
export async function closeStores (stores: DataDirStores | undefined): Promise<void> {
  if (stores === undefined) return
  await stores.metadata.close()
  const closable = stores.blockstore as { close?: () => Promise<void> | void }
  if (typeof closable.close === 'function') await closable.close()
}
