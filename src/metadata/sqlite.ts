export { SqliteMetadataStore, SQLITE_SCHEMA_VERSION } from './sqlite/index.js'
export type { SqliteMetadataStoreInit } from './sqlite/index.js'
