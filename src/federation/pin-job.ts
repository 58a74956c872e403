import type { MultibaseDecoder } from 'multiformats/bases/interface'
import { bases } from 'multiformats/basics'
import { CID } from 'multiformats/cid'
import type { JobHandler } from '../jobs/handler.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import type { AbortOptions } from '../types.js'

/** The job that brings a pin request's DAG here (key: the requestid), enqueued with the pin. */
export const PIN_JOB = 'pin'

/** Parses a CID in any multibase the multiformats basics know (base32, base36, base58btc, …). */
export const ANY_BASE: MultibaseDecoder<string> = {
  decode (text: string): Uint8Array<ArrayBuffer> {
    const prefix = String.fromCodePoint(text.codePointAt(0) ?? 0)
    const base = Object.values(bases).find((b) => b.prefix === prefix)
    if (base === undefined) throw new Error(`No multibase has the prefix ${JSON.stringify(prefix)}`)
    return base.decoder.decode(text)
  },
}

export interface PinJobDeps {
  metadata: Pick<MetadataStore, 'getPin' | 'setPinStatus'>
  /**
   * Fetches the whole DAG into the gateway's blockstore, verifying every block, dialling
   * `origins` first (e.g. `IpfsNode.fetchDag`). Rejects when it cannot: a timeout is retried.
   */
  fetchDag?: (cid: CID, options: { origins: string[], signal: AbortSignal }) => Promise<unknown>
  /** Whether every block of the DAG is already local: used without `fetchDag` (no IPFS node). */
  hasDag?: (cid: CID, options: AbortOptions & { signal: AbortSignal }) => Promise<boolean>
  /**
   * Runs of a job whose fetch fails before the pin is marked failed (default 3). Each failed run
   * but the last throws, and the worker retries it with backoff: keep this at most the worker's
   * `maxAttempts`, or the job fails in the queue while the pin still says `pinning`.
   */
  attempts?: number
}

/** Why a pin failed without being fetched, in its `info.reason`. */
export const NO_NODE_REASON = 'no IPFS node to fetch from'

/**
 * The handler of PIN_JOB jobs. A run converges on the pin's current state: a pin that is gone
 * (deleted or replaced meanwhile), already pinned or failed is left alone; otherwise it becomes
 * `pinning`, its DAG is fetched (or, without an IPFS node, found complete locally), and it becomes
 * `pinned`, which takes its reference on the CID. Each status change is a compare-and-set, so a pin
 * deleted while its DAG was fetched stays deleted (its blocks are left to garbage collection).
 *
 * A fetch that fails is retried (thrown as a retryable error) until `attempts` runs have failed;
 * then the pin is `failed`, with `info.reason` and `info.details`. An error with `retryable:
 * false` fails the pin at once. A run stopped by its signal (worker stopping, lease lost) changes
 * nothing more: the job runs again.
 */
export function pinJobHandler (deps: PinJobDeps): JobHandler {
  const attempts = deps.attempts ?? 3
  const { metadata } = deps
  return async (job, { signal, now }) => {
    const pin = await metadata.getPin(job.key, { signal })
    if (pin === undefined || pin.status === 'pinned' || pin.status === 'failed') return undefined
    const fail = async (info: Record<string, string>): Promise<void> => {
      await metadata.setPinStatus(job.key, 'failed', { from: ['queued', 'pinning'], info, now: now(), signal })
    }
    let cid: CID
    try {
      cid = CID.parse(pin.cid, ANY_BASE)
    } catch (err) {
      await fail({ reason: 'not a CID', details: (err as Error).message })
      return undefined
    }
    if (!await metadata.setPinStatus(job.key, 'pinning', { from: ['queued', 'pinning'], now: now(), signal })) return undefined

    if (deps.fetchDag === undefined) {
      if (await deps.hasDag?.(cid, { signal }) === true) await metadata.setPinStatus(job.key, 'pinned', { from: ['pinning'], now: now(), signal })
      else await fail({ reason: NO_NODE_REASON })
      return undefined
    }
    try {
      await deps.fetchDag(cid, { origins: pin.origins, signal })
    } catch (err) {
      if (signal.aborted) throw err
      const message = err instanceof Error ? err.message : String(err)
      if ((err as { retryable?: unknown }).retryable !== false && job.attempts < attempts) {
        throw Object.assign(new Error(`fetching ${pin.cid} failed (run ${job.attempts} of ${attempts}): ${message}`), { code: 'ERR_PIN_FETCH', retryable: true })
      }
      await fail({ reason: 'fetch failed', details: message })
      return undefined
    }
    await metadata.setPinStatus(job.key, 'pinned', { from: ['pinning'], now: now(), signal })
    return undefined
  }
}
