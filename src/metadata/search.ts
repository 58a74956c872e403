import type { AbortOptions } from '../types.js'
import type { ObjectVersion } from './metadata-store.js'

/**
 * The metadata search index: the current objects of a bucket (latest versions that are not delete
 * markers) by the terms they carry, their size and their last-modified time. A store keeps it in
 * the transaction of every change that moves a key's latest version, its tags or its storage class.
 *
 * A term names one fact about an object (`searchTerms`): its CID, storage class, media type, each
 * tag (key = value, and key present) and each user metadata entry. Terms longer than
 * MAX_TERM_LENGTH code points are cut there, so a term may select a few more objects than the
 * fact it was made from: the caller checks each object it reads (src/discovery/search.ts).
 */

/** How a search reads a bucket's current objects, always in key order. */
export type SearchDriver =
  /** Those carrying the term. */
  | { term: string }
  /** Those of a size in [min, max] (bytes). */
  | { size: { min?: number, max?: number } }
  /** Those last modified in [from, to) (epoch milliseconds). */
  | { modified: { from?: number, to?: number } }
  /** All of them (the listing). */
  | { all: true }

export interface SearchReadOptions extends AbortOptions {
  /** Only keys that start with this. */
  prefix?: string
  /** Only keys greater than this (UTF-8 byte order). */
  after?: string
  /** At most this many (>= 1). */
  limit: number
}

export interface SearchCountOptions extends AbortOptions {
  prefix?: string
  after?: string
  /** Stop counting here: the answer is min(matches, cap). */
  cap: number
}

export interface SearchIndex {
  /**
   * The current objects of `bucket` that `driver` selects, in UTF-8 byte order of key, after
   * `options.after` and under `options.prefix`; at most `limit`. A term driver costs O(log n +
   * limit) (one seek in the term's keys); a size or time range costs O(log n + objects in the
   * range) (its matches are read and put in key order); `{ all: true }` is the listing. An unknown
   * bucket selects nothing.
   */
  searchObjects(bucket: string, driver: SearchDriver, options: SearchReadOptions): Promise<ObjectVersion[]>

  /**
   * How many objects `searchObjects` would select (any limit), counted no further than `cap`:
   * reads at most `cap` index entries, so a caller can find the most selective driver cheaply.
   */
  countSearch(bucket: string, driver: Exclude<SearchDriver, { all: true }>, options: SearchCountOptions): Promise<number>
}

/** Terms are cut to this many code points (an index entry stays far below any key size limit). */
export const MAX_TERM_LENGTH = 256

/** A term cut to MAX_TERM_LENGTH code points, as SQL's substr(term, 1, MAX_TERM_LENGTH) cuts it. */
function cut (term: string): string {
  if (term.length <= MAX_TERM_LENGTH) return term
  let end = 0
  let points = 0
  while (end < term.length && points < MAX_TERM_LENGTH) {
    const cp = term.codePointAt(end) as number
    end += cp > 0xFFFF ? 2 : 1
    points++
  }
  return term.slice(0, end)
}

/** Code points in `text`, as SQL's length() counts them. */
function points (text: string): number {
  let n = 0
  for (const _ of text) n++
  return n
}

/** The media type of a Content-Type value: before any parameters, spaces trimmed, ASCII lower-cased. */
export function mediaType (contentType: string): string {
  const semicolon = contentType.indexOf(';')
  const type = (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).replace(/^ +| +$/g, '')
  return type.replace(/[A-Z]+/g, (upper) => upper.toLowerCase())
}

// A key is written with its length first, so that no key and value pair reads as another.
export const cidTerm = (cid: string): string => cut(`c:${cid}`)
export const storageClassTerm = (storageClass: string | undefined): string => cut(`s:${storageClass ?? 'STANDARD'}`)
export const mediaTypeTerm = (contentType: string): string => cut(`y:${mediaType(contentType)}`)
export const tagKeyTerm = (key: string): string => cut(`k${points(key)}:${key}`)
export const tagTerm = (key: string, value: string): string => cut(`t${points(key)}:${key}${value}`)
export const metadataTerm = (key: string, value: string): string => cut(`m${points(key)}:${key}${value}`)

/** Every term of a current object (the SQL stores' triggers make the same, see *SearchTermsSql). */
export function searchTerms (version: Pick<ObjectVersion, 'cid' | 'storageClass' | 'headers' | 'tags' | 'metadata'>): string[] {
  const terms = [storageClassTerm(version.storageClass)]
  if (version.cid !== '') terms.push(cidTerm(version.cid))
  const contentType = version.headers['content-type']
  if (contentType !== undefined) terms.push(mediaTypeTerm(contentType))
  for (const [key, value] of version.tags) terms.push(tagKeyTerm(key), tagTerm(key, value))
  for (const [key, value] of Object.entries(version.metadata)) terms.push(metadataTerm(key, value))
  return [...new Set(terms)]
}
