import type { BucketRecord } from '../metadata-store.js'

/**
 * Bucket records as this connection last read them, kept until the database changes under them:
 * every S3 request reads its bucket, and reading and mapping the row cost more than the rest of a
 * small GET's metadata work.
 *
 * - A commit by another connection (another process on the file) changes SQLite's `data_version`
 *   as this connection sees it; the cache is emptied when it has moved since the last read.
 * - This connection's own commits do not move it: the functions that write the buckets table
 *   (buckets.ts, the only ones) empty the cache inside their change, in the transaction that makes
 *   it. A read cannot come between: the change and its commit run in one synchronous call.
 *
 * Readers get copies (the store's contract: a caller may change what it was given), made from
 * the kept record without touching the database or parsing its JSON. Absent buckets are
 * remembered too.
 */
export class BucketCache {
  private version: number | undefined
  private readonly records = new Map<string, BucketRecord | null>()

  constructor (private readonly dataVersion: () => number) {}

  get (name: string, load: () => BucketRecord | undefined): BucketRecord | undefined {
    const version = this.dataVersion()
    if (version !== this.version) {
      this.records.clear()
      this.version = version
    }
    let record = this.records.get(name)
    if (record === undefined) {
      record = load() ?? null
      this.records.set(name, record)
    }
    return record === null ? undefined : copyOf(record)
  }

  /** Inside a change that writes the buckets table. */
  clear (): void {
    this.records.clear()
  }
}

function copyOf (record: BucketRecord): BucketRecord {
  const copy = { ...record, created: new Date(record.created) }
  if (record.config !== undefined) copy.config = { ...record.config }
  return copy
}
