import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { MetadataStore, ObjectVersion } from '../../src/metadata/metadata-store.js'
import type { ReplicaRecord } from '../../src/metadata/replicas.js'
import type { MetadataStoreFactory } from './metadata-store.suite.js'

const T0 = new Date('2025-01-02T03:04:05.678Z')
const at = (ms: number): Date => new Date(T0.getTime() + ms)

function version (key: string, cid: string): ObjectVersion {
  return {
    bucket: 'jobs', key, versionId: 'null', deleteMarker: false, cid, size: 3, etag: 'e', lastModified: T0, owner: 'alice',
    headers: {}, metadata: {}, tags: [],
  }
}

/**
 * The job queue and replica rows every MetadataStore keeps (src/metadata/jobs.ts, replicas.ts):
 * enqueue in a change's transaction, claims with leases, retries, merging of names, and the
 * per-(CID, service) replica rows.
 */
export function jobQueueSuite (name: string, factory: MetadataStoreFactory): void {
  async function withStore (t: ExecutionContext, run: (store: MetadataStore) => Promise<void>): Promise<void> {
    const { store, teardown } = await factory()
    try {
      await run(store)
    } finally {
      await store.close()
      await teardown?.()
    }
  }

  test(`${name}: jobs: enqueue, claim with a lease, finish; a finished job is gone`, async (t) => {
    await withStore(t, async (store) => {
      await store.enqueueJobs([{ kind: 'replicate', key: 'cid-a', payload: { bucket: 'b' }, runAt: at(0) }, { kind: 'replicate', key: 'cid-b', runAt: at(10) }])
      t.deepEqual(await store.claimJobs({ lease: 'early', limit: 10, leaseMs: 1000, now: at(-1) }), [], 'nothing is due before its time')
      const [first, ...rest] = await store.claimJobs({ lease: 'w1', limit: 1, leaseMs: 1000, now: at(20) })
      t.is(rest.length, 0)
      t.like(first, { kind: 'replicate', key: 'cid-a', payload: { bucket: 'b' }, state: 'leased', attempts: 1, lease: 'w1' })
      t.deepEqual(first.leaseUntil, at(1020))
      const [second] = await store.claimJobs({ lease: 'w2', limit: 10, leaseMs: 1000, now: at(20) })
      t.like(second, { key: 'cid-b', lease: 'w2', payload: {} })
      t.deepEqual(await store.claimJobs({ lease: 'w3', limit: 10, leaseMs: 1000, now: at(30) }), [], 'leased jobs are not claimed again while the lease holds')
      t.false(await store.finishJob(first.id, 'w2', { state: 'done' }), 'another lease cannot finish it')
      t.true(await store.finishJob(first.id, 'w1', { state: 'done' }))
      t.is(await store.getJob('replicate', 'cid-a'), undefined)
      t.false(await store.finishJob(first.id, 'w1', { state: 'done' }), 'finishing twice')
      t.like(await store.getJob('replicate', 'cid-b'), { state: 'leased', lease: 'w2' })
    })
  })

  test(`${name}: jobs: an expired lease is claimed again (a crashed worker), and the old lease can no longer finish or extend it`, async (t) => {
    await withStore(t, async (store) => {
      await store.enqueueJobs([{ kind: 'k', key: 'x', runAt: at(0) }])
      const [job] = await store.claimJobs({ lease: 'dead', limit: 5, leaseMs: 100, now: at(0) })
      t.true(await store.extendLease(job.id, 'dead', 100, { now: at(50) }))
      t.deepEqual(await store.claimJobs({ lease: 'next', limit: 5, leaseMs: 100, now: at(120) }), [], 'the extended lease still holds')
      const [again] = await store.claimJobs({ lease: 'next', limit: 5, leaseMs: 100, now: at(151) })
      t.like(again, { id: job.id, lease: 'next', attempts: 2 })
      t.false(await store.finishJob(job.id, 'dead', { state: 'done' }))
      t.false(await store.extendLease(job.id, 'dead', 100))
      t.true(await store.finishJob(job.id, 'next', { state: 'done' }))
    })
  })

  test(`${name}: jobs: retry keeps the attempts and the error until it succeeds; failed is kept; enqueuing a failed job revives it`, async (t) => {
    await withStore(t, async (store) => {
      await store.enqueueJobs([{ kind: 'k', key: 'x', runAt: at(0) }])
      let [job] = await store.claimJobs({ lease: 'a', limit: 1, leaseMs: 100, now: at(0) })
      t.true(await store.finishJob(job.id, 'a', { state: 'retry', runAt: at(500), error: 'HTTP 503' }))
      t.like(await store.getJob('k', 'x'), { state: 'ready', attempts: 1, lastError: 'HTTP 503' })
      t.deepEqual((await store.getJob('k', 'x'))?.runAt, at(500))
      t.deepEqual(await store.claimJobs({ lease: 'b', limit: 1, leaseMs: 100, now: at(499) }), [])
      ;[job] = await store.claimJobs({ lease: 'b', limit: 1, leaseMs: 100, now: at(500) })
      t.is(job.attempts, 2)
      t.true(await store.finishJob(job.id, 'b', { state: 'retry', runAt: at(600), payload: { cursor: 'c1' } }), 'a wait without an error (polling), with progress')
      t.is((await store.getJob('k', 'x'))?.lastError, 'HTTP 503', 'a wait keeps the last error')
      t.deepEqual((await store.getJob('k', 'x'))?.payload, { cursor: 'c1' }, 'the progress is the next run\'s payload')
      t.is((await store.getJob('k', 'x'))?.attempts, 0)
      ;[job] = await store.claimJobs({ lease: 'c', limit: 1, leaseMs: 100, now: at(600) })
      t.true(await store.finishJob(job.id, 'c', { state: 'failed', error: 'gave up' }))
      t.like(await store.getJob('k', 'x'), { state: 'failed', attempts: 1, lastError: 'gave up' }, 'a wait is not a failure: the count started again')
      t.deepEqual(await store.claimJobs({ lease: 'd', limit: 1, leaseMs: 100, now: at(10_000) }), [], 'failed jobs are not claimed')
      t.deepEqual(await store.countJobs(), [{ kind: 'k', state: 'failed', count: 1 }])
      await store.enqueueJobs([{ kind: 'k', key: 'x', payload: { n: 2 }, runAt: at(700) }])
      t.like(await store.getJob('k', 'x'), { state: 'ready', attempts: 0, payload: { n: 2 } })
      t.is((await store.getJob('k', 'x'))?.lastError, undefined)
    })
  })

  test(`${name}: jobs: a name is one job: enqueuing a waiting one merges, a running one runs once more`, async (t) => {
    await withStore(t, async (store) => {
      await store.enqueueJobs([{ kind: 'k', key: 'x', payload: { v: 1 }, runAt: at(100) }])
      await store.enqueueJobs([{ kind: 'k', key: 'x', payload: { v: 2 }, runAt: at(50) }, { kind: 'k', key: 'x', payload: { v: 3 }, runAt: at(80) }])
      const jobs = await store.listJobs({ limit: 10 })
      t.is(jobs.length, 1)
      t.like(jobs[0], { payload: { v: 3 } })
      t.deepEqual(jobs[0].runAt, at(50), 'the earlier time wins')
      const [job] = await store.claimJobs({ lease: 'a', limit: 1, leaseMs: 1000, now: at(60) })
      await store.enqueueJobs([{ kind: 'k', key: 'x', payload: { v: 4 }, runAt: at(61) }])
      t.like(await store.getJob('k', 'x'), { state: 'leased', lease: 'a' }, 'the running job keeps running')
      t.true(await store.finishJob(job.id, 'a', { state: 'done' }))
      const rerun = await store.getJob('k', 'x')
      t.like(rerun, { state: 'ready', attempts: 0, payload: { v: 4 } }, 'enqueued while it ran: it runs again')
      const [next] = await store.claimJobs({ lease: 'b', limit: 1, leaseMs: 1000, now: new Date(Date.now() + 1000) })
      t.is(next.id, job.id)
      t.true(await store.finishJob(next.id, 'b', { state: 'done' }))
      t.is(await store.getJob('k', 'x'), undefined)
    })
  })

  test(`${name}: jobs: claims take the oldest due first, at most the limit, each job once across claimers`, async (t) => {
    await withStore(t, async (store) => {
      const names = Array.from({ length: 30 }, (_, i) => `key-${String(i).padStart(2, '0')}`)
      await store.enqueueJobs(names.map((key, i) => ({ kind: 'k', key, runAt: at(1000 - i) })))
      const claims = await Promise.all(Array.from({ length: 6 }, async (_, i) => await store.claimJobs({ lease: `w${i}`, limit: 7, leaseMs: 1000, now: at(2000) })))
      const claimed = claims.flat().map((job) => job.key)
      t.is(claimed.length, 30)
      t.is(new Set(claimed).size, 30, 'no job went to two claimers')
      for (const claim of claims) t.true(claim.length <= 7)
      await store.enqueueJobs([{ kind: 'k', key: 'late', runAt: at(5) }, { kind: 'k', key: 'early', runAt: at(1) }])
      t.deepEqual((await store.claimJobs({ lease: 'x', limit: 1, leaseMs: 1, now: at(10) })).map((job) => job.key), ['early'])
    })
  })

  test(`${name}: jobs: list pages by id and filters by state and kind; counts per kind and state; remove spares a running job`, async (t) => {
    await withStore(t, async (store) => {
      await store.enqueueJobs([{ kind: 'a', key: '1', runAt: at(0) }, { kind: 'b', key: '2', runAt: at(0) }, { kind: 'a', key: '3', runAt: at(99_999) }])
      await store.claimJobs({ lease: 'w', limit: 1, leaseMs: 100, now: at(0) })
      const all = await store.listJobs({ limit: 10 })
      t.deepEqual(all.map((job) => job.key), ['1', '2', '3'])
      t.deepEqual((await store.listJobs({ limit: 10, after: all[0].id })).map((job) => job.key), ['2', '3'])
      t.deepEqual((await store.listJobs({ limit: 10, kind: 'a', state: 'ready' })).map((job) => job.key), ['3'])
      t.deepEqual(await store.countJobs(), [{ kind: 'a', state: 'leased', count: 1 }, { kind: 'a', state: 'ready', count: 1 }, { kind: 'b', state: 'ready', count: 1 }])
      t.false(await store.removeJob('a', '1'), 'a running job is not removed')
      t.true(await store.removeJob('a', '3'))
      t.false(await store.removeJob('a', '3'))
      await t.throwsAsync(store.enqueueJobs([{ kind: '', key: 'x' }]), { code: 'ERR_BAD_JOB' })
    })
  })

  test(`${name}: jobs: a change enqueues its jobs in its own transaction, and jobs for each CID whose last reference it releases`, async (t) => {
    await withStore(t, async (store) => {
      await store.createBucket({ name: 'jobs', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Enabled' })
      const onRelease = (cid: string): Array<{ kind: string, key: string }> => [{ kind: 'unpin', key: cid }]
      await store.putObject(version('a', 'cid-1'), { jobs: [{ kind: 'replicate', key: 'cid-1', payload: { bucket: 'jobs' } }], jobsOnRelease: onRelease })
      t.like(await store.getJob('replicate', 'cid-1'), { state: 'ready', payload: { bucket: 'jobs' } })
      await store.putObject(version('b', 'cid-1'), { jobsOnRelease: onRelease })
      await store.putObject({ ...version('a', 'cid-2'), versionId: 'null' }, { jobsOnRelease: onRelease })
      t.is(await store.getJob('unpin', 'cid-1'), undefined, 'cid-1 is still referenced by b')
      await store.deleteObject('jobs', 'b', undefined, { jobsOnRelease: onRelease })
      t.like(await store.getJob('unpin', 'cid-1'), { state: 'ready' })
      await store.deleteObject('jobs', 'a', undefined, { jobsOnRelease: onRelease })
      t.like(await store.getJob('unpin', 'cid-2'), { state: 'ready' })

      // Parts: abort releases them; a bucket deleted with an upload in progress releases its parts.
      await store.createUpload({ bucket: 'jobs', key: 'm', uploadId: 'u1', initiated: T0, owner: 'alice', headers: {}, metadata: {}, tags: [], profile: 'p' })
      await store.putPart('jobs', 'm', 'u1', { partNumber: 1, cid: 'part-1', size: 1, etag: 'e', lastModified: T0 })
      await store.abortUpload('jobs', 'm', 'u1', { jobsOnRelease: onRelease })
      t.like(await store.getJob('unpin', 'part-1'), { state: 'ready' })
      await store.createUpload({ bucket: 'jobs', key: 'm', uploadId: 'u2', initiated: T0, owner: 'alice', headers: {}, metadata: {}, tags: [], profile: 'p' })
      await store.putPart('jobs', 'm', 'u2', { partNumber: 1, cid: 'part-2', size: 1, etag: 'e', lastModified: T0 })
      await store.deleteObject('jobs', 'a', 'null')
      await store.deleteObject('jobs', 'b', 'null')
      for (const v of await store.listVersions('jobs', { limit: 100 })) await store.deleteObject('jobs', v.key, v.versionId)
      t.is(await store.deleteBucket('jobs', { jobsOnRelease: onRelease }), 'deleted')
      t.like(await store.getJob('unpin', 'part-2'), { state: 'ready' })
    })
  })

  test(`${name}: jobs: releaseJobsOnlyWithReplicas enqueues release jobs only for CIDs that have replica rows`, async (t) => {
    await withStore(t, async (store) => {
      await store.createBucket({ name: 'jobs', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Unversioned' })
      const options = { jobsOnRelease: (cid: string) => [{ kind: 'unpin', key: cid }], releaseJobsOnlyWithReplicas: true }
      await store.putObject(version('a', 'cid-plain'))
      await store.putObject(version('b', 'cid-copied'))
      await store.putReplica({ cid: 'cid-copied', service: 's', status: 'pinned', delegates: [], created: T0, updated: T0 })
      await store.putObject(version('a', 'cid-new'), options)
      t.is(await store.getJob('unpin', 'cid-plain'), undefined, 'no replica rows: nothing to clean up')
      await store.deleteObject('jobs', 'b', undefined, options)
      t.like(await store.getJob('unpin', 'cid-copied'), { state: 'ready' })
    })
  })

  test(`${name}: jobs: a change that fails enqueues nothing, and a bad job refuses the change`, async (t) => {
    await withStore(t, async (store) => {
      await store.createBucket({ name: 'jobs', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Enabled' })
      // A copy whose source was released meanwhile is refused, in the transaction its jobs are in.
      await t.throwsAsync(store.putObject(version('a', 'cid-2'), { sourceCid: 'cid-2', jobs: [{ kind: 'replicate', key: 'cid-2' }] }), { code: 'ERR_SOURCE_RELEASED' })
      t.is(await store.getJob('replicate', 'cid-2'), undefined)
      await t.throwsAsync(store.putObject(version('a', 'cid-3'), { jobs: [{ kind: '', key: 'cid-3' }] }), { code: 'ERR_BAD_JOB' })
      t.is(await store.getObject('jobs', 'a'), undefined, 'the change did not happen')
      t.is(await store.refCount('cid-3'), 0)
    })
  })

  test(`${name}: replicas: one row per (CID, service), replaced on put, paged in (cid, service) order`, async (t) => {
    await withStore(t, async (store) => {
      const row = (cid: string, service: string, init: Partial<ReplicaRecord> = {}): ReplicaRecord =>
        ({ cid, service, status: 'queued', delegates: [], created: T0, updated: T0, ...init })
      await store.putReplica(row('c2', 'pinata', { requestId: 'r1', delegates: ['/ip4/1.2.3.4/tcp/4001/p2p/x'] }))
      await store.putReplica(row('c1', 'zeta'))
      await store.putReplica(row('c1', 'alpha', { status: 'requesting' }))
      await store.putReplica(row('c2', 'pinata', { requestId: 'r1', status: 'pinned', delegates: ['/ip4/1.2.3.4/tcp/4001/p2p/x'], updated: at(5) }))
      await store.putReplica(row('c3', 'b', { status: 'failed', error: 'INSUFFICIENT_FUNDS' }))
      t.deepEqual(await store.getReplicas('c2'), [row('c2', 'pinata', { requestId: 'r1', status: 'pinned', delegates: ['/ip4/1.2.3.4/tcp/4001/p2p/x'], updated: at(5) })])
      t.deepEqual((await store.getReplicas('c1')).map((r) => r.service), ['alpha', 'zeta'])
      t.deepEqual(await store.getReplicas('nope'), [])
      const page1 = await store.listReplicas({ limit: 2 })
      t.deepEqual(page1.map((r) => `${r.cid}/${r.service}`), ['c1/alpha', 'c1/zeta'])
      const page2 = await store.listReplicas({ limit: 2, after: { cid: 'c1', service: 'zeta' } })
      t.deepEqual(page2.map((r) => `${r.cid}/${r.service}`), ['c2/pinata', 'c3/b'])
      t.like(page2[1], { status: 'failed', error: 'INSUFFICIENT_FUNDS' })
      t.true(await store.deleteReplica('c1', 'alpha'))
      t.false(await store.deleteReplica('c1', 'alpha'))
      t.deepEqual((await store.listReplicas({ limit: 10 })).map((r) => `${r.cid}/${r.service}`), ['c1/zeta', 'c2/pinata', 'c3/b'])
    })
  })
}
