import { createHash } from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { collectBytes } from '../content/bytes.js'
import type { Pinner } from '../content/pins.js'
import { loadKuboRpcClient } from '../optional-peers.js'
import type { AbortOptions } from '../types.js'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import type { KuboRPCClient } from 'kubo-rpc-client'

type BlockInput = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

export interface KuboBlockstoreInit {
  /** The node's RPC API, e.g. `http://127.0.0.1:5001` (`/api/v0` is added when missing). */
  url: string | URL
  /** Headers sent with every call, e.g. `{ authorization: 'Basic …' }` for a node behind auth. */
  headers?: Record<string, string>
  /** Longest wait for one block call (put, get, stat, rm), in ms (default 30 s). */
  timeoutMs?: number
  /** Longest wait for a recursive pin, which walks the whole DAG (default 10 min). */
  pinTimeoutMs?: number
  /**
   * The name this gateway's pins carry (default `s3-ipfs-gateway`). `pinned()` lists only pins with
   * this name, so pins other users made on a shared node are never touched.
   */
  pinName?: string
}

/** Codes of the errors KuboBlockstore throws; `toS3Error` maps them to 503 / 500 answers. */
export const KUBO_ERRORS = {
  /** The node did not answer at all (connection refused, reset, DNS). */
  unavailable: 'ERR_IPFS_UNAVAILABLE',
  /** The node did not answer within the call's timeout. */
  timeout: 'ERR_IPFS_TIMEOUT',
  /** The node answered with an error. */
  rpc: 'ERR_IPFS_RPC',
  /** The node returned bytes that do not hash to the CID asked for. */
  corrupt: 'ERR_BLOCK_CORRUPT',
} as const

export class KuboError extends Error {
  override readonly name = 'KuboError'
  constructor (readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/**
 * Blocks on a Kubo node (or anything serving Kubo's `/api/v0` RPC), through kubo-rpc-client.
 *
 * The node is not trusted: every block read is hashed against its CID before it is returned, and a
 * mismatch is an error. Every call carries a timeout besides the caller's signal, because a node
 * asked for a block it lacks looks for it on the network and may never answer. Errors are thrown
 * as `KuboError` with a code from `KUBO_ERRORS`; the caller's own abort is rethrown unchanged.
 *
 * As a `Pinner` it pins roots recursively under `pinName`, so the gateway's reference counts decide
 * what the node keeps; the node's own garbage collector (`ipfs repo gc`) frees the rest.
 */
export class KuboBlockstore implements Blockstore, Pinner {
  private readonly url: string
  private readonly headers: Record<string, string> | undefined
  private readonly timeoutMs: number
  private readonly pinTimeoutMs: number
  readonly pinName: string
  private client: Promise<KuboRPCClient> | undefined

  constructor (init: KuboBlockstoreInit) {
    const url = new URL(init.url)
    const path = url.pathname.replace(/\/+$/, '')
    url.pathname = path.endsWith('/api/v0') ? path : `${path}/api/v0`
    this.url = url.toString()
    this.headers = init.headers
    this.timeoutMs = init.timeoutMs ?? 30_000
    this.pinTimeoutMs = init.pinTimeoutMs ?? 10 * 60_000
    this.pinName = init.pinName ?? 's3-ipfs-gateway'
  }

  /**
   * The RPC client, loaded on first use so that importing the library does not load it:
   * kubo-rpc-client is an optional peer dependency (missing: code ERR_OPTIONAL_PEER_MISSING).
   */
  private async rpc (): Promise<KuboRPCClient> {
    this.client ??= loadKuboRpcClient().then(({ create }) => create({ url: this.url, headers: this.headers }), (err: unknown) => {
      this.client = undefined
      throw err
    })
    return await this.client
  }

  /** Runs one RPC call under the caller's signal and a timeout, translating its failure. */
  private async call<T> (what: string, options: AbortOptions | undefined, timeoutMs: number, run: (client: KuboRPCClient, signal: AbortSignal) => Promise<T>): Promise<T> {
    options?.signal?.throwIfAborted()
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = options?.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
    const client = await this.rpc()
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(client, signal)
      } catch (error) {
        if (options?.signal?.aborted === true) throw options.signal.reason ?? error
        // Every call here is idempotent (blocks are content-addressed, pins are sets): a kept-alive
        // connection the node closed just as it was reused is retried on a new one, a few times
        // (a busy node closes idle connections while the client's timers lag).
        if (attempt < STALE_RETRIES && !timeout.aborted && (isStaleConnection(error) || isMaskedByFormatFallback(error))) {
          await new Promise((resolve) => setTimeout(resolve, 25 * attempt * attempt))
          continue
        }
        throw translate(what, error, timeout.aborted, timeoutMs)
      }
    }
  }

  async put (cid: CID, bytes: BlockInput, options?: AbortOptions): Promise<CID> {
    const block = bytes instanceof Uint8Array ? bytes : await collectBytes(bytes, options)
    if (cid.multihash.code !== sha256.code) throw new KuboError(KUBO_ERRORS.rpc, `${cid}: only sha2-256 blocks can be stored`)
    // Both the codec and the CID version are sent: Kubo defaults to raw CIDv1, js-ipfs to dag-pb
    // CIDv0. Nodes key blocks by multihash, so the answer must carry our multihash.
    const stored = await this.call(`block/put ${cid}`, options, this.timeoutMs, async (client, signal) =>
      await client.block.put(block, { format: codecName(cid), version: cid.version, mhtype: 'sha2-256', signal }))
    if (!equalBytes(stored.multihash.bytes, cid.multihash.bytes)) {
      throw new KuboError(KUBO_ERRORS.corrupt, `block/put ${cid}: the node stored it as ${stored}`)
    }
    return cid
  }

  async * get (cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    const bytes = await this.call(`block/get ${cid}`, options, this.timeoutMs, async (client, signal) => await client.block.get(cid, { signal }))
    verify(cid, bytes)
    yield bytes
  }

  /**
   * Whether the node holds the block locally. Kubo answers at once (`offline`); a node that ignores
   * `offline` and searches the network (js-ipfs) makes this wait for the timeout, then throw.
   */
  async has (cid: CID, options?: AbortOptions): Promise<boolean> {
    try {
      await this.call(`block/stat ${cid}`, options, this.timeoutMs, async (client, signal) => await client.block.stat(cid, { signal, ...{ offline: true } }))
      return true
    } catch (error) {
      if ((error as { code?: unknown }).code === KUBO_ERRORS.rpc && /not found|no such|block was not found/i.test((error as Error).message)) return false
      throw error
    }
  }

  async delete (cid: CID, options?: AbortOptions): Promise<void> {
    await this.call(`block/rm ${cid}`, options, this.timeoutMs, async (client, signal) => {
      for await (const result of client.block.rm(cid, { signal })) {
        // Deleting a missing block is a no-op, as in every blockstore; a pinned one is refused.
        if (result.error != null && !/not found|does not exist|no such/i.test(result.error.message)) throw result.error
      }
    })
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) yield await this.put(cid, bytes, options)
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: this.get(cid, options) }
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const cid of source) {
      await this.delete(cid, options)
      yield cid
    }
  }

  /** Every block the node holds (`refs/local`), read one at a time. */
  async * getAll (options?: AbortOptions): AsyncGenerator<Pair> {
    const refs: string[] = await this.call('refs/local', options, this.timeoutMs, async (client, signal) => {
      const out: string[] = []
      for await (const ref of client.refs.local({ signal })) {
        if (ref.err != null) throw new Error(String(ref.err))
        out.push(ref.ref)
      }
      return out
    })
    for (const ref of refs) {
      const cid = CID.parse(ref)
      yield { cid, bytes: this.get(cid, options) }
    }
  }

  /** Resolves when the node answers its RPC API (`version`), for readiness probes. */
  async ping (options?: AbortOptions): Promise<void> {
    await this.call('version', options, Math.min(this.timeoutMs, 5_000), async (client, signal) => { await client.version({ signal }) })
  }

  async pin (cid: CID, options?: AbortOptions): Promise<void> {
    await this.call(`pin/add ${cid}`, options, this.pinTimeoutMs, async (client, signal) => {
      // `name` is Kubo's pin label (0.26+); js-ipfs ignores it and keeps `metadata` instead.
      await client.pin.add(cid, { recursive: true, name: this.pinName, signal, ...{ metadata: { pinnedBy: this.pinName } } })
    })
  }

  async unpin (cid: CID, options?: AbortOptions): Promise<void> {
    try {
      await this.call(`pin/rm ${cid}`, options, this.timeoutMs, async (client, signal) => { await client.pin.rm(cid, { recursive: true, signal }) })
    } catch (error) {
      if ((error as { code?: unknown }).code !== KUBO_ERRORS.rpc) throw error
      if (/not pinned/i.test((error as Error).message)) return
      // js-ipfs refuses to remove a recursive pin while another pinned DAG contains the root
      // (Kubo removes it). The pin stays until that DAG is unpinned; the next reconcile retries.
      if (/pinned indirectly/i.test((error as Error).message)) return
      throw error
    }
  }

  /** Recursive pins carrying this gateway's name (Kubo) or metadata (js-ipfs). */
  async * pinned (options?: AbortOptions): AsyncGenerator<CID> {
    const pins: CID[] = await this.call('pin/ls', options, this.timeoutMs, async (client, signal) => {
      const out: CID[] = []
      for await (const pin of client.pin.ls({ type: 'recursive', names: true, signal })) {
        const metadata = (pin as { metadata?: { pinnedBy?: unknown } }).metadata
        if (pin.name === this.pinName || metadata?.pinnedBy === this.pinName) out.push(pin.cid)
      }
      return out
    })
    yield * pins
  }

  /** The node's identity and version, or a KuboError when it cannot be reached. */
  async id (options?: AbortOptions): Promise<{ id: string, agentVersion: string }> {
    return await this.call('id', options, this.timeoutMs, async (client, signal) => {
      const id = await client.id({ signal })
      return { id: id.id.toString(), agentVersion: id.agentVersion }
    })
  }
}

/** Names the node knows for the codecs of IPLD blocks it may be given. */
const CODEC_NAMES = new Map<number, string>([[raw.code, 'raw'], [dagPb.code, 'dag-pb'], [0x71, 'dag-cbor'], [0x0129, 'dag-json']])

function codecName (cid: CID): string {
  const name = CODEC_NAMES.get(cid.code)
  if (name === undefined) throw new KuboError(KUBO_ERRORS.rpc, `${cid}: codec 0x${cid.code.toString(16)} cannot be stored`)
  return name
}

/** Attempts of a call that keeps meeting connections the node has closed. */
const STALE_RETRIES = 4

/**
 * A socket reset on a reused connection, as opposed to a node that refuses connections; or an
 * answer that is not JSON at all (js-ipfs under load has answered a kept-alive connection with
 * bytes that do not parse). Every call is idempotent, so both are retried.
 */
/**
 * kubo-rpc-client answers any failure of a dag-pb (dag-cbor) block/put by trying again with the
 * format "protobuf" ("cbor"), which only go-ipfs knew: on a node that does not (js-ipfs), the
 * first failure — often a closed kept-alive connection — comes back as "No codec found". The put
 * is idempotent: retried like a stale connection.
 */
function isMaskedByFormatFallback (error: unknown): boolean {
  return /No codec found for "?(protobuf|cbor)"?/.test(String((error as { message?: unknown } | null)?.message ?? ''))
}

function isStaleConnection (error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown, name?: unknown } } | null)?.cause
  const code = String(cause?.code ?? (error as { code?: unknown } | null)?.code)
  if ((error as { name?: unknown } | null)?.name === 'SyntaxError' || cause?.name === 'SyntaxError') return true
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE'
}

function verify (cid: CID, bytes: Uint8Array): void {
  if (cid.multihash.code !== sha256.code) throw new KuboError(KUBO_ERRORS.corrupt, `${cid}: cannot verify a block that is not sha2-256`)
  const digest = createHash('sha256').update(bytes).digest()
  if (!equalBytes(digest, cid.multihash.digest)) {
    throw new KuboError(KUBO_ERRORS.corrupt, `the IPFS node returned bytes for ${cid} that do not hash to it`)
  }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0
}

/** The node is down, slow, or refused the call: say which, keeping the original as the cause. */
function translate (what: string, error: unknown, timedOut: boolean, timeoutMs: number): KuboError {
  if (error instanceof KuboError) return error
  if (timedOut) return new KuboError(KUBO_ERRORS.timeout, `${what}: the IPFS node did not answer within ${timeoutMs} ms`, { cause: error })
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause
  const code = cause?.code ?? (error as { code?: unknown } | null)?.code
  if (error instanceof TypeError || ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE', 'UND_ERR_SOCKET'].includes(String(code))) {
    return new KuboError(KUBO_ERRORS.unavailable, `${what}: the IPFS node cannot be reached (${String(code ?? (error as Error).message)})`, { cause: error })
  }
  return new KuboError(KUBO_ERRORS.rpc, `${what}: ${(error as Error)?.message ?? String(error)}`, { cause: error })
}
