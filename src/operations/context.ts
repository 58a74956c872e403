import type { AuthContext } from '../auth/sigv4.js'
import type { ContentStore } from '../content/content-store.js'
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
  region: string
  maxObjectSize: number
  now: () => Date
  /** Unique, URL-safe ids (version ids, later upload ids). */
  newId: () => string
  requestId: string
  signal?: AbortSignal
}

export type Operation = (ctx: OperationContext) => Promise<S3Response>
