import { compareKeys, lowerBound, lowerBoundBy, prefixSuccessor, seekStart } from './key-order.js'
import type { StoredVersion } from './memory-state.js'
import type { SearchCountOptions, SearchDriver, SearchReadOptions } from './search.js'
import { searchTerms } from './search.js'

type Pair = [number, string]

/** What one key is indexed under: to take it out again when its current object changes. */
interface Indexed {
  terms: string[]
  size: number
  modified: number
}

/** One bucket's search index: each term's keys, and (value, key) pairs by size and by time, all sorted. */
class BucketSearch {
  readonly terms = new Map<string, string[]>()
  readonly bySize: Pair[] = []
  readonly byModified: Pair[] = []
  readonly keys = new Map<string, Indexed>()
}

function comparePairs (a: Pair, b: Pair): number {
  return a[0] - b[0] || compareKeys(a[1], b[1])
}

function pairBound (pairs: readonly Pair[], pair: Pair): number {
  return lowerBoundBy(pairs, pair, comparePairs)
}

/** The memory store's search index (SearchIndex), kept by the store as keys' current objects change. */
export class MemorySearch {
  private readonly buckets = new Map<string, BucketSearch>()

  /** Indexes `key` under its current object now: `current`, or none (no version, or a delete marker). */
  reindex (bucket: string, key: string, current: StoredVersion | undefined): void {
    let index = this.buckets.get(bucket)
    if (index === undefined) {
      if (current === undefined) return
      this.buckets.set(bucket, index = new BucketSearch())
    }
    const old = index.keys.get(key)
    if (old !== undefined) {
      for (const term of old.terms) {
        const keys = index.terms.get(term) as string[]
        keys.splice(lowerBound(keys, key), 1)
        if (keys.length === 0) index.terms.delete(term)
      }
      index.bySize.splice(pairBound(index.bySize, [old.size, key]), 1)
      index.byModified.splice(pairBound(index.byModified, [old.modified, key]), 1)
      index.keys.delete(key)
    }
    if (current === undefined) {
      if (index.keys.size === 0) this.buckets.delete(bucket)
      return
    }
    const entry = { terms: searchTerms(current), size: current.size, modified: current.lastModified.getTime() }
    for (const term of entry.terms) {
      let keys = index.terms.get(term)
      if (keys === undefined) index.terms.set(term, keys = [])
      keys.splice(lowerBound(keys, key), 0, key)
    }
    index.bySize.splice(pairBound(index.bySize, [entry.size, key]), 0, [entry.size, key])
    index.byModified.splice(pairBound(index.byModified, [entry.modified, key]), 0, [entry.modified, key])
    index.keys.set(key, entry)
  }

  /** The keys `driver` selects (see SearchIndex.searchObjects), at most `limit`; `all` is the caller's. */
  keys (bucket: string, driver: Exclude<SearchDriver, { all: true }>, options: Omit<SearchReadOptions, 'signal'>): string[] {
    const index = this.buckets.get(bucket)
    if (index === undefined || !(options.limit >= 1)) return []
    const limit = Math.floor(options.limit)
    const start = seekStart({ prefix: options.prefix, after: options.after }) ?? ''
    const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
    const inRange = (key: string): boolean => compareKeys(key, start) >= 0 && (end === undefined || compareKeys(key, end) < 0)
    if ('term' in driver) {
      const keys = index.terms.get(driver.term) ?? []
      const out: string[] = []
      for (let i = lowerBound(keys, start); i < keys.length && out.length < limit && inRange(keys[i]); i++) out.push(keys[i])
      return out
    }
    return this.inRange(index, driver).filter(inRange).sort(compareKeys).slice(0, limit)
  }

  count (bucket: string, driver: Exclude<SearchDriver, { all: true }>, options: Omit<SearchCountOptions, 'signal'>): number {
    return this.keys(bucket, driver, { prefix: options.prefix, after: options.after, limit: Math.max(1, options.cap) }).length
  }

  // The keys of a size or time range, in value order.
  private inRange (index: BucketSearch, driver: Exclude<SearchDriver, { all: true } | { term: string }>): string[] {
    const [pairs, low, high, inclusive] = 'size' in driver
      ? [index.bySize, driver.size.min ?? -Infinity, driver.size.max ?? Infinity, true]
      : [index.byModified, driver.modified.from ?? -Infinity, driver.modified.to ?? Infinity, false]
    const out: string[] = []
    for (let i = pairBound(pairs, [low, '']); i < pairs.length; i++) {
      const [value, key] = pairs[i]
      if (value > high || (!inclusive && value === high)) break
      out.push(key)
    }
    return out
  }
}
