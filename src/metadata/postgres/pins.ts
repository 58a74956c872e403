import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import type { PinDeleteResult, PinList, PinListOptions, PinRecord, PinState, PinStatusOptions } from '../pins.js'
import { pinExists } from '../pins.js'
import type { PinRow } from '../pin-rows.js'
import { pinFilter, pinPageSize, pinRowOf, postgresPinRows, sqlitePinRows } from '../pin-rows.js'
import { add } from './connection.js'
import type { PostgresConnection, Queryable } from './connection.js'
import { hasNul } from './keys.js'

type Row = PinRow<'postgres'>
const { toPin } = postgresPinRows

const COLUMNS = 'request_id, owner, cid, name, name_lower, origins, meta, status, created, updated, info'

/** Thrown inside a change that finds nothing to do, so that it rolls back (with its jobs unqueued). */
class NoChange extends Error {}

async function attempt<T> (run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run()
  } catch (err) {
    if (err instanceof NoChange) return undefined
    throw err
  }
}

/** PostgreSQL text and jsonb cannot hold NUL: such a pin cannot be stored. */
function checkStorable (pin: PinRecord): void {
  if (hasNul(pin.requestId, pin.owner, pin.cid, pin.name) || JSON.stringify([pin.origins, pin.meta, pin.info ?? {}]).includes('\\u0000')) {
    throw Object.assign(new Error(`PostgreSQL text cannot hold NUL (U+0000): pin ${JSON.stringify(pin.requestId)}`), { code: 'ERR_NUL_IN_NAME' })
  }
}

/**
 * Inside a change: stores the pin with a `created` unique among its owner's. A concurrent insert
 * of the same (owner, created) makes this one wait for it, then try the next millisecond.
 */
async function insert (db: PostgresConnection, q: Queryable, pin: PinRecord, deltas: Map<string, number>): Promise<PinRecord> {
  const { rowCount: taken } = await q.query(db.sql(`SELECT 1 FROM ${db.s}.pins WHERE request_id = $1`, [pin.requestId]))
  if ((taken ?? 0) > 0) throw pinExists(pin.requestId)
  const row = pinRowOf(pin, pin.created.getTime())
  for (;; row.created++) {
    const { rowCount } = await q.query(db.sql(`INSERT INTO ${db.s}.pins (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
      ON CONFLICT (owner, created) DO NOTHING`,
    [row.request_id, row.owner, row.cid, row.name, row.name_lower, row.origins, row.meta, row.status, row.created, row.updated, row.info]))
    if (rowCount === 1) break
  }
  if (pin.status === 'pinned') add(deltas, pin.cid, 1)
  // The row written, read back: its JSON columns are text, as SQLite's are.
  return sqlitePinRows.toPin(row)
}

async function locked (db: PostgresConnection, q: Queryable, requestId: string): Promise<Row | undefined> {
  const { rows } = await q.query<Row>(db.sql(`SELECT ${COLUMNS} FROM ${db.s}.pins WHERE request_id = $1 FOR UPDATE`, [requestId]))
  return rows[0]
}

export async function createPin (db: PostgresConnection, pin: PinRecord, options?: ChangeOptions): Promise<PinRecord> {
  options?.signal?.throwIfAborted()
  checkStorable(pin)
  const { result } = await db.change(options, [], async (q, deltas) => await insert(db, q, pin, deltas))
  return result
}

export async function getPin (db: PostgresConnection, requestId: string, options?: AbortOptions): Promise<PinRecord | undefined> {
  options?.signal?.throwIfAborted()
  if (hasNul(requestId)) return undefined
  const { rows } = await db.query<Row>(options, `SELECT ${COLUMNS} FROM ${db.s}.pins WHERE request_id = $1`, [requestId])
  return rows.length === 0 ? undefined : toPin(rows[0])
}

export async function setPinStatus (db: PostgresConnection, requestId: string, status: PinState, options?: PinStatusOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  if (hasNul(requestId)) return false
  const now = (options?.now ?? new Date()).getTime()
  const info = options?.info === undefined ? null : JSON.stringify(options.info)
  const changed = await attempt(async () => await db.change(options, [], async (q, deltas) => {
    const row = await locked(db, q, requestId)
    if (row === undefined || (options?.from !== undefined && !options.from.includes(row.status as PinState))) throw new NoChange()
    await q.query(db.sql(`UPDATE ${db.s}.pins SET status = $2, updated = $3, info = coalesce($4::jsonb, info) WHERE request_id = $1`,
      [requestId, status, now, info]))
    if (status === 'pinned' && row.status !== 'pinned') add(deltas, row.cid, 1)
    if (status !== 'pinned' && row.status === 'pinned') add(deltas, row.cid, -1)
  }))
  return changed !== undefined
}

export async function deletePin (db: PostgresConnection, requestId: string, options?: ChangeOptions): Promise<PinDeleteResult> {
  options?.signal?.throwIfAborted()
  if (hasNul(requestId)) return { released: [] }
  const done = await attempt(async () => await db.change(options, [], async (q, deltas) => {
    const { rows } = await q.query<Row>(db.sql(`DELETE FROM ${db.s}.pins WHERE request_id = $1 RETURNING ${COLUMNS}`, [requestId]))
    if (rows.length === 0) throw new NoChange()
    if (rows[0].status === 'pinned') add(deltas, rows[0].cid, -1)
    return toPin(rows[0])
  }))
  return done === undefined ? { released: [] } : { deleted: done.result, released: done.released }
}

export async function replacePin (db: PostgresConnection, oldRequestId: string, pin: PinRecord, options?: ChangeOptions): Promise<PinRecord | undefined> {
  options?.signal?.throwIfAborted()
  if (hasNul(oldRequestId)) return undefined
  checkStorable(pin)
  const done = await attempt(async () => await db.change(options, [], async (q, deltas) => {
    const old = await locked(db, q, oldRequestId)
    if (old === undefined || old.owner !== pin.owner) throw new NoChange()
    await q.query(db.sql(`DELETE FROM ${db.s}.pins WHERE request_id = $1`, [oldRequestId]))
    // Net deltas: a pinned CID carried over to the new pin is +1 -1, never released.
    if (old.status === 'pinned') add(deltas, old.cid, -1)
    return await insert(db, q, { ...pin, status: old.status === 'pinned' && old.cid === pin.cid ? 'pinned' : 'queued' }, deltas)
  }))
  return done?.result
}

/**
 * One statement, so the count and the page are of one snapshot: the count of every match, joined
 * with the page (a row of NULLs when the page is empty). With an owner, both read one range of
 * pins_by_owner, the page newest first up to its limit.
 */
export async function listPins (db: PostgresConnection, options: PinListOptions): Promise<PinList> {
  options.signal?.throwIfAborted()
  const f = pinFilter(options)
  if (hasNul(f.owner ?? undefined, f.name ?? undefined, ...(f.cids ?? [])) || JSON.stringify(f.meta ?? {}).includes('\\u0000')) return { count: 0, results: [] }
  const values: unknown[] = [f.before, f.after, f.cids, f.name, f.name_lower, f.match, f.status, f.meta === null ? null : JSON.stringify(f.meta), pinPageSize(options.limit)]
  let where = `created < $1 AND created > $2
    AND ($3::text[] IS NULL OR cid = ANY ($3::text[]))
    AND ($4::text IS NULL OR CASE $6::text WHEN 'exact' THEN name = $4 WHEN 'iexact' THEN name_lower = $5
      WHEN 'partial' THEN strpos(name, $4) > 0 ELSE strpos(name_lower, $5) > 0 END)
    AND ($7::text[] IS NULL OR status = ANY ($7::text[]))
    AND ($8::jsonb IS NULL OR meta @> $8::jsonb)`
  if (f.owner !== null) {
    values.push(f.owner)
    where = `owner = $10 AND ${where}`
  }
  const { rows } = await db.query<{ total: number } & ({ [K in keyof Row]: Row[K] | null })>(options, `SELECT c.total, ${COLUMNS.split(', ').map((c) => `p.${c}`).join(', ')}
    FROM (SELECT count(*)::int AS total FROM ${db.s}.pins WHERE ${where}) c
    LEFT JOIN LATERAL (SELECT ${COLUMNS} FROM ${db.s}.pins WHERE ${where} ORDER BY created DESC, request_id LIMIT $9) p ON true`, values, true)
  return { count: rows[0]?.total ?? 0, results: rows.filter((row) => row.request_id !== null).map((row) => toPin(row as Row)) }
}
