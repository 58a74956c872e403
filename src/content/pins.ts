import { CID } from 'multiformats/cid'
import type { AbortOptions } from '../types.js'

/**
 * A store that keeps content alive by pinning roots (a networked IPFS node). The gateway pins a
 * root before the metadata change that references it commits, and unpins it after the change that
 * releases its last reference, so a crash in between leaves at most an extra pin, which
 * `reconcilePins` removes.
 */
export interface Pinner {
  /** Pins `cid` recursively (the whole DAG). Pinning a pinned CID is harmless. */
  pin(cid: CID, options?: AbortOptions): Promise<void>
  /** Removes this gateway's pin of `cid`. Unpinning a CID that is not pinned is harmless. */
  unpin(cid: CID, options?: AbortOptions): Promise<void>
  /** Every CID this gateway has pinned. */
  pinned(options?: AbortOptions): AsyncIterable<CID>
}

export function isPinner (value: unknown): value is Pinner {
  const v = value as Partial<Pinner> | undefined
  return typeof v?.pin === 'function' && typeof v.unpin === 'function' && typeof v.pinned === 'function'
}

export interface ReconcileReport {
  /** Referenced roots that were not pinned and now are. */
  pinned: number
  /** Pinned roots nothing references any more, now unpinned. */
  unpinned: number
  /** This gateway's pins once the reconcile is done. */
  total: number
}

export interface ReconcileOptions extends AbortOptions {
  /** Roots held by writes in flight in this process (pinned, not yet committed): never unpinned. */
  held?: () => Iterable<CID | string>
}

/**
 * Restores the invariant pinned set = referenced set after a crash between a metadata commit and
 * its pin or unpin. Run at start-up and by `gc`. The referenced set is read whole (one string per
 * root), the pinned set streamed. A pinned root is unpinned only if, checked again just before,
 * nothing references it and no write in flight in this process holds it. (A write in flight in
 * another process sharing the metadata pins before it commits; a reconcile that runs in between
 * in another process can unpin that root, and the next reconcile pins it again.)
 */
export async function reconcilePins (metadata: { referencedCids: (options?: AbortOptions) => AsyncIterable<string>, refCount: (cid: string, options?: AbortOptions) => Promise<number> },
  pinner: Pinner, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  const wanted = new Map<string, string>()
  for await (const cid of metadata.referencedCids(options)) wanted.set(CID.parse(cid).toV1().toString(), cid)
  const report: ReconcileReport = { pinned: 0, unpinned: 0, total: 0 }
  const present = new Set<string>()
  for await (const cid of pinner.pinned(options)) {
    const key = cid.toV1().toString()
    present.add(key)
    if (wanted.has(key)) continue
    const held = new Set([...(options.held?.() ?? [])].map(c => (typeof c === 'string' ? CID.parse(c) : c).toV1().toString()))
    if (held.has(key) || await metadata.refCount(cid.toString(), options) > 0) continue
    await pinner.unpin(cid, options)
    report.unpinned++
  }
  for (const [key, original] of wanted) {
    if (present.has(key)) continue
    await pinner.pin(CID.parse(original), options)
    report.pinned++
  }
  report.total = present.size - report.unpinned + report.pinned
  return report
}
