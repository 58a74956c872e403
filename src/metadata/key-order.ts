/**
 * Object keys compare in UTF-8 byte order, which is Unicode code point order. JavaScript's `<` compares
 * UTF-16 code units instead, which puts supplementary characters (surrogate pairs, 0xD800-0xDFFF)
 * before U+E000..U+FFFF; these helpers correct for that.
 */

/** Negative, zero or positive as `a` sorts before, equal to or after `b` in UTF-8 byte order. */
export function compareKeys (a: string, b: string): number {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x !== y) {
      if (x >= 0xD800 && y >= 0xD800) {
        x = codePointRank(x)
        y = codePointRank(y)
      }
      return x - y
    }
  }
  return a.length - b.length
}

// Moves surrogates above U+E000..U+FFFF, keeping the order within each group.
function codePointRank (unit: number): number {
  return unit < 0xE000 ? unit + 0x2000 : unit - 0x800
}

/**
 * The smallest string greater than every string that starts with `prefix`, so that "starts with
 * prefix" is the range `[prefix, successor)`. Undefined when there is no such bound (empty prefix, or
 * one made only of U+10FFFF).
 */
export function prefixSuccessor (prefix: string): string | undefined {
  const points = Array.from(prefix, (c) => c.codePointAt(0) ?? 0)
  while (points.length > 0 && points[points.length - 1] === 0x10FFFF) points.pop()
  if (points.length === 0) return undefined
  let last = points[points.length - 1] + 1
  if (last === 0xD800) last = 0xE000
  points[points.length - 1] = last
  return String.fromCodePoint(...points)
}

export interface KeyRange {
  prefix?: string
  after?: string
  from?: string
}

/**
 * The inclusive lower bound of a listing: the greatest of `prefix`, `from` and the immediate
 * successor of `after` (`after + '\0'`). Undefined when none is given.
 */
export function seekStart (range: KeyRange): string | undefined {
  let start: string | undefined
  for (const candidate of [range.prefix, range.from, range.after === undefined ? undefined : range.after + '\0']) {
    if (candidate !== undefined && (start === undefined || compareKeys(candidate, start) > 0)) start = candidate
  }
  return start
}

/** Index of the first element of sorted `keys` that is >= `key` (keys.length when none). */
export function lowerBound (keys: readonly string[], key: string): number {
  return lowerBoundBy(keys, key, compareKeys)
}

/** Index of the first element of `items` (sorted by `compare`) that is >= `probe` (items.length when none). */
export function lowerBoundBy<T> (items: readonly T[], probe: T, compare: (a: T, b: T) => number): number {
  let lo = 0
  let hi = items.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compare(items[mid], probe) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

export interface VersionRange {
  prefix?: string
  from?: string
  after?: { key: string, versionId?: string }
}

/**
 * Where a version listing starts: first the versions of `after.key` older than `after.versionId`
 * (`marker`, when a version id is given and that key is itself in range; the store looks the version
 * up and lists nothing of the key when it has no such version), then every version of keys from
 * `start` on (inclusive, as in `seekStart`).
 */
export function versionSeek (range: VersionRange): { marker?: { key: string, versionId: string }, start: string | undefined } {
  const { prefix, from, after } = range
  const start = seekStart({ prefix, from, after: after?.key })
  if (after?.versionId === undefined) return { start }
  const inRange = (prefix === undefined || after.key.startsWith(prefix)) && (from === undefined || compareKeys(after.key, from) >= 0)
  return inRange ? { marker: { key: after.key, versionId: after.versionId }, start } : { start }
}

export interface UploadRange {
  prefix?: string
  from?: string
  after?: { key: string, uploadId?: string }
}

/**
 * The inclusive [key, uploadId] where an upload listing starts: keys from `prefix` / `from` / just
 * after `after.key` with any upload id, or just after [after.key, after.uploadId], whichever is later.
 */
export function uploadSeekStart (range: UploadRange): [string, string] {
  const { after } = range
  const key = seekStart({ prefix: range.prefix, from: range.from, after: after?.uploadId === undefined ? after?.key : undefined }) ?? ''
  if (after?.uploadId === undefined || compareKeys(key, after.key) > 0) return [key, '']
  return [after.key, after.uploadId + '\0']
}
