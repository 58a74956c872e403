import type { PinListOptions, PinRecord, PinState } from './pins.js'
import { foldName } from './pins.js'
import type { Driver, Json } from './rows.js'

/**
 * Rows of the pins table and their mapping to records, shared by SQLite and PostgreSQL: times are
 * epoch milliseconds in both; JSON is text in SQLite, parsed in PostgreSQL. `name_lower` is the
 * name as the case-insensitive matches compare it, folded here (JavaScript's `toLowerCase`) rather
 * than by the database, so that every store matches alike.
 */
export interface PinRow<D extends Driver> {
  request_id: string
  owner: string
  cid: string
  name: string | null
  name_lower: string | null
  origins: Json<D, string[]>
  meta: Json<D, Record<string, string>>
  status: string
  created: number
  updated: number
  info: Json<D, Record<string, string>> | null
}

function mapping<D extends Driver> (json: <T>(value: Json<D, T>) => T) {
  const toPin = (row: PinRow<D>): PinRecord => {
    const pin: PinRecord = {
      requestId: row.request_id,
      owner: row.owner,
      cid: row.cid,
      origins: json<string[]>(row.origins),
      meta: json<Record<string, string>>(row.meta),
      status: row.status as PinState,
      created: new Date(row.created),
      updated: new Date(row.updated),
    }
    if (row.name !== null) pin.name = row.name
    if (row.info !== null) pin.info = json<Record<string, string>>(row.info)
    return pin
  }
  return { toPin }
}

export const sqlitePinRows = mapping<'sqlite'>((text) => JSON.parse(text))
export const postgresPinRows = mapping<'postgres'>((value) => value)

/** The row to write for `pin`, stored with `created` (ms); JSON columns as text, which both drivers take. */
export function pinRowOf (pin: PinRecord, created: number): PinRow<'sqlite'> {
  return {
    request_id: pin.requestId,
    owner: pin.owner,
    cid: pin.cid,
    name: pin.name ?? null,
    name_lower: pin.name === undefined ? null : foldName(pin.name),
    origins: JSON.stringify(pin.origins),
    meta: JSON.stringify(pin.meta),
    status: pin.status,
    created,
    updated: pin.updated.getTime(),
    info: pin.info === undefined ? null : JSON.stringify(pin.info),
  }
}

/** A listing's filters as statement parameters: null switches a filter off; the time bounds are always set. */
export interface PinFilter {
  owner: string | null
  before: number
  after: number
  cids: string[] | null
  name: string | null
  name_lower: string | null
  match: string
  status: string[] | null
  meta: Record<string, string> | null
}

/** Beyond any time a Date can hold (±8.64e15 ms). */
const NO_BOUND = 8.64e15 + 1

export function pinFilter (options: PinListOptions): PinFilter {
  return {
    owner: options.owner ?? null,
    before: options.before?.getTime() ?? NO_BOUND,
    after: options.after?.getTime() ?? -NO_BOUND,
    cids: options.cids ?? null,
    name: options.name ?? null,
    name_lower: options.name === undefined ? null : foldName(options.name),
    match: options.match ?? 'exact',
    status: options.status ?? null,
    meta: options.meta ?? null,
  }
}

/** A page size for LIMIT: 0 when the caller's limit is below 1 (or not a number). */
export function pinPageSize (limit: number): number {
  return limit >= 1 ? Math.min(Math.floor(limit), 1_000_000) : 0
}
