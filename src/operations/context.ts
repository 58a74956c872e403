import type { AuthContext } from '../auth/sigv4.js'
import type { ContentStore, WriteSession } from '../content/content-store.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import type { S3Request, S3Response } from '../types.js'

/** Everything an operation may use. Operations never see host (HTTP framework) objects. */
export interface OperationContext {
  req: S3Request
  operation: string
  bucket: string
  key: string
  query: URLSearchParams
  auth: AuthContext
  /** The authenticated principal (owner id). */
  principal: string
  displayName: string
  metadata: MetadataStore
  content: ContentStore
  /**
   * Protects, until the operation has returned, content it writes or references before its metadata
   * commits (see ContentStore.session): pass it to `add` / `compose`, and `hold` a copy's source.
   */
  session: WriteSession
  region: string
  maxObjectSize: number
  now: () => Date
  /** Unique, URL-safe upload ids and version ids (GatewayInit.newId). */
  newId: (kind: 'upload' | 'version') => string
  requestId: string
  signal?: AbortSignal
}

export type Operation = (ctx: OperationContext) => Promise<S3Response>
