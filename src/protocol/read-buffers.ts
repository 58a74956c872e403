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
 * So the request observer reports the body bytes every request consumes, and every RECLAIM_BYTES
 * of them (across all requests) this asks V8 for a scavenge of the young generation, where the
 * dead pieces' wrappers are: well under a millisecond, 256 times per GiB. Where the runtime does
 * not allow it (heap.ts), nothing is done and memory behaves as before.
 *
 * The dead pieces between two scavenges are also a swing of external memory, which V8 counts
 * against the room left under its old generation's limit: 8 MB for a small heap with V8's own
 * growing factor, as in an application that embeds the library. With a scavenge every 8 MiB, that
 * room ran out at every swing once V8 had collected once, and it collected every 50–250 ms for as
 * long as bodies streamed: 11–29 full collections per GiB of one-stream PUT. Every 4 MiB: 1–3, and
 * 15% less server CPU per GiB; the standalone server, whose heap policy gives V8 more room, paid
 * nothing measurable for the extra scavenges (bench/WRITE-PATH.md, round nine).
 */
export const RECLAIM_BYTES = 4 * 1024 * 1024

let read = 0

/** A body reader consumed `bytes` read from a socket. */
export function bodyBytesRead (bytes: number): void {
  read += bytes
  if (read < RECLAIM_BYTES) return
  read = 0
  requestCollection('minor')
}
