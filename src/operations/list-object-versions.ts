import { S3Error } from '../errors.js'
import { refuseSearch } from '../discovery/search.js'
import type { ListedObject } from '../metadata/metadata-store.js'
import type { XmlObject } from '../xml/render.js'
import type { OperationContext } from './context.js'
import { encodingTypeParam, requireBucket, urlEncodeIf, xmlResponse } from './common.js'
import { contentsXml, listingParams, markerPage, maxKeysParam } from './listing.js'
import { listedRestores, type ListedRestores } from './restore-status.js'

/**
 * Every version and delete marker, keys ascending and each key's versions newest first, with S3's
 * key / version-id markers and delimiter roll-up. A page costs the page: the store seeks to the
 * marker, and a common prefix is skipped with one more seek, however many versions keys have.
 */
export async function listObjectVersions (ctx: OperationContext) {
  refuseSearch(ctx.query, 'ListObjectVersions')
  const bucket = await requireBucket(ctx)
  const { prefix, delimiter } = listingParams(ctx)
  const maxKeys = maxKeysParam(ctx)
  const encode = encodingTypeParam(ctx)
  const keyMarker = ctx.query.get('key-marker') ?? ''
  const versionIdMarker = ctx.query.get('version-id-marker') ?? ''
  if (versionIdMarker !== '' && keyMarker === '') {
    throw new S3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', { ArgumentName: 'version-id-marker', ArgumentValue: versionIdMarker })
  }

  const { entries, truncated } = await markerPage({
    prefix,
    delimiter,
    max: maxKeys,
    marker: keyMarker === '' ? undefined : { key: keyMarker, versionId: versionIdMarker === '' ? undefined : versionIdMarker },
    fetch: async (cursor, limit) => await ctx.metadata.listVersions(bucket.name, { prefix, ...cursor, limit, signal: ctx.signal }),
    markerOf: (v: ListedObject) => ({ key: v.key, versionId: v.versionId as string | undefined }),
  })

  const last = entries[entries.length - 1]
  const restores = await listedRestores(ctx, bucket.name, entries.flatMap(e => e.kind === 'item' ? [e.item] : []))
  return xmlResponse('ListVersionsResult', {
    Name: bucket.name,
    Prefix: urlEncodeIf(encode, prefix),
    KeyMarker: urlEncodeIf(encode, keyMarker),
    VersionIdMarker: versionIdMarker,
    NextKeyMarker: truncated && last !== undefined ? urlEncodeIf(encode, last.kind === 'item' ? last.item.key : last.prefix) : undefined,
    NextVersionIdMarker: truncated && last?.kind === 'item' ? last.item.versionId : undefined,
    MaxKeys: maxKeys,
    Delimiter: urlEncodeIf(encode, delimiter),
    EncodingType: encode ? 'url' : undefined,
    IsTruncated: truncated,
    Version: entries.flatMap(e => e.kind === 'item' && !e.item.deleteMarker ? [versionXml(e.item, encode, restores)] : []),
    DeleteMarker: entries.flatMap(e => e.kind === 'item' && e.item.deleteMarker ? [markerXml(e.item, encode)] : []),
    CommonPrefixes: entries.flatMap(e => e.kind === 'prefix' ? [{ Prefix: urlEncodeIf(encode, e.prefix) }] : []),
  })
}

function versionXml (v: ListedObject, encode: boolean, restores: ListedRestores | undefined): XmlObject {
  const { Key, ...rest } = contentsXml(v, encode, true, restores)
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
