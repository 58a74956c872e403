/**
 * The 1 MiB batch buffers request bodies are copied into for the digest workers (md5-worker.ts),
 * pooled across every body in the process.
 *
 * A buffer is taken when a body starts a batch and is out until it comes back: from the worker
 * (its bytes hashed), or from the receiver of the leaf it became (its block written).
 */

/** Bytes per batch (and per message to a digest worker). */
export const BATCH_SIZE = 1 << 20

/**
 * Returned buffers kept for reuse once no batch is in use. While some are, the pool keeps every
 * buffer given back (at most what was out at once): buffers dropped under load come back as fresh
 * allocations, and as swings of external memory that make V8 run full collections. With four
 * parts of a multipart upload in flight, a pool of 8 dropped and re-made a tenth of the batches
 * (bench/WRITE-PATH.md, round four).
 */
const MAX_POOLED = 8

const pool: ArrayBuffer[] = []
/** Buffers out of the pool (being filled, at a worker, or held as leaves). */
let lent = 0
/** Buffers made since the process started (for tests). */
let made = 0

export function takeBuffer (): ArrayBuffer {
  lent++
  const buf = pool.pop()
  if (buf !== undefined) return buf
  made++
  return new ArrayBuffer(BATCH_SIZE)
}

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
}

/** For tests: buffers made so far, out now, and pooled now. */
export function batchBufferStats (): { made: number, lent: number, pooled: number } {
  return { made, lent, pooled: pool.length }
}
