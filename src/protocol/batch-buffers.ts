/**
 * The 1 MiB batch buffers request bodies are copied into for the digest workers (md5-worker.ts),
 * pooled and budgeted across every body in the process.
 *
 * A buffer is taken when a body starts a batch and is out until it comes back: from the worker
 * (its bytes hashed), or from the receiver of the leaf it became (its block written). The budget
 * counts the ones out and not being filled.
 */

/** Bytes per batch (and per message to a digest worker). */
export const BATCH_SIZE = 1 << 20

/**
 * Returned buffers kept for reuse once no batch is in use. While some are, the pool keeps every
 * buffer given back (at most what was out at once, which the budget below bounds): buffers dropped
 * under load come back as fresh allocations, and as swings of external memory that make V8 run
 * full collections. With four parts of a multipart upload in flight, a pool of 8 dropped and
 * re-made a tenth of the batches (bench/WRITE-PATH.md, round four).
 */
const MAX_POOLED = 8

/**
 * Batches at a worker or held as leaves, across all bodies, past which a body takes no more bytes
 * until batches come back. Each body may have a few at its worker and a few with its receiver;
 * this bounds what many at once hold (four parts of a multipart upload in flight held 30 MiB or
 * more without it). A body that holds no batch at all is never held back, so each one progresses;
 * leaves keep reaching receivers while their body waits, and receivers release them as their
 * writes finish, so what is held always comes back.
 */
const BUFFER_BUDGET = 16

/** A body that may wait for the budget. */
export interface BudgetWaiter {
  /** Whether it may take more bytes now (its own limits, and `underBudget`). */
  mayGoOn: () => boolean
  /** Its wait is over. */
  wake: () => void
}

const pool: ArrayBuffer[] = []
/** Buffers out of the pool (being filled, at a worker, or held as leaves). */
let lent = 0
/** Of those, the ones being filled (one per body at most). */
let filling = 0
/** Bodies waiting for the budget, first come first served. */
const waiters = new Set<BudgetWaiter>()
/** Buffers made since the process started (for tests). */
let made = 0

export function takeBuffer (): ArrayBuffer {
  lent++
  const buf = pool.pop()
  if (buf !== undefined) return buf
  made++
  return new ArrayBuffer(BATCH_SIZE)
}

/** A taken buffer starts, or stops, being filled by its body. */
export function beginFilling (): void { filling++ }
export function endFilling (): void { filling-- }

/** A taken buffer comes back for reuse. */
export function giveBuffer (buf: ArrayBuffer): void {
  returned()
  if (buf.byteLength === BATCH_SIZE && (lent > 0 || pool.length < MAX_POOLED)) pool.push(buf)
}

/** A taken buffer is gone for good (kept by a receiver, or lost with a worker). */
export function returned (): void {
  lent = Math.max(0, lent - 1)
  // With no batch in use, keep only the few the next body needs.
  if (lent === 0 && pool.length > MAX_POOLED) pool.length = MAX_POOLED
  // The longest waiting body that may go on now does.
  for (const waiter of waiters) {
    if (waiter.mayGoOn()) {
      waiter.wake()
      return
    }
  }
}

/** Whether fewer batches than the budget are out (not counting those being filled). */
export function underBudget (): boolean {
  return lent - filling < BUFFER_BUDGET
}

/** `waiter` waits for a batch to come back; `stopWaiting` when its wait ends another way. */
export function waitForBudget (waiter: BudgetWaiter): void { waiters.add(waiter) }
export function stopWaiting (waiter: BudgetWaiter): void { waiters.delete(waiter) }

/** For tests: buffers made so far, out now, pooled now, and out but not being filled. */
export function batchBufferStats (): { made: number, lent: number, pooled: number, held: number } {
  return { made, lent, pooled: pool.length, held: lent - filling }
}
