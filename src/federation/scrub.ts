import { decode as decodePb } from '@ipld/dag-pb'
import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import { blockMatches } from '../blockstores/failover.js'
import { collectBytes } from '../content/bytes.js'
import type { JobHandler } from '../jobs/handler.js'
import type { MetadataStore } from '../metadata/metadata-store.js'

/** The periodic job that re-hashes stored blocks against their CIDs (key: 'all'). */
export const SCRUB = 'scrub'

const DAG_PB = 0x70

export interface ScrubOptions {
  /** Bytes read per second at most, so scrubbing never crowds out requests. Default 32 MiB/s. */
  bytesPerSecond?: number
  /** Time from the end of one full pass to the start of the next, ms. Default 24 h. */
  intervalMs?: number
  /** A run stops after the root it is on once it ran this long (the next run resumes there), ms. Default 30 s. */
  runMs?: number
}

export interface ScrubInit extends ScrubOptions {
  metadata: Pick<MetadataStore, 'referencedCids'>
  /** The store the blocks are in, read as it is (no repair): what is actually on disk. */
  stored: Pick<Blockstore, 'get'>
  /** Reads a block with read repair (the gateway's failover store), when replicas can supply blocks. */
  repairing?: Pick<Blockstore, 'get'>
  /** A block was found missing or corrupt, and was repaired or lost. */
  onFinding?: (finding: ScrubFinding) => void
}

export interface ScrubFinding {
  cid: string
  reason: 'missing' | 'corrupt'
  result: 'repaired' | 'lost'
}

/** What a pass found so far, kept in the job's payload (so a restart resumes it). */
export interface ScrubProgress {
  /** The last referenced root fully checked in this pass; undefined at a pass's start. */
  after?: string
  started: number
  roots: number
  blocks: number
  bytes: number
  repaired: number
  lost: number
  /** CIDs of lost blocks, the first 100. */
  lostBlocks: string[]
  /** The last complete pass's totals. */
  lastPass?: Omit<ScrubProgress, 'after' | 'lastPass'> & { finished: number }
}

const isNotFound = (err: unknown): boolean => {
  const e = err as { name?: unknown, code?: unknown }
  return e.name === 'NotFoundError' || e.code === 'ERR_NOT_FOUND'
}

/**
 * Walks every referenced root's DAG in CID order, reading each block as stored and hashing it
 * against its CID. A block missing or corrupt is read again through the repairing store (fetched
 * from a replica, verified, written back) when there is one; otherwise, or when no replica has it,
 * it is lost and reported. Progress is the job's payload: a restarted process resumes after the
 * last root it finished, and the pace is limited to `bytesPerSecond`.
 */
export function scrubHandler (init: ScrubInit): JobHandler {
  const rate = init.bytesPerSecond ?? 32 * 1024 * 1024
  const intervalMs = init.intervalMs ?? 86_400_000
  const runMs = init.runMs ?? 30_000

  return async (job, { signal, now }) => {
    const stored = job.payload as Partial<ScrubProgress>
    const progress: ScrubProgress = typeof stored.started === 'number'
      ? { ...stored as ScrubProgress, lostBlocks: [...stored.lostBlocks ?? []] }
      : { started: now().getTime(), roots: 0, blocks: 0, bytes: 0, repaired: 0, lost: 0, lostBlocks: [], lastPass: stored.lastPass }
    const began = Date.now()
    let readBytes = 0
    const seen = new Set<string>()

    const check = async (cid: CID): Promise<Uint8Array | undefined> => {
      let bytes: Uint8Array | undefined
      let reason: ScrubFinding['reason'] | undefined
      try {
        bytes = await collectBytes(init.stored.get(cid, { signal }))
        if (!blockMatches(cid, bytes)) reason = 'corrupt'
      } catch (err) {
        if (!isNotFound(err)) throw err
        reason = 'missing'
      }
      if (reason !== undefined) {
        let result: ScrubFinding['result'] = 'lost'
        if (init.repairing !== undefined) {
          try {
            bytes = await collectBytes(init.repairing.get(cid, { signal }))
            result = 'repaired'
          } catch (err) {
            if (signal.aborted) throw err
          }
        }
        if (result === 'lost') {
          bytes = undefined
          progress.lost++
          if (progress.lostBlocks.length < 100) progress.lostBlocks.push(cid.toString())
        } else {
          progress.repaired++
        }
        init.onFinding?.({ cid: cid.toString(), reason, result })
      }
      progress.blocks++
      if (bytes !== undefined) {
        progress.bytes += bytes.byteLength
        readBytes += bytes.byteLength
        // Pace: never ahead of `rate` since this run began.
        const ahead = readBytes / rate * 1000 - (Date.now() - began)
        if (ahead > 1) await new Promise((resolve) => setTimeout(resolve, ahead))
      }
      return bytes
    }

    const walk = async (root: CID): Promise<void> => {
      const stack = [root]
      while (stack.length > 0) {
        signal.throwIfAborted()
        const cid = stack.pop() as CID
        const key = cid.multihash.bytes.toString()
        if (seen.has(key)) continue
        seen.add(key)
        const bytes = await check(cid)
        if (bytes === undefined || cid.code !== DAG_PB) continue
        const links = decodePb(bytes).Links
        for (let i = links.length - 1; i >= 0; i--) stack.push(links[i].Hash)
      }
    }

    for await (const root of init.metadata.referencedCids({ signal })) {
      if (progress.after !== undefined && root <= progress.after) continue
      if (seen.size > 100_000) seen.clear()
      await walk(CID.parse(root))
      progress.roots++
      progress.after = root
      if (Date.now() - began >= runMs) return { state: 'retry', runAt: now(), payload: { ...progress } }
    }
    const { after: _after, lastPass: _last, ...totals } = progress
    const lastPass = { ...totals, finished: now().getTime() }
    return { state: 'retry', runAt: new Date(now().getTime() + intervalMs), payload: { lastPass } }
  }
}
