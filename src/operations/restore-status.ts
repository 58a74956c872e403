import { RESTORE_CLASSES } from '../archive/classes.js'
import { S3Error } from '../errors.js'
import type { RestoreState } from '../metadata/archives.js'
import type { ListedObject } from '../metadata/metadata-store.js'
import type { XmlObject } from '../xml/render.js'
import type { OperationContext } from './context.js'

/** Restore states of listed versions, by `key\0versionId`. */
export type ListedRestores = Map<string, RestoreState>

const keyOf = (v: Pick<ListedObject, 'key' | 'versionId'>): string => `${v.key}\0${v.versionId}`

/**
 * `x-amz-optional-object-attributes: RestoreStatus` of the listings: the restore state of each
 * listed version that may have one (a GLACIER or DEEP_ARCHIVE version), read per version, as a
 * listing page holds no restore state. Undefined when the header does not ask; other attribute
 * names are InvalidArgument.
 */
export async function listedRestores (ctx: OperationContext, bucket: string, listed: ListedObject[]): Promise<ListedRestores | undefined> {
  const header = ctx.req.headers['x-amz-optional-object-attributes']
  if (header === undefined) return undefined
  const names = header.split(',').map(name => name.trim()).filter(name => name !== '')
  const unknown = names.find(name => name !== 'RestoreStatus')
  if (unknown !== undefined) throw new S3Error('InvalidArgument', 'Invalid attribute name specified', { ArgumentName: 'x-amz-optional-object-attributes', ArgumentValue: unknown })
  if (names.length === 0) return undefined
  const restores: ListedRestores = new Map()
  for (const v of listed) {
    if (v.deleteMarker || v.storageClass === undefined || !RESTORE_CLASSES.has(v.storageClass)) continue
    const restore = (await ctx.metadata.getObject(bucket, v.key, v.versionId, { signal: ctx.signal }))?.restore
    if (restore !== undefined) restores.set(keyOf(v), restore)
  }
  return restores
}

/** The `<RestoreStatus>` of a listed version, when asked for and it has one. */
export function restoreStatusXml (restores: ListedRestores | undefined, v: ListedObject): { RestoreStatus?: XmlObject } {
  const restore = restores?.get(keyOf(v))
  if (restore === undefined) return {}
  return { RestoreStatus: { IsRestoreInProgress: restore.ongoing, RestoreExpiryDate: restore.ongoing ? undefined : restore.expiry } }
}
