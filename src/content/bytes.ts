import type { AbortOptions } from '../types.js'

/** One Uint8Array of `chunks` (the chunk itself when there is only one). */
export function concatBytes (chunks: Uint8Array[], length = chunks.reduce((n, c) => n + c.byteLength, 0)): Uint8Array {
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(length)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/** Reads a short stream of chunks (one block) into one Uint8Array, checking the signal per chunk. */
export async function collectBytes (chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options?: AbortOptions): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let length = 0
  for await (const chunk of chunks) {
    options?.signal?.throwIfAborted()
    parts.push(chunk)
    length += chunk.byteLength
  }
  return concatBytes(parts, length)
}

/**
 * A Map key for bytes (a CID's or a multihash's): the bytes as a one-byte string, made in one
 * native copy. Cheaper than any text encoding, and nothing lives on the bytes' owner, where
 * `cid.toString()` caches its base32 (bench/WRITE-PATH.md, round eight).
 */
export function bytesKey (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}
