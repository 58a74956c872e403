import type { AbortOptions } from '../../types.js'
import type { PostgresConnection } from './connection.js'
import { hasNul } from './keys.js'

export async function refCount (db: PostgresConnection, cid: string, options?: AbortOptions): Promise<number> {
  options?.signal?.throwIfAborted()
  if (hasNul(cid)) return 0
  const { rows } = await db.query<{ count: number }>(options, `SELECT count FROM ${db.s}.refs WHERE cid = $1`, [cid])
  return rows.length === 0 ? 0 : rows[0].count
}

export async function * referencedCids (db: PostgresConnection, options?: AbortOptions): AsyncIterable<string> {
  // Pages by key rather than a cursor, so no connection or snapshot is held between pages.
  let after: string | undefined
  while (true) {
    const { rows } = after === undefined
      ? await db.query<{ cid: string }>(options, `SELECT cid FROM ${db.s}.refs ORDER BY cid LIMIT 1000`)
      : await db.query<{ cid: string }>(options, `SELECT cid FROM ${db.s}.refs WHERE cid > $1 ORDER BY cid LIMIT 1000`, [after])
    for (const { cid } of rows) yield cid
    if (rows.length < 1000) return
    after = rows[rows.length - 1].cid
  }
}
