import { compareKeys, prefixSuccessor } from '../key-order.js'

interface KeyBound { key: string, inclusive: boolean }

/**
 * The key range of a listing: from the greatest of `prefix` and `from` (inclusive) and `after`
 * (exclusive), up to the prefix's successor. PostgreSQL text cannot hold NUL, so no stored key has
 * one: a bound with a NUL is cut before it and made exclusive (no key lies between), and a prefix
 * with one matches nothing (undefined).
 */
export function keyRange (prefix: string | undefined, from: string | undefined, after: string | undefined): { start?: KeyBound, end?: string } | undefined {
  if (prefix !== undefined && hasNul(prefix)) return undefined
  let start: KeyBound | undefined
  const candidates: Array<[string | undefined, boolean]> = [[prefix, true], [from, true], [after, false]]
  for (const [value, inclusive] of candidates) {
    if (value === undefined) continue
    const cut = value.indexOf('\0')
    const bound = cut === -1 ? { key: value, inclusive } : { key: value.slice(0, cut), inclusive: false }
    const order = start === undefined ? 1 : compareKeys(bound.key, start.key)
    if (order > 0 || (order === 0 && !bound.inclusive)) start = bound
  }
  return { start, end: prefix === undefined ? undefined : prefixSuccessor(prefix) }
}

/** SQL conditions for a key range, its values appended to `values`. */
export function rangeSql (range: { start?: KeyBound, end?: string }, values: unknown[], column = 'key'): string {
  let sql = ''
  if (range.start !== undefined && !(range.start.inclusive && range.start.key === '')) {
    values.push(range.start.key)
    sql += ` AND ${column} ${range.start.inclusive ? '>=' : '>'} $${values.length}`
  }
  if (range.end !== undefined) {
    values.push(range.end)
    sql += ` AND ${column} < $${values.length}`
  }
  return sql
}

/** A page size for LIMIT: 0 when the caller's limit is below 1 (or not a number). */
export function pageSize (limit: number): number {
  return limit >= 1 ? Math.min(Math.floor(limit), Number.MAX_SAFE_INTEGER) : 0
}

export function hasNul (...values: Array<string | undefined>): boolean {
  return values.some((value) => value?.includes('\0') === true)
}

export function unstorable (key: string, id: string): Error {
  return Object.assign(new Error(`PostgreSQL text cannot hold NUL (U+0000): key ${JSON.stringify(key)}, id ${JSON.stringify(id)}`), { code: 'ERR_NUL_IN_NAME' })
}
