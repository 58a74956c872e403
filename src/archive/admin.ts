import { CID } from 'multiformats/cid'
import { adminTokenCheck, json } from '../federation/admin.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import type { S3Request, S3Response } from '../types.js'
import type { ArchiveTarget } from './target.js'

/** How long the target's own status may take before the view answers without it. */
const STATUS_TIMEOUT_MS = 10_000

/**
 * `/archive/cids/<cid>` under the admin prefix: the CID's archive record (target, location — for
 * Storacha the shard and piece CIDs —, versions archived with it) and what the target reports now
 * (`status`: for Filecoin, the deals of each piece). A view: it needs the admin token only when one
 * is set. Undefined for other paths.
 */
export function archiveAdmin (init: { metadata: MetadataStore, target?: ArchiveTarget, adminToken?: string }): (req: S3Request, path: string) => Promise<S3Response | undefined> {
  const denied = adminTokenCheck(init.adminToken)
  return async (req, path) => {
    const m = /^\/archive\/cids\/([^/]+)$/.exec(path)
    if (m === null) return undefined
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'MethodNotAllowed' })
    const refused = denied(req, false)
    if (refused !== undefined) return refused
    let cid: CID
    try {
      cid = CID.parse(decodeURIComponent(m[1]))
    } catch {
      return json(400, { error: 'InvalidCid', message: 'Not a CID' })
    }
    const record = await init.metadata.getArchive(cid.toString())
    if (record === undefined) return json(404, { error: 'NotArchived', message: 'No archive record for this CID' })
    let status: unknown = null
    let statusError: string | undefined
    if (init.target?.status !== undefined) {
      try {
        status = await init.target.status(cid, record.location, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) })
      } catch (err) {
        statusError = (err as Error).message
      }
    }
    return json(200, { ...record, status, ...(statusError === undefined ? {} : { statusError }) })
  }
}
