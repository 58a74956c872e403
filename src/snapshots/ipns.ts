import { CID } from 'multiformats/cid'
import { IpnsKeyring, type NodePrivateKey } from '../ipns/keys.js'
import type { IpnsPublication } from '../ipns/server.js'
import type { BucketRecord, MetadataStore } from '../metadata/metadata-store.js'
import type { SnapshotRecord } from '../metadata/snapshots.js'
import type { AbortOptions } from '../types.js'

/** A bucket's published snapshot: its bucket configuration `ipns`, stored as this JSON. */
export interface PublishedSnapshot {
  id: string
  cid: string
  /** The snapshot's creation time, in ms since the epoch. */
  created: number
  /**
   * The IPNS record's sequence: `created`, or one more than the previous publication's when that
   * is not less (two snapshots in one ms, a clock set back). Readers keep the highest sequence.
   */
  sequence: number
}

/** The bucket's published snapshot, or undefined when it publishes none. */
export function publishedSnapshot (bucket: Pick<BucketRecord, 'config'>): PublishedSnapshot | undefined {
  const text = bucket.config?.ipns
  if (text === undefined) return undefined
  try {
    const { id, cid, created, sequence } = JSON.parse(text) as Partial<PublishedSnapshot>
    if (typeof id !== 'string' || typeof cid !== 'string' || !Number.isSafeInteger(created) || !Number.isSafeInteger(sequence)) return undefined
    return { id, cid, created: created as number, sequence: sequence as number }
  } catch {
    return undefined
  }
}

/**
 * Makes `snapshot` its bucket's published snapshot (`bucket` as read before: its previous
 * publication sets the least sequence). Undefined when the bucket is gone.
 */
export async function publishSnapshot (metadata: Pick<MetadataStore, 'setBucketConfig'>, bucket: Pick<BucketRecord, 'name' | 'config'>, snapshot: SnapshotRecord, options?: AbortOptions): Promise<PublishedSnapshot | undefined> {
  const created = snapshot.created.getTime()
  const value: PublishedSnapshot = { id: snapshot.id, cid: snapshot.cid, created, sequence: Math.max(created, (publishedSnapshot(bucket)?.sequence ?? -1) + 1) }
  return await metadata.setBucketConfig(bucket.name, 'ipns', JSON.stringify(value), options) ? value : undefined
}

/** Clears the bucket's published snapshot: its name then resolves to nothing. */
export async function unpublishSnapshot (metadata: Pick<MetadataStore, 'setBucketConfig'>, bucket: string, options?: AbortOptions): Promise<void> {
  await metadata.setBucketConfig(bucket, 'ipns', undefined, options)
}

export interface SnapshotNamesInit {
  /** The node's private key (`loadOrCreateIpfsKey`): each bucket's name is derived from it. */
  nodeKey: NodePrivateKey
  metadata: Pick<MetadataStore, 'getBucket' | 'listBuckets' | 'getSnapshot'>
  /** A name not derived yet has the buckets listed to find it at most this often. Default 10 s. */
  rescanMs?: number
  /** The clock for `rescanMs`, in ms. Default `Date.now`. */
  now?: () => number
}

/**
 * Each bucket's IPNS name (the node key's derived key for the bucket's name) and the resolver that
 * maps a name back to its bucket's published snapshot, for `ipnsRecordServer`.
 */
export class SnapshotNames {
  private readonly keyring: IpnsKeyring
  private readonly metadata: SnapshotNamesInit['metadata']
  private readonly rescanMs: number
  private readonly now: () => number
  private lastScan = -Infinity
  private scanning: Promise<void> | undefined

  constructor (init: SnapshotNamesInit) {
    this.keyring = new IpnsKeyring(init.nodeKey)
    this.metadata = init.metadata
    this.rescanMs = init.rescanMs ?? 10_000
    this.now = init.now ?? Date.now
  }

  /** The bucket's IPNS name (`k51...`): the same for every start with the same node key. */
  name (bucket: string): string {
    return this.keyring.key(bucket).name
  }

  /**
   * What `name` points to: its bucket's published snapshot, while that snapshot exists. Undefined
   * for the node's own name, a name of no bucket, and a bucket that publishes nothing.
   */
  readonly resolve = async (name: string, options: AbortOptions = {}): Promise<IpnsPublication | undefined> => {
    let key = await this.keyring.find(name)
    if (key === undefined) {
      await this.rescan()
      key = await this.keyring.find(name)
    }
    if (key?.label === undefined) return undefined
    const bucket = await this.metadata.getBucket(key.label, options)
    const published = bucket === undefined ? undefined : publishedSnapshot(bucket)
    if (published === undefined) return undefined
    // A name never points at released content, whatever removed the snapshot.
    const snapshot = await this.metadata.getSnapshot(key.label, published.id, options)
    if (snapshot?.cid !== published.cid) return undefined
    return { key, value: CID.parse(published.cid), sequence: BigInt(published.sequence) }
  }

  /**
   * Derives the names of the buckets that publish, unless that was done less than `rescanMs` ago:
   * names published by another process sharing the metadata, or before a restart. Not bound to a
   * request's signal: concurrent misses share one listing.
   */
  private async rescan (): Promise<void> {
    if (this.scanning === undefined) {
      if (this.now() - this.lastScan < this.rescanMs) return
      this.lastScan = this.now()
      this.scanning = (async () => {
        for (const bucket of await this.metadata.listBuckets()) {
          if (publishedSnapshot(bucket) !== undefined) this.keyring.key(bucket.name)
        }
      })().finally(() => { this.scanning = undefined })
    }
    await this.scanning
  }
}
