import { requestCollection } from '../heap.js'

/**
 * Bounds the memory held by request-body buffers that are already dead.
 *
 * Node reads every socket into a fresh buffer of up to 64 KiB. A body's pieces die as soon as they
 * are copied into a batch or written, but their memory is freed only by a garbage collection, and
 * V8 counts it (external memory) towards starting one only after it has grown by about 64 MB; the
 * JavaScript objects of a streamed body are too few to fill the young generation sooner. Meanwhile
 * the dead buffers take malloc's heap, which does not shrink afterwards. Measured on a 1 GiB PUT:
 * 28–34 MB of external memory at the peak, and a peak RSS 15–20 MB above what it is with a
 * scavenge every few MiB (bench/WRITE-PATH.md, round three).
 *
 * So the request observer reports the body bytes every request consumes, and every RECLAIM_BYTES of them (across all
 * requests) this asks V8 for a scavenge of the young generation, where the dead pieces' wrappers
 * are: well under a millisecond, 128 times per GiB. Where the runtime does not allow it
 * (heap.ts), nothing is done and memory behaves as before.
 */
export const RECLAIM_BYTES = 8 * 1024 * 1024

let read = 0

/** A body reader consumed `bytes` read from a socket. */
export function bodyBytesRead (bytes: number): void {
  read += bytes
  if (read < RECLAIM_BYTES) return
  read = 0
  requestCollection('minor')
}
