import type { IndexedRecord, PackIndex } from './pack-index.js'

/**
 * Rows of blocks no flush asked for are committed this long after the first of them: other
 * processes see a block once it is flushed, or after this. (Flushes commit rows at once.)
 */
const ROW_COMMIT_MS = 20

/**
 * Index rows of finished writes not committed yet, by block key: the process that wrote them reads
 * them from here. They are committed together by the next group commit (after its fdatasync, in the
 * transaction that notes how far the pack is synced), by a flush that finds them, or after
 * ROW_COMMIT_MS. A failed commit leaves them pending for the next one.
 */
export class PendingRows {
  private readonly rows = new Map<string, IndexedRecord>()
  private timer?: ReturnType<typeof setTimeout>
  private stopped = false

  constructor (private readonly index: () => PackIndex | undefined) {}

  get size (): number { return this.rows.size }
  get (key: string): IndexedRecord | undefined { return this.rows.size > 0 ? this.rows.get(key) : undefined }
  delete (key: string): void { this.rows.delete(key) }

  /** A finished write's row, committed soon. */
  add (key: string, row: IndexedRecord): void {
    this.rows.set(key, row)
    this.schedule()
  }

  /**
   * Commits the pending rows now, and `also` (a change of the packs table) in the same transaction.
   * Throws when the commit fails; the rows stay pending then.
   */
  commit (also?: () => void): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    const index = this.index()
    if (index === undefined) return
    if (this.rows.size === 0) {
      also?.()
      return
    }
    const batch = [...this.rows.values()]
    index.insert(batch, also)
    // Rows replaced while the batch was being committed stay pending.
    const committed = new Set(batch)
    for (const [key, row] of this.rows) if (committed.has(row)) this.rows.delete(key)
  }

  /** No more timed commits (the store is closing; its last commit is explicit). */
  stop (): void {
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule (): void {
    if (this.timer !== undefined || this.stopped) return
    this.timer = setTimeout(() => { this.commitLater() }, ROW_COMMIT_MS)
    this.timer.unref?.()
  }

  /** The timer's commit: a failure leaves the rows for the next flush, which reports it. */
  private commitLater (): void {
    this.timer = undefined
    try {
      this.commit()
    } catch {
      if (this.rows.size > 0) this.schedule()
    }
  }
}
