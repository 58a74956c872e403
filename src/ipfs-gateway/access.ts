import type { Authorizer } from '../auth/authorize.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import { mayReadSnapshot } from '../snapshots/access.js'

/** How a CID may be served to one caller. */
export interface CidAccess {
  /** Raw block and CAR (the DAG as stored: ciphertext for an encrypted version). */
  trustless: boolean
  /** Deserialized (file bytes, directory listings): never the ciphertext of an encrypted version. */
  path: boolean
}

export interface CidAccessInit {
  metadata: Pick<MetadataStore, 'listVersionsByCid' | 'getObject' | 'listSnapshotsByCid'>
  authorizer: Pick<Authorizer, 'allowed' | 'allowedForAll'>
  /** The operator opened the gateway to all held content. */
  open: boolean
  signal?: AbortSignal
}

const PAGE = 100
/** Versions looked at per request at most: a CID held by more versions than this that the caller may not read is refused. */
const MAX_VERSIONS = 1000

/**
 * Whether the root `cid` (canonical string) may be served to the caller. Authorized mode: some
 * version whose content is `cid` may be read by the caller (s3:GetObject for a latest version,
 * s3:GetObjectVersion for an older one, decided by the request's Authorizer: owner, policies,
 * ACLs, public access block). Path responses also need that version to be unencrypted. Open mode:
 * any held CID, inner blocks included; path responses are refused only when every version holding
 * the CID is encrypted. A bucket snapshot's root (snapshots.ts; never encrypted content) is served,
 * in both forms and with every path under it, to a caller who may read the snapshot (see
 * mayReadSnapshot), when no version already decided it.
 */
export async function cidAccess (cid: string, init: CidAccessInit): Promise<CidAccess> {
  let after: { bucket: string, key: string, versionId: string } | undefined
  let trustless = init.open
  let seen = 0
  let unencrypted = false
  while (seen < MAX_VERSIONS) {
    const page = await init.metadata.listVersionsByCid(cid, { after, limit: PAGE, signal: init.signal })
    for (const match of page) {
      seen++
      after = { bucket: match.bucket, key: match.key, versionId: match.versionId }
      if (!init.open) {
        const action = match.isLatest ? 's3:GetObject' : 's3:GetObjectVersion'
        if (!await init.authorizer.allowed(action, match.bucket, match.key, { versionId: match.versionId })) continue
      }
      const version = await init.metadata.getObject(match.bucket, match.key, match.versionId, { signal: init.signal })
      if (version === undefined || version.deleteMarker) continue
      trustless = true
      if (version.encryption === undefined) {
        unencrypted = true
        return { trustless, path: true }
      }
    }
    if (page.length < PAGE) break
  }
  if (!init.open && await readableSnapshot(cid, init)) return { trustless: true, path: true }
  // Open mode: content no version names (an inner block, a directory entry) is served as it is.
  return { trustless, path: unencrypted || (init.open && seen === 0) }
}

/** Whether some snapshot with root `cid` may be read by the caller (the first MAX_VERSIONS looked at). */
async function readableSnapshot (cid: string, init: CidAccessInit): Promise<boolean> {
  let after: { bucket: string, id: string } | undefined
  for (let seen = 0; seen < MAX_VERSIONS;) {
    const page = await init.metadata.listSnapshotsByCid(cid, { after, limit: PAGE, signal: init.signal })
    for (const match of page) {
      seen++
      if (await mayReadSnapshot(init.authorizer, match.bucket, match.prefix)) return true
      after = { bucket: match.bucket, id: match.id }
    }
    if (page.length < PAGE) return false
  }
  return false
}
