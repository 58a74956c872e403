import type { AbortOptions } from '../types.js'
import type { ChangeOptions } from './jobs.js'

/**
 * A bucket snapshot: a UnixFS directory whose paths are the bucket's keys (under `prefix`) as they
 * were when it was taken and whose entries are the versions' CIDs (src/snapshots/). The record
 * holds one reference on the directory's root CID, taken in the transaction that stores it and
 * released by the one that deletes it, so garbage collection keeps the directory's blocks and,
 * through them, every file it links. A snapshot lives and dies with its bucket: deleting the
 * bucket deletes its snapshots and releases their references.
 */
export interface SnapshotRecord {
  bucket: string
  /** Unique in the bucket, URL-safe, time-ordered: a bucket's snapshots list oldest first. */
  id: string
  /** Root CID of the directory (string form). */
  cid: string
  /** Only keys starting with this are in the snapshot ('' for the whole bucket); paths are the keys with it removed. */
  prefix: string
  created: Date
  /** The principal that took it. */
  owner: string
  /** CID profile the directory nodes were written under. */
  profile: string
  /** Files in the directory (one per key), and the sum of their sizes. */
  keys: number
  bytes: number
  /** Latest versions left out: encrypted (their CID is of ciphertext) and archived (their blocks are not held here). */
  skipped: { encrypted: number, archived: number }
}

/** Where a snapshot with a given root CID is (listSnapshotsByCid). */
export interface SnapshotMatch {
  bucket: string
  id: string
  prefix: string
}

export interface SnapshotListOptions extends AbortOptions {
  /** Only snapshots with a greater id (UTF-8 byte order). */
  after?: string
  /** At most this many (>= 1). */
  limit: number
}

export interface SnapshotCidListOptions extends AbortOptions {
  /** Only snapshots after this (bucket, id), each compared in UTF-8 byte order. */
  after?: { bucket: string, id: string }
  /** At most this many (>= 1). */
  limit: number
}

export interface SnapshotDeleteResult {
  /** The snapshot removed, if there was one. */
  deleted?: SnapshotRecord
  /** CIDs whose reference count reached zero through this change. */
  released: string[]
}

/** What a store keeps of bucket snapshots. Every method is one transaction. */
export interface SnapshotStore {
  /**
   * Stores the snapshot and takes one reference on its root CID, in one transaction. 'exists'
   * (nothing changes) when the bucket has a snapshot with that id; 'no-bucket' when there is no
   * such bucket (deleted meanwhile). Repeating a successful call gives 'exists'.
   *
   * @example
   * if (await store.createSnapshot(record) !== 'created') throw new Error('not recorded')
   */
  createSnapshot(record: SnapshotRecord, options?: ChangeOptions): Promise<'created' | 'exists' | 'no-bucket'>

  /** The snapshot, or undefined. */
  getSnapshot(bucket: string, id: string, options?: AbortOptions): Promise<SnapshotRecord | undefined>

  /** A bucket's snapshots in id order (oldest first) after `options.after`; at most `limit`. One index range. */
  listSnapshots(bucket: string, options: SnapshotListOptions): Promise<SnapshotRecord[]>

  /**
   * Removes the snapshot and releases its reference. Deleting an absent snapshot is not an error:
   * `deleted` is undefined. Repeating a successful call finds nothing.
   */
  deleteSnapshot(bucket: string, id: string, options?: ChangeOptions): Promise<SnapshotDeleteResult>

  /**
   * The snapshots whose root is `cid` (as stored), in (bucket, id) order after `options.after`; at
   * most `limit`. From an index: O(log n + limit).
   */
  listSnapshotsByCid(cid: string, options: SnapshotCidListOptions): Promise<SnapshotMatch[]>
}

/** A page size for LIMIT. */
export function snapshotPageSize (limit: number): number {
  return limit >= 1 ? Math.min(Math.floor(limit), 100_000) : 0
}
