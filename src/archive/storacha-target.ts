import { randomUUID } from 'node:crypto'
import { openAsBlob } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { archiveNotFound, type ArchiveLocation, type ArchiveStatus, type ArchiveTarget } from './target.js'
import { invalidConfig as invalid, readStorachaIdentity, type StorachaIdentity } from './storacha-proof.js'
import { cutShards, shardSections } from './storacha-shards.js'
import { carHeader } from '../content/car-export.js'
import type { AbortOptions } from '../types.js'
import type { Client } from '@storacha/client'

/**
 * A Storacha space to archive into. `key` and `proof` are secrets: keep them out of logs.
 *
 * @example
 * // storacha key create                          → key (and the agent's did:key)
 * // storacha delegation create <agent-did> --base64 \
 * //   -c space/blob/add -c space/blob/remove -c space/index/add -c filecoin/offer -c filecoin/info \
 * //   -c upload/add -c upload/get -c upload/remove   → proof
 * { "type": "storacha", "key": "MgCa…", "proof": "mAYIEA…" }
 */
export interface StorachaArchiveConfig {
  type: 'storacha'
  /** The agent's ed25519 private key, as `storacha key create` prints it. */
  key: string
  /** A base64 UCAN delegation of the space to that agent, as `storacha delegation create <agent-did> --base64` prints it. */
  proof: string
  /** The upload service (default https://up.storacha.network). */
  serviceUrl?: string
  /** The upload service's DID (default did:web:up.storacha.network, or did:web:<host> of `serviceUrl`). */
  serviceDid?: string
  /** Where the client polls for receipts (default `<serviceUrl>/receipt/`). */
  receiptsUrl?: string
  /** A gateway serving stored shards at `/ipfs/<shard CAR CID>` (default Storacha's https://w3s.link). */
  gatewayUrl?: string
  /**
   * Bytes per shard, header included (default the client's, 133,169,152, about 127 MiB); a block
   * larger than that is a shard of its own. A put holds about three shards' worth in memory while
   * the client encodes and hashes one, and one shard on disk.
   */
  shardSize?: number
  /** Where a put spools each shard (default os.tmpdir()); the file is removed afterwards. */
  tmpDir?: string
  /** Attempts the client adds after a failed request (default the client's, 3, with backoff). */
  retries?: number
}

const DEFAULT_SERVICE_URL = 'https://up.storacha.network'
const DEFAULT_GATEWAY_URL = 'https://w3s.link'
/** The client's own shard size. */
const DEFAULT_SHARD_SIZE = 133_169_152
const MIN_SHARD_SIZE = 64 * 1024

/** Validates a Storacha archive target's configuration (JSON). Errors name the field, never a secret. */
export function parseStorachaArchiveConfig (json: unknown): StorachaArchiveConfig {
  return validate(json).config
}

function validate (json: unknown): { config: StorachaArchiveConfig, identity: StorachaIdentity } {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw invalid('configuration', 'must be an object')
  const c = json as Record<string, unknown>
  if (c.type !== 'storacha') throw invalid('type', 'must be "storacha"')
  if (typeof c.key !== 'string' || c.key === '') throw invalid('key', 'must be a non-empty string')
  if (typeof c.proof !== 'string' || c.proof === '') throw invalid('proof', 'must be a non-empty string')
  const identity = readStorachaIdentity(c.key, c.proof)
  const config: StorachaArchiveConfig = { type: 'storacha', key: c.key, proof: c.proof }
  for (const field of ['serviceUrl', 'receiptsUrl', 'gatewayUrl'] as const) {
    if (c[field] === undefined) continue
    if (typeof c[field] !== 'string' || !URL.canParse(c[field]) || !/^https?:$/.test(new URL(c[field]).protocol)) {
      throw invalid(field, 'must be an http(s) URL')
    }
    config[field] = c[field]
  }
  if (c.serviceDid !== undefined) {
    if (typeof c.serviceDid !== 'string' || !/^did:[a-z0-9]+:\S+$/.test(c.serviceDid)) throw invalid('serviceDid', 'must be a DID')
    config.serviceDid = c.serviceDid
  }
  if (c.shardSize !== undefined) {
    if (!Number.isSafeInteger(c.shardSize) || (c.shardSize as number) < MIN_SHARD_SIZE) throw invalid('shardSize', `must be an integer of at least ${MIN_SHARD_SIZE}`)
    config.shardSize = c.shardSize as number
  }
  if (c.tmpDir !== undefined) {
    if (typeof c.tmpDir !== 'string' || c.tmpDir === '') throw invalid('tmpDir', 'must be a non-empty string')
    config.tmpDir = c.tmpDir
  }
  if (c.retries !== undefined) {
    if (!Number.isSafeInteger(c.retries) || (c.retries as number) < 0) throw invalid('retries', 'must be a non-negative integer')
    config.retries = c.retries as number
  }
  return { config, identity }
}

interface StorachaModules {
  client: typeof import('@storacha/client')
  ed25519: typeof import('@storacha/client/principal/ed25519')
  proof: typeof import('@storacha/client/proof')
  service: typeof import('@storacha/client/service')
  memory: typeof import('@storacha/client/stores/memory')
}

/**
 * Archives each CAR as one upload in a Storacha space, through the official client
 * (`@storacha/client`, an optional peer dependency loaded on first use). Storacha aggregates the
 * shards' pieces into Filecoin deals; `status` asks `filecoin/info` about each.
 *
 * - put: the CAR is cut into shards here, each a CAR whose header names the root, spooled to a
 *   temporary file and handed to the client's `uploadCAR` as a file-backed Blob: the client stores
 *   it as a blob, offers its piece for Filecoin, indexes it and adds it to the upload of the root
 *   (the service merges the shards of one root). Cutting here rather than in the client, whose
 *   middle shards name no root, keeps two archived CARs from ever sharing a shard, so `delete` can
 *   remove shards without taking another archive's. The location records the space, the root, and
 *   the shard CAR CIDs and piece CIDs in order.
 * - get: `upload/get` says whether the space still holds the upload (the service's word, as a
 *   gateway may keep serving removed data for a while); the shards are then read in order from the
 *   gateway (`<gatewayUrl>/ipfs/<shard CAR CID>`, which Storacha's gateway answers with the stored
 *   CAR), each checked against its CID, and their blocks re-framed under one header: the bytes
 *   that were put (less any block repeated within a shard: the client drops those).
 * - delete: removes the upload, then its shards' blobs. The client's small index blob of each
 *   shard stays in the space (the client does not say its CID).
 *
 * The agent needs these abilities on the space: space/blob/add, space/index/add, filecoin/offer,
 * upload/add (put); upload/get (get, status); upload/remove, space/blob/remove (delete);
 * filecoin/info (status).
 */
export class StorachaArchiveTarget implements ArchiveTarget {
  readonly name: string
  readonly space: string
  private readonly config: StorachaArchiveConfig
  private readonly serviceUrl: URL
  private readonly gatewayUrl: string
  private connecting?: Promise<Client>

  constructor (config: StorachaArchiveConfig) {
    const { config: valid, identity } = validate(config)
    this.config = valid
    this.space = identity.space
    this.name = `storacha:${this.space}`
    this.serviceUrl = new URL(config.serviceUrl ?? DEFAULT_SERVICE_URL)
    this.gatewayUrl = (config.gatewayUrl ?? DEFAULT_GATEWAY_URL).replace(/\/+$/, '')
  }

  async put (cid: CID, car: AsyncIterable<Uint8Array>, options: AbortOptions = {}): Promise<ArchiveLocation> {
    options.signal?.throwIfAborted()
    const client = await this.client()
    const dir = await mkdtemp(join(this.config.tmpDir ?? tmpdir(), 's3-ipfs-storacha-'))
    try {
      const file = join(dir, 'shard.car')
      const shards: string[] = []
      const pieces: string[] = []
      await cutShards(cid, car, { file, shardSize: this.config.shardSize ?? DEFAULT_SHARD_SIZE, signal: options.signal }, async () => {
        options.signal?.throwIfAborted()
        // One shard per call: an infinite shard size keeps the client from cutting it again.
        const root = await client.uploadCAR(await openAsBlob(file), {
          shardSize: Number.POSITIVE_INFINITY,
          retries: this.config.retries,
          signal: options.signal,
          onShardStored: meta => {
            shards.push(meta.cid.toString())
            if (meta.piece !== undefined) pieces.push(meta.piece.toString())
          },
        })
        if (root.toString() !== cid.toString()) throw new Error(`Storacha stored the upload under ${root.toString()}, not ${cid.toString()}`)
      })
      return { space: this.space, root: cid.toString(), shards, pieces }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }

  async get (cid: CID, location: ArchiveLocation, options: AbortOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    options.signal?.throwIfAborted()
    const shards = shardsOf(location)
    if (!await this.holds(cid, options)) throw archiveNotFound(cid, this.name)
    const first = await this.fetchShard(cid, shards[0], options)
    return this.reframe(cid, shards, first, options)
  }

  async delete (cid: CID, location: ArchiveLocation, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    const shards = shardsOf(location)
    const client = await this.client()
    try {
      await client.capability.upload.remove(cid, { nonce: randomUUID() })
    } catch (err) {
      if (failure(err) !== 'UploadNotFound') throw err
    }
    for (const shard of shards) {
      options.signal?.throwIfAborted()
      await client.capability.blob.remove(CID.parse(shard).multihash, { nonce: randomUUID() })
    }
  }

  async status (cid: CID, location: ArchiveLocation, options: AbortOptions = {}): Promise<ArchiveStatus> {
    options.signal?.throwIfAborted()
    const pieces = stringsOf(location, 'pieces')
    const stored = await this.holds(cid, options)
    const client = await this.client()
    const deals: NonNullable<ArchiveStatus['deals']> = []
    const aggregates: Array<{ piece: string, aggregate: string }> = []
    for (const piece of pieces) {
      options.signal?.throwIfAborted()
      // The client sends filecoin/info without the nonce: a second query within the same second is
      // the same invocation, which the service answers with the first one's receipt.
      const receipt = await client.capability.filecoin.info(CID.parse(piece) as Parameters<Client['capability']['filecoin']['info']>[0])
      const out = receipt.out
      if (out.error !== undefined) {
        // Not known to the storefront yet: offered, not aggregated.
        if (out.error.name === 'RecordNotFound' || out.error.name === 'ContentNotFound') continue
        throw new Error(`Storacha filecoin/info for ${piece} failed: ${out.error.name}`, { cause: out.error })
      }
      for (const a of out.ok.aggregates) aggregates.push({ piece, aggregate: a.aggregate.toString() })
      for (const deal of out.ok.deals) {
        // The service reports only deals its deal tracker found on chain.
        deals.push({ piece, provider: deal.provider, dealId: deal.aux.dataSource.dealID.toString(), state: 'active' })
      }
    }
    return { stored, pieces, deals, detail: { space: this.space, aggregates } }
  }

  async close (): Promise<void> {
    this.connecting = undefined
  }

  /**
   * Whether the space lists the upload now. Every query carries a nonce: the service answers an
   * invocation it has seen (same bytes, as two within one second are) with its stored receipt.
   */
  private async holds (cid: CID, options: AbortOptions): Promise<boolean> {
    const client = await this.client()
    options.signal?.throwIfAborted()
    try {
      await client.capability.upload.get(cid, { retries: this.config.retries, signal: options.signal, nonce: randomUUID() })
      return true
    } catch (err) {
      if (failure(err) === 'UploadNotFound') return false
      throw err
    }
  }

  private async fetchShard (cid: CID, shard: string, options: AbortOptions): Promise<Response> {
    const response = await fetch(`${this.gatewayUrl}/ipfs/${shard}`, { signal: options.signal })
    if (response.status === 404) {
      await response.body?.cancel()
      throw archiveNotFound(cid, this.name)
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel()
      throw new Error(`The Storacha gateway answered ${response.status} for shard ${shard} of ${cid.toString()}`)
    }
    return response
  }

  private async * reframe (cid: CID, shards: string[], first: Response, options: AbortOptions): AsyncGenerator<Uint8Array> {
    yield carHeader(cid)
    for (let i = 0; i < shards.length; i++) {
      const response = i === 0 ? first : await this.fetchShard(cid, shards[i], options)
      yield * shardSections(response.body as AsyncIterable<Uint8Array>, shards[i])
    }
  }

  private async client (): Promise<Client> {
    this.connecting ??= this.connect().catch(err => {
      this.connecting = undefined
      throw err
    })
    return await this.connecting
  }

  private async connect (): Promise<Client> {
    const m = await loadClient()
    const { key, proof } = this.config
    let principal
    try {
      principal = m.ed25519.parse(key)
    } catch {
      throw invalid('key', 'is not an ed25519 private key the client accepts')
    }
    let delegation
    try {
      delegation = await m.proof.parse(proof)
    } catch {
      throw invalid('proof', 'is not a delegation the client accepts')
    }
    const id = { did: () => (this.config.serviceDid ?? `did:web:${this.serviceUrl.hostname}`) as `did:${string}:${string}` }
    const url = this.serviceUrl
    const client = await m.client.create({
      principal,
      store: new m.memory.StoreMemory(),
      serviceConf: {
        access: m.service.accessServiceConnection({ id, url }),
        upload: m.service.uploadServiceConnection({ id, url }),
        filecoin: m.service.filecoinServiceConnection({ id, url }),
        gateway: m.service.gatewayServiceConnection(),
      },
      receiptsEndpoint: new URL(this.config.receiptsUrl ?? new URL('/receipt/', url).toString()),
    })
    const space = await client.addSpace(delegation)
    await client.setCurrentSpace(space.did())
    return client
  }
}

async function loadClient (): Promise<StorachaModules> {
  try {
    const [client, ed25519, proof, service, memory] = await Promise.all([
      import('@storacha/client'),
      import('@storacha/client/principal/ed25519'),
      import('@storacha/client/proof'),
      import('@storacha/client/service'),
      import('@storacha/client/stores/memory'),
    ])
    return { client, ed25519, proof, service, memory }
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw err
    throw Object.assign(
      new Error('The Storacha archive target needs its optional peer dependency: npm install @storacha/client', { cause: err }),
      { code: 'ERR_STORACHA_CLIENT_MISSING' },
    )
  }
}

function shardsOf (location: ArchiveLocation): string[] {
  const shards = stringsOf(location, 'shards')
  if (shards.length === 0) throw new TypeError('The Storacha archive location lists no shards')
  return shards
}

function stringsOf (location: ArchiveLocation, field: string): string[] {
  const value = location[field]
  if (!Array.isArray(value) || !value.every(v => typeof v === 'string')) throw new TypeError(`The Storacha archive location has no ${field} list`)
  return value
}

/** The service's failure name behind a client error (the client throws with the receipt's error as cause). */
function failure (err: unknown): unknown {
  return (err as { cause?: { name?: unknown } } | undefined)?.cause?.name
}
