// The part of node-postgres (pg) the PostgreSQL store uses, as our own types. pg is an optional peer
// dependency loaded on first use, so the published declarations must not import its types (nor
// @types/pg): a TypeScript user without them would get errors. A pg `Pool` has this shape.

/** A row as pg returns it: column names to parsed values (`any`, as in pg, so that row interfaces fit). */
export interface QueryResultRow { [column: string]: any }

export interface QueryResult<R extends QueryResultRow = QueryResultRow> {
  rows: R[]
  /** Rows the statement returned or changed (null for statements that have no count). */
  rowCount: number | null
}

/** A statement with its parameters; `name` prepares it on the connection, `types` parses its results. */
export interface QueryConfig {
  text: string
  values?: unknown[]
  name?: string
  types?: { getTypeParser: (oid: number) => (value: string) => unknown }
}

/** Runs statements: a pool (each on any of its connections) or one connection. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(statement: string | QueryConfig): Promise<QueryResult<R>>
}

/** A connection taken from a pool, for one transaction; `release(error)` discards it. */
export interface PoolClient extends Queryable {
  release(error?: Error | boolean): void
}

/** What the store needs of a pg `Pool` (PostgresMetadataStoreInit.pool takes one). */
export interface Pool extends Queryable {
  connect(): Promise<PoolClient>
  on(event: 'error', listener: (error: Error) => void): unknown
  end(): Promise<void>
}
