import type Database from 'better-sqlite3'
import type { AbortOptions } from '../../types.js'
import type { StatsOptions, StoreStats } from '../metadata-store.js'
import type { SqliteDatabase, Statement } from './database.js'

export function statStatements (db: Database.Database) {
  return {
    // bucket_stats has one row per bucket (schema.ts): its rows count the buckets.
    stats: db.prepare(`SELECT count(*) AS buckets, coalesce(sum(objects), 0) AS objects, coalesce(sum(bytes), 0) AS bytes,
      coalesce(sum(uploads), 0) AS uploads FROM bucket_stats`) as Statement<[], StoreStats>,
    bucketStats: db.prepare('SELECT 1 AS buckets, objects, bytes, uploads FROM bucket_stats WHERE bucket = ?') as Statement<[string], StoreStats>,
    ping: db.prepare('SELECT 1') as Statement<[]>,
  }
}

export async function stats (db: SqliteDatabase, options?: StatsOptions): Promise<StoreStats | undefined> {
  options?.signal?.throwIfAborted()
  return options?.bucket === undefined ? db.sql.stats.get() : db.sql.bucketStats.get(options.bucket)
}

export async function ping (db: SqliteDatabase, options?: AbortOptions): Promise<void> {
  options?.signal?.throwIfAborted()
  db.sql.ping.get()
}
