/** The memory store's listings: pages of a bucket's keys and versions, in key order, read from its state. */
import { lowerBound, seekStart, versionSeek } from './key-order.js'
import { indexOf, latestOf, listedOf } from './memory-state.js'
import type { BucketState, KeyVersions } from './memory-state.js'
import type { ListedObject, ListOptions, VersionListOptions } from './metadata-store.js'

/** The latest version of each listed key (not a delete marker), from the seek point. */
export function listObjects (state: BucketState | undefined, options: ListOptions): ListedObject[] {
  if (state === undefined) return []
  const { versions } = state
  return listKeys(state, options).map((key) => listedOf(latestOf(versions.get(key) as KeyVersions), true))
}

export function listKeys (state: BucketState | undefined, options: ListOptions): string[] {
  if (state === undefined || !(options.limit >= 1)) return []
  const start = seekStart(options)
  const limit = Math.floor(options.limit)
  const { listed } = state
  const out: string[] = []
  for (let i = start === undefined ? 0 : lowerBound(listed, start); i < listed.length && out.length < limit; i++) {
    const key = listed[i]
    if (options.prefix !== undefined && !key.startsWith(options.prefix)) break
    out.push(key)
  }
  return out
}

/** Every version of each key, newest first, from the version marker then the seek point. */
export function listVersions (state: BucketState | undefined, options: VersionListOptions): ListedObject[] {
  if (state === undefined || !(options.limit >= 1)) return []
  const { marker, start } = versionSeek(options)
  const limit = Math.floor(options.limit)
  const { keys, versions } = state
  const out: ListedObject[] = []
  const chain = marker === undefined ? undefined : versions.get(marker.key)
  if (marker !== undefined && chain !== undefined) {
    // Older than the marker version: earlier in the list. An unknown id lists none of the key.
    for (let j = indexOf(chain, marker.versionId) - 1; j >= 0 && out.length < limit; j--) out.push(listedOf(chain.list[j].version, false))
  }
  for (let i = start === undefined ? 0 : lowerBound(keys, start); i < keys.length && out.length < limit; i++) {
    const key = keys[i]
    if (options.prefix !== undefined && !key.startsWith(options.prefix)) break
    const { list } = versions.get(key) as KeyVersions
    for (let j = list.length - 1; j >= 0 && out.length < limit; j--) out.push(listedOf(list[j].version, j === list.length - 1))
  }
  return out
}
