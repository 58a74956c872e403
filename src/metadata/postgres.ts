export { PostgresMetadataStore, POSTGRES_SCHEMA_VERSION } from './postgres/index.js'
export type { PostgresMetadataStoreInit } from './postgres/index.js'
