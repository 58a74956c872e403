import type { Job, JobOutcome, JobState } from './jobs.js'
import type { ReplicaRecord, ReplicaStatus } from './replicas.js'
import type { Driver, Json } from './rows.js'

/**
 * Rows of the jobs and replicas tables and their mapping to records, shared by SQLite and
 * PostgreSQL: times are epoch milliseconds in both; JSON is text in SQLite, parsed in PostgreSQL.
 */
export interface JobRow<D extends Driver> {
  id: number | string
  kind: string
  key: string
  payload: Json<D, Record<string, unknown>>
  state: string
  again: number | boolean
  attempts: number
  run_at: number
  created: number
  updated: number
  lease: string | null
  lease_until: number | null
  last_error: string | null
}

export interface ReplicaRow<D extends Driver> {
  cid: string
  service: string
  request_id: string | null
  status: string
  delegates: Json<D, string[]>
  error: string | null
  created: number
  updated: number
}

function mapping<D extends Driver> (json: <T>(value: Json<D, T>) => T) {
  const toJob = (row: JobRow<D>): Job => {
    const job: Job = {
      id: String(row.id),
      kind: row.kind,
      key: row.key,
      payload: json<Record<string, unknown>>(row.payload),
      state: row.state as JobState,
      attempts: row.attempts,
      runAt: new Date(row.run_at),
      created: new Date(row.created),
      updated: new Date(row.updated),
    }
    if (row.lease !== null) job.lease = row.lease
    if (row.lease_until !== null) job.leaseUntil = new Date(row.lease_until)
    if (row.last_error !== null) job.lastError = row.last_error
    return job
  }
  const toReplica = (row: ReplicaRow<D>): ReplicaRecord => {
    const record: ReplicaRecord = {
      cid: row.cid,
      service: row.service,
      status: row.status as ReplicaStatus,
      delegates: json<string[]>(row.delegates),
      created: new Date(row.created),
      updated: new Date(row.updated),
    }
    if (row.request_id !== null) record.requestId = row.request_id
    if (row.error !== null) record.error = row.error
    return record
  }
  return { toJob, toReplica }
}

export const sqliteJobRows = mapping<'sqlite'>((text) => JSON.parse(text))
export const postgresJobRows = mapping<'postgres'>((value) => value)

/** The columns a finished run leaves: `again` (enqueued while it ran) makes it ready at once. */
export function finishedRow (outcome: JobOutcome, again: boolean, now: Date): { delete: true } | { delete: false, state: JobState, runAt: number, error: string | null | undefined } {
  if (again) return { delete: false, state: 'ready', runAt: now.getTime(), error: null }
  if (outcome.state === 'done') return { delete: true }
  if (outcome.state === 'retry') return { delete: false, state: 'ready', runAt: outcome.runAt.getTime(), error: outcome.error }
  return { delete: false, state: 'failed', runAt: now.getTime(), error: outcome.error }
}
