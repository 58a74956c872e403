import type { Blockstore } from 'interface-blockstore'
import type { AuditSink } from './audit.js'
import type { MetadataStore } from './metadata/metadata-store.js'
import type { CidProfileName } from './content/profiles.js'
import type { GcReport } from './content/gc.js'
import type { ReconcileReport } from './content/pins.js'
import type { GatewayLogger } from './observability/logger.js'
import type { MetricsOptions } from './observability/metrics.js'
import type { ReadinessReport } from './observability/readiness.js'
import type { IpfsPeer, JobsOptions, ReplicationOptions } from './federation/index.js'
import type { ScrubOptions } from './federation/scrub.js'
import type { Registry } from 'prom-client'
import type { ArchiveTarget } from './archive/target.js'
import type { NodePrivateKey } from './ipns/keys.js'

export type { GatewayLogger } from './observability/logger.js'

export interface AbortOptions {
  signal?: AbortSignal
}

/**
 * One HTTP request as the core sees it. Adapters build it from their host's request object and
 * nothing else; the core never touches host objects.
 */
export interface S3Request {
  /** Upper-case HTTP method. */
  method: string
  /**
   * The request path exactly as the client sent it (still percent-encoded), mount prefix included,
   * without the query string. Signatures are verified over this.
   */
  path: string
  /** The mount prefix the adapter is mounted under ('' at the root, otherwise e.g. '/s3'). */
  basePath: string
  /** The raw query string without the leading '?', as the client sent it ('' when none). */
  query: string
  /** Header names lower-case; repeated headers joined with ',' as node does. */
  headers: Record<string, string>
  /** Host name the client addressed (from Host, or X-Forwarded-Host from a trusted proxy), no port. */
  hostname?: string
  /** Remote peer address, for logs and later for policies. */
  remoteAddress?: string
  /** True when the client reached us over TLS (directly or through a trusted proxy). */
  secure?: boolean
  /** Request body; an empty iterable when there is none. Consumed at most once. */
  body: AsyncIterable<Uint8Array>
  /** Aborts when the client disconnects. */
  signal?: AbortSignal
}

export interface S3Response {
  status: number
  /** Header names lower-case. */
  headers: Record<string, string>
  /** Absent for HEAD, 204 and 304 replies. */
  body?: Uint8Array | AsyncIterable<Uint8Array>
}

export interface Credentials {
  secretAccessKey: string
  /** Stable identity of the key's owner (the bucket owner id); defaults to the access key id. */
  principal?: string
  /** Display name shown in listings; defaults to the principal. */
  displayName?: string
  /**
   * Identity policies (IAM policy documents as JSON text) that bound what the principal may do.
   * Absent or empty: the principal acts as an account of its own, with full control of the buckets
   * it owns and whatever bucket policies and ACLs of other buckets grant it. Present: only what a
   * policy (identity or bucket) allows, even on its own buckets.
   */
  policies?: string[]
}

/** Resolves an access key id to its secret, or undefined when the key is unknown. */
export type CredentialProvider = (accessKeyId: string) => Credentials | undefined | Promise<Credentials | undefined>

export interface GatewayInit {
  /** Where object bytes live, as UnixFS blocks. Default: an in-memory blockstore. */
  blockstore?: Blockstore
  /** Where buckets, object versions and references live. Default: in memory. */
  metadata?: MetadataStore
  /**
   * Access keys: a map of access key id to secret (each key its own principal), or a provider
   * function (which may carry `knownPrincipal(id)`, as `fileCredentials` does, so that ACL grants
   * to unknown ids are refused). Default: one key pair, `S3IPFSEXAMPLEKEY` /
   * `s3ipfs-example-secret`, for tests.
   */
  credentials?: Record<string, string> | CredentialProvider
  /** Region this gateway signs for and reports. Default 'us-east-1'. */
  region?: string
  /**
   * CID profile of buckets created without `x-amz-meta-cid-profile` (recorded with each bucket at
   * creation, so changing it later leaves existing buckets as they are), and of buckets recorded
   * without a profile (a database migrated from before profiles were recorded). Default
   * 'unixfs-v1-2025'.
   */
  cidProfile?: CidProfileName
  /**
   * Base domains for virtual-hosted-style requests (`bucket.s3.example.com` with base domain
   * `s3.example.com`). Path-style always works.
   */
  baseDomains?: string[]
  /**
   * The key that wraps SSE-S3 objects' data keys: 32 bytes, or their base64 or hex. Without it,
   * requests for SSE-S3 (and buckets with default encryption) answer NotImplemented; SSE-C works
   * without it. Losing it loses every SSE-S3 object.
   */
  masterKey?: Uint8Array | string
  /** Encrypt every new object with SSE-S3 unless the request asks for SSE-C. Needs `masterKey`. */
  encryptByDefault?: boolean
  /**
   * Accept SSE-C keys over plain HTTP. Amazon S3 refuses them (a key on the wire in clear); set it
   * when TLS ends at a proxy in front of the gateway that is not a trusted proxy, or for tests.
   */
  allowInsecureSseC?: boolean
  /**
   * Return each version's CID as `x-amz-meta-cid` (the AWS SDKs show it as `Metadata.cid`) besides
   * `x-ipfs-path: /ipfs/<cid>`. Default true. Set false for applications that compare metadata and
   * need it exactly as they stored it: the CID is then only in `x-ipfs-path`. Either way the CID is
   * never stored as user metadata, and a client's own `x-amz-meta-cid` is ignored.
   */
  cidMetadata?: boolean
  /**
   * Receives one entry per request, authenticated, anonymous or refused (see AuditEntry;
   * `auditLogFile(path).sink` appends JSON lines to a file).
   */
  audit?: AuditSink
  /** Largest header section of a request, in bytes (names + values). Default 8 KiB, as S3. */
  maxHeaderBytes?: number
  /** Largest single PUT body, and largest multipart part, in bytes. Default 5 GiB, as S3. */
  maxObjectSize?: number
  /**
   * Clock for what the gateway records and reports (LastModified, Initiated, ...), injectable for
   * tests. It also checks request signatures' times unless `signatureClock` is given.
   */
  now?: () => Date
  /** Clock that request signatures (and presigned URLs' expiry) are checked against. Default: `now`. */
  signatureClock?: () => Date
  /**
   * Accept AWS Signature Version 2 as well as 4: `Authorization: AWS key:signature`, presigned URLs
   * with `AWSAccessKeyId` / `Expires` / `Signature` (boto3's `generate_presigned_url` default), and
   * browser forms signed with `AWSAccessKeyId` / `signature`. MinIO and Ceph RGW accept it; Amazon S3
   * has turned it off. False answers such requests 400 InvalidRequest, as S3 does. Default true.
   */
  signatureV2?: boolean
  /** Request id generator, injectable for tests. */
  requestId?: () => string
  /**
   * Generator of upload ids and version ids, injectable for deterministic tests. Ids must be unique
   * and URL-safe. Default: random ids; upload ids count up with time (uploads list in initiation
   * order), version ids count down (a key's version ids sort newest first).
   */
  newId?: (kind: 'upload' | 'version') => string
  /**
   * Called for every authenticated request once its operation is known, before it runs. May delay
   * it (return a promise) or fail it (throw an S3Error). For fault injection in tests.
   */
  beforeOperation?: (operation: OperationInfo) => void | Promise<void>
  /**
   * A pino-compatible logger (pino itself, or a host's `logger.child({ ... })`): one `info` line per
   * request (request id, operation, bucket, key, status, error code, bytes in and out, duration,
   * principal), `error` for unexpected failures, including answers cut off after their headers.
   * Default: JSON lines on stderr at level 'warn' (no request lines).
   */
  logger?: GatewayLogger
  /**
   * Prometheus metrics (prom-client) in a private registry, exposed as `gateway.metrics`: true (the
   * default), false, or options (registry, prefix — default 's3ipfs_' —, per-bucket allow-list, ...).
   * Never the global registry: a host merges it with `Registry.merge([own, gateway.metrics])`.
   */
  metrics?: boolean | MetricsOptions
  /** A bearer token the admin handler's `/metrics` requires. Default: none. */
  metricsToken?: string
  /** Each readiness check's time limit in ms (a slower dependency counts as down). Default 2000. */
  readinessTimeoutMs?: number
  /**
   * Copies of every object version on remote pinning services (Pinning Service API): the services,
   * the default policy (`replicas`), and timings. Each version change enqueues its replication job
   * in its own transaction; the job worker runs them (see `jobs`). Default: no replicas.
   */
  replication?: ReplicationOptions
  /**
   * The gateway's IPFS node (`startIpfsNode` from `s3-ipfs-gateway/helia`, started on the same
   * blockstore): its addresses are the `origins` of replica requests and the `delegates` of the
   * pinning service; reads of missing or corrupt blocks fail over to replicas through it, and pin
   * requests fetch through it.
   */
  ipfs?: IpfsPeer
  /**
   * Who `GET /ipfs/<cid>[/<path>]` (the IPFS path and trustless gateway on the S3 port) serves.
   * 'authorized' (default): a CID that is the content of an object version the caller may read
   * (s3:GetObject / s3:GetObjectVersion, as authenticated for S3: SigV4 header, presigned, or
   * anonymous for public objects), and whatever lies under it; anything else is 404. 'open': every
   * block this gateway holds, inner blocks included. Either way an encrypted version's ciphertext
   * is served only as raw blocks and CARs.
   */
  ipfsGateway?: 'open' | 'authorized'
  /**
   * The node's private key (`loadOrCreateIpfsKey` from `s3-ipfs-gateway/helia`, the key `ipfs` runs
   * with): each bucket's IPNS name is derived from it (`deriveIpnsKey(ipnsKey, bucket)`), so names
   * stay the same across restarts. With it, `POST /-/snapshots/<bucket>?publish=ipns` publishes a
   * snapshot under the bucket's name, and the admin endpoints serve the signed records
   * (`/routing/v1/ipns/<name>`, Delegated Routing V1), as does `/ipns/<name>?format=ipns-record` on
   * the S3 port. Without it publishing answers 501 NotImplemented.
   */
  ipnsKey?: NodePrivateKey
  /** The background job worker of this process (replication, pins, scrubbing). Default: on. */
  jobs?: JobsOptions
  /**
   * Scrubbing: every referenced block re-read and hashed against its CID at a limited pace, one
   * pass per interval (progress survives restarts); a missing or corrupt block is repaired from the
   * replicas through `ipfs` when it can be, and reported (metrics, `/-/scrub`) either way. Default: off.
   */
  scrub?: ScrubOptions
  /** Bearer token for admin calls that change things (e.g. a bucket's replica policy). Default: none (refused). */
  adminToken?: string
  /**
   * Serve the IPFS Pinning Service API under the admin prefix (`/-/pins`) to holders of this bearer
   * token, backed by this gateway's content store: another gateway (or Kubo's `ipfs pin remote`)
   * keeps replicas here. Pins fetch over `ipfs`. Default: not served.
   */
  pinsToken?: string
  /**
   * The length of a lifecycle "day", in seconds: lifecycle rules count their Days in these, and a
   * bucket's lifecycle pass runs once per such day (at its boundaries). Default 86400 (what Amazon S3
   * counts). Shorten it to see rules act in tests and staging, as Ceph RGW's rgw_lc_debug_interval.
   */
  lifecycleDaySeconds?: number
  /**
   * Cold storage for archived object versions (the GLACIER_IR, GLACIER and DEEP_ARCHIVE storage
   * classes): `S3ArchiveTarget` (any S3-compatible bucket), `PinningArchiveTarget` (a Pinning Service
   * API endpoint), `StorachaArchiveTarget` (Filecoin through Storacha), or your own ArchiveTarget.
   * Versions written in those classes, and those lifecycle Transition rules move, are exported as
   * CARs to it; RestoreObject brings them back. The gateway closes it on `close`. Default: none
   * (GLACIER and DEEP_ARCHIVE writes and transitions are NotImplemented; GLACIER_IR is a label).
   */
  archive?: ArchiveTarget
}

/** What `beforeOperation` is told about a request. */
export interface OperationInfo {
  /** The S3 action, e.g. 'PutObject', 'GetObject', 'ListObjectsV2'. */
  operation: string
  bucket: string
  key: string
  request: S3Request
}


export interface GatewayGcOptions extends AbortOptions {
  /**
   * Unreferenced blocks written more recently than this are kept: uploads in flight in other
   * processes sharing the storage are protected only by it, so it must exceed the longest upload.
   * (This process's own uploads are protected however long they take.) Default 15 minutes.
   */
  gracePeriodMs?: number
  /** Count what would be freed, delete nothing. */
  dryRun?: boolean
}

export interface GatewayGcReport {
  /** Pins added and removed to make the pinned set the referenced set (stores that pin). */
  pins?: ReconcileReport
  /** The mark-and-sweep over the blockstore (stores that can list and delete blocks). */
  blocks?: GcReport
}

export interface Gateway {
  /** Answers one request. Never rejects: every failure becomes an S3 error response. */
  handle(request: S3Request): Promise<S3Response>
  /**
   * Garbage collection, safe while requests are served: reconciles pins with references, then
   * deletes every block no referenced object, part or write in flight can reach, except blocks
   * written within the grace period. Never deletes a block reachable from a live root.
   */
  gc(options?: GatewayGcOptions): Promise<GatewayGcReport>
  /**
   * The first step of a graceful shutdown: from now on `/ready` answers 503 with status
   * 'draining', so load balancers and Kubernetes stop sending new requests here, while every
   * request that still arrives is served as before. Call it on SIGTERM, keep serving until the
   * balancers have noticed, stop accepting connections, let in-flight requests finish, then
   * `close()`. Repeated calls do nothing more; `close()` drains too.
   */
  drain(): void
  /** Closes the metadata store and blockstore where they hold resources. */
  close(): Promise<void>
  readonly region: string
  /**
   * The admin endpoints for any adapter to mount (`createAdminHandler` in `s3-ipfs-gateway/node`,
   * `adminMiddleware` for Express, `adminPlugin` for Fastify). Paths relative to `basePath`:
   * `/healthy` (liveness: never touches a dependency), `/ready` (each dependency checked; 503 when
   * a required one is down), `/metrics` (Prometheus text), `/dashboard` and `/dashboard/data`; for
   * S3 callers (signed as S3 requests are) `/cids/<cid>`, `/search`, `/snapshots/...`; and, with
   * `ipnsKey`, `/routing/v1/ipns/<name>` (published snapshots' IPNS records, to anyone).
   */
  readonly admin: { handle(request: S3Request): Promise<S3Response> }
  /** The gateway's Prometheus registry; undefined when metrics are off. */
  readonly metrics?: Registry
  /** Checks each dependency (metadata store, blockstore, shared block cache) now; 'draining' after `drain()`. */
  ready(): Promise<ReadinessReport>
}
