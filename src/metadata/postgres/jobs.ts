import type { AbortOptions } from '../../types.js'
import type { JobRow, ReplicaRow } from '../job-rows.js'
import { postgresJobRows } from '../job-rows.js'
import type { ClaimOptions, Job, JobCount, JobListOptions, JobOutcome, NewJob } from '../jobs.js'
import { badJob } from '../jobs.js'
import type { ReplicaListOptions, ReplicaRecord } from '../replicas.js'
import type { PostgresConnection, Queryable } from './connection.js'

const { toJob, toReplica } = postgresJobRows

type Row = JobRow<'postgres'>
const JOB_COLUMNS = 'id, kind, key, payload, state, again, attempts, run_at, created, updated, lease, lease_until, last_error'
const REPLICA_COLUMNS = 'cid, service, request_id, status, delegates, error, created, updated'

export function checkJobs (jobs: NewJob[] | undefined): void {
  for (const job of jobs ?? []) {
    const bad = badJob(job)
    if (bad !== undefined) throw bad
  }
}

/**
 * Enqueues in one statement (inside the caller's transaction when `q` is its client). A name given
 * twice merges first, as a second enqueue would: one statement may not update a row twice.
 */
export async function enqueue (db: PostgresConnection, q: Queryable, jobs: NewJob[], now = Date.now()): Promise<void> {
  if (jobs.length === 0) return
  const byName = new Map<string, { kind: string, key: string, payload: string, runAt: number }>()
  for (const job of jobs) {
    const name = `${job.kind}\0${job.key}`
    const runAt = job.runAt?.getTime() ?? now
    const seen = byName.get(name)
    byName.set(name, { kind: job.kind, key: job.key, payload: JSON.stringify(job.payload ?? {}), runAt: Math.min(runAt, seen?.runAt ?? runAt) })
  }
  const list = [...byName.values()]
  await q.query(db.sql(`INSERT INTO ${db.s}.jobs AS j (kind, key, payload, state, run_at, created, updated)
      SELECT kind, key, payload, 'ready', run_at, $5, $5 FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::bigint[]) AS n(kind, key, payload, run_at)
    ON CONFLICT (kind, key) DO UPDATE SET payload = excluded.payload, updated = excluded.updated,
      again = j.again OR j.state = 'leased',
      attempts = CASE WHEN j.state = 'failed' THEN 0 ELSE j.attempts END,
      last_error = CASE WHEN j.state = 'failed' THEN NULL ELSE j.last_error END,
      run_at = CASE WHEN j.state = 'failed' THEN excluded.run_at WHEN j.state = 'ready' THEN least(j.run_at, excluded.run_at) ELSE j.run_at END,
      state = CASE WHEN j.state = 'failed' THEN 'ready' ELSE j.state END`,
  [list.map((j) => j.kind), list.map((j) => j.key), list.map((j) => j.payload), list.map((j) => j.runAt), now]))
}

export async function enqueueJobs (db: PostgresConnection, jobs: NewJob[], options?: AbortOptions): Promise<void> {
  options?.signal?.throwIfAborted()
  checkJobs(jobs)
  if (jobs.length === 0) return
  await db.init()
  await enqueue(db, await db.pool(), jobs)
}

/** One statement: due jobs and expired leases, locked with SKIP LOCKED so concurrent claimers take different ones. */
export async function claimJobs (db: PostgresConnection, options: ClaimOptions): Promise<Job[]> {
  options.signal?.throwIfAborted()
  const limit = Math.floor(options.limit)
  if (!(limit >= 1)) return []
  const now = (options.now ?? new Date()).getTime()
  const { rows } = await db.query<Row>(options, `WITH
      due AS (SELECT id, run_at AS at FROM ${db.s}.jobs WHERE state = 'ready' AND run_at <= $3::bigint ORDER BY run_at, id LIMIT $4::int FOR UPDATE SKIP LOCKED),
      expired AS (SELECT id, lease_until AS at FROM ${db.s}.jobs WHERE state = 'leased' AND lease_until <= $3::bigint ORDER BY lease_until, id LIMIT $4::int FOR UPDATE SKIP LOCKED),
      picked AS (SELECT id FROM (SELECT id, at FROM due UNION ALL SELECT id, at FROM expired) x ORDER BY at, id LIMIT $4::int)
    UPDATE ${db.s}.jobs j SET state = 'leased', lease = $1::text, lease_until = $2::bigint, attempts = j.attempts + 1, updated = $3::bigint
    FROM picked WHERE j.id = picked.id RETURNING ${JOB_COLUMNS.split(', ').map((c) => `j.${c}`).join(', ')}`,
  [options.lease, now + options.leaseMs, now, limit])
  return rows.map(toJob).sort((a, b) => a.runAt.getTime() - b.runAt.getTime() || Number(a.id) - Number(b.id))
}

export async function finishJob (db: PostgresConnection, id: string, lease: string, outcome: JobOutcome, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  if (!/^\d{1,18}$/.test(id)) return false
  const now = Date.now()
  const done = outcome.state === 'done'
  const state = outcome.state === 'failed' ? 'failed' : 'ready'
  const runAt = outcome.state === 'retry' ? outcome.runAt.getTime() : now
  const error = outcome.state === 'done' ? null : outcome.error ?? null
  const keepError = outcome.state === 'retry' && outcome.error === undefined
  // A job enqueued again while it ran (again) is ready at once, whatever this run's outcome.
  const { rows: [result] } = await db.query<{ found: number }>(options, `WITH
      cur AS (SELECT id, again FROM ${db.s}.jobs WHERE id = $1::bigint AND state = 'leased' AND lease = $2::text FOR UPDATE),
      del AS (DELETE FROM ${db.s}.jobs j USING cur WHERE j.id = cur.id AND NOT cur.again AND $3::boolean RETURNING j.id),
      upd AS (UPDATE ${db.s}.jobs j SET state = CASE WHEN cur.again THEN 'ready' ELSE $4::text END,
          run_at = CASE WHEN cur.again THEN $6::bigint ELSE $5::bigint END, again = false, lease = NULL, lease_until = NULL, updated = $6::bigint,
          attempts = CASE WHEN cur.again OR $7::boolean THEN 0 ELSE j.attempts END,
          payload = CASE WHEN cur.again OR $9::jsonb IS NULL THEN j.payload ELSE $9::jsonb END,
          last_error = CASE WHEN cur.again THEN NULL WHEN $7::boolean THEN j.last_error ELSE $8::text END
        FROM cur WHERE j.id = cur.id AND (cur.again OR NOT $3::boolean) RETURNING j.id)
    SELECT (SELECT count(*) FROM cur)::int AS found, (SELECT count(*) FROM del) + (SELECT count(*) FROM upd) AS changed`,
  [id, lease, done, state, runAt, now, keepError, error, outcome.state === 'retry' && outcome.payload !== undefined ? JSON.stringify(outcome.payload) : null])
  return result.found > 0
}

export async function extendLease (db: PostgresConnection, id: string, lease: string, leaseMs: number, options?: AbortOptions & { now?: Date }): Promise<boolean> {
  options?.signal?.throwIfAborted()
  if (!/^\d{1,18}$/.test(id)) return false
  const until = (options?.now ?? new Date()).getTime() + leaseMs
  const { rowCount } = await db.query(options, `UPDATE ${db.s}.jobs SET lease_until = $1 WHERE id = $2 AND state = 'leased' AND lease = $3`, [until, id, lease])
  return (rowCount ?? 0) > 0
}

export async function getJob (db: PostgresConnection, kind: string, key: string, options?: AbortOptions): Promise<Job | undefined> {
  options?.signal?.throwIfAborted()
  if (kind.includes('\0') || key.includes('\0')) return undefined
  const { rows } = await db.query<Row>(options, `SELECT ${JOB_COLUMNS} FROM ${db.s}.jobs WHERE kind = $1 AND key = $2`, [kind, key])
  return rows.length === 0 ? undefined : toJob(rows[0])
}

export async function listJobs (db: PostgresConnection, options: JobListOptions): Promise<Job[]> {
  options.signal?.throwIfAborted()
  const limit = Math.floor(options.limit)
  if (!(limit >= 1)) return []
  const after = options.after !== undefined && /^\d{1,18}$/.test(options.after) ? options.after : '0'
  const { rows } = await db.query<Row>(options, `SELECT ${JOB_COLUMNS} FROM ${db.s}.jobs
    WHERE id > $1 AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR kind = $3) ORDER BY id LIMIT $4`,
  [after, options.state ?? null, options.kind ?? null, limit])
  return rows.map(toJob)
}

export async function countJobs (db: PostgresConnection, options?: AbortOptions): Promise<JobCount[]> {
  options?.signal?.throwIfAborted()
  const { rows } = await db.query<JobCount>(options, `SELECT kind, state, count(*)::int AS count FROM ${db.s}.jobs GROUP BY kind, state ORDER BY kind, state`)
  return rows
}

export async function removeJob (db: PostgresConnection, kind: string, key: string, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  if (kind.includes('\0') || key.includes('\0')) return false
  const { rowCount } = await db.query(options, `DELETE FROM ${db.s}.jobs WHERE kind = $1 AND key = $2 AND state <> 'leased'`, [kind, key])
  return (rowCount ?? 0) > 0
}

export async function putReplica (db: PostgresConnection, record: ReplicaRecord, options?: AbortOptions): Promise<void> {
  options?.signal?.throwIfAborted()
  await db.query(options, `INSERT INTO ${db.s}.replicas (${REPLICA_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (cid, service) DO UPDATE SET request_id = excluded.request_id, status = excluded.status, delegates = excluded.delegates,
      error = excluded.error, created = excluded.created, updated = excluded.updated`,
  [record.cid, record.service, record.requestId ?? null, record.status, JSON.stringify(record.delegates), record.error ?? null,
    record.created.getTime(), record.updated.getTime()])
}

export async function getReplicas (db: PostgresConnection, cid: string, options?: AbortOptions): Promise<ReplicaRecord[]> {
  options?.signal?.throwIfAborted()
  if (cid.includes('\0')) return []
  const { rows } = await db.query<ReplicaRow<'postgres'>>(options, `SELECT ${REPLICA_COLUMNS} FROM ${db.s}.replicas WHERE cid = $1 ORDER BY service`, [cid])
  return rows.map(toReplica)
}

export async function deleteReplica (db: PostgresConnection, cid: string, service: string, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  if (cid.includes('\0') || service.includes('\0')) return false
  const { rowCount } = await db.query(options, `DELETE FROM ${db.s}.replicas WHERE cid = $1 AND service = $2`, [cid, service])
  return (rowCount ?? 0) > 0
}

export async function listReplicas (db: PostgresConnection, options: ReplicaListOptions): Promise<ReplicaRecord[]> {
  options.signal?.throwIfAborted()
  const limit = Math.floor(options.limit)
  if (!(limit >= 1)) return []
  const { rows } = await db.query<ReplicaRow<'postgres'>>(options, `SELECT ${REPLICA_COLUMNS} FROM ${db.s}.replicas
    WHERE (cid, service) > ($1, $2) ORDER BY cid, service LIMIT $3`, [options.after?.cid ?? '', options.after?.service ?? '', limit])
  return rows.map(toReplica)
}
