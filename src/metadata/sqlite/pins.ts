import type Database from 'better-sqlite3'
import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import { jobsOf } from '../jobs.js'
import type { PinDeleteResult, PinList, PinListOptions, PinRecord, PinState, PinStatusOptions } from '../pins.js'
import { pinExists } from '../pins.js'
import type { PinFilter, PinRow } from '../pin-rows.js'
import { pinFilter, pinPageSize, pinRowOf, sqlitePinRows } from '../pin-rows.js'
import type { SqliteDatabase, Statement } from './database.js'
import { checkJobs, enqueue } from './jobs.js'
import { release, retain } from './refs.js'

type Row = PinRow<'sqlite'>
const { toPin } = sqlitePinRows

const COLUMNS = 'request_id, owner, cid, name, name_lower, origins, meta, status, created, updated, info'

/** A listing's parameters (pin-rows.ts `pinFilter`), lists and maps as JSON text. */
type Filter = Omit<PinFilter, 'cids' | 'status' | 'meta'> & { cids: string | null, status: string | null, meta: string | null }

// Every filter is in the statement, a NULL parameter switching it off, so that one prepared
// statement serves every query. Only `owner` and the time bounds are index conditions: a list for
// an owner reads one range of pins_by_owner, newest first, and stops at the limit.
const WHERE = `created < @before AND created > @after
  AND (@cids IS NULL OR cid IN (SELECT value FROM json_each(@cids)))
  AND (@name IS NULL OR CASE @match WHEN 'exact' THEN name = @name WHEN 'iexact' THEN name_lower = @name_lower
    WHEN 'partial' THEN instr(name, @name) > 0 ELSE instr(name_lower, @name_lower) > 0 END)
  AND (@status IS NULL OR status IN (SELECT value FROM json_each(@status)))
  AND (@meta IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(@meta) AS f
    WHERE NOT EXISTS (SELECT 1 FROM json_each(pins.meta) AS m WHERE m.key = f.key AND m.value = f.value)))`

/** The page (or with `count`, the count) of a listing, of one owner's pins or everyone's. */
export function pinListSql (byOwner: boolean, count = false): string {
  const where = byOwner ? `owner = @owner AND ${WHERE}` : WHERE
  return count ? `SELECT count(*) FROM pins WHERE ${where}` : `SELECT ${COLUMNS} FROM pins WHERE ${where} ORDER BY created DESC, request_id LIMIT @limit`
}

export function pinStatements (db: Database.Database) {
  return {
    insertPin: db.prepare(`INSERT INTO pins (${COLUMNS})
      VALUES (@request_id, @owner, @cid, @name, @name_lower, @origins, @meta, @status, @created, @updated, @info)`) as Statement<[Row]>,
    getPin: db.prepare(`SELECT ${COLUMNS} FROM pins WHERE request_id = ?`) as Statement<[string], Row>,
    pinTimeTaken: db.prepare('SELECT 1 FROM pins WHERE owner = ? AND created = ?').pluck() as Statement<[string, number], number>,
    setPinStatus: db.prepare('UPDATE pins SET status = ?, updated = ?, info = coalesce(?, info) WHERE request_id = ?') as
      Statement<[string, number, string | null, string]>,
    deletePin: db.prepare('DELETE FROM pins WHERE request_id = ?') as Statement<[string]>,
    listOwnerPins: db.prepare(pinListSql(true)) as Statement<[Filter & { limit: number }], Row>,
    countOwnerPins: db.prepare(pinListSql(true, true)).pluck() as Statement<[Filter], number>,
    listAllPins: db.prepare(pinListSql(false)) as Statement<[Omit<Filter, 'owner'> & { limit: number }], Row>,
    countAllPins: db.prepare(pinListSql(false, true)).pluck() as Statement<[Omit<Filter, 'owner'>], number>,
  }
}

/** Thrown inside a change that finds nothing to do, so that it rolls back (with its jobs unqueued). */
class NoChange extends Error {}

/** Runs `change`; undefined when it threw NoChange. Jobs are enqueued by the change itself when it happens. */
async function attempt<T> (db: SqliteDatabase, change: () => T): Promise<T | undefined> {
  try {
    return await db.write(change)
  } catch (err) {
    if (err instanceof NoChange) return undefined
    throw err
  }
}

/** Inside a change: stores the pin with a `created` unique among its owner's, and takes its reference if pinned. */
function insert (db: SqliteDatabase, pin: PinRecord): PinRecord {
  if (db.sql.getPin.get(pin.requestId) !== undefined) throw pinExists(pin.requestId)
  let created = pin.created.getTime()
  while (db.sql.pinTimeTaken.get(pin.owner, created) !== undefined) created++
  const row = pinRowOf(pin, created)
  db.sql.insertPin.run(row)
  if (pin.status === 'pinned') retain(db, pin.cid)
  return toPin(row)
}

export async function createPin (db: SqliteDatabase, pin: PinRecord, options?: ChangeOptions): Promise<PinRecord> {
  options?.signal?.throwIfAborted()
  checkJobs(options?.jobs)
  return await db.write(() => {
    const stored = insert(db, pin)
    enqueue(db, jobsOf(options, [], (cid) => db.hasReplicas(cid)))
    return stored
  })
}

export async function getPin (db: SqliteDatabase, requestId: string, options?: AbortOptions): Promise<PinRecord | undefined> {
  options?.signal?.throwIfAborted()
  const row = db.sql.getPin.get(requestId)
  return row === undefined ? undefined : toPin(row)
}

export async function setPinStatus (db: SqliteDatabase, requestId: string, status: PinState, options?: PinStatusOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  checkJobs(options?.jobs)
  const now = (options?.now ?? new Date()).getTime()
  const info = options?.info === undefined ? null : JSON.stringify(options.info)
  return await attempt(db, () => {
    const row = db.sql.getPin.get(requestId)
    if (row === undefined || (options?.from !== undefined && !options.from.includes(row.status as PinState))) throw new NoChange()
    db.sql.setPinStatus.run(status, now, info, requestId)
    if (status === 'pinned' && row.status !== 'pinned') retain(db, row.cid)
    const released = row.status === 'pinned' && status !== 'pinned' ? release(db, row.cid) : []
    enqueue(db, jobsOf(options, released, (cid) => db.hasReplicas(cid)))
    return true
  }) ?? false
}

export async function deletePin (db: SqliteDatabase, requestId: string, options?: ChangeOptions): Promise<PinDeleteResult> {
  options?.signal?.throwIfAborted()
  checkJobs(options?.jobs)
  return await attempt(db, () => {
    const row = db.sql.getPin.get(requestId)
    if (row === undefined) throw new NoChange()
    db.sql.deletePin.run(requestId)
    const released = row.status === 'pinned' ? release(db, row.cid) : []
    enqueue(db, jobsOf(options, released, (cid) => db.hasReplicas(cid)))
    return { deleted: toPin(row), released }
  }) ?? { released: [] }
}

export async function replacePin (db: SqliteDatabase, oldRequestId: string, pin: PinRecord, options?: ChangeOptions): Promise<PinRecord | undefined> {
  options?.signal?.throwIfAborted()
  checkJobs(options?.jobs)
  return await attempt(db, () => {
    const old = db.sql.getPin.get(oldRequestId)
    if (old === undefined || old.owner !== pin.owner) throw new NoChange()
    db.sql.deletePin.run(oldRequestId)
    // The new pin's reference is taken before the old one's is dropped: a shared CID never reaches zero.
    const stored = insert(db, { ...pin, status: old.status === 'pinned' && old.cid === pin.cid ? 'pinned' : 'queued' })
    const released = old.status === 'pinned' ? release(db, old.cid) : []
    enqueue(db, jobsOf(options, released, (cid) => db.hasReplicas(cid)))
    return stored
  })
}

export async function listPins (db: SqliteDatabase, options: PinListOptions): Promise<PinList> {
  options.signal?.throwIfAborted()
  const parsed = pinFilter(options)
  const json = (value: unknown): string | null => value === null ? null : JSON.stringify(value)
  const filter: Filter = { ...parsed, cids: json(parsed.cids), status: json(parsed.status), meta: json(parsed.meta) }
  const limit = pinPageSize(options.limit)
  const { owner, ...rest } = filter
  return db.read(() => owner === null
    ? { count: db.sql.countAllPins.get(rest) as number, results: limit === 0 ? [] : db.sql.listAllPins.all({ ...rest, limit }).map(toPin) }
    : { count: db.sql.countOwnerPins.get(filter) as number, results: limit === 0 ? [] : db.sql.listOwnerPins.all({ ...filter, limit }).map(toPin) })
}
