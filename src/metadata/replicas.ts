import type { AbortOptions } from '../types.js'

/**
 * Where a copy of a CID's DAG was asked for: one row per (CID, remote pinning service). The
 * replication job writes these as it goes, so that after a crash it knows what it already asked
 * for (no duplicate pin requests) and what to remove when the CID is released.
 *
 * - requesting: about to ask (a crash here is resolved by looking the pin up at the service by name)
 * - queued / pinning / pinned / failed: the service's last answer for our request
 */
export type ReplicaStatus = 'requesting' | 'queued' | 'pinning' | 'pinned' | 'failed'

export interface ReplicaRecord {
  cid: string
  /** The remote service's configured name. */
  service: string
  /** The service's requestid, once it answered. */
  requestId?: string
  status: ReplicaStatus
  /** Multiaddrs of the service's nodes that hold (or will hold) the DAG: where reads fail over to. */
  delegates: string[]
  /** Why the last attempt failed. */
  error?: string
  created: Date
  updated: Date
}

export interface ReplicaListOptions extends AbortOptions {
  /** Only rows after this (cid, service), in that order. */
  after?: { cid: string, service: string }
  limit: number
}

/** What a store keeps of replicas. */
export interface ReplicaStore {
  /** Stores the row of (cid, service), replacing the one there. */
  putReplica(record: ReplicaRecord, options?: AbortOptions): Promise<void>
  /** The CID's rows, by service name. */
  getReplicas(cid: string, options?: AbortOptions): Promise<ReplicaRecord[]>
  /** False when there was no such row. */
  deleteReplica(cid: string, service: string, options?: AbortOptions): Promise<boolean>
  /** Every row in (cid, service) order, a page at a time. */
  listReplicas(options: ReplicaListOptions): Promise<ReplicaRecord[]>
}
