/**
 * The gateway as a Pinning Service API server (src/federation/pinning-server.ts), mounted under
 * `/-` on a real node:http server through the node adapter's translation, over a SQLite metadata
 * store: the spec's compliance checker passes all its checks, and the details it does not cover
 * (auth shapes, owners, pagination, filters, references, bodies, the pin job) are checked here.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as dagPb from '@ipld/dag-pb'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { CID } from 'multiformats/cid'
import { isUnderBasePath, toS3Request, writeS3Response } from '../adapters/node-io.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { collectBytes } from '../src/content/bytes.js'
import { ContentStore } from '../src/content/content-store.js'
import { verifyBlock } from '../src/content/verify.js'
import { bearerTokens, createPinningServiceHandler, NO_DELEGATE, NO_NODE_REASON, PIN_JOB, pinJobHandler } from '../src/federation/pinning-server.js'
import type { PinJobDeps, PinningServiceInit } from '../src/federation/pinning-server.js'
import type { PinResults, PinStatus } from '../src/federation/pinning-api.js'
import type { Job } from '../src/metadata/jobs.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { pinningProblem, runPinningCompliance } from './helpers/pinning.js'

const ALICE = 'alice-secret-token'
const BOB = 'bob-secret-token'
const T0 = new Date('2025-01-02T03:04:05.678Z')
const CID_A = 'bafkreig7yo7hss3x32orylr5as4wahroh2fqwgxpli3zzwrbfpfdkegiuy'
const CID_B = 'bafkreihvddiulf3rr6fkqsd4rj4izchbni7razhwitv56g7i2m2gt3nu4m'

interface Service {
  base: string
  store: SqliteMetadataStore
  call: (method: string, path: string, init?: { token?: string | null, body?: unknown, raw?: string, headers?: Record<string, string> }) => Promise<{ status: number, headers: Headers, json: any }>
}

async function service (t: ExecutionContext, init: Partial<PinningServiceInit> = {}): Promise<Service> {
  const store = new SqliteMetadataStore({ path: ':memory:' })
  t.teardown(async () => { await store.close() })
  let ids = 0
  const handler = createPinningServiceHandler({
    metadata: store,
    tokens: bearerTokens([[ALICE, 'alice'], [BOB, 'bob']]),
    delegates: () => [],
    now: () => T0,
    newId: () => `req-${++ids}`,
    ...init,
  })
  // As adapters/node.ts mounts the admin handler: translate, answer under the prefix, else 404.
  const server = createServer((req, res) => {
    const request = toS3Request(req, { basePath: '/-', res })
    const answer = isUnderBasePath(request.path, '/-') ? handler(request, request.path.slice(request.basePath.length)) : Promise.resolve(undefined)
    answer.then(async (response) => {
      await writeS3Response(res, response ?? { status: 404, headers: { 'content-type': 'text/plain' }, body: Buffer.from('Not Found\n') }, request.signal)
    }).catch(() => { if (!res.headersSent) res.writeHead(500).end() })
  })
  // As createServer in adapters/node.ts: node's 5 s would close sockets fetch reuses (ECONNRESET).
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/-`
  const call: Service['call'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token !== null) headers.authorization = `Bearer ${options.token ?? ALICE}`
    const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(`${base}${path}`, { method, headers, body, signal: AbortSignal.timeout(30_000) }).catch((err) => { throw new Error(`${method} ${path}: ${String(err.cause?.stack ?? err)}`) })
    const text = await res.text()
    return { status: res.status, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) }
  }
  return { base, store, call }
}

test('the compliance checker passes all 9 checks', async (t) => {
  const problem = pinningProblem()
  if (problem !== undefined) {
    if (process.env.S3IPFS_REQUIRE_SERVICES === '1') t.fail(problem)
    else t.log(`skipped: ${problem}`)
    t.pass()
    return
  }
  t.timeout(300_000)
  // The real clock and ids: the checker pages by `created` across pins it makes within a second.
  const { base } = await service(t, { now: undefined, newId: undefined })
  const result = await runPinningCompliance(base, ALICE)
  for (const check of result.checks.filter((c) => !c.passed)) {
    t.log(`${check.title}: ${check.request ?? ''} → ${check.response ?? ''}`, check.expectations.filter((e) => !e.passed), check.schemaErrors, check.errors)
  }
  t.like(result, { total: 9, passed: 9, failed: 0 }, result.output.slice(-4000))
})

test('401 without a token or with a wrong one, in the spec\'s error shape with a Bearer challenge', async (t) => {
  const { call } = await service(t)
  for (const [token, details] of [[null, /Authorization: Bearer/], ['wrong', /not valid/], ['', /not valid/]] as const) {
    const res = await call('GET', '/pins', { token })
    t.is(res.status, 401)
    t.is(res.json.error.reason, 'UNAUTHORIZED')
    t.regex(res.json.error.details, details)
    t.regex(res.headers.get('www-authenticate') ?? '', /^Bearer realm="pins"/)
  }
  const basic = await call('GET', '/pins', { token: null, headers: { authorization: `Basic ${Buffer.from(`x:${ALICE}`).toString('base64')}` } })
  t.is(basic.status, 401, 'only the Bearer scheme')
  t.is((await call('GET', '/pins', { token: null, headers: { authorization: `bearer  ${ALICE}` } })).status, 200, 'the scheme is case-insensitive')
  t.is((await call('POST', '/pins', { token: 'wrong', body: { cid: CID_A } })).status, 401)
  t.is((await call('DELETE', '/pins/req-1', { token: null })).status, 401)
})

test('other methods get 405 with Allow; paths outside /pins are left to the caller', async (t) => {
  const { call } = await service(t)
  const put = await call('PUT', '/pins')
  t.is(put.status, 405)
  t.is(put.headers.get('allow'), 'GET, HEAD, POST')
  t.is(put.json.error.reason, 'METHOD_NOT_ALLOWED')
  t.is((await call('PATCH', '/pins/x')).headers.get('allow'), 'GET, HEAD, POST, DELETE')
  const other = await fetch(`${(await service(t)).base}/other`)
  t.is(other.status, 404)
  t.is(await other.text(), 'Not Found\n', 'the caller answered it')
  const head = await fetch(`${(await service(t)).base}/pins`, { method: 'HEAD', headers: { authorization: `Bearer ${ALICE}` } })
  t.is(head.status, 200)
})

test('a pin is its owner\'s: another token gets 404 on get, replace and delete, and does not list it', async (t) => {
  const { call } = await service(t)
  const created = await call('POST', '/pins', { body: { cid: CID_A, name: 'mine', meta: { app: 'x' } } })
  t.is(created.status, 202)
  const status = created.json as PinStatus
  t.like(status, { requestid: 'req-1', status: 'queued', created: T0.toISOString(), pin: { cid: CID_A, name: 'mine', origins: [], meta: { app: 'x' } } })
  t.deepEqual(status.delegates, [NO_DELEGATE], 'no IPFS node: the one honest, undialable delegate')
  t.like((await call('GET', '/pins/req-1')).json, { requestid: 'req-1' })
  for (const [method, body] of [['GET', undefined], ['POST', { cid: CID_B }], ['DELETE', undefined]] as const) {
    const res = await call(method, '/pins/req-1', { token: BOB, body })
    t.is(res.status, 404, method)
    t.deepEqual(res.json, { error: { reason: 'NOT_FOUND', details: 'No pin with that requestid' } })
  }
  t.deepEqual((await call('GET', '/pins?status=queued', { token: BOB })).json, { count: 0, results: [] })
  t.is((await call('GET', '/pins?status=queued')).json.count, 1, 'still there for its owner')
  t.is((await call('GET', '/pins/unknown')).status, 404)
  t.is((await call('GET', '/pins/%E0%A4%A')).status, 404, 'an undecodable requestid')
})

test('pagination: 17 pins made in one millisecond page by `before` with none lost or repeated; the pinned-only default', async (t) => {
  const { call } = await service(t)
  for (let i = 0; i < 17; i++) t.is((await call('POST', '/pins', { body: { cid: CID_A, name: `p${i}` } })).status, 202)
  t.deepEqual((await call('GET', '/pins')).json, { count: 0, results: [] }, 'no filter: pinned pins only, and none is')
  const first = (await call('GET', '/pins?status=queued,pinning,pinned,failed')).json as PinResults
  t.is(first.count, 17)
  t.is(first.results.length, 10)
  t.deepEqual(first.results.map((p) => p.pin.name), Array.from({ length: 10 }, (_, i) => `p${16 - i}`), 'newest first')
  const created = first.results.map((p) => Date.parse(p.created))
  t.is(new Set(created).size, 10, 'created is unique')
  const before = first.results.at(-1)?.created as string
  const second = (await call('GET', `/pins?status=queued&before=${encodeURIComponent(before)}`)).json as PinResults
  t.is(second.count, 7)
  t.deepEqual(second.results.map((p) => p.pin.name), Array.from({ length: 7 }, (_, i) => `p${6 - i}`))
  const after = (await call('GET', `/pins?status=queued&limit=3&after=${encodeURIComponent(before)}`)).json as PinResults
  t.deepEqual({ count: after.count, names: after.results.map((p) => p.pin.name) }, { count: 9, names: ['p16', 'p15', 'p14'] })
  t.is((await call('GET', `/pins?before=${encodeURIComponent(before)}`)).json.count, 0, 'paging keeps the pinned-only default')
  t.deepEqual((await call('GET', '/pins?name=p3')).json.results.map((p: PinStatus) => p.status), ['queued'],
    'selecting by name (cid, meta) lifts the default: a pin just made is found by its name, as the compliance checker expects')
})

test('filters: each name match mode, meta (every key), cid (any of, any multibase), bad queries are 400', async (t) => {
  const { call } = await service(t)
  await call('POST', '/pins', { body: { cid: CID_A, name: 'Holiday Photos', meta: { app: 'x', env: 'prod' } } })
  await call('POST', '/pins', { body: { cid: CID_B, name: 'holiday photos', meta: { app: 'x' } } })
  await call('POST', '/pins', { body: { cid: CID_B, meta: { app: 'y' } } })
  const names = async (query: string): Promise<Array<string | undefined>> => {
    const res = await call('GET', `/pins?status=queued&${query}`)
    t.is(res.status, 200, query)
    return (res.json as PinResults).results.map((p) => p.pin.name)
  }
  t.deepEqual(await names('name=Holiday%20Photos'), ['Holiday Photos'])
  t.deepEqual(await names('name=HOLIDAY%20PHOTOS&match=iexact'), ['holiday photos', 'Holiday Photos'])
  t.deepEqual(await names('name=day%20Pho&match=partial'), ['Holiday Photos'])
  t.deepEqual(await names('name=DAY%20PHO&match=ipartial'), ['holiday photos', 'Holiday Photos'])
  t.deepEqual(await names(`meta=${encodeURIComponent(JSON.stringify({ app: 'x' }))}`), ['holiday photos', 'Holiday Photos'])
  t.deepEqual(await names(`meta=${encodeURIComponent(JSON.stringify({ app: 'x', env: 'prod' }))}`), ['Holiday Photos'])
  t.deepEqual(await names(`cid=${CID_A}`), ['Holiday Photos'])
  const base36 = CID.parse(CID_A).toString((await import('multiformats/bases/base36')).base36)
  t.deepEqual(await names(`cid=${base36},${CID_B}`), [undefined, 'holiday photos', 'Holiday Photos'])
  for (const bad of ['limit=0', 'limit=1001', 'match=fuzzy', 'status=done', 'before=yesterday', 'meta=%7Bx', 'cid=not-a-cid']) {
    const res = await call('GET', `/pins?${bad}`)
    t.is(res.status, 400, bad)
    t.is(res.json.error.reason, 'BAD_REQUEST')
  }
})

test('bodies: malformed JSON, a bad pin, a bad CID, NUL and a body over the limit are 400; CIDs are answered canonical', async (t) => {
  const { call, store } = await service(t, { maxBody: 1024 })
  const cases: Array<[string, { body?: unknown, raw?: string }, RegExp]> = [
    ['malformed', { raw: '{"cid": ' }, /not valid JSON/],
    ['empty', { raw: '' }, /not valid JSON/],
    ['no cid', { body: { name: 'x' } }, /cid is required/],
    ['not a pin', { body: [CID_A] }, /JSON object/],
    ['bad cid', { body: { cid: 'hello' } }, /is not a CID/],
    ['too many origins', { body: { cid: CID_A, origins: Array.from({ length: 21 }, (_, i) => `/ip4/1.2.3.${i}/tcp/1`) } }, /at most 20/],
    ['NUL', { body: { cid: CID_A, name: 'a\u0000b' } }, /NUL/],
    ['too large', { body: { cid: CID_A, meta: { big: 'x'.repeat(2000) } } }, /larger than 1024 bytes/],
  ]
  for (const [name, init, details] of cases) {
    const res = await call('POST', '/pins', init)
    t.is(res.status, 400, name)
    t.is(res.json.error.reason, 'BAD_REQUEST', name)
    t.regex(res.json.error.details, details, name)
  }
  t.is((await store.listPins({ limit: 10 })).count, 0, 'nothing was stored')
  const v0 = 'QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB'
  t.is((await call('POST', '/pins', { body: { cid: v0 } })).json.pin.cid, v0)
  const base36 = CID.parse(CID_B).toString((await import('multiformats/bases/base36')).base36)
  t.is((await call('POST', '/pins', { body: { cid: base36 } })).json.pin.cid, CID_B)
  t.like(await store.getJob(PIN_JOB, 'req-1'), { state: 'ready' }, 'each pin is stored with its job')
})

test('replace: a pinned pin replaced with the same CID stays pinned and keeps its one reference; delete releases it', async (t) => {
  const { call, store } = await service(t, { delegates: () => ['/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWPeer', '/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWPeer'] })
  const created = (await call('POST', '/pins', { body: { cid: CID_A, name: 'v1' } })).json as PinStatus
  t.deepEqual(created.delegates, ['/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWPeer'], 'the node\'s addresses, once each')
  t.true(await store.setPinStatus(created.requestid, 'pinned'))
  t.is(await store.refCount(CID_A), 1)

  const same = await call('POST', `/pins/${created.requestid}`, { body: { cid: CID_A, name: 'v2' } })
  t.is(same.status, 202)
  t.like(same.json, { requestid: 'req-2', status: 'pinned', pin: { name: 'v2' } })
  t.is(await store.refCount(CID_A), 1, 'the reference carried over')
  t.is((await call('GET', `/pins/${created.requestid}`)).status, 404, 'the old requestid is gone')

  const other = await call('POST', '/pins/req-2', { body: { cid: CID_B } })
  t.like(other.json, { requestid: 'req-3', status: 'queued', pin: { cid: CID_B } })
  t.is(await store.refCount(CID_A), 0, 'another CID: the old reference is released')
  t.is((await call('POST', '/pins/req-2', { body: { cid: CID_B } })).status, 404, 'replacing a replaced pin')

  t.true(await store.setPinStatus('req-3', 'pinned'))
  t.is(await store.refCount(CID_B), 1)
  const deleted = await call('DELETE', '/pins/req-3')
  t.is(deleted.status, 202)
  t.is(deleted.json, undefined, 'no body')
  t.is(await store.refCount(CID_B), 0, 'delete released the reference')
  t.is((await call('GET', '/pins/req-3')).status, 404)
  t.is((await call('DELETE', '/pins/req-3')).status, 404)
})

/** Copies a DAG from `source` block by block, verifying each (what an IPFS node's fetchDag does). */
function copier (source: MemoryBlockstore, target: MemoryBlockstore, during?: () => Promise<void>): NonNullable<PinJobDeps['fetchDag']> {
  return async (root, { signal }) => {
    await during?.()
    const walk = async (cid: CID): Promise<void> => {
      signal.throwIfAborted()
      const bytes = await collectBytes(source.get(cid))
      verifyBlock(cid, bytes)
      await target.put(cid, bytes)
      if (cid.code === dagPb.code) for (const link of dagPb.decode(bytes).Links) await walk(link.Hash)
    }
    await walk(root)
  }
}

async function pinJob (store: SqliteMetadataStore, requestId: string, attempts = 1): Promise<Job> {
  const job = await store.getJob(PIN_JOB, requestId)
  if (job === undefined) throw new Error(`no pin job for ${requestId}`)
  return { ...job, attempts }
}

test('the pin job fetches the DAG from the pin\'s origins: queued → pinning → pinned, and the pin takes its reference', async (t) => {
  const { call, store } = await service(t)
  const source = new MemoryBlockstore()
  const target = new MemoryBlockstore()
  const bytes = Buffer.alloc(2_500_000, 'pinning service ')
  const { cid } = await new ContentStore({ blockstore: source }).add([bytes])
  const created = (await call('POST', '/pins', { body: { cid: cid.toString(), origins: ['/ip4/10.0.0.2/tcp/4001/p2p/12D3KooWSource'] } })).json as PinStatus
  t.is(created.status, 'queued')

  const seen: string[] = []
  let origins: string[] = []
  const fetchDag = copier(source, target, async () => { seen.push((await call('GET', `/pins/${created.requestid}`)).json.status) })
  const handler = pinJobHandler({ metadata: store, fetchDag: async (root, options) => { origins = options.origins; await fetchDag(root, options) } })
  t.is(await handler(await pinJob(store, created.requestid), { signal: new AbortController().signal, now: () => T0 }), undefined)
  t.deepEqual(seen, ['pinning'])
  t.deepEqual(origins, ['/ip4/10.0.0.2/tcp/4001/p2p/12D3KooWSource'])
  t.like((await call('GET', `/pins/${created.requestid}`)).json, { status: 'pinned' })
  t.is(await store.refCount(cid.toString()), 1)
  t.deepEqual(Buffer.from(await collectBytes(new ContentStore({ blockstore: target }).cat(cid))), bytes, 'every block is here')
  t.is((await call('GET', '/pins')).json.count, 1, 'listed as pinned by default')
  t.is(await handler(await pinJob(store, created.requestid), { signal: new AbortController().signal, now: () => T0 }), undefined, 'a pinned pin is left alone')
})

test('the pin job: timeouts are retried then fail the pin; no node fails at once unless the DAG is local; a pin deleted meanwhile stays deleted', async (t) => {
  const { call, store } = await service(t)
  const context = { signal: new AbortController().signal, now: () => T0 }
  const timeout = Object.assign(new Error('Block bafy… unavailable after 30000 ms'), { code: 'ERR_BLOCK_UNAVAILABLE' })
  const slow = pinJobHandler({ metadata: store, attempts: 3, fetchDag: async () => { throw timeout } })
  const a = ((await call('POST', '/pins', { body: { cid: CID_A } })).json as PinStatus).requestid
  for (const attempt of [1, 2]) await t.throwsAsync(slow(await pinJob(store, a, attempt), context), { code: 'ERR_PIN_FETCH', message: new RegExp(`run ${attempt} of 3`) } as never)
  t.like(await store.getPin(a), { status: 'pinning' }, 'still trying')
  t.is(await slow(await pinJob(store, a, 3), context), undefined)
  t.like(await store.getPin(a), { status: 'failed', info: { reason: 'fetch failed', details: timeout.message } })
  t.is(await store.refCount(CID_A), 0)

  const b = ((await call('POST', '/pins', { body: { cid: CID_B } })).json as PinStatus).requestid
  await pinJobHandler({ metadata: store, hasDag: async () => false })(await pinJob(store, b), context)
  t.like((await call('GET', `/pins/${b}`)).json, { status: 'failed', info: { reason: NO_NODE_REASON } })
  const c = ((await call('POST', '/pins', { body: { cid: CID_B } })).json as PinStatus).requestid
  await pinJobHandler({ metadata: store, hasDag: async (cid) => cid.toString() === CID_B })(await pinJob(store, c), context)
  t.like(await store.getPin(c), { status: 'pinned' }, 'without a node, a DAG already here is pinned')
  t.is(await store.refCount(CID_B), 1)

  const source = new MemoryBlockstore()
  const { cid } = await new ContentStore({ blockstore: source }).add([Buffer.from('deleted while fetched')])
  const d = ((await call('POST', '/pins', { body: { cid: cid.toString() } })).json as PinStatus).requestid
  const job = await pinJob(store, d)
  const racing = pinJobHandler({ metadata: store, fetchDag: copier(source, new MemoryBlockstore(), async () => { t.is((await call('DELETE', `/pins/${d}`)).status, 202) }) })
  t.is(await racing(job, context), undefined, 'done quietly')
  t.is(await store.getPin(d), undefined)
  t.is(await store.refCount(cid.toString()), 0, 'no reference for a deleted pin')
})
