import type { AuthContext } from '../auth/sigv4.js'
import type { Authorizer } from '../auth/authorize.js'
import type { EncryptionSettings } from './encryption.js'
import type { ContentStore, WriteSession } from '../content/content-store.js'
import type { BucketRecord, MetadataStore, ObjectVersion } from '../metadata/metadata-store.js'
import type { CredentialProvider, S3Request, S3Response } from '../types.js'
import type { ArchiveTarget } from '../archive/target.js'

/** Everything an operation may use. Operations never see host (HTTP framework) objects. */
export interface OperationContext {
  req: S3Request
  operation: string
  bucket: string
  key: string
  query: URLSearchParams
  auth: AuthContext
  /** The authenticated principal (owner id); ANONYMOUS_PRINCIPAL for anonymous requests. */
  principal: string
  displayName: string
  /** Whether a principal id names a known user (ACL grants may only name known users). */
  knownPrincipal: (id: string) => boolean
  /** Decides accesses beyond the operation's own (each key of DeleteObjects, a copy's source). */
  authorizer: Authorizer
  metadata: MetadataStore
  /** The gateway's access keys (browser form uploads verify their own signatures). */
  credentials: CredentialProvider
  /** The clock signatures are checked against. */
  signatureClock: () => Date
  /** Whether Signature Version 2 is accepted (GatewayInit.signatureV2); browser forms check it themselves. */
  signatureV2: boolean
  content: ContentStore
  /**
   * Protects, until the operation has returned, content it writes or references before its metadata
   * commits (see ContentStore.session): pass it to `add` / `compose`, and `hold` a copy's source.
   */
  session: WriteSession
  region: string
  /** Server-side encryption settings. */
  encryption: EncryptionSettings
  /** Present when versions are replicated: their S3 replication status headers (`bucket`: the version's, for its policy). */
  replication?: { readHeaders(version: ObjectVersion, bucket: BucketRecord | undefined, signal?: AbortSignal): Promise<Record<string, string>> }
  maxObjectSize: number
  now: () => Date
  /** Unique, URL-safe upload ids and version ids (GatewayInit.newId). */
  newId: (kind: 'upload' | 'version') => string
  requestId: string
  signal?: AbortSignal
  /** Length of a lifecycle day in ms (GatewayInit.lifecycleDaySeconds). */
  lifecycleDayMs: number
  /** The archive target (GatewayInit.archive): archive storage classes are accepted only with one. */
  archive?: ArchiveTarget
  /** Looks for due background jobs now (after enqueuing one), rather than at the next poll. */
  wakeJobs?: () => void
}

export type Operation = (ctx: OperationContext) => Promise<S3Response>
