/**
 * A source that can hand over its bytes already cut into raw leaves and hashed, so that an import
 * under a raw-leaves profile neither copies nor hashes them again on the main thread. A request body
 * (src/protocol/payload.ts) offers this: its bytes already go through the digest worker in batches
 * of `size` bytes from offset 0, which are exactly the leaves of a fixed-size chunker.
 */
export const HASHED_LEAVES = Symbol.for('s3-ipfs-gateway.hashedLeaves')

/**
 * Set (true) on a blockstore whose `put` is done with the bytes it was given when it resolves: it
 * wrote them out and keeps no reference (FsBlockstore, PackBlockstore). An import may then reuse a
 * leaf's buffer for the next bytes. Wrappers that pass puts through pass the mark on.
 */
export const COPIES_PUT_BYTES = Symbol.for('s3-ipfs-gateway.copiesPutBytes')

export function copiesPutBytes (store: unknown): boolean {
  return (store as Record<symbol, unknown> | null)?.[COPIES_PUT_BYTES] === true
}

/** One chunk of the content, in order, with the SHA-256 of its bytes. */
export interface HashedLeaf {
  bytes: Uint8Array
  /** SHA-256 digest of `bytes` (32 bytes). */
  sha256: Uint8Array
  /**
   * Call once, when the bytes are written or will not be. `reusable`: nothing holds the bytes any
   * more (the blockstore copies them, see COPIES_PUT_BYTES), so the buffer may be reused; without
   * it the buffer is only dropped (a blockstore may keep the bytes it was given).
   */
  release: (reusable?: boolean) => void
}

export interface HashedLeaves {
  /** Bytes in every leaf but the last (which holds the rest, and may be shorter). */
  size: number
  /**
   * The leaves, in order; iterate once, instead of the source itself. Errors of the source (a
   * failed check of the body) are thrown from the iterator, at the latest before it reports done.
   * Returning early (break, throw) stops reading the source.
   */
  leaves: () => AsyncIterable<HashedLeaf>
}

export interface HashedLeafSource {
  [HASHED_LEAVES]?: HashedLeaves
}

export function hashedLeavesOf (source: unknown): HashedLeaves | undefined {
  return (source as HashedLeafSource | null)?.[HASHED_LEAVES]
}
