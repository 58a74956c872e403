// Gateway
export { createGateway } from './gateway.js'
export type { Gateway, GatewayInit, GatewayLogger, S3Request, S3Response, AbortOptions, Credentials, CredentialProvider } from './types.js'
export { DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY } from './auth/credentials.js'

// Errors
export { S3Error, isS3Error, toS3Error } from './errors.js'

// Blockstores
export { MemoryBlockstore } from './blockstores/memory.js'
export { FsBlockstore } from './blockstores/fs.js'
export type { FsBlockstoreInit } from './blockstores/fs.js'

// Metadata stores
export { MemoryMetadataStore } from './metadata/memory.js'
export { SqliteMetadataStore } from './metadata/sqlite.js'
export type { SqliteMetadataStoreInit } from './metadata/sqlite.js'
export type {
  MetadataStore, BucketRecord, ObjectVersion, ObjectChecksum, ChecksumAlgorithm, ListOptions, WriteResult, DeleteResult, Versioning,
} from './metadata/metadata-store.js'

// Content
export { ContentStore } from './content/content-store.js'
export type { ContentStoreInit } from './content/content-store.js'
export { CID_PROFILES, cidProfile, isCidProfileName } from './content/profiles.js'
export type { CidProfile, CidProfileName } from './content/profiles.js'
