import { S3Error } from '../errors.js'
import type { ListedObject, MetadataStore } from '../metadata/metadata-store.js'
import { XmlText, type XmlObject } from '../xml/render.js'
import type { OperationContext } from './context.js'
import { quoteEtag, urlEncodeIf } from './common.js'
import { restoreStatusXml, type ListedRestores } from './restore-status.js'

/** Where a listing page starts: strictly after a key, or at/after a seek key. */
export interface Cursor {
  after?: string
  from?: string
}

export interface ListPageOptions {
  prefix: string
  delimiter?: string
  maxKeys: number
  cursor: Cursor
  signal?: AbortSignal
}

export type ListEntry = { kind: 'key', key: string, version: ListedObject } | { kind: 'prefix', prefix: string }

export interface ListPage {
  entries: ListEntry[]
  truncated: boolean
}

/**
 * The smallest string greater than every string that starts with `prefix` (in code point order,
 * which is UTF-8 byte order): the last code point incremented. Seeking there skips a whole common
 * prefix in one step.
 */
export function prefixSuccessor (prefix: string): string | undefined {
  const points = [...prefix]
  while (points.length > 0) {
    const last = points.pop() as string
    let cp = (last.codePointAt(0) as number) + 1
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xE000
    if (cp <= 0x10FFFF) return points.join('') + String.fromCodePoint(cp)
  }
  return undefined
}

/** The common prefix a key rolls up into under `prefix` and `delimiter`, if any. */
export function commonPrefixOf (key: string, prefix: string, delimiter: string | undefined): string | undefined {
  if (delimiter === undefined || delimiter === '' || !key.startsWith(prefix)) return undefined
  const at = key.indexOf(delimiter, prefix.length)
  return at < 0 ? undefined : key.slice(0, at + delimiter.length)
}

/**
 * The cursor for "after this marker" with delimiter roll-up: when the marker lies inside a common
 * prefix, that prefix was already listed, so the page starts after all of it.
 */
export function cursorAfter (marker: string, prefix: string, delimiter: string | undefined): Cursor {
  const cp = commonPrefixOf(marker, prefix, delimiter)
  if (cp === undefined) return { after: marker }
  const next = prefixSuccessor(cp)
  return next === undefined ? { after: marker } : { from: next }
}

/**
 * One page of a listing: at most `maxKeys` keys and common prefixes together. Each store call is a
 * seek plus a bounded read; a common prefix costs one seek however many keys it holds.
 */
export async function listPage (store: MetadataStore, bucket: string, o: ListPageOptions): Promise<ListPage> {
  const entries: ListEntry[] = []
  if (o.maxKeys === 0) return { entries, truncated: false }
  let cursor = o.cursor
  for (;;) {
    const need = o.maxKeys - entries.length + 1
    const batch = await store.listObjects(bucket, { prefix: o.prefix, ...cursor, limit: need, signal: o.signal })
    let rolledUp: string | undefined
    for (const version of batch) {
      if (entries.length === o.maxKeys) return { entries, truncated: true }
      rolledUp = commonPrefixOf(version.key, o.prefix, o.delimiter)
      if (rolledUp !== undefined) break
      entries.push({ kind: 'key', key: version.key, version })
      cursor = { after: version.key }
    }
    if (rolledUp === undefined) {
      if (batch.length < need) return { entries, truncated: false }
      continue
    }
    // Skip each common prefix with one keys-only seek, as long as the next key rolls up too.
    while (rolledUp !== undefined) {
      if (entries.length === o.maxKeys) return { entries, truncated: true }
      entries.push({ kind: 'prefix', prefix: rolledUp })
      const next = prefixSuccessor(rolledUp)
      if (next === undefined) return { entries, truncated: false }
      cursor = { from: next }
      const [key] = await store.listKeys(bucket, { prefix: o.prefix, from: next, limit: 1, signal: o.signal })
      if (key === undefined) return { entries, truncated: false }
      rolledUp = commonPrefixOf(key, o.prefix, o.delimiter)
    }
  }
}

export function entryMarker (entry: ListEntry): string {
  return entry.kind === 'key' ? entry.key : entry.prefix
}

export function contentsXml (v: ListedObject, encode: boolean, owner: boolean, restores?: ListedRestores): XmlObject {
  return {
    Key: urlEncodeIf(encode, v.key),
    LastModified: v.lastModified,
    // ETags are hex digits with an optional -N: only the quotes need escaping
    ETag: /^[0-9a-f]*(-\d+)?$/.test(v.etag) ? new XmlText(`&quot;${v.etag}&quot;`) : quoteEtag(v.etag),
    ChecksumAlgorithm: v.checksum?.algorithm,
    ChecksumType: v.checksum?.type,
    Size: v.size,
    StorageClass: v.storageClass ?? 'STANDARD',
    Owner: owner ? { ID: v.owner, DisplayName: v.owner } : undefined,
    ...restoreStatusXml(restores, v),
  }
}

export function listingParams (ctx: OperationContext): { prefix: string, delimiter?: string } {
  const prefix = ctx.query.get('prefix') ?? ''
  const delimiter = ctx.query.get('delimiter') ?? undefined
  return { prefix, delimiter: delimiter === '' ? undefined : delimiter }
}

export function maxKeysParam (ctx: OperationContext): number {
  const raw = ctx.query.get('max-keys')
  if (raw === null || raw === '') return 1000
  if (!/^\d+$/.test(raw)) {
    throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys', ArgumentValue: raw })
  }
  return Math.min(Number(raw), 1000)
}

/** Where a marker-paged listing (ListMultipartUploads, ListObjectVersions) continues from. */
export type MarkerCursor<M> = { after?: { key: string } & M, from?: string }

export type MarkerEntry<T> = { kind: 'item', item: T } | { kind: 'prefix', prefix: string }

/**
 * One page of a listing of entries that belong to keys (several per key: uploads, versions), with
 * S3's key marker and delimiter roll-up: at most `max` items and common prefixes together. A key
 * marker inside a common prefix starts after the whole prefix; a common prefix costs one seek
 * however many entries it holds.
 */
export async function markerPage<T extends { key: string }, M> (o: {
  prefix: string
  delimiter?: string
  max: number
  /** The key marker and the rest of the marker (upload id, version id), when given. */
  marker?: { key: string } & M
  fetch: (cursor: MarkerCursor<M>, limit: number) => Promise<T[]>
  /** The marker that continues right after `item`. */
  markerOf: (item: T) => { key: string } & M
}): Promise<{ entries: Array<MarkerEntry<T>>, truncated: boolean }> {
  let cursor: MarkerCursor<M> = {}
  if (o.marker !== undefined) {
    const rolled = commonPrefixOf(o.marker.key, o.prefix, o.delimiter)
    const next = rolled === undefined ? undefined : prefixSuccessor(rolled)
    cursor = next !== undefined ? { from: next } : { after: o.marker }
  }
  const entries: Array<MarkerEntry<T>> = []
  page: while (o.max > 0) {
    const need = o.max - entries.length + 1
    const batch = await o.fetch(cursor, need)
    for (const item of batch) {
      if (entries.length === o.max) return { entries, truncated: true }
      const rolled = commonPrefixOf(item.key, o.prefix, o.delimiter)
      if (rolled === undefined) {
        entries.push({ kind: 'item', item })
        cursor = { after: o.markerOf(item) }
        continue
      }
      entries.push({ kind: 'prefix', prefix: rolled })
      const next = prefixSuccessor(rolled)
      if (next === undefined) break page
      cursor = { from: next }
      continue page
    }
    if (batch.length < need) break
  }
  return { entries, truncated: false }
}
