import { equals } from 'multiformats/bytes'
import { CID } from 'multiformats/cid'
import { exportCar } from '../content/car-export.js'
import type { IpfsPeer } from '../federation/index.js'
import { isPinningServiceError, PinningServiceClient } from '../federation/pinning-client.js'
import type { PinStatus } from '../federation/pinning-api.js'
import type { AbortOptions } from '../types.js'
import { archiveNotFound } from './target.js'
import type { ArchiveLocation, ArchiveStatus, ArchiveTarget } from './target.js'

/**
 * An archive target that is a remote IPFS Pinning Service API endpoint (another gateway's `/-`,
 * or a commercial service): the service pins each root and fetches its blocks from the gateway's
 * own IPFS node, so the CAR itself is never uploaded.
 */
export interface PinningArchiveConfig {
  type: 'pinning-service'
  /** The API endpoint, path prefix included (`https://api.example.com/psa`, or `http://host:port/-`). */
  endpoint: string
  /** Its access token (sent as a Bearer token, never logged or put in an error). */
  token: string
  /** The target's name in archive records, logs and metrics. Default `pinning-service:<endpoint host>`. */
  name?: string
  /** Prefix of the names of our pin requests (`<prefix><cid>`). Default 's3ipfs-archive:'. */
  namePrefix?: string
  /** How long `put` waits for the service to report `pinned`, ms. Default 10 min. */
  timeoutMs?: number
  /**
   * A trustless gateway (`https://host`) that serves what the service pins: `get` then reads the
   * CAR from `<gateway>/ipfs/<cid>?format=car` instead of walking the DAG over bitswap.
   */
  gateway?: string
}

const DEFAULT_TIMEOUT_MS = 600_000
const DEFAULT_NAME_PREFIX = 's3ipfs-archive:'
/** Each HTTP request's own limit (the client's default), and how long a trustless gateway may take to start answering. */
const REQUEST_TIMEOUT_MS = 30_000
const FIRST_POLL_MS = 250
const MAX_POLL_MS = 5_000
const KNOWN_FIELDS = new Set(['type', 'endpoint', 'token', 'name', 'namePrefix', 'timeoutMs', 'gateway'])

function httpUrl (value: unknown, field: string): string {
  let url: URL | undefined
  try {
    url = typeof value === 'string' ? new URL(value) : undefined
  } catch {}
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new TypeError(`${field} must be an http or https URL`)
  return value as string
}

/** A pinning archive configuration from untrusted JSON; throws a TypeError naming the field at fault (never quoting the token). */
export function parsePinningArchiveConfig (json: unknown): PinningArchiveConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TypeError('A pinning archive configuration is an object { type, endpoint, token, ... }')
  const v = json as Record<string, unknown>
  const unknown = Object.keys(v).filter((key) => !KNOWN_FIELDS.has(key))
  if (unknown.length > 0) throw new TypeError(`Unknown fields in a pinning archive configuration: ${unknown.join(', ')}`)
  if (v.type !== 'pinning-service') throw new TypeError('type must be "pinning-service"')
  const config: PinningArchiveConfig = { type: 'pinning-service', endpoint: httpUrl(v.endpoint, 'endpoint'), token: '' }
  if (typeof v.token !== 'string' || v.token === '') throw new TypeError('token must be a non-empty string')
  config.token = v.token
  for (const field of ['name', 'namePrefix'] as const) {
    if (v[field] === undefined) continue
    if (typeof v[field] !== 'string' || v[field] === '') throw new TypeError(`${field} must be a non-empty string`)
    config[field] = v[field]
  }
  if (v.timeoutMs !== undefined) {
    if (typeof v.timeoutMs !== 'number' || !Number.isInteger(v.timeoutMs) || v.timeoutMs <= 0) throw new TypeError('timeoutMs must be a positive integer')
    config.timeoutMs = v.timeoutMs
  }
  if (v.gateway !== undefined) config.gateway = httpUrl(v.gateway, 'gateway')
  return config
}

function requestIdOf (location: ArchiveLocation): string {
  const { requestid } = location
  if (typeof requestid !== 'string' || requestid === '') throw new TypeError('A pinning archive location needs its requestid')
  return requestid
}

const isNotFound = (err: unknown): boolean => isPinningServiceError(err) && err.status === 404

/** Whether a service's CID string names the same content (services may answer in another version or base). */
function sameCid (text: string, cid: CID): boolean {
  try {
    return equals(CID.parse(text).multihash.bytes, cid.multihash.bytes)
  } catch {
    return false
  }
}

async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const done = (): void => { signal?.removeEventListener('abort', abort); resolve() }
    const timer = setTimeout(done, ms)
    const abort = (): void => { clearTimeout(timer); reject(signal?.reason) }
    signal?.addEventListener('abort', abort, { once: true })
  })
}

export class PinningArchiveTarget implements ArchiveTarget {
  readonly name: string
  readonly #client: PinningServiceClient
  readonly #ipfs: IpfsPeer
  readonly #namePrefix: string
  readonly #timeoutMs: number
  readonly #gateway: string | undefined

  constructor (config: PinningArchiveConfig, ipfs: IpfsPeer) {
    this.name = config.name ?? `pinning-service:${new URL(config.endpoint).host}`
    this.#timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#client = new PinningServiceClient({ name: this.name, endpoint: config.endpoint, token: config.token, timeoutMs: Math.min(REQUEST_TIMEOUT_MS, this.#timeoutMs) })
    this.#ipfs = ipfs
    this.#namePrefix = config.namePrefix ?? DEFAULT_NAME_PREFIX
    this.#gateway = config.gateway?.replace(/\/+$/, '')
  }

  async put (cid: CID, car: AsyncIterable<Uint8Array>, options: AbortOptions = {}): Promise<ArchiveLocation> {
    const signal = options.signal
    signal?.throwIfAborted()
    // Read to the end before asking: a DAG this node cannot produce in full fails here, not at the service's timeout.
    for await (const _ of car) signal?.throwIfAborted()
    const started = Date.now()
    const name = `${this.#namePrefix}${cid.toString()}`
    let status = await this.#existing(cid, name, options) ?? await this.#client.add({ cid: cid.toString(), name, origins: this.#ipfs.multiaddrs.slice(0, 20) }, options)
    let pollMs = FIRST_POLL_MS
    while (status.status === 'queued' || status.status === 'pinning') {
      const left = this.#timeoutMs - (Date.now() - started)
      if (left <= 0) {
        await this.#client.delete(status.requestid).catch(() => false)
        throw Object.assign(new Error(`${this.name}: ${cid.toString()} still ${status.status} after ${this.#timeoutMs} ms; the request was withdrawn`), { code: 'ERR_ARCHIVE_TIMEOUT' })
      }
      await sleep(Math.min(pollMs, left), signal)
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS)
      status = await this.#client.get(status.requestid, options)
    }
    if (status.status === 'failed') {
      await this.#client.delete(status.requestid).catch(() => false)
      const why = [status.info?.reason, status.info?.details].filter((s) => s !== undefined && s !== '').join(': ')
      throw Object.assign(new Error(`${this.name}: pinning ${cid.toString()} failed${why === '' ? '' : `: ${why}`}`), { code: 'ERR_ARCHIVE_PIN_FAILED' })
    }
    return { requestid: status.requestid, delegates: status.delegates }
  }

  /** Our request for `cid` from an earlier put: a pinned one first, else one still in flight. */
  async #existing (cid: CID, name: string, options: AbortOptions): Promise<PinStatus | undefined> {
    const found = await this.#client.list({ cid: [cid.toString()], name, status: ['queued', 'pinning', 'pinned'], limit: 10 }, options)
    const ours = found.results.filter((status) => status.pin.name === name && sameCid(status.pin.cid, cid))
    return ours.find((status) => status.status === 'pinned') ?? ours[0]
  }

  async get (cid: CID, location: ArchiveLocation, options: AbortOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const status = await this.#pinned(cid, requestIdOf(location), options)
    if (this.#gateway !== undefined) return await this.#fromGateway(cid, options)
    const ipfs = this.#ipfs
    if (ipfs.fetchBlock === undefined) throw new Error(`${this.name}: reading back needs an IPFS node that fetches blocks, or a trustless gateway`)
    const fetchBlock = ipfs.fetchBlock.bind(ipfs)
    const delegates = status.delegates.filter((address) => address.includes('/p2p/'))
    if (ipfs.connect !== undefined && delegates.length > 0) await ipfs.connect(delegates, options)
    // fetchBlock verifies each block against its CID: the walk reads only blocks that are what they claim.
    const blocks = {
      async * get (block: CID, getOptions?: AbortOptions) {
        yield await fetchBlock(block, { signal: getOptions?.signal })
      },
    }
    return await exportCar(cid, blocks, { signal: options.signal })
  }

  /** The request's status, when it holds `cid` pinned; otherwise the target holds no CAR for it. */
  async #pinned (cid: CID, requestid: string, options: AbortOptions): Promise<PinStatus> {
    let status: PinStatus
    try {
      status = await this.#client.get(requestid, options)
    } catch (err) {
      if (isNotFound(err)) throw archiveNotFound(cid, this.name)
      throw err
    }
    if (status.status !== 'pinned' || !sameCid(status.pin.cid, cid)) throw archiveNotFound(cid, this.name)
    return status
  }

  async #fromGateway (cid: CID, options: AbortOptions): Promise<AsyncIterable<Uint8Array>> {
    const url = `${this.#gateway ?? ''}/ipfs/${cid.toString()}?format=car`
    // Only the wait for the response head is limited: the body may take as long as it takes.
    const head = new AbortController()
    const timer = setTimeout(() => { head.abort(new Error(`${url} did not answer within ${REQUEST_TIMEOUT_MS} ms`)) }, REQUEST_TIMEOUT_MS)
    const signal = options.signal === undefined ? head.signal : AbortSignal.any([options.signal, head.signal])
    let res: Response
    try {
      res = await fetch(url, { headers: { accept: 'application/vnd.ipld.car' }, signal })
    } catch (err) {
      options.signal?.throwIfAborted()
      throw new Error(`${this.name}: GET ${url}: ${head.signal.aborted ? String((head.signal.reason as Error).message) : String((err as Error).message)}`, { cause: err })
    } finally {
      clearTimeout(timer)
    }
    if (res.status === 404) {
      await res.body?.cancel()
      throw archiveNotFound(cid, this.name)
    }
    if (!res.ok || res.body === null) {
      await res.body?.cancel()
      throw new Error(`${this.name}: GET ${url}: HTTP ${res.status}`)
    }
    return res.body
  }

  async delete (_cid: CID, location: ArchiveLocation, options: AbortOptions = {}): Promise<void> {
    await this.#client.delete(requestIdOf(location), options)
  }

  async status (_cid: CID, location: ArchiveLocation, options: AbortOptions = {}): Promise<ArchiveStatus> {
    const requestid = requestIdOf(location)
    try {
      const status = await this.#client.get(requestid, options)
      return { stored: status.status === 'pinned', detail: { status: status.status, requestid, ...(status.info === undefined ? {} : { info: status.info }) } }
    } catch (err) {
      if (isNotFound(err)) return { stored: false, detail: { status: 'absent', requestid } }
      throw err
    }
  }
}
