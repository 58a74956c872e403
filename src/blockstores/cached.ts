import { createHash } from 'node:crypto'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { collectBytes } from '../content/bytes.js'
import type { AbortOptions, GatewayLogger } from '../types.js'
import { COPIES_PUT_BYTES, copiesPutBytes } from '../content/leaves.js'
import { loadKeyvRedis } from '../optional-peers.js'

/** Where cached blocks live: values are whole blocks, keyed by CID string. */
export interface BlockCache {
  get(key: string): Promise<Uint8Array | undefined>
  set(key: string, bytes: Uint8Array): Promise<void>
  delete(key: string): Promise<void>
  /** Whether hits can be trusted without re-hashing (memory in this process), or must be verified. */
  readonly trusted: boolean
  /** What metrics call it: 'memory', 'redis', ... */
  readonly kind?: string
  /** Resolves when a shared cache answers (for readiness probes); absent for an in-process one. */
  ping?(options?: AbortOptions): Promise<void>
  close?(): Promise<void>
}

/**
 * An in-process LRU of blocks with a byte budget (the default cache). Blocks are immutable, so it is
 * coherent without invalidation.
 */
export class MemoryBlockCache implements BlockCache {
  readonly trusted = true
  readonly kind = 'memory'
  private readonly entries = new Map<string, Uint8Array>()
  private bytes = 0
  readonly maxBytes: number

  constructor (options: { maxBytes?: number } = {}) {
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024
  }

  get size (): { entries: number, bytes: number } { return { entries: this.entries.size, bytes: this.bytes } }

  async get (key: string): Promise<Uint8Array | undefined> {
    const value = this.entries.get(key)
    if (value !== undefined) {
      // most recently used last
      this.entries.delete(key)
      this.entries.set(key, value)
    }
    return value
  }

  async set (key: string, bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength > this.maxBytes) return
    const old = this.entries.get(key)
    if (old !== undefined) {
      this.entries.delete(key)
      this.bytes -= old.byteLength
    }
    this.entries.set(key, bytes)
    this.bytes += bytes.byteLength
    for (const [oldest, value] of this.entries) {
      if (this.bytes <= this.maxBytes) break
      this.entries.delete(oldest)
      this.bytes -= value.byteLength
    }
  }

  async delete (key: string): Promise<void> {
    const old = this.entries.get(key)
    if (old === undefined) return
    this.entries.delete(key)
    this.bytes -= old.byteLength
  }
}

export interface KeyvBlockCacheOptions {
  /** A cache operation slower than this counts as a miss (ms, default 200): a slow cache never slows reads much. */
  timeoutMs?: number
  logger?: Pick<GatewayLogger, 'warn'>
  /** What metrics call this cache (default 'keyv'; redisBlockCache: 'redis'). */
  kind?: string
}

/**
 * What KeyvBlockCache needs of a `Keyv` instance (the keyv package's class has this shape). Our own
 * type, so that our declarations do not need keyv (an optional peer dependency) to be installed.
 */
export interface KeyvStore {
  get(key: string): Promise<unknown>
  set(key: string, value: string, ttl?: number): Promise<unknown>
  delete(key: string): Promise<unknown>
  disconnect(): Promise<void>
  on(event: 'error', listener: (error: unknown) => void): unknown
}

/**
 * Blocks in any keyv store (Redis through `@keyv/redis` for many gateway processes), base64-encoded.
 * The cache is an optimisation, never a dependency: an error or a timeout is a miss, logged once
 * until the cache answers again. Hits are not trusted (another process wrote them): CachedBlockstore
 * re-hashes them.
 */
export class KeyvBlockCache implements BlockCache {
  readonly trusted = false
  readonly kind: string
  private readonly timeoutMs: number
  private failing = false

  constructor (private readonly keyv: KeyvStore, private readonly options: KeyvBlockCacheOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 200
    this.kind = options.kind ?? 'keyv'
    // keyv re-emits store errors; an unhandled 'error' event would crash the process.
    keyv.on('error', (error: unknown) => { this.failed(error) })
  }

  private failed (error: unknown): void {
    if (this.failing) return
    this.failing = true
    this.options.logger?.warn({ error: String(error) }, 'block cache unavailable; serving from the blockstore')
  }

  private recovered (): void {
    if (!this.failing) return
    this.failing = false
    this.options.logger?.warn({}, 'block cache available again')
  }

  private async attempt<T> (operation: () => Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined
    try {
      const result = await Promise.race([
        operation(),
        new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`block cache did not answer within ${this.timeoutMs} ms`)) }, this.timeoutMs) }),
      ])
      return result
    } catch (error) {
      this.failed(error)
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  async get (key: string): Promise<Uint8Array | undefined> {
    const value = await this.attempt(async () => await this.keyv.get(key))
    if (typeof value !== 'string') return undefined
    // Only a hit proves the cache answers (a non-blocking store answers a miss while down).
    this.recovered()
    return new Uint8Array(Buffer.from(value, 'base64'))
  }

  async set (key: string, bytes: Uint8Array): Promise<void> {
    await this.attempt(async () => await this.keyv.set(key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')))
  }

  async delete (key: string): Promise<void> {
    await this.attempt(async () => await this.keyv.delete(key))
  }

  /**
   * Writes a probe entry and reads it back. A non-blocking store (the Redis one) answers a failed
   * write and a miss alike, so only reading back what was written proves the cache answers.
   */
  async ping (options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const probe = `probe-${process.pid}-${Date.now()}`
    await this.keyv.set('readiness-probe', probe, 60_000)
    const read = await this.keyv.get('readiness-probe')
    // Another process may have written its own probe in between: any probe value proves a round trip.
    if (typeof read !== 'string' || !read.startsWith('probe-')) throw new Error('the block cache did not return what was written to it')
  }

  async close (): Promise<void> {
    await this.attempt(async () => { await this.keyv.disconnect() })
  }
}

/**
 * A KeyvBlockCache on Redis at `url`, shared by every gateway process that uses the same URL. Loads
 * `@keyv/redis`, an optional peer dependency (missing: rejects with code ERR_OPTIONAL_PEER_MISSING).
 */
export async function redisBlockCache (url: string, options: KeyvBlockCacheOptions & { namespace?: string } = {}): Promise<KeyvBlockCache> {
  const { createKeyvNonBlocking } = await loadKeyvRedis()
  const keyv = createKeyvNonBlocking(url, { namespace: options.namespace ?? 's3ipfs-blocks' })
  return new KeyvBlockCache(keyv, { kind: 'redis', ...options })
}

export interface CacheMetrics {
  hits: number
  misses: number
  /** Bytes served from the cache. */
  hitBytes: number
  /** Bytes read from the blockstore on misses. */
  missBytes: number
  /** Hits whose bytes did not hash to their CID (dropped and read from the blockstore). */
  corrupt: number
}

export interface CachedBlockstoreOptions {
  /** Default: a MemoryBlockCache of 64 MiB. */
  cache?: BlockCache
  /** Blocks larger than this are not cached (default 2 MiB: every chunk of both CID profiles). */
  maxBlockSize?: number
}


/**
 * A read cache in front of any blockstore. Blocks are immutable (a CID names its bytes), so the
 * cache needs no invalidation; deletes remove the cached copy too. Hits from an untrusted cache
 * (Redis) are re-hashed against their CID. Everything else (put, flush, the GC's listing and
 * deletes) goes straight to the blockstore underneath.
 */
export class CachedBlockstore implements Blockstore {
  readonly metrics: CacheMetrics = { hits: 0, misses: 0, hitBytes: 0, missBytes: 0, corrupt: 0 }
  readonly cache: BlockCache
  private readonly maxBlockSize: number

  /** The blockstore behind the cache. */
  readonly inner: Blockstore

  constructor (inner: Blockstore, options: CachedBlockstoreOptions = {}) {
    this.inner = inner
    const optional = inner as unknown as Record<string, unknown>
    // Puts go straight through, and the cache is filled from reads only.
    if (copiesPutBytes(inner)) Object.defineProperty(this, COPIES_PUT_BYTES, { value: true })
    this.cache = options.cache ?? new MemoryBlockCache()
    this.maxBlockSize = options.maxBlockSize ?? 2 * 1024 * 1024
    // Optional capabilities of the store underneath, passed through only when it has them (the
    // gateway checks for them: flush before commits, listBlocks / deleteIfOlder for GC, pins).
    for (const name of ['flush', 'listBlocks', 'listStrays', 'deleteStray', 'compact', 'pin', 'unpin', 'pinned', 'ping', 'capacity']) {
      const method = optional[name]
      // configurable, so that a wrapper (the gateway's metrics) may return its own version
      if (typeof method === 'function') Object.defineProperty(this, name, { value: method.bind(inner), configurable: true })
    }
    const deleteIfOlder = optional.deleteIfOlder
    if (typeof deleteIfOlder === 'function') {
      Object.defineProperty(this, 'deleteIfOlder', {
        configurable: true,
        value: async (cid: CID, cutoff: number, options?: AbortOptions): Promise<boolean> => {
          const deleted = await (deleteIfOlder as (c: CID, t: number, o?: AbortOptions) => Promise<boolean>).call(inner, cid, cutoff, options)
          if (deleted) await this.cache.delete(cid.toString())
          return deleted
        },
      })
    }
  }

  async put (cid: CID, bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options?: AbortOptions): Promise<CID> {
    return await this.inner.put(cid, bytes, options)
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): AsyncGenerator<CID> {
    yield * this.inner.putMany(source, options)
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: this.get(cid, options) }
  }

  getAll (options?: AbortOptions): Generator<Pair> | AsyncGenerator<Pair> {
    return this.inner.getAll(options)
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const cid of this.inner.deleteMany(source, options)) {
      await this.cache.delete(cid.toString())
      yield cid
    }
  }

  async * get (cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    const key = cid.toString()
    const cached = await this.cache.get(key)
    if (cached !== undefined && (this.cache.trusted || await hashes(cid, cached))) {
      this.metrics.hits++
      this.metrics.hitBytes += cached.byteLength
      yield cached
      return
    }
    if (cached !== undefined) {
      this.metrics.corrupt++
      await this.cache.delete(key)
    }
    this.metrics.misses++
    const bytes = await collectBytes(this.inner.get(cid, options), options)
    this.metrics.missBytes += bytes.byteLength
    if (bytes.byteLength <= this.maxBlockSize) await this.cache.set(key, bytes)
    yield bytes
  }

  async has (cid: CID, options?: AbortOptions): Promise<boolean> {
    return await this.inner.has(cid, options)
  }

  async delete (cid: CID, options?: AbortOptions): Promise<void> {
    await this.inner.delete(cid, options)
    await this.cache.delete(cid.toString())
  }

  async close (): Promise<void> {
    await this.cache.close?.()
    const close = (this.inner as unknown as Record<string, unknown>).close
    if (typeof close === 'function') await (close as () => Promise<void>).call(this.inner)
  }
}

/** Whether `bytes` hash to `cid`'s sha2-256 multihash (other hashes are not cached as verified). */
async function hashes (cid: CID, bytes: Uint8Array): Promise<boolean> {
  if (cid.multihash.code !== sha256.code) return false
  const digest = createHash('sha256').update(bytes).digest()
  return Buffer.compare(digest, cid.multihash.digest) === 0
}
