import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteMetadataStore } from '../../src/metadata/sqlite.js'
import { PostgresMetadataStore } from '../../src/metadata/postgres.js'
import type { MetadataStore } from '../../src/metadata/metadata-store.js'
import { dropPostgresSchema, postgresProblem, whenServices } from './services.js'

export const PG_URL = process.env.S3IPFS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export type StoreKind = 'memory' | 'sqlite' | 'postgres'

/**
 * The metadata stores a suite runs on: memory and SQLite always, PostgreSQL when it answers. When
 * it does not, registers the visible skip (a failure under S3IPFS_REQUIRE_SERVICES=1) named after `suite`.
 */
export async function storeKinds (suite: string): Promise<StoreKind[]> {
  const problem = await postgresProblem(PG_URL)
  whenServices(`${suite} on PostgreSQL`, problem, () => {})
  return ['memory', 'sqlite', ...(problem === undefined ? ['postgres' as const] : [])]
}

/**
 * An empty metadata store of `kind` (undefined for memory: the gateway's default), in a temporary
 * directory or schema of its own. `cleanup` receives the step that removes it, to run after the
 * gateway using it is closed.
 */
export async function emptyMetadataStore (kind: StoreKind, cleanup: Array<() => Promise<void>>): Promise<MetadataStore | undefined> {
  if (kind === 'memory') return undefined
  if (kind === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 's3ipfs-meta-'))
    cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
    return new SqliteMetadataStore({ path: join(dir, 'meta.db') })
  }
  const schema = `s3ipfs_t_${randomBytes(6).toString('hex')}`
  cleanup.push(async () => { await dropPostgresSchema(PG_URL, schema) })
  return new PostgresMetadataStore({ connectionString: PG_URL, schema, max: 4 })
}
