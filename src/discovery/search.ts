import { S3Error } from '../errors.js'
import type { ObjectVersion } from '../metadata/metadata-store.js'
import type { SearchDriver, SearchIndex } from '../metadata/search.js'
import { cidTerm, mediaType, mediaTypeTerm, metadataTerm, storageClassTerm, tagKeyTerm, tagTerm } from '../metadata/search.js'
import { STORAGE_CLASSES } from '../protocol/headers.js'
import { normalizeCid } from './find-by-cid.js'

/**
 * What a search asks for: every condition given must hold (AND). A bucket's current objects are
 * searched (latest versions, delete markers aside), in key order.
 */
export interface SearchFilter {
  prefix?: string
  /** Tags with these keys and values. */
  tags: Array<[string, string]>
  /** Tags with these keys, any value. */
  tagKeys: string[]
  /** User metadata entries (names lower-case, as stored). */
  metadata: Array<[string, string]>
  /** The Content-Type's media type (parameters and ASCII case aside). */
  contentType?: string
  /** Size in bytes, both ends inclusive. */
  size: { min?: number, max?: number }
  /** Last modified in [from, to), epoch milliseconds. */
  modified: { from?: number, to?: number }
  /** The version's root CID (canonical string). */
  cid?: string
  /** STANDARD for objects stored without a class. */
  storageClass?: string
}

/** The search parameters, shared by `/-/search` and the ListObjectsV2 extension. */
const PARAMETERS = ['tag-key', 'content-type', 'min-size', 'max-size', 'modified-after', 'modified-before', 'cid', 'storage-class']
const TAG = 'tag.'
const META = 'meta.'

/** Listings other than ListObjectsV2 refuse search parameters rather than list everything. */
export function refuseSearch (query: URLSearchParams, operation: string): void {
  if (isSearch(query)) throw new S3Error('NotImplemented', `Search parameters are supported by ListObjectsV2 (list-type=2) and /-/search, not by ${operation}.`)
}

/** Whether a query asks for a search (any filter parameter besides prefix). */
export function isSearch (query: URLSearchParams): boolean {
  for (const name of query.keys()) {
    if (PARAMETERS.includes(name) || name.startsWith(TAG) || name.startsWith(META)) return true
  }
  return false
}

/**
 * The filter of a query: `prefix`, `tag.<key>=<value>` and `tag-key=<key>` (repeatable),
 * `meta.<name>=<value>`, `content-type`, `min-size` / `max-size` (bytes, inclusive),
 * `modified-after` / `modified-before` (ISO 8601, both exclusive), `cid`, `storage-class`.
 * Bad values: S3Error InvalidArgument naming the parameter.
 */
export function parseSearchFilter (query: URLSearchParams): SearchFilter {
  const filter: SearchFilter = { tags: [], tagKeys: [], metadata: [], size: {}, modified: {} }
  const prefix = query.get('prefix')
  if (prefix !== null && prefix !== '') filter.prefix = prefix
  for (const [name, value] of query) {
    if (name.startsWith(TAG) && name.length > TAG.length) filter.tags.push([name.slice(TAG.length), value])
    else if (name.startsWith(META) && name.length > META.length) filter.metadata.push([name.slice(META.length).toLowerCase(), value])
    else if (name === 'tag-key') filter.tagKeys.push(value)
  }
  const contentType = query.get('content-type')
  if (contentType !== null) {
    if (mediaType(contentType) === '') throw invalid('content-type', contentType, 'content-type must name a media type')
    filter.contentType = contentType
  }
  const size = (name: string): number | undefined => {
    const text = query.get(name)
    if (text === null) return undefined
    if (!/^\d{1,16}$/.test(text)) throw invalid(name, text, `${name} must be a whole number of bytes`)
    return Number(text)
  }
  const min = size('min-size')
  const max = size('max-size')
  if (min !== undefined) filter.size.min = min
  if (max !== undefined) filter.size.max = max
  const time = (name: string): number | undefined => {
    const text = query.get(name)
    if (text === null) return undefined
    const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : NaN
    if (Number.isNaN(ms)) throw invalid(name, text, `${name} must be an ISO 8601 date or time`)
    return ms
  }
  const after = time('modified-after')
  const before = time('modified-before')
  // Times are whole milliseconds: strictly after t is from t + 1 on.
  if (after !== undefined) filter.modified.from = after + 1
  if (before !== undefined) filter.modified.to = before
  const cid = query.get('cid')
  if (cid !== null) filter.cid = normalizeCid(cid)
  const storageClass = query.get('storage-class')
  if (storageClass !== null) {
    if (!STORAGE_CLASSES.has(storageClass)) throw invalid('storage-class', storageClass, 'storage-class is not a storage class')
    filter.storageClass = storageClass
  }
  return filter
}

function invalid (name: string, value: string, message: string): S3Error {
  return new S3Error('InvalidArgument', message, { ArgumentName: name, ArgumentValue: value.slice(0, 200) })
}

/** Whether a current object meets every condition of `filter` (the index's answers are checked with it). */
export function matchesFilter (version: ObjectVersion, filter: SearchFilter): boolean {
  if (filter.prefix !== undefined && !version.key.startsWith(filter.prefix)) return false
  if (!filter.tags.every(([key, value]) => version.tags.some(([k, v]) => k === key && v === value))) return false
  if (!filter.tagKeys.every((key) => version.tags.some(([k]) => k === key))) return false
  if (!filter.metadata.every(([name, value]) => Object.hasOwn(version.metadata, name) && version.metadata[name] === value)) return false
  if (filter.contentType !== undefined) {
    const stored = version.headers['content-type']
    if (stored === undefined || mediaType(stored) !== mediaType(filter.contentType)) return false
  }
  const { min, max } = filter.size
  if ((min !== undefined && version.size < min) || (max !== undefined && version.size > max)) return false
  const { from, to } = filter.modified
  const modified = version.lastModified.getTime()
  if ((from !== undefined && modified < from) || (to !== undefined && modified >= to)) return false
  if (filter.cid !== undefined && version.cid !== filter.cid) return false
  if (filter.storageClass !== undefined && (version.storageClass ?? 'STANDARD') !== filter.storageClass) return false
  return true
}

type Candidate = Exclude<SearchDriver, { all: true }>

/** The index reads that could drive a search, likeliest to be selective first. */
function candidates (filter: SearchFilter): Candidate[] {
  const out: Candidate[] = []
  if (filter.cid !== undefined) out.push({ term: cidTerm(filter.cid) })
  for (const [key, value] of filter.tags) out.push({ term: tagTerm(key, value) })
  for (const [name, value] of filter.metadata) out.push({ term: metadataTerm(name, value) })
  if (filter.contentType !== undefined) out.push({ term: mediaTypeTerm(filter.contentType) })
  for (const key of filter.tagKeys) out.push({ term: tagKeyTerm(key) })
  if (filter.storageClass !== undefined) out.push({ term: storageClassTerm(filter.storageClass) })
  if (filter.size.min !== undefined || filter.size.max !== undefined) out.push({ size: { ...filter.size } })
  if (filter.modified.from !== undefined || filter.modified.to !== undefined) out.push({ modified: { ...filter.modified } })
  return out
}

/**
 * Counting stops here. A range holding more than this is never read whole (its matches are sorted
 * into key order); a term is read in key order from its index however many it holds.
 */
const PROBE_CAP = 1024
/** The first round of counts stops here; each next round counts 8 times further. */
const FIRST_CAP = 16

/**
 * The cheapest way to read a filter's matches: the candidate selecting fewest objects. Counts go in
 * rounds, each stopping 8 times further than the last, and end with the first round in which some
 * candidate is counted in full: a search with one condition matching m objects costs about
 * max(m, 16) index entries per condition. When none is small, the first term (read in key order
 * however many it holds), or with no term the listing.
 */
export async function chooseDriver (index: Pick<SearchIndex, 'countSearch'>, bucket: string, filter: SearchFilter,
  position: { after?: string, signal?: AbortSignal }): Promise<SearchDriver> {
  const all = candidates(filter)
  if (all.length === 1 && 'term' in all[0]) return all[0]
  for (let cap = FIRST_CAP; cap <= PROBE_CAP; cap *= 8) {
    let best: Candidate | undefined
    let fewest = cap
    for (const candidate of all) {
      const count = await index.countSearch(bucket, candidate, { prefix: filter.prefix, after: position.after, cap: fewest, signal: position.signal })
      if (count < fewest) {
        best = candidate
        fewest = count
      }
      if (fewest === 0) break
    }
    if (best !== undefined) return best
  }
  return all.find((candidate) => 'term' in candidate) ?? { all: true }
}

export interface SearchPage {
  objects: ObjectVersion[]
  /** Present when there may be more: the last key this page looked at (search on after it). */
  next?: string
}

/** Objects read per page at most, matching or not: a page that reads this many ends with `next`. */
const MAX_READS = 10_000

/**
 * One page of a bucket's current objects that meet `filter`, in key order, after `after`: at most
 * `limit`. Reads through the most selective index (chooseDriver) and checks every object it reads
 * against the whole filter. A page may hold fewer than `limit` and still have `next`.
 */
export async function searchPage (index: SearchIndex, bucket: string, filter: SearchFilter,
  options: { after?: string, limit: number, signal?: AbortSignal }): Promise<SearchPage> {
  const driver = await chooseDriver(index, bucket, filter, options)
  // When the driver is the only condition, no read is wasted on a non-match: read no more than needed.
  const conditions = candidates(filter)
  const exact = conditions.length === 0 || (conditions.length === 1 && !('all' in driver))
  const objects: ObjectVersion[] = []
  let after = options.after
  let reads = 0
  while (reads < MAX_READS) {
    const want = options.limit - objects.length + 1
    const limit = exact ? want : Math.min(1000, Math.max(want, 100))
    const batch = await index.searchObjects(bucket, driver, { prefix: filter.prefix, after, limit, signal: options.signal })
    reads += batch.length
    for (const version of batch) {
      if (!matchesFilter(version, filter)) {
        after = version.key
        continue
      }
      if (objects.length === options.limit) return { objects, next: objects[objects.length - 1].key }
      objects.push(version)
      after = version.key
    }
    if (batch.length < limit) return { objects }
  }
  return after === undefined ? { objects } : { objects, next: after }
}

/** What `GET /-/search?bucket=<bucket>&...` answers. */
export interface SearchResult {
  bucket: string
  objects: Array<{ key: string, versionId: string, size: number, etag: string, lastModified: string, storageClass: string, cid: string }>
  /** Present when there may be more: pass it as `continuation-token` for the next page. */
  nextContinuationToken?: string
}

export const MAX_RESULTS = 1000

/**
 * `/-/search`: one page of `searchPage` for a query (see parseSearchFilter), with `max-results`
 * (1..1000, default 1000) and `continuation-token`. The caller has been allowed s3:ListBucket.
 */
export async function searchBucket (index: SearchIndex, bucket: string, query: URLSearchParams, signal?: AbortSignal): Promise<SearchResult> {
  const filter = parseSearchFilter(query)
  const max = query.get('max-results')
  const limit = max === null ? MAX_RESULTS : /^\d{1,7}$/.test(max) && Number(max) >= 1 ? Math.min(Number(max), MAX_RESULTS) : NaN
  if (Number.isNaN(limit)) throw invalid('max-results', max ?? '', 'max-results must be an integer from 1 to 1000')
  const token = query.get('continuation-token')
  const after = token === null || token === '' ? undefined : searchPosition(token)
  const page = await searchPage(index, bucket, filter, { after, limit, signal })
  const result: SearchResult = {
    bucket,
    objects: page.objects.map((v) => ({
      key: v.key,
      versionId: v.versionId,
      size: v.size,
      etag: `"${v.etag}"`,
      lastModified: v.lastModified.toISOString(),
      storageClass: v.storageClass ?? 'STANDARD',
      cid: v.cid,
    })),
  }
  if (page.next !== undefined) result.nextContinuationToken = searchToken(page.next)
  return result
}

/** A continuation token: the key a page ended after. */
export function searchToken (after: string): string {
  return Buffer.from(`k${after}`, 'utf8').toString('base64url')
}

export function searchPosition (token: string): string {
  const text = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : ''
  if (!text.startsWith('k')) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' })
  return text.slice(1)
}
