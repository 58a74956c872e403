// Gateway
export { createGateway } from './gateway.js'
export type { Gateway, GatewayGcOptions, GatewayGcReport, GatewayInit, GatewayLogger, OperationInfo, S3Request, S3Response, AbortOptions, Credentials, CredentialProvider } from './types.js'
export { DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY } from './auth/credentials.js'

// Identities, access control, audit
export { fileCredentials, loadUsers } from './auth/user-file.js'
export type { FileCredentialsInit, UsersFile, UserEntry, UserDirectory } from './auth/user-file.js'
export { ANONYMOUS_PRINCIPAL } from './auth/authorize.js'
export { parsePolicy, evaluatePolicy, isPublicPolicy } from './auth/policy.js'
export type { Policy, RequestFacts, Decision } from './auth/policy.js'
export { auditLogFile } from './audit.js'
export type { AuditEntry, AuditSink, AuditLogFile } from './audit.js'

// Operating it: metrics, logs, readiness
export { jsonLogger, LOG_LEVELS } from './observability/logger.js'
export type { JsonLoggerOptions, LogLevel } from './observability/logger.js'
export type { MetricsOptions } from './observability/metrics.js'
export type { ReadinessReport, CheckResult } from './observability/readiness.js'
export type { DashboardData, DashboardSample } from './observability/history.js'

// Errors
export { S3Error, isS3Error, toS3Error } from './errors.js'
export { OPTIONAL_PEER_MISSING } from './optional-peers.js'

// Blockstores
export { MemoryBlockstore } from './blockstores/memory.js'
export { FsBlockstore } from './blockstores/fs.js'
export type { FsBlockstoreInit } from './blockstores/fs.js'
export { PackBlockstore } from './blockstores/pack.js'
export type { PackBlockstoreInit } from './blockstores/pack.js'
export type { CompactionReport } from './blockstores/pack-compact.js'
export { CachedBlockstore, MemoryBlockCache, KeyvBlockCache, redisBlockCache } from './blockstores/cached.js'
export { KuboBlockstore, KuboError, KUBO_ERRORS } from './blockstores/kubo.js'
export { FailoverBlockstore, blockMatches } from './blockstores/failover.js'
export type { FailoverBlockstoreInit, RepairEvent, MissEvent, FaultReason } from './blockstores/failover.js'
export type { KuboBlockstoreInit } from './blockstores/kubo.js'
export type { BlockCache, CacheMetrics, CachedBlockstoreOptions, KeyvBlockCacheOptions, KeyvStore } from './blockstores/cached.js'

// Metadata stores
export { MemoryMetadataStore } from './metadata/memory.js'
export { SqliteMetadataStore } from './metadata/sqlite.js'
export type { SqliteMetadataStoreInit } from './metadata/sqlite.js'
export { PostgresMetadataStore } from './metadata/postgres.js'
export type { PostgresMetadataStoreInit } from './metadata/postgres.js'
export type {
  MetadataStore, BucketRecord, ObjectVersion, ObjectChecksum, ChecksumAlgorithm, ListOptions, WriteResult, DeleteResult, Versioning,
  MultipartUpload, UploadedPart, CompletedUpload, UploadListOptions, PartListOptions, PartWriteResult, CompleteResult,
  VersionListOptions, ListedObject, ChecksumType, BucketConfig, BucketConfigKind, ObjectEncryption, StoreStats, StatsOptions,
  WriteOptions, PutOptions, CompleteOptions, WriteCondition,
} from './metadata/metadata-store.js'
export { PinnedMetadataStore } from './metadata/pinned.js'
export type { NewJob, Job, JobState, JobOutcome, ClaimOptions, JobListOptions, JobCount, JobQueue, ChangeOptions } from './metadata/jobs.js'
export type { ReplicaRecord, ReplicaStatus, ReplicaStore, ReplicaListOptions } from './metadata/replicas.js'
export type { PinRecord, PinState, PinStore, PinListOptions, PinList } from './metadata/pins.js'
export type { SearchIndex, SearchDriver, SearchReadOptions, SearchCountOptions } from './metadata/search.js'

// Discovery: which objects hold a CID, metadata search
export { findByCid } from './discovery/find-by-cid.js'
export type { FindByCidResult } from './discovery/find-by-cid.js'
export { searchPage, parseSearchFilter, matchesFilter } from './discovery/search.js'
export type { SearchFilter, SearchPage, SearchResult } from './discovery/search.js'
export type { SnapshotRecord, SnapshotStore, SnapshotMatch, SnapshotListOptions, SnapshotCidListOptions, SnapshotDeleteResult } from './metadata/snapshots.js'

// Replicas and federation: the job queue's worker, remote pinning services (client and server), scrubbing
export { JobWorker } from './jobs/worker.js'
export type { JobWorkerInit } from './jobs/worker.js'
export type { JobHandler, JobContext } from './jobs/handler.js'
export type { PinningServiceConfig, IpfsPeer, JobsOptions, ReplicationOptions } from './federation/index.js'
export { PinningServiceClient, PinningServiceError, isPinningServiceError } from './federation/pinning-client.js'
export type { PinningService, PinningServiceClientInit } from './federation/pinning-client.js'
export type { Pin, PinStatus, PinResults, PinListQuery } from './federation/pinning-api.js'
export { createPinningServiceHandler, bearerTokens } from './federation/pinning-server.js'
export type { PinningServiceInit, PinningServiceHandler } from './federation/pinning-server.js'
export type { ReplicaPolicy } from './federation/replication.js'
export type { ScrubOptions } from './federation/scrub.js'

// Archive targets: cold storage for archived object versions, one CAR per root CID
export type { ArchiveTarget, ArchiveLocation, ArchiveStatus } from './archive/target.js'
export { S3ArchiveTarget, parseS3ArchiveConfig } from './archive/s3-target.js'
export type { S3ArchiveConfig } from './archive/s3-target.js'
export type { S3ClientError } from './archive/s3-client.js'
export { PinningArchiveTarget, parsePinningArchiveConfig } from './archive/pinning-target.js'
export type { PinningArchiveConfig } from './archive/pinning-target.js'
export { StorachaArchiveTarget, parseStorachaArchiveConfig } from './archive/storacha-target.js'
export type { StorachaArchiveConfig } from './archive/storacha-target.js'
export { createArchiveTarget } from './archive/config.js'
export type { ArchiveTargetContext } from './archive/config.js'

// Content
export { ContentStore } from './content/content-store.js'
export type { ContentStoreInit, WriteSession, VerifiedCatOptions, VerifiedReadOptions } from './content/content-store.js'
export { BlockMismatchError, BlockTimeoutError, verifyBlock } from './content/verify.js'
export { InvalidCarError, MAX_CAR_BLOCK_SIZE } from './content/car-import.js'
export type { ImportedCar } from './content/car-import.js'
export type { CarExportOptions } from './content/car-export.js'
export { collectGarbage, isSweepable } from './content/gc.js'
export type { GcOptions, GcReport, SweepableBlockstore, ListedBlock } from './content/gc.js'
export { isPinner, reconcilePins } from './content/pins.js'
export type { Pinner, ReconcileReport } from './content/pins.js'
export { CID_PROFILES, cidProfile, isCidProfileName } from './content/profiles.js'
export type { CidProfile, CidProfileName } from './content/profiles.js'

// IPNS names: keys derived from the node's key, signed records, and the HTTP endpoints serving them
export { IpnsKeyring, deriveIpnsKey, nodeIpnsKey, parseIpnsName, ipnsNameOf, signIpnsRecord, IpnsRecordCache, ipnsRecordServer, IPNS_RECORD_CONTENT_TYPE, MAX_IPNS_RECORD_SIZE } from './ipns/index.js'
export type { IpnsKey, NodePrivateKey, IpnsName, IpnsRecordInit, SignedIpnsRecord, IpnsRecordCacheInit, IpnsPublication, IpnsRecordServer, IpnsRecordServerInit, IpnsResolver } from './ipns/index.js'
