import type Database from 'better-sqlite3'
import type { AbortOptions } from '../../types.js'
import type { JobRow, ReplicaRow } from '../job-rows.js'
import { finishedRow, sqliteJobRows } from '../job-rows.js'
import type { ClaimOptions, Job, JobCount, JobListOptions, JobOutcome, JobState, NewJob } from '../jobs.js'
import { badJob } from '../jobs.js'
import type { ReplicaListOptions, ReplicaRecord } from '../replicas.js'
import type { SqliteDatabase, Statement } from './database.js'

const { toJob, toReplica } = sqliteJobRows

type Row = JobRow<'sqlite'>
type Enqueued = Pick<Row, 'kind' | 'key' | 'payload' | 'run_at'> & { now: number }

// A name (kind, key) has one row. Enqueuing merges into a waiting row, marks a running one to run
// again, and revives a failed one (SET expressions read the row as it was).
const ENQUEUE = `INSERT INTO jobs (kind, key, payload, state, again, attempts, run_at, created, updated)
  VALUES (@kind, @key, @payload, 'ready', 0, 0, @run_at, @now, @now)
  ON CONFLICT (kind, key) DO UPDATE SET payload = excluded.payload, updated = excluded.updated,
    again = CASE WHEN state = 'leased' THEN 1 ELSE again END,
    attempts = CASE WHEN state = 'failed' THEN 0 ELSE attempts END,
    last_error = CASE WHEN state = 'failed' THEN NULL ELSE last_error END,
    run_at = CASE WHEN state = 'failed' THEN excluded.run_at WHEN state = 'ready' THEN min(run_at, excluded.run_at) ELSE run_at END,
    state = CASE WHEN state = 'failed' THEN 'ready' ELSE state END`

export function jobStatements (db: Database.Database) {
  return {
    enqueue: db.prepare(ENQUEUE) as Statement<[Enqueued]>,
    claim: db.prepare(`UPDATE jobs SET state = 'leased', lease = @lease, lease_until = @until, attempts = attempts + 1, updated = @now
      WHERE id IN (SELECT id FROM (
        SELECT id, run_at AS due FROM jobs INDEXED BY jobs_due WHERE state = 'ready' AND run_at <= @now
        UNION ALL SELECT id, lease_until AS due FROM jobs INDEXED BY jobs_leased WHERE state = 'leased' AND lease_until <= @now
      ) ORDER BY due, id LIMIT @limit)
      RETURNING *`) as Statement<[{ lease: string, until: number, now: number, limit: number }], Row>,
    leasedJob: db.prepare('SELECT * FROM jobs WHERE id = ? AND state = \'leased\' AND lease = ?') as Statement<[number, string], Row>,
    deleteJob: db.prepare('DELETE FROM jobs WHERE id = ?') as Statement<[number]>,
    updateFinished: db.prepare(`UPDATE jobs SET state = @state, run_at = @run_at, again = 0, lease = NULL, lease_until = NULL, updated = @now,
      attempts = CASE WHEN @again = 1 OR @keep_error = 1 THEN 0 ELSE attempts END, payload = coalesce(@payload, payload),
      last_error = CASE WHEN @keep_error = 1 THEN last_error ELSE @error END WHERE id = @id`) as
      Statement<[{ id: number, state: JobState, run_at: number, now: number, again: number, keep_error: number, error: string | null, payload: string | null }]>,
    extendLease: db.prepare('UPDATE jobs SET lease_until = ? WHERE id = ? AND state = \'leased\' AND lease = ?') as Statement<[number, number, string]>,
    getJob: db.prepare('SELECT * FROM jobs WHERE kind = ? AND key = ?') as Statement<[string, string], Row>,
    listJobs: db.prepare(`SELECT * FROM jobs WHERE id > @after AND (@state IS NULL OR state = @state) AND (@kind IS NULL OR kind = @kind)
      ORDER BY id LIMIT @limit`) as Statement<[{ after: number, state: string | null, kind: string | null, limit: number }], Row>,
    countJobs: db.prepare('SELECT kind, state, count(*) AS count FROM jobs GROUP BY kind, state ORDER BY kind, state') as Statement<[], JobCount>,
    removeJob: db.prepare('DELETE FROM jobs WHERE kind = ? AND key = ? AND state <> \'leased\'') as Statement<[string, string]>,
    putReplica: db.prepare(`INSERT OR REPLACE INTO replicas (cid, service, request_id, status, delegates, error, created, updated)
      VALUES (@cid, @service, @request_id, @status, @delegates, @error, @created, @updated)`) as Statement<[ReplicaRow<'sqlite'>]>,
    hasReplica: db.prepare('SELECT 1 FROM replicas WHERE cid = ? LIMIT 1') as Statement<[string]>,
    getReplicas: db.prepare('SELECT * FROM replicas WHERE cid = ? ORDER BY service') as Statement<[string], ReplicaRow<'sqlite'>>,
    deleteReplica: db.prepare('DELETE FROM replicas WHERE cid = ? AND service = ?') as Statement<[string, string]>,
    listReplicas: db.prepare(`SELECT * FROM replicas WHERE (cid, service) > (?, ?) ORDER BY cid, service LIMIT ?`) as
      Statement<[string, string, number], ReplicaRow<'sqlite'>>,
  }
}

/** Inside a change: enqueues `jobs` (checked first by the caller). */
export function enqueue (db: SqliteDatabase, jobs: NewJob[], now = Date.now()): void {
  for (const job of jobs) {
    db.sql.enqueue.run({ kind: job.kind, key: job.key, payload: JSON.stringify(job.payload ?? {}), run_at: job.runAt?.getTime() ?? now, now })
  }
}

export function checkJobs (jobs: NewJob[] | undefined): void {
  for (const job of jobs ?? []) {
    const bad = badJob(job)
    if (bad !== undefined) throw bad
  }
}

export async function enqueueJobs (db: SqliteDatabase, jobs: NewJob[], options?: AbortOptions): Promise<void> {
  options?.signal?.throwIfAborted()
  checkJobs(jobs)
  if (jobs.length > 0) await db.write(() => { enqueue(db, jobs) })
}

export async function claimJobs (db: SqliteDatabase, options: ClaimOptions): Promise<Job[]> {
  options.signal?.throwIfAborted()
  const limit = Math.floor(options.limit)
  if (!(limit >= 1)) return []
  const now = (options.now ?? new Date()).getTime()
  const rows = await db.write(() => db.sql.claim.all({ lease: options.lease, until: now + options.leaseMs, now, limit }))
  return rows.map(toJob).sort((a, b) => a.runAt.getTime() - b.runAt.getTime() || Number(a.id) - Number(b.id))
}

export async function finishJob (db: SqliteDatabase, id: string, lease: string, outcome: JobOutcome, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  const rowId = Number(id)
  if (!Number.isSafeInteger(rowId)) return false
  const now = new Date()
  return await db.write(() => {
    const row = db.sql.leasedJob.get(rowId, lease)
    if (row === undefined) return false
    const again = row.again === 1
    const next = finishedRow(outcome, again, now)
    if (next.delete) {
      db.sql.deleteJob.run(rowId)
    } else {
      db.sql.updateFinished.run({
        id: rowId, state: next.state, run_at: next.runAt, now: now.getTime(), again: again ? 1 : 0,
        keep_error: next.error === undefined ? 1 : 0, error: next.error ?? null,
        payload: !again && outcome.state === 'retry' && outcome.payload !== undefined ? JSON.stringify(outcome.payload) : null,
      })
    }
    return true
  })
}

export async function extendLease (db: SqliteDatabase, id: string, lease: string, leaseMs: number, options?: AbortOptions & { now?: Date }): Promise<boolean> {
  options?.signal?.throwIfAborted()
  const until = (options?.now ?? new Date()).getTime() + leaseMs
  return await db.write(() => db.sql.extendLease.run(until, Number(id), lease).changes > 0)
}

export async function getJob (db: SqliteDatabase, kind: string, key: string, options?: AbortOptions): Promise<Job | undefined> {
  options?.signal?.throwIfAborted()
  const row = db.sql.getJob.get(kind, key)
  return row === undefined ? undefined : toJob(row)
}

export async function listJobs (db: SqliteDatabase, options: JobListOptions): Promise<Job[]> {
  options.signal?.throwIfAborted()
  const limit = Math.floor(options.limit)
  if (!(limit >= 1)) return []
  const after = options.after === undefined ? 0 : Number(options.after)
  return db.sql.listJobs.all({ after: Number.isFinite(after) ? after : 0, state: options.state ?? null, kind: options.kind ?? null, limit }).map(toJob)
}

export async function countJobs (db: SqliteDatabase, options?: AbortOptions): Promise<JobCount[]> {
  options?.signal?.throwIfAborted()
  return db.sql.countJobs.all()
}

export async function removeJob (db: SqliteDatabase, kind: string, key: string, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  return await db.write(() => db.sql.removeJob.run(kind, key).changes > 0)
}

export async function putReplica (db: SqliteDatabase, record: ReplicaRecord, options?: AbortOptions): Promise<void> {
  options?.signal?.throwIfAborted()
  await db.write(() => db.sql.putReplica.run({
    cid: record.cid, service: record.service, request_id: record.requestId ?? null, status: record.status,
    delegates: JSON.stringify(record.delegates), error: record.error ?? null, created: record.created.getTime(), updated: record.updated.getTime(),
  }))
}

export async function getReplicas (db: SqliteDatabase, cid: string, options?: AbortOptions): Promise<ReplicaRecord[]> {
  options?.signal?.throwIfAborted()
  return db.sql.getReplicas.all(cid).map(toReplica)
}

export async function deleteReplica (db: SqliteDatabase, cid: string, service: string, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  return await db.write(() => db.sql.deleteReplica.run(cid, service).changes > 0)
}

export async function listReplicas (db: SqliteDatabase, options: ReplicaListOptions): Promise<ReplicaRecord[]> {
  options.signal?.throwIfAborted()
  const limit = Math.floor(options.limit)
  if (!(limit >= 1)) return []
  return db.sql.listReplicas.all(options.after?.cid ?? '', options.after?.service ?? '', limit).map(toReplica)
}
