// Fetching blocks and DAGs over bitswap for an IpfsNode: verified against their CIDs, written only
// to the gateway's own blockstore, never through Helia's (which stays read-only).
import { setMaxListeners } from 'node:events'
import * as dagPb from '@ipld/dag-pb'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { blockMatches as intact } from '../blockstores/failover.js'
import { collectBytes } from '../content/bytes.js'
import { BlockMismatchError } from '../content/verify.js'
import type { ServedBlocks } from './read-only-blockstore.js'
import type { AbortOptions } from '../types.js'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

export const DEFAULT_FETCH_TIMEOUT_MS = 30_000
export const DEFAULT_FETCH_CONCURRENCY = 12
/**
 * A want unanswered this long is withdrawn and sent again, then twice as long, and so on. Helia's
 * bitswap never tells a peer it got a block, so a peer may hold a repeated want for a block it
 * sent moments ago as already served: asking again is what gets it through.
 */
const FIRST_ATTEMPT_MS = 2_000
const RETRY_PAUSE_MS = 50
/** Fetched blocks are flushed (on a store with `flush`) in batches of this many. */
const FLUSH_BATCH = 64

/** What fetching writes to: the served store, plus `put` (and optionally `delete` and `flush`). */
export type WritableBlocks = ServedBlocks & Partial<Pick<Blockstore, 'put' | 'delete'>> & {
  flush?: (cids: Iterable<CID>, options?: AbortOptions) => Promise<void>
}

/** Helia's bitswap block broker, as far as fetching uses it. */
export interface BlockRetriever {
  retrieve?: (cid: CID, options: { signal: AbortSignal }) => Promise<Uint8Array>
  announce?: (cid: CID) => Promise<void>
}

export interface FetchBlockOptions extends AbortOptions {
  /** Give up after this many milliseconds (default 30,000): rejects with code ERR_BLOCK_UNAVAILABLE. */
  timeoutMs?: number
}

export interface FetchDagOptions extends FetchBlockOptions {
  /** Peers to dial first (multiaddrs ending in /p2p/<peer id>); they are remembered as replica peers. */
  origins?: string[]
  /** Called after each block was fetched, verified and stored. */
  onBlock?: (event: { cid: CID, bytes: number }) => void
  /** Blocks fetched at once (default 12). */
  concurrency?: number
}

export interface FetchDagResult {
  /** Blocks fetched from peers and stored. */
  blocks: number
  /** Their bytes. */
  bytes: number
  /** Blocks found intact in the local store (walked, not fetched). */
  present: number
}

/**
 * One block from `retriever`, checked against `cid`, retried until `timeoutMs` has passed.
 * `redial` runs before every attempt (it starts dials to replica peers that dropped).
 */
export async function fetchVerified (cid: CID, retriever: BlockRetriever, redial: () => void, options: FetchBlockOptions = {}): Promise<Uint8Array> {
  options.signal?.throwIfAborted()
  if (cid.multihash.code === identity.code) return cid.multihash.digest
  const retrieve = retriever.retrieve
  if (retrieve === undefined) throw new Error('The IPFS node has no bitswap block broker')
  const timeoutMs = options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS
  const deadline = Date.now() + timeoutMs
  let attemptMs = FIRST_ATTEMPT_MS
  let lastError: unknown
  for (;;) {
    const left = deadline - Date.now()
    if (left <= 0) throw unavailable(cid, timeoutMs, lastError)
    const attempt = AbortSignal.timeout(Math.min(attemptMs, left))
    const signal = options.signal === undefined ? attempt : AbortSignal.any([options.signal, attempt])
    setMaxListeners(Infinity, signal)
    try {
      redial()
      const bytes = await retrieve.call(retriever, cid, { signal })
      if (intact(cid, bytes)) return bytes
      lastError = new BlockMismatchError(cid.toString())
    } catch (err) {
      if (options.signal?.aborted === true) throw options.signal.reason
      if (!attempt.aborted) lastError = err
    }
    attemptMs *= 2
    await new Promise(resolve => setTimeout(resolve, RETRY_PAUSE_MS))
  }
}

/**
 * Walks the DAG under `root` depth first, `concurrency` blocks at a time, and fetches every block
 * `store` lacks (see IpfsNode.fetchDag). Holds the blocks in flight and the links of the nodes
 * along the walk, never the DAG.
 */
export async function fetchDagInto (root: CID, store: WritableBlocks, fetch: (cid: CID, options: FetchBlockOptions) => Promise<Uint8Array>, retriever: BlockRetriever, options: FetchDagOptions = {}): Promise<FetchDagResult> {
  options.signal?.throwIfAborted()
  const put = store.put
  if (put === undefined) {
    throw Object.assign(new TypeError('fetchDag needs a blockstore with put: the IPFS node was given a read-only one'), { code: 'ERR_BLOCKSTORE_READ_ONLY' })
  }
  const controller = new AbortController()
  const signal = options.signal === undefined ? controller.signal : AbortSignal.any([options.signal, controller.signal])
  setMaxListeners(Infinity, controller.signal, signal)
  const result: FetchDagResult = { blocks: 0, bytes: 0, present: 0 }
  let unflushed: CID[] = []
  const flush = async (): Promise<void> => {
    const cids = unflushed
    unflushed = []
    if (cids.length > 0 && store.flush !== undefined) await store.flush(cids, { signal })
  }

  /** Stores `cid` fetched from peers (replacing a corrupt local copy) and returns its bytes. */
  const fetchAndStore = async (cid: CID, corrupt: boolean): Promise<Uint8Array> => {
    const bytes = await fetch(cid, { signal, timeoutMs: options.timeoutMs })
    if (corrupt) await store.delete?.(cid, { signal })
    await put.call(store, cid, bytes, { signal })
    await retriever.announce?.(cid).catch(() => {}) // peers that wanted it from us get it now
    result.blocks++
    result.bytes += bytes.byteLength
    options.onBlock?.({ cid, bytes: bytes.byteLength })
    unflushed.push(cid)
    if (unflushed.length >= FLUSH_BATCH) await flush()
    return bytes
  }

  /** Makes `cid` present and intact locally; resolves to its links. */
  const visit = async (cid: CID): Promise<CID[]> => {
    if (cid.code !== dagPb.code && cid.code !== raw.code) {
      throw Object.assign(new TypeError(`fetchDag follows dag-pb and raw blocks only: ${cid} has codec 0x${cid.code.toString(16)}`), { code: 'ERR_UNSUPPORTED_CODEC' })
    }
    let bytes: Uint8Array
    if (cid.multihash.code === identity.code) {
      bytes = cid.multihash.digest
    } else if (!await store.has(cid, { signal })) {
      bytes = await fetchAndStore(cid, false)
    } else if (cid.code === raw.code) {
      result.present++
      return []
    } else {
      // Links are read from the local copy, so check it first (an interior node is small).
      bytes = await collectBytes(store.get(cid, { signal }), { signal })
      if (intact(cid, bytes)) result.present++
      else bytes = await fetchAndStore(cid, true)
    }
    return cid.code === dagPb.code ? dagPb.decode(bytes).Links.map(link => link.Hash) : []
  }

  // Frames of links still to visit, innermost last; each frame holds its links in reverse order.
  const frames: CID[][] = [[root]]
  const next = (): CID | undefined => {
    while (frames.length > 0) {
      const cid = frames[frames.length - 1].pop()
      if (cid !== undefined) return cid
      frames.pop()
    }
    return undefined
  }
  const running = new Map<string, Promise<void>>()
  let failure: { error: unknown } | undefined
  for (;;) {
    while (failure === undefined && running.size < (options.concurrency ?? DEFAULT_FETCH_CONCURRENCY)) {
      const cid = next()
      if (cid === undefined) break
      const key = Buffer.from(cid.multihash.bytes).toString('base64')
      // The same block twice in a DAG (identical chunks): the visit in flight covers both.
      if (running.has(key)) continue
      const task = visit(cid).then(links => {
        if (links.length > 0) frames.push(links.reverse())
      }, (error: unknown) => {
        failure ??= { error }
        controller.abort(error)
      }).finally(() => { running.delete(key) })
      running.set(key, task)
    }
    if (running.size === 0) break
    await Promise.race(running.values())
  }
  if (failure !== undefined) {
    throw options.signal?.aborted === true ? options.signal.reason : failure.error
  }
  await flush()
  return result
}

function unavailable (cid: CID, timeoutMs: number, cause: unknown): Error {
  return Object.assign(new Error(`Block ${cid} could not be fetched from any connected peer within ${timeoutMs} ms`, { cause }), {
    name: 'BlockUnavailableError',
    code: 'ERR_BLOCK_UNAVAILABLE',
  })
}
