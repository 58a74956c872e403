import { compareKeys } from './key-order.js'
import type { ClaimOptions, Job, JobCount, JobListOptions, JobOutcome, NewJob } from './jobs.js'
import { badJob } from './jobs.js'
import type { ReplicaListOptions, ReplicaRecord } from './replicas.js'

interface JobEntry {
  job: Job
  /** Enqueued again while it ran: run once more after this run. */
  again: boolean
}

const copyJob = (job: Job): Job => ({ ...job, payload: structuredClone(job.payload) })
const nameOf = (kind: string, key: string): string => `${kind}\0${key}`

/** The memory store's jobs: every method is synchronous, so each is one "transaction". */
export class MemoryJobs {
  private readonly byName = new Map<string, JobEntry>()
  private nextId = 0

  enqueue (jobs: NewJob[], now = new Date()): void {
    for (const job of jobs) {
      const bad = badJob(job)
      if (bad !== undefined) throw bad
    }
    for (const next of jobs) {
      const name = nameOf(next.kind, next.key)
      const runAt = next.runAt ?? now
      const payload = structuredClone(next.payload ?? {})
      const entry = this.byName.get(name)
      if (entry === undefined) {
        const id = String(++this.nextId)
        this.byName.set(name, {
          again: false,
          job: { id, kind: next.kind, key: next.key, payload, state: 'ready', attempts: 0, runAt, created: now, updated: now },
        })
        continue
      }
      const { job } = entry
      job.payload = payload
      job.updated = now
      if (job.state === 'leased') {
        entry.again = true
      } else if (job.state === 'failed') {
        Object.assign(job, { state: 'ready', attempts: 0, runAt, lastError: undefined })
      } else if (runAt < job.runAt) {
        job.runAt = runAt
      }
    }
  }

  claim (options: ClaimOptions): Job[] {
    const now = options.now ?? new Date()
    const due = [...this.byName.values()]
      .filter(({ job }) => (job.state === 'ready' && job.runAt <= now) || (job.state === 'leased' && (job.leaseUntil as Date) <= now))
      .sort((a, b) => dueAt(a.job) - dueAt(b.job) || Number(a.job.id) - Number(b.job.id))
      .slice(0, Math.max(0, Math.floor(options.limit)))
    return due.map(({ job }) => {
      Object.assign(job, { state: 'leased', lease: options.lease, leaseUntil: new Date(now.getTime() + options.leaseMs), updated: now })
      job.attempts++
      return copyJob(job)
    })
  }

  finish (id: string, lease: string, outcome: JobOutcome, now = new Date()): boolean {
    const entry = this.leased(id, lease)
    if (entry === undefined) return false
    const { job } = entry
    job.updated = now
    job.lease = undefined
    job.leaseUntil = undefined
    if (entry.again) {
      entry.again = false
      Object.assign(job, { state: 'ready', attempts: 0, runAt: now, lastError: undefined })
    } else if (outcome.state === 'done') {
      this.byName.delete(nameOf(job.kind, job.key))
    } else if (outcome.state === 'retry') {
      Object.assign(job, { state: 'ready', runAt: outcome.runAt, lastError: outcome.error ?? job.lastError })
      if (outcome.error === undefined) job.attempts = 0
      if (outcome.payload !== undefined) job.payload = structuredClone(outcome.payload)
    } else {
      Object.assign(job, { state: 'failed', lastError: outcome.error })
    }
    return true
  }

  extend (id: string, lease: string, leaseMs: number, now = new Date()): boolean {
    const entry = this.leased(id, lease)
    if (entry === undefined) return false
    entry.job.leaseUntil = new Date(now.getTime() + leaseMs)
    return true
  }

  get (kind: string, key: string): Job | undefined {
    const entry = this.byName.get(nameOf(kind, key))
    return entry === undefined ? undefined : copyJob(entry.job)
  }

  list (options: JobListOptions): Job[] {
    const after = options.after === undefined ? 0 : Number(options.after)
    return [...this.byName.values()].map(({ job }) => job)
      .filter((job) => Number(job.id) > after && (options.state === undefined || job.state === options.state) &&
        (options.kind === undefined || job.kind === options.kind))
      .sort((a, b) => Number(a.id) - Number(b.id))
      .slice(0, Math.max(0, Math.floor(options.limit)))
      .map(copyJob)
  }

  count (): JobCount[] {
    const counts = new Map<string, JobCount>()
    for (const { job } of this.byName.values()) {
      const name = `${job.kind}\0${job.state}`
      const entry = counts.get(name) ?? { kind: job.kind, state: job.state, count: 0 }
      entry.count++
      counts.set(name, entry)
    }
    return [...counts.values()].sort((a, b) => compareKeys(a.kind, b.kind) || compareKeys(a.state, b.state))
  }

  remove (kind: string, key: string): boolean {
    const entry = this.byName.get(nameOf(kind, key))
    if (entry === undefined || entry.job.state === 'leased') return false
    return this.byName.delete(nameOf(kind, key))
  }

  private leased (id: string, lease: string): JobEntry | undefined {
    for (const entry of this.byName.values()) {
      if (entry.job.id === id) return entry.job.state === 'leased' && entry.job.lease === lease ? entry : undefined
    }
    return undefined
  }
}

function dueAt (job: Job): number {
  return (job.state === 'leased' ? job.leaseUntil as Date : job.runAt).getTime()
}

const copyReplica = (record: ReplicaRecord): ReplicaRecord => ({ ...record, delegates: [...record.delegates] })

/** The memory store's replica rows, by CID then service. */
export class MemoryReplicas {
  private readonly rows = new Map<string, Map<string, ReplicaRecord>>()

  put (record: ReplicaRecord): void {
    let byService = this.rows.get(record.cid)
    if (byService === undefined) this.rows.set(record.cid, byService = new Map())
    byService.set(record.service, copyReplica(record))
  }

  get (cid: string): ReplicaRecord[] {
    return [...this.rows.get(cid)?.values() ?? []].sort((a, b) => compareKeys(a.service, b.service)).map(copyReplica)
  }

  delete (cid: string, service: string): boolean {
    const byService = this.rows.get(cid)
    const deleted = byService?.delete(service) ?? false
    if (byService?.size === 0) this.rows.delete(cid)
    return deleted
  }

  list (options: ReplicaListOptions): ReplicaRecord[] {
    const after = options.after
    const out: ReplicaRecord[] = []
    for (const cid of [...this.rows.keys()].sort(compareKeys)) {
      if (after !== undefined && compareKeys(cid, after.cid) < 0) continue
      for (const record of this.get(cid)) {
        if (after !== undefined && cid === after.cid && compareKeys(record.service, after.service) <= 0) continue
        if (out.length >= options.limit) return out
        out.push(record)
      }
    }
    return out
  }
}
