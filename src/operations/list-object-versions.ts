import { S3Error } from '../errors.js'
import type { ListedObject, VersionListOptions } from '../metadata/metadata-store.js'
import type { XmlObject } from '../xml/render.js'
import type { OperationContext } from './context.js'
import { encodingTypeParam, requireBucket, urlEncodeIf, xmlResponse } from './common.js'
import { commonPrefixOf, contentsXml, listingParams, maxKeysParam, prefixSuccessor } from './listing.js'

type Entry = { kind: 'version', version: ListedObject } | { kind: 'prefix', prefix: string }

/**
 * Every version and delete marker, keys ascending and each key's versions newest first, with S3's
 * key / version-id markers and delimiter roll-up. A page costs the page: the store seeks to the
 * marker, and a common prefix is skipped with one more seek, however many versions keys have.
 */
export async function listObjectVersions (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const { prefix, delimiter } = listingParams(ctx)
  const maxKeys = maxKeysParam(ctx)
  const encode = encodingTypeParam(ctx)
  const keyMarker = ctx.query.get('key-marker') ?? ''
  const versionIdMarker = ctx.query.get('version-id-marker') ?? ''
  if (versionIdMarker !== '' && keyMarker === '') {
    throw new S3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', { ArgumentName: 'version-id-marker', ArgumentValue: versionIdMarker })
  }

  let cursor: Pick<VersionListOptions, 'after' | 'from'> = {}
  if (keyMarker !== '') {
    const rolled = commonPrefixOf(keyMarker, prefix, delimiter)
    const next = rolled === undefined ? undefined : prefixSuccessor(rolled)
    cursor = next !== undefined ? { from: next } : { after: { key: keyMarker, versionId: versionIdMarker === '' ? undefined : versionIdMarker } }
  }

  const entries: Entry[] = []
  let truncated = false
  page: while (maxKeys > 0) {
    const need = maxKeys - entries.length + 1
    const batch = await ctx.metadata.listVersions(bucket.name, { prefix, ...cursor, limit: need, signal: ctx.signal })
    for (const version of batch) {
      if (entries.length === maxKeys) { truncated = true; break page }
      const rolled = commonPrefixOf(version.key, prefix, delimiter)
      if (rolled === undefined) {
        entries.push({ kind: 'version', version })
        cursor = { after: { key: version.key, versionId: version.versionId } }
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

  const last = entries[entries.length - 1]
  return xmlResponse('ListVersionsResult', {
    Name: bucket.name,
    Prefix: urlEncodeIf(encode, prefix),
    KeyMarker: urlEncodeIf(encode, keyMarker),
    VersionIdMarker: versionIdMarker,
    NextKeyMarker: truncated && last !== undefined ? urlEncodeIf(encode, last.kind === 'version' ? last.version.key : last.prefix) : undefined,
    NextVersionIdMarker: truncated && last?.kind === 'version' ? last.version.versionId : undefined,
    MaxKeys: maxKeys,
    Delimiter: urlEncodeIf(encode, delimiter),
    EncodingType: encode ? 'url' : undefined,
    IsTruncated: truncated,
    Version: entries.flatMap(e => e.kind === 'version' && !e.version.deleteMarker ? [versionXml(e.version, encode)] : []),
    DeleteMarker: entries.flatMap(e => e.kind === 'version' && e.version.deleteMarker ? [markerXml(e.version, encode)] : []),
    CommonPrefixes: entries.flatMap(e => e.kind === 'prefix' ? [{ Prefix: urlEncodeIf(encode, e.prefix) }] : []),
  })
}

function versionXml (v: ListedObject, encode: boolean): XmlObject {
  const { Key, ...rest } = contentsXml(v, encode, true)
  return { Key, VersionId: v.versionId, IsLatest: v.isLatest === true, ...rest }
}

function markerXml (v: ListedObject, encode: boolean): XmlObject {
  return {
    Key: urlEncodeIf(encode, v.key),
    VersionId: v.versionId,
    IsLatest: v.isLatest === true,
    LastModified: v.lastModified,
    Owner: { ID: v.owner, DisplayName: v.owner },
  }
}
