import { createHash } from 'node:crypto'
import { loadPg } from '../../optional-peers.js'
import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import { jobsOf } from '../jobs.js'
import { sourceReleased, storeClosed } from '../metadata-store.js'
import { checkJobs, enqueue } from './jobs.js'
import type { Pool, QueryConfig, Queryable, QueryResult, QueryResultRow } from './pg-types.js'
import { migrate } from './schema.js'

export interface PostgresMetadataStoreInit {
  /** e.g. `postgres://user@host:5432/db`. Ignored when `pool` is given; without either, pg's PG* environment variables apply. */
  connectionString?: string
  /**
   * A pg `Pool` shared with the host application: the store uses it and `close()` leaves it open.
   * Without it the store makes its own, loading pg (an optional peer dependency: `npm install pg`) on first use.
   */
  pool?: Pool
  /** PostgreSQL schema that holds the tables; created when missing. Default 's3ipfs'. */
  schema?: string
  /** Connections of the pool the store creates. Default 10. */
  max?: number
}

/** A transaction that hits a serialization failure or a deadlock is tried this many times in all. */
const ATTEMPTS = 5
const RETRYABLE = new Set(['40001', '40P01'])
/** Changes between two ANALYZEs run by one process (see analyzeNow). */
const ANALYZE_EVERY = 5000

/**
 * Our own parsers, so that a pool shared with a host that changed pg's global type parsers reads
 * the same values: int8 as numbers (sizes and times stay below 2^53), jsonb parsed.
 */
const TYPES: NonNullable<QueryConfig['types']> = {
  getTypeParser: (oid: number) => {
    switch (oid) {
      case 16: return (v: string) => v === 't'
      case 20: case 21: case 23: return Number
      case 1016: return (v: string) => v === '{}' ? [] : v.slice(1, -1).split(',').map(Number)
      case 114: case 3802: return JSON.parse
      default: return (v: string) => v
    }
  },
}

export type { Queryable } from './pg-types.js'

/** A lock a change takes before its first statement. */
export type Lock = { bucket: string, shared: boolean } | { key: [string, string] } | { upload: [string, string, string] }

/** CID reference count changes of one transaction: net delta per CID. */
export type Deltas = Map<string, number>

// Statements name their columns (no *): a prepared statement whose result columns change fails, so
// a column that a later schema version adds must not reach the statements of older processes.

/** `columns` qualified by a table alias. */
export function of (alias: string, columns: string): string {
  return columns.split(', ').map((column) => `${alias}.${column}`).join(', ')
}

export function add (deltas: Deltas, cid: string | undefined, delta: number): void {
  if (cid !== undefined) deltas.set(cid, (deltas.get(cid) ?? 0) + delta)
}

/**
 * The pool, the schema the tables live in, and the two ways statements run: one at a time
 * (`query`), or as a change (`change`): one READ COMMITTED transaction that first takes
 * transaction-level advisory locks and last applies the reference count changes it collected.
 */
export class PostgresConnection {
  private readonly ownsPool: boolean
  /** The pool once there is one: the one given, or ours once pg is loaded. */
  private opened?: Pool
  private opening?: Promise<Pool>
  private readonly connectionString?: string
  private readonly max: number
  readonly schema: string
  /** The quoted schema name, for SQL text. */
  readonly s: string
  /** Changes committed by this store, for analyzeNow. */
  private changes = 0
  private initialized?: Promise<void>
  private closed = false
  /** Prepared statement names by SQL text. */
  private readonly names = new Map<string, string>()

  constructor (init: PostgresMetadataStoreInit) {
    this.schema = init.schema ?? 's3ipfs'
    if (this.schema === '' || this.schema.includes('\0') || Buffer.byteLength(this.schema) > 63) {
      throw new TypeError(`Invalid PostgreSQL schema name ${JSON.stringify(this.schema)}: 1 to 63 bytes, no NUL`)
    }
    this.s = `"${this.schema.replaceAll('"', '""')}"`
    this.ownsPool = init.pool === undefined
    this.opened = init.pool
    this.connectionString = init.connectionString
    this.max = init.max ?? 10
  }

  /**
   * The pool. Ours is made on first use, loading pg then (an optional peer dependency: without it,
   * this rejects with code ERR_OPTIONAL_PEER_MISSING); a failed load is retried by the next call.
   */
  async pool (): Promise<Pool> {
    if (this.closed) throw storeClosed()
    if (this.opened !== undefined) return this.opened
    this.opening ??= loadPg().then((pg) => {
      const pool: Pool = new pg.Pool({ connectionString: this.connectionString, max: this.max })
      // An idle connection that fails is dropped by the pool and replaced on the next query; without a
      // listener its 'error' event would end the process.
      pool.on('error', () => {})
      this.opened = pool
      return pool
    }, (err: unknown) => {
      this.opening = undefined
      throw err
    })
    return await this.opening
  }

  /** Creates or migrates the tables, once; a failure is retried by the next call. */
  async init (): Promise<void> {
    this.initialized ??= migrate(this).catch((err) => {
      this.initialized = undefined
      throw err
    })
    await this.initialized
  }

  /** `SELECT 1` through the pool, without waiting for the schema. */
  async ping (options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const pool = await this.pool()
    await untilAborted(pool.query('SELECT 1'), options?.signal)
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (!this.ownsPool) return
    const pool = this.opened ?? await this.opening?.catch(() => undefined)
    await pool?.end()
  }

  /**
   * A statement with our type parsers. Prepared (named) unless `planned`: parsing and planning cost
   * more than executing these point statements, so each connection prepares each text once. Range
   * listings are planned for their actual bounds and limit every time instead.
   */
  sql (text: string, values?: unknown[], planned = false): QueryConfig {
    if (planned) return { text, values, types: TYPES }
    let name = this.names.get(text)
    if (name === undefined) {
      name = `s3ipfs_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`
      this.names.set(text, name)
    }
    return { name, text, values, types: TYPES }
  }

  /** One statement outside any transaction, once the schema is ready. */
  async query<R extends QueryResultRow = QueryResultRow> (options: AbortOptions | undefined, text: string, values?: unknown[], planned = false): Promise<QueryResult<R>> {
    options?.signal?.throwIfAborted()
    await this.init()
    options?.signal?.throwIfAborted()
    return await (await this.pool()).query<R>(this.sql(text, values, planned))
  }

  /**
   * Runs a change as one transaction holding `locks` (advisory, released at commit), then applies
   * the reference count deltas it collected, then enqueues its jobs (ChangeOptions). Serialization failures and deadlocks are retried.
   *
   * `sourceCid` (WriteOptions): the change must not take that CID's count from zero. Checked on the
   * count the reference update returns, under the row lock that update already holds, so a release
   * to zero either committed before (the update finds no row: rolled back) or waits for this one.
   */
  async change<T> (options: ChangeOptions | undefined, locks: Lock[],
    fn: (q: Queryable, deltas: Deltas) => Promise<T>, sourceCid?: string): Promise<{ result: T, released: string[] }> {
    options?.signal?.throwIfAborted()
    checkJobs(options?.jobs)
    await this.init()
    // Lock ids are computed here, so they go in the same round trip as BEGIN (literals, not parameters).
    const lockSql = locks.map((lock) => 'bucket' in lock
      ? `SELECT pg_advisory_xact_lock${lock.shared ? '_shared' : ''}(${this.lockId('bucket', lock.bucket)})`
      : `SELECT pg_advisory_xact_lock(${'key' in lock ? this.lockId('key', ...lock.key) : this.lockId('upload', ...lock.upload)})`)
    const begin = ['BEGIN', ...lockSql].join('; ')
    for (let attempt = 1; ; attempt++) {
      options?.signal?.throwIfAborted()
      const client = await (await this.pool()).connect()
      let broken: Error | undefined
      try {
        await client.query(begin)
        const deltas: Deltas = new Map()
        const result = await fn(client, deltas)
        const released = await this.applyRefs(client, deltas, sourceCid)
        let withReplicas: Set<string> | undefined
        if (options?.releaseJobsOnlyWithReplicas === true && options.jobsOnRelease !== undefined && released.length > 0) {
          const { rows } = await client.query<{ cid: string }>(this.sql(`SELECT DISTINCT cid FROM ${this.s}.replicas WHERE cid = ANY ($1::text[])`, [released]))
          withReplicas = new Set(rows.map((row) => row.cid))
        }
        await enqueue(this, client, jobsOf(options, released, withReplicas === undefined ? undefined : (cid) => withReplicas.has(cid)))
        await client.query('COMMIT')
        this.analyzeNow()
        return { result, released }
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => { broken = rollbackError })
        if (attempt < ATTEMPTS && RETRYABLE.has((err as { code?: string }).code ?? '')) {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt))
          continue
        }
        throw err
      } finally {
        client.release(broken)
      }
    }
  }

  /** A 64-bit advisory lock id for one bucket, key or upload of this schema. */
  lockId (kind: string, ...names: string[]): string {
    const hash = createHash('sha256').update([this.schema, kind, ...names].join('\0')).digest()
    return `'${hash.readBigInt64BE(0)}'::bigint`
  }

  /**
   * Applies net reference count changes in one statement that visits the CIDs in sorted order, so
   * concurrent changes lock count rows in one global order; removes counts that reached zero.
   */
  private async applyRefs (q: Queryable, deltas: Deltas, sourceCid?: string): Promise<string[]> {
    const changes = [...deltas].filter(([, delta]) => delta !== 0)
    if (changes.length === 0) return []
    const { rows } = await q.query<{ cid: string, count: number }>(this.sql(`INSERT INTO ${this.s}.refs AS r (cid, count)
        SELECT cid, delta FROM unnest($1::text[], $2::bigint[]) AS d(cid, delta) ORDER BY cid COLLATE "C"
      ON CONFLICT (cid) DO UPDATE SET count = r.count + excluded.count
      RETURNING cid, count`, [changes.map(([cid]) => cid), changes.map(([, delta]) => delta)]))
    const added = sourceCid === undefined ? 0 : deltas.get(sourceCid) ?? 0
    if (added > 0 && Number(rows.find((row) => row.cid === sourceCid)?.count ?? 0) <= added) throw sourceReleased(sourceCid as string)
    const released = rows.filter((row) => row.count <= 0).map((row) => row.cid)
    if (released.length > 0) {
      await q.query(this.sql(`DELETE FROM ${this.s}.refs WHERE cid = ANY ($1::text[]) AND count <= 0`, [released]))
    }
    return released
  }

  /**
   * Listing plans must not depend on autovacuum having run: without statistics the planner takes a
   * freshly bulk-loaded bucket for a few rows and sorts it instead of reading the index in order. So
   * every ANALYZE_EVERY changes this process refreshes the statistics itself, in the background.
   */
  private analyzeNow (): void {
    if (++this.changes % ANALYZE_EVERY !== 0) return
    this.opened?.query(`ANALYZE ${this.s}.versions, ${this.s}.uploads, ${this.s}.parts, ${this.s}.refs`).catch(() => {})
  }
}

/**
 * Settles as `promise` does, or rejects with the signal's reason when it aborts first: pg cannot
 * cancel a query waiting for a connection, and a readiness probe must not wait for one.
 */
async function untilAborted<T> (promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await promise
  promise.catch(() => {})
  let onAbort = (): void => {}
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(signal.reason) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
