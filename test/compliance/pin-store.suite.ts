import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { NewJob } from '../../src/metadata/jobs.js'
import type { MetadataStore } from '../../src/metadata/metadata-store.js'
import type { PinRecord } from '../../src/metadata/pins.js'
import type { MetadataStoreFactory } from './metadata-store.suite.js'

const T0 = new Date('2025-01-02T03:04:05.678Z')
const at = (ms: number): Date => new Date(T0.getTime() + ms)
const onRelease = (cid: string): NewJob[] => [{ kind: 'unreplicate', key: cid }]

function pin (requestId: string, init: Partial<PinRecord> = {}): PinRecord {
  return { requestId, owner: 'alice', cid: `cid-${requestId}`, origins: [], meta: {}, status: 'queued', created: T0, updated: T0, ...init }
}

/**
 * The pin requests every MetadataStore keeps (src/metadata/pins.ts): records, unique creation
 * times, the one reference a pinned pin holds, replace's carried reference, jobs in the change's
 * transaction, and listing filters.
 */
export function pinStoreSuite (name: string, factory: MetadataStoreFactory): void {
  const it = (title: string, fn: (t: ExecutionContext, store: MetadataStore) => Promise<void>): void => {
    test(`${name}: pins: ${title}`, async (t) => {
      const { store, teardown } = await factory()
      try {
        await fn(t, store)
      } finally {
        await store.close()
        await teardown?.()
      }
    })
  }

  it('a pin is stored as given and read back as a copy; a taken requestId is refused', async (t, store) => {
    const full = pin('r1', { name: 'Ünïcode name', origins: ['/ip4/1.2.3.4/tcp/4001/p2p/QmPeer'], meta: { app: 'x', 'key with "quotes"': 'v' }, info: { note: 'n' } })
    t.deepEqual(await store.createPin(full), full)
    t.deepEqual(await store.getPin('r1'), full)
    const bare = pin('r2', { created: at(1) })
    t.deepEqual(await store.createPin(bare), bare, 'no name, no info: absent, not undefined')
    t.false('name' in (await store.getPin('r2') as PinRecord))
    const read = await store.getPin('r1') as PinRecord
    read.meta.app = 'changed'
    read.origins.push('x')
    t.deepEqual(await store.getPin('r1'), full, 'what a caller holds is its own copy')
    t.is(await store.getPin('nope'), undefined)
    await t.throwsAsync(store.createPin(pin('r1', { cid: 'other', created: at(9) }), { jobs: [{ kind: 'pin', key: 'r1-again' }] }), { code: 'ERR_PIN_EXISTS' } as never)
    t.is((await store.getPin('r1'))?.cid, 'cid-r1')
    t.is(await store.getJob('pin', 'r1-again'), undefined, 'a refused create enqueues nothing')
  })

  it('created is unique among an owner\'s pins: a taken millisecond moves forward; other owners are apart', async (t, store) => {
    const created = []
    for (const id of ['a', 'b', 'c']) created.push((await store.createPin(pin(id))).created.getTime())
    t.deepEqual(created, [T0.getTime(), T0.getTime() + 1, T0.getTime() + 2])
    t.deepEqual((await store.getPin('c'))?.created, at(2))
    t.deepEqual((await store.createPin(pin('bob-1', { owner: 'bob' }))).created, T0)
    await store.deletePin('a')
    t.deepEqual((await store.createPin(pin('d'))).created, T0, 'a deleted pin frees its time')
  })

  it('a create enqueues its jobs with the pin; a pin created pinned takes its reference', async (t, store) => {
    await store.createPin(pin('r1'), { jobs: [{ kind: 'pin', key: 'r1' }] })
    t.like(await store.getJob('pin', 'r1'), { state: 'ready' })
    t.is(await store.refCount('cid-r1'), 0, 'a queued pin holds no reference')
    await store.createPin(pin('r2', { status: 'pinned', created: at(1) }))
    t.is(await store.refCount('cid-r2'), 1)
    await t.throwsAsync(store.createPin(pin('r3', { created: at(2) }), { jobs: [{ kind: '', key: 'x' }] }), { code: 'ERR_BAD_JOB' } as never)
    t.is(await store.getPin('r3'), undefined, 'a bad job refuses the change')
  })

  it('status: becoming pinned takes one reference, leaving pinned releases it; from guards; info and updated are set', async (t, store) => {
    await store.createPin(pin('r1', { cid: 'shared' }))
    t.true(await store.setPinStatus('r1', 'pinning', { from: ['queued'], now: at(10) }))
    t.like(await store.getPin('r1'), { status: 'pinning', updated: at(10) })
    t.false(await store.setPinStatus('r1', 'pinned', { from: ['queued'], jobs: [{ kind: 'nope', key: 'x' }] }), 'not in from')
    t.is(await store.getJob('nope', 'x'), undefined, 'a refused status change enqueues nothing')
    t.false(await store.setPinStatus('absent', 'pinned'))
    t.true(await store.setPinStatus('r1', 'pinned', { from: ['pinning'], info: { dag_size: '3' }, now: at(20) }))
    t.like(await store.getPin('r1'), { status: 'pinned', info: { dag_size: '3' }, updated: at(20) })
    t.is(await store.refCount('shared'), 1)
    t.true(await store.setPinStatus('r1', 'pinned'), 'pinned again: still one reference')
    t.is(await store.refCount('shared'), 1)
    const referenced = []
    for await (const cid of store.referencedCids()) referenced.push(cid)
    t.deepEqual(referenced, ['shared'], 'garbage collection sees the pinned CID')
    t.deepEqual((await store.getPin('r1'))?.info, { dag_size: '3' }, 'info is kept when not given')
    t.true(await store.setPinStatus('r1', 'failed', { info: { reason: 'r' }, jobsOnRelease: onRelease }))
    t.is(await store.refCount('shared'), 0)
    t.like(await store.getJob('unreplicate', 'shared'), { state: 'ready' }, 'the release enqueued its jobs')
    t.deepEqual((await store.getPin('r1'))?.info, { reason: 'r' })
  })

  it('delete releases a pinned pin\'s reference; shared with other pins and object versions, the CID stays', async (t, store) => {
    await store.createBucket({ name: 'b', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Unversioned' })
    await store.putObject({ bucket: 'b', key: 'k', versionId: 'null', deleteMarker: false, cid: 'X', size: 1, etag: 'e', lastModified: T0, owner: 'alice', headers: {}, metadata: {}, tags: [] })
    await store.createPin(pin('p1', { cid: 'X', status: 'pinned' }))
    await store.createPin(pin('p2', { cid: 'X', created: at(1) }))
    await store.setPinStatus('p2', 'pinned')
    t.is(await store.refCount('X'), 3)
    const first = await store.deletePin('p1', { jobsOnRelease: onRelease })
    t.like(first, { deleted: { requestId: 'p1', status: 'pinned' }, released: [] })
    await store.deleteObject('b', 'k')
    t.is(await store.refCount('X'), 1)
    t.like(await store.deletePin('p2', { jobsOnRelease: onRelease }), { deleted: { requestId: 'p2', cid: 'X', status: 'pinned', created: at(1) }, released: ['X'] })
    t.is(await store.refCount('X'), 0)
    t.like(await store.getJob('unreplicate', 'X'), { state: 'ready' })
    t.deepEqual(await store.deletePin('p2', { jobs: [{ kind: 'nope', key: 'y' }] }), { released: [] }, 'deleting twice finds nothing')
    t.is(await store.getJob('nope', 'y'), undefined)
  })

  it('replace: a pinned pin replaced by one of the same CID is pinned at once and its reference carries over', async (t, store) => {
    await store.createPin(pin('old', { cid: 'X', status: 'pinned', name: 'v1' }))
    const next = await store.replacePin('old', pin('new', { cid: 'X', name: 'v2', created: at(5), status: 'failed' }), { jobsOnRelease: onRelease, jobs: [{ kind: 'pin', key: 'new' }] })
    t.deepEqual(next, pin('new', { cid: 'X', name: 'v2', created: at(5), status: 'pinned' }))
    t.is(await store.getPin('old'), undefined)
    t.is(await store.refCount('X'), 1)
    t.is(await store.getJob('unreplicate', 'X'), undefined, 'never released, not even for a moment')
    t.like(await store.getJob('pin', 'new'), { state: 'ready' })
  })

  it('replace: another CID (or a pin not yet pinned) makes a queued pin and releases the old reference', async (t, store) => {
    await store.createPin(pin('old', { cid: 'X', status: 'pinned' }))
    const next = await store.replacePin('old', pin('new', { cid: 'Y', created: at(1), status: 'pinned' }), { jobsOnRelease: onRelease })
    t.like(next, { requestId: 'new', cid: 'Y', status: 'queued' })
    t.is(await store.refCount('X'), 0)
    t.is(await store.refCount('Y'), 0)
    t.like(await store.getJob('unreplicate', 'X'), { state: 'ready' })
    const again = await store.replacePin('new', pin('newer', { cid: 'Y', created: at(1) }))
    t.like(again, { status: 'queued', created: at(1) }, 'queued stays queued; the old pin\'s time is free again')
    t.is(await store.replacePin('absent', pin('x', { created: at(2) }), { jobs: [{ kind: 'pin', key: 'x' }] }), undefined)
    t.is(await store.getJob('pin', 'x'), undefined, 'nothing replaced, nothing enqueued')
    t.is(await store.replacePin('newer', pin('bobs', { owner: 'bob' })), undefined, 'another owner\'s pin is not replaced')
    t.like(await store.getPin('newer'), { owner: 'alice' })
    await store.createPin(pin('other', { created: at(3) }))
    await t.throwsAsync(store.replacePin('newer', pin('other')), { code: 'ERR_PIN_EXISTS' } as never)
    t.like(await store.getPin('newer'), { cid: 'Y' }, 'a refused replace changes nothing')
  })

  it('list: an owner\'s pins newest first with the count of every match; before and after are strict', async (t, store) => {
    for (let i = 0; i < 25; i++) await store.createPin(pin(`a${String(i).padStart(2, '0')}`, { created: at(i * 10), status: 'pinned' }))
    await store.createPin(pin('bob', { owner: 'bob', created: at(1000), status: 'pinned' }))
    const first = await store.listPins({ owner: 'alice', limit: 10 })
    t.is(first.count, 25)
    t.deepEqual(first.results.map((p) => p.requestId), Array.from({ length: 10 }, (_, i) => `a${24 - i}`))
    const seen = new Set<string>()
    let before: Date | undefined
    for (let page = 0; page < 5; page++) {
      const { results } = await store.listPins({ owner: 'alice', limit: 10, before })
      for (const p of results) seen.add(p.requestId)
      if (results.length === 0) break
      before = results[results.length - 1].created
    }
    t.is(seen.size, 25, 'paging with before visits every pin once')
    t.deepEqual((await store.listPins({ owner: 'alice', before: at(50), after: at(20), limit: 10 })).results.map((p) => p.requestId), ['a04', 'a03'])
    t.deepEqual(await store.listPins({ owner: 'alice', limit: 0 }), { count: 25, results: [] })
    t.is((await store.listPins({ limit: 100 })).count, 26, 'without an owner: everyone\'s')
    t.deepEqual((await store.listPins({ owner: 'carol', limit: 10 })), { count: 0, results: [] })
  })

  it('list: pins created in the same millisecond page apart, and ties across owners order by requestId', async (t, store) => {
    for (let i = 0; i < 15; i++) await store.createPin(pin(`p${i}`))
    const ids = new Set<string>()
    let before: Date | undefined
    for (let page = 0; page < 3; page++) {
      const { results } = await store.listPins({ owner: 'alice', limit: 10, before })
      for (const p of results) ids.add(p.requestId)
      before = results.at(-1)?.created
    }
    t.is(ids.size, 15)
    await store.createPin(pin('z', { owner: 'zed', created: at(100) }))
    await store.createPin(pin('y', { owner: 'yan', created: at(100) }))
    t.deepEqual((await store.listPins({ limit: 2 })).results.map((p) => p.requestId), ['y', 'z'])
  })

  it('list: filters by CIDs, status, meta (every key/value), and name in each match mode', async (t, store) => {
    await store.createPin(pin('1', { cid: 'A', name: 'Holiday Photos', meta: { app: 'x', env: 'prod' } }))
    await store.createPin(pin('2', { cid: 'B', name: 'holiday photos', meta: { app: 'x' }, created: at(1), status: 'pinned' }))
    await store.createPin(pin('3', { cid: 'C', meta: { app: 'y', env: 'prod' }, created: at(2), status: 'failed' }))
    await store.createPin(pin('4', { cid: 'A', name: 'Photos', created: at(3), status: 'pinning', owner: 'bob' }))
    const ids = async (filter: Omit<Parameters<MetadataStore['listPins']>[0], 'limit'>): Promise<string[]> =>
      (await store.listPins({ owner: 'alice', limit: 10, ...filter })).results.map((p) => p.requestId)
    t.deepEqual(await ids({ cids: ['A', 'C', 'nope'] }), ['3', '1'])
    t.deepEqual(await ids({ status: ['pinned', 'failed'] }), ['3', '2'])
    t.deepEqual(await ids({ meta: { app: 'x' } }), ['2', '1'])
    t.deepEqual(await ids({ meta: { app: 'x', env: 'prod' } }), ['1'], 'every key must match')
    t.deepEqual(await ids({ meta: { env: 'prod' }, status: ['failed'] }), ['3'])
    t.deepEqual(await ids({ meta: { 'no such': 'key' } }), [])
    t.deepEqual(await ids({ name: 'Holiday Photos' }), ['1'], 'exact is the default')
    t.deepEqual(await ids({ name: 'HOLIDAY photos', match: 'iexact' }), ['2', '1'])
    t.deepEqual(await ids({ name: 'day Pho', match: 'partial' }), ['1'])
    t.deepEqual(await ids({ name: 'DAY PHO', match: 'ipartial' }), ['2', '1'])
    t.deepEqual(await ids({ name: '%', match: 'ipartial' }), [], 'no wildcards')
    t.deepEqual(await ids({ name: '', match: 'partial' }), ['2', '1'], 'an empty substring is in every name, never in a pin without one')
    const bob = await store.listPins({ owner: 'bob', name: 'photos', match: 'ipartial', cids: ['A'], status: ['pinning'], limit: 10 })
    t.deepEqual(bob.results.map((p) => p.requestId), ['4'])
  })
}
