import { close as closeCallback, fdatasync as fdatasyncCallback, mkdirSync, open as openCallback } from 'node:fs'
import { promisify } from 'node:util'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { ChangeOptions } from '../jobs.js'
import { jobsOf } from '../jobs.js'
import { archiveStatements } from './archives.js'
import { bucketStatements } from './buckets.js'
import { checkJobs, enqueue, jobStatements } from './jobs.js'
import { objectStatements } from './objects.js'
import { pinStatements } from './pins.js'
import { refStatements } from './refs.js'
import { snapshotStatements } from './snapshots.js'
import { migrate } from './schema.js'
import { BucketCache } from './bucket-cache.js'
import { statStatements } from './stats.js'
import { uploadStatements } from './uploads.js'

export interface SqliteMetadataStoreInit {
  /** Database file; its directory is created when missing. ':memory:' for a private in-memory database. */
  path: string
  /**
   * How a commit reaches the disk before its promise resolves.
   * - 'GROUP' (default): `PRAGMA synchronous = NORMAL`, then the WAL file is fsynced off the event
   *   loop, one fsync covering every commit made while the previous one ran (group commit). An
   *   acknowledged write survives a power loss, and concurrent writers share the cost of the sync.
   * - 'FULL': SQLite fsyncs the WAL inside every commit, blocking the event loop for each.
   * - 'NORMAL': no sync per commit; the last commits may be lost on power loss (never on a process
   *   crash). For tests and scratch data.
   */
  synchronous?: 'GROUP' | 'FULL' | 'NORMAL'
  /** How long a write waits for another process holding the write lock, in ms. Default 5000. */
  busyTimeout?: number
}

const openFd = promisify(openCallback) as (path: string, flags: string) => Promise<number>
const fdatasync = promisify(fdatasyncCallback)
const closeFd = promisify(closeCallback)

export type Statement<P extends unknown[], R = unknown> = Database.Statement<P, R>

interface PendingWrite {
  change: () => unknown
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
}

function prepare (db: Database.Database) {
  return { ...bucketStatements(db), ...objectStatements(db), ...uploadStatements(db), ...refStatements(db), ...statStatements(db), ...jobStatements(db),
    ...pinStatements(db), ...archiveStatements(db), ...snapshotStatements(db) }
}

/**
 * One SQLite file (better-sqlite3, WAL) and the statements prepared on it. Every change commits in
 * an immediate transaction (in 'GROUP' mode shared with the changes made concurrently, each in its
 * own savepoint), so several processes may share the file.
 */
export class SqliteDatabase {
  private readonly db: Database.Database
  readonly sql: ReturnType<typeof prepare>
  /** Bucket records read on this connection (bucket-cache.ts). */
  readonly buckets: BucketCache
  /** Runs a change as one immediate transaction. */
  private readonly changeTx: (change: () => unknown) => unknown
  /** Runs reads in one deferred transaction, so that they see one snapshot whoever else writes the file. */
  private readonly readTx: (read: () => unknown) => unknown
  /** Set in 'GROUP' mode on a file database: the WAL file to fsync after commits. */
  private readonly walPath?: string
  /**
   * The WAL file, open from its first sync until `close`. SQLite deletes (or replaces) the WAL only
   * when the last connection to the database closes, and this one stays open until then: the
   * descriptor names the file every commit of this connection goes to.
   */
  private walFd?: number
  private readonly shapes = new Map<string, Statement<unknown[]>>()
  private syncInFlight?: Promise<void>
  private syncQueued?: Promise<void>
  /** 'GROUP' mode: changes waiting for the next group commit, and the loop committing them. */
  private pending: PendingWrite[] = []
  private committing?: Promise<void>
  private readonly groupTx: (group: PendingWrite[], outcomes: Array<{ ok: boolean, value: unknown }>) => void
  /** CIDs whose last reference the running change released (refs.ts), for its jobs. */
  private releasedNow?: string[]

  constructor (init: SqliteMetadataStoreInit) {
    const path = init.path
    if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true })
    this.db = new Database(path, { timeout: init.busyTimeout ?? 5000 })
    try {
      this.db.pragma('journal_mode = WAL')
      const mode = init.synchronous ?? 'GROUP'
      this.db.pragma(`synchronous = ${mode === 'FULL' ? 'FULL' : 'NORMAL'}`)
      // Statement and savepoint journals in memory, not temp files: every change of a group commit
      // runs in its own savepoint, and a change that writes several tables journals pages of each.
      this.db.pragma('temp_store = MEMORY')
      if (mode === 'GROUP' && path !== ':memory:' && path !== '') this.walPath = `${path}-wal`
      migrate(this.db)
      this.sql = prepare(this.db)
      this.buckets = new BucketCache(() => this.sql.dataVersion.get() as number)
    } catch (err) {
      this.db.close()
      throw err
    }
    this.changeTx = this.db.transaction((change: () => unknown) => change()).immediate
    this.readTx = this.db.transaction((read: () => unknown) => read()).deferred
    // Each change of a group runs in a nested transaction, which better-sqlite3 makes a savepoint.
    const inSavepoint = this.db.transaction((change: () => unknown) => change())
    this.groupTx = this.db.transaction((group: PendingWrite[], outcomes: Array<{ ok: boolean, value: unknown }>) => {
      for (const w of group) {
        try {
          outcomes.push({ ok: true, value: inSavepoint(w.change) })
        } catch (err) {
          outcomes.push({ ok: false, value: err })
        }
      }
    }).immediate
  }

  /** A statement prepared once per SQL text: for statements put together from a few shapes. */
  statement<P extends unknown[], R = unknown> (sql: string): Statement<P, R> {
    let prepared = this.shapes.get(sql)
    if (prepared === undefined) this.shapes.set(sql, prepared = this.db.prepare(sql))
    return prepared as Statement<P, R>
  }

  /** Runs reads that must see one snapshot. */
  read<T> (reads: () => T): T {
    return this.readTx(reads) as T
  }

  /**
   * Runs a change and resolves, once it is durable, with its result. In 'GROUP' mode on a file,
   * changes made while the previous group's WAL fsync runs are queued and then committed together
   * in one immediate transaction, each change inside its own savepoint (a change that throws
   * rolls back alone and rejects alone), followed by one fsync for the group. A commit costs much
   * more than the statements of one change, so concurrent writers share it as they share the fsync.
   * Changes apply in call order. Other modes run each change as its own transaction at once.
   */
  async write<T> (change: () => T, options?: ChangeOptions): Promise<T> {
    if (options?.jobs !== undefined || options?.jobsOnRelease !== undefined) {
      checkJobs(options.jobs)
      const bare = change
      change = () => this.withJobs(bare, options)
    }
    if (this.walPath === undefined) return this.changeTx(change) as T
    return await new Promise<T>((resolve, reject) => {
      this.pending.push({ change, resolve: resolve as (value: unknown) => void, reject })
      if (this.committing === undefined) this.committing = this.commitGroups()
    })
  }

  /** Whether the CID has replica rows (a release then has remote copies to clean up). */
  hasReplicas (cid: string): boolean {
    return this.sql.hasReplica.get(cid) !== undefined
  }

  /** Inside a change: its last-reference releases are noted for its jobs. */
  released (cid: string): void {
    this.releasedNow?.push(cid)
  }

  /** Runs a change and then enqueues its jobs, in its transaction (or savepoint). */
  private withJobs<T> (change: () => T, options: ChangeOptions): T {
    this.releasedNow = []
    try {
      const result = change()
      enqueue(this, jobsOf(options, this.releasedNow, (cid) => this.hasReplicas(cid)))
      return result
    } finally {
      this.releasedNow = undefined
    }
  }

  async close (): Promise<void> {
    while (this.committing !== undefined) await this.committing
    await this.syncQueued?.catch(() => {})
    await this.syncInFlight?.catch(() => {})
    if (this.walFd !== undefined) {
      const fd = this.walFd
      this.walFd = undefined
      await closeFd(fd).catch(() => {})
    }
    if (this.db.open) this.db.close()
  }

  /**
   * Group commit: resolves once a WAL fsync that started after this call has finished. A call made
   * while a sync runs joins the one queued behind it, so N concurrent commits cost about two fsyncs.
   */
  private async durable<T> (result: T): Promise<T> {
    if (this.walPath === undefined) return result
    if (this.syncQueued === undefined) {
      const previous = this.syncInFlight ?? Promise.resolve()
      this.syncQueued = previous.catch(() => {}).then(async () => {
        this.syncQueued = undefined
        const current = this.syncWal()
        this.syncInFlight = current
        try {
          await current
        } finally {
          if (this.syncInFlight === current) this.syncInFlight = undefined
        }
      })
    }
    await this.syncQueued
    return result
  }

  private async commitGroups (): Promise<void> {
    try {
      // Let the writes issued in this turn of the event loop join the first group.
      await new Promise<void>(resolve => setImmediate(resolve))
      while (this.pending.length > 0) {
        const group = this.pending
        this.pending = []
        const outcomes: Array<{ ok: boolean, value: unknown }> = []
        try {
          this.groupTx(group, outcomes)
        } catch (err) {
          // BEGIN or COMMIT failed: nothing of the group was committed.
          for (const w of group) w.reject(err)
          continue
        }
        let syncError: { error: unknown } | undefined
        try {
          await this.durable(undefined)
        } catch (error) {
          syncError = { error }
        }
        for (let i = 0; i < group.length; i++) {
          const outcome = outcomes[i]
          if (syncError !== undefined && outcome.ok) group[i].reject(syncError.error)
          else if (outcome.ok) group[i].resolve(outcome.value)
          else group[i].reject(outcome.value)
        }
      }
    } finally {
      this.committing = undefined
    }
  }

  private async syncWal (): Promise<void> {
    if (this.walFd === undefined) {
      try {
        this.walFd = await openFd(this.walPath as string, 'r')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return // no WAL yet: nothing to sync
        throw err
      }
    }
    await fdatasync(this.walFd)
  }
}
