import type { StatsOptions, StoreStats } from '../metadata-store.js'
import type { PostgresConnection } from './connection.js'
import { hasNul } from './keys.js'

// A bucket's totals are the sum of its rows of bucket_stats; its slot 0 row is there as long as it is (schema.ts).
const SUMS = 'coalesce(sum(objects), 0)::bigint AS objects, coalesce(sum(bytes), 0)::bigint AS bytes, coalesce(sum(uploads), 0)::bigint AS uploads'

export async function stats (db: PostgresConnection, options?: StatsOptions): Promise<StoreStats | undefined> {
  options?.signal?.throwIfAborted()
  const bucket = options?.bucket
  if (bucket === undefined) {
    const { rows: [totals] } = await db.query<StoreStats>(options,
      `SELECT count(*) FILTER (WHERE slot = 0) AS buckets, ${SUMS} FROM ${db.s}.bucket_stats`)
    return totals
  }
  if (hasNul(bucket)) return undefined
  const { rows } = await db.query<StoreStats>(options,
    `SELECT 1 AS buckets, ${SUMS} FROM ${db.s}.bucket_stats WHERE bucket = $1 HAVING count(*) > 0`, [bucket])
  return rows[0]
}
