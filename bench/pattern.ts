/**
 * Pseudo-random object bytes generated on the fly, and their byte-for-byte verification.
 *
 * Why not a buffer repeated: the server under test stores content-addressed blocks, so a body made
 * of identical 1 MiB (or 256 KiB) blocks would be stored once and every further block would be a
 * cheap "already have it" — that flatters us and not s3rver. Why not fresh random bytes per slice:
 * generating them (even AES-CTR) costs more CPU than the servers spend per byte on this 2-core
 * machine, so the client would become the limit. Instead each 1 MiB slice is a different rotation
 * of one fixed random 1 MiB buffer (a zero-cost window into a doubled copy), copied once and stamped
 * with (seed, slice, position) every 4 KiB: no two fixed-size chunks of 4 KiB or more are equal,
 * inside one object or across objects with different seeds, and it costs one memcpy per MiB.
 */
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'

export const SLICE = 1 << 20
const STAMP_EVERY = 4096

let doubled: Buffer | undefined
function base (): Buffer {
  if (doubled === undefined) {
    const b = randomBytes(SLICE)
    doubled = Buffer.concat([b, b])
  }
  return doubled
}

/** Pseudo-random rotation 0..SLICE-1 of slice i (the stamps, not the rotation, guarantee uniqueness). */
function rotation (seed: number, i: number): number {
  return (Math.imul(i + 1, 0x9e3779b1) + Math.imul(seed, 0x85ebca77)) >>> 12 // 20 bits: 0..SLICE-1
}

/** The bytes of slice `i` (length `len` ≤ SLICE) of the object with this seed; a fresh buffer. */
export function makeSlice (seed: number, i: number, len = SLICE): Buffer {
  const src = base()
  const out = Buffer.allocUnsafe(len)
  const r = rotation(seed, i)
  src.copy(out, 0, r, r + len)
  for (let p = 0; p + 12 <= len; p += STAMP_EVERY) {
    out.writeUInt32LE(seed >>> 0, p)
    out.writeUInt32LE(i >>> 0, p + 4)
    out.writeUInt32LE(p, p + 8)
  }
  return out
}

/**
 * A Readable of `size` bytes in 1 MiB slices; nothing but the in-flight slices is held in memory.
 * With `from` (a multiple of 1 MiB) it is that range of the object: the streams of consecutive
 * ranges (multipart parts) concatenate to the stream of the whole.
 */
export function patternStream (seed: number, size: number, from = 0): Readable {
  if (from % SLICE !== 0) throw new RangeError(`patternStream: from (${from}) must be a multiple of ${SLICE}`)
  let i = from / SLICE
  let sent = 0
  return new Readable({
    highWaterMark: 2 * SLICE,
    read () {
      if (sent >= size) { this.push(null); return }
      const len = Math.min(SLICE, size - sent)
      const slice = makeSlice(seed, i++, len)
      sent += len
      this.push(slice)
    },
  })
}

/** Whole-body buffer of the pattern (only for small objects). */
export function patternBuffer (seed: number, size: number): Buffer {
  const parts: Buffer[] = []
  for (let i = 0, done = 0; done < size; i++) {
    const len = Math.min(SLICE, size - done)
    parts.push(makeSlice(seed, i, len))
    done += len
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts)
}

/**
 * Checks a received body chunk by chunk against the regenerated pattern (memcmp speed), and
 * counts its length. `ok` turns false at the first differing byte.
 */
export class PatternVerifier {
  received = 0
  ok = true
  firstBad = -1
  private slice: Buffer | undefined
  private sliceIndex = -1

  constructor (private readonly seed: number, private readonly size: number) {}

  update (chunk: Uint8Array): void {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    let off = 0
    while (off < chunk.length) {
      const pos = this.received + off
      if (pos >= this.size) { this.fail(pos); return }
      const idx = Math.floor(pos / SLICE)
      if (idx !== this.sliceIndex) {
        this.sliceIndex = idx
        this.slice = makeSlice(this.seed, idx, Math.min(SLICE, this.size - idx * SLICE))
      }
      const within = pos - idx * SLICE
      const n = Math.min(chunk.length - off, this.slice!.length - within)
      if (this.ok && b.compare(this.slice!, within, within + n, off, off + n) !== 0) this.fail(pos)
      off += n
    }
    this.received += chunk.length
  }

  /** True when every byte matched and the length is exactly `size`. */
  done (): boolean {
    return this.ok && this.received === this.size
  }

  private fail (pos: number): void {
    if (this.ok) { this.ok = false; this.firstBad = pos }
  }
}
