/**
 * The Pinning Service API client against real servers: the spec's reference mock
 * (mock-ipfs-pinning-service, a child process) and small node:http servers for what the mock
 * cannot do (5xx, 409, malformed bodies, hangs, closed ports, spec-order paging). Also the pure
 * helpers a server shares (query parsing, pin validation, name matching).
 */
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { formatPinListQuery, nameMatches, parsePinListQuery, validatePin } from '../src/federation/pinning-api.js'
import type { PinStatus } from '../src/federation/pinning-api.js'
import { isPinningServiceError, PinningServiceClient, PinningServiceError } from '../src/federation/pinning-client.js'
import { spawnChild } from './helpers/child.js'
import { whenServices } from './helpers/services.js'

/** The mock's CLI (the package's `bin`, `cli.js` at its root): the repo fixture, else a scratch install. */
function mockCli (): string | undefined {
  return [
    fileURLToPath(new URL('fixtures/pinning/node_modules/mock-ipfs-pinning-service/cli.js', import.meta.url)),
    '/tmp/pinmock/node_modules/mock-ipfs-pinning-service/cli.js',
  ].find(p => existsSync(p))
}

const TOKEN = 'tok-7f3a9c1e-DO-NOT-LEAK-52b8'

async function freePort (): Promise<number> {
  const server = createNetServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

/** Starts the mock on a free port and waits until it answers HTTP; killed in the test's teardown. */
async function startMock (t: ExecutionContext, cli: string): Promise<string> {
  const port = await freePort()
  const child = spawnChild(t, process.execPath, [cli, '--port', String(port), '--token', TOKEN, '--loglevel', 'error'],
    { cwd: tmpdir(), timeouts: { start: 20_000, exit: 5_000 } })
  const endpoint = `http://127.0.0.1:${port}`
  for (const deadline = Date.now() + 20_000; ;) {
    if (child.proc.exitCode !== null) throw new Error(`the mock exited\n${child.output()}`)
    try { await fetch(`${endpoint}/pins`, { signal: AbortSignal.timeout(1000) }); return endpoint } catch {}
    if (Date.now() > deadline) throw new Error(`the mock did not answer within 20 s\n${child.output()}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

async function rejection (t: ExecutionContext, promise: Promise<unknown>): Promise<PinningServiceError> {
  const err = await t.throwsAsync(promise)
  t.true(isPinningServiceError(err), String(err))
  return err as unknown as PinningServiceError
}

/** The token appears nowhere a log line or error report could carry it. */
function assertNoToken (t: ExecutionContext, value: unknown): void {
  const err = value as Error
  for (const text of [JSON.stringify(err), String(err), err.stack ?? '', inspect(err, { depth: 10, showHidden: true })]) {
    t.false(text.includes(TOKEN), text)
  }
}

// ---- against the reference mock ----

whenServices('pinning client vs mock-ipfs-pinning-service', mockCli() === undefined
  ? 'mock-ipfs-pinning-service is not installed (npm ci --ignore-scripts in test/fixtures/pinning, or in /tmp/pinmock)'
  : undefined, () => {
  const cli = mockCli() as string
  const client = async (t: ExecutionContext, init: { token?: string, fetch?: typeof fetch } = {}): Promise<PinningServiceClient> =>
    new PinningServiceClient({ name: 'mock', endpoint: `${await startMock(t, cli)}/`, token: init.token ?? TOKEN, fetch: init.fetch })

  test('mock: add with each status prefix, get reads the same status back', async (t) => {
    const service = await client(t)
    for (const [name, status] of [['queued-a', 'queued'], ['pinning-b', 'pinning'], ['pinned-c', 'pinned'], ['failed-d', 'failed'], ['plain', 'queued']] as const) {
      const added = await service.add({ cid: `bafy-${name}`, name, origins: ['/ip4/127.0.0.1/tcp/4001'], meta: { app: 's3' } })
      t.is(added.status, status, name)
      t.deepEqual(added.pin, { cid: `bafy-${name}`, name, origins: ['/ip4/127.0.0.1/tcp/4001'], meta: { app: 's3' } })
      t.true(added.delegates.length > 0)
      const got = await service.get(added.requestid)
      t.deepEqual(got, added)
    }
    // The mock keys pins by CID: posting a CID again answers with the same request.
    const again = await service.add({ cid: 'bafy-plain', name: 'plain' })
    t.is(again.requestid, (await service.list({ cid: ['bafy-plain'], status: ['queued'] })).results[0].requestid)
  })

  test('mock: list filters by status and cid', async (t) => {
    const service = await client(t)
    for (const name of ['queued-1', 'pinning-1', 'pinned-1', 'pinned-2', 'failed-1']) await service.add({ cid: `bafy-${name}`, name })
    const names = (r: { results: PinStatus[] }): string[] => r.results.map(s => s.pin.name as string).sort()
    t.deepEqual(names(await service.list({ status: ['pinned'] })), ['pinned-1', 'pinned-2'])
    t.deepEqual(names(await service.list({ status: ['pinned', 'failed'] })), ['failed-1', 'pinned-1', 'pinned-2'])
    t.deepEqual(names(await service.list({ status: ['queued', 'pinning'], cid: ['bafy-pinning-1', 'bafy-failed-1'] })), ['pinning-1'])
    const page = await service.list({ status: ['pinned', 'failed'], limit: 2 })
    t.is(page.results.length, 2)
    t.is(page.count, 2, 'the mock counts the page, not all matches')
  })

  test('mock: listAll pages through every pin, each once', async (t) => {
    let requests = 0
    const counting: typeof fetch = async (input, init) => { requests++; return await fetch(input, init) }
    const service = await client(t, { fetch: counting })
    const added = new Set<string>()
    for (let i = 0; i < 12; i++) added.add((await service.add({ cid: `bafy-p${i}`, name: `pinned-${i}` })).requestid)
    await service.add({ cid: 'bafy-q', name: 'queued-x' })
    requests = 0
    const listed: string[] = []
    for await (const status of service.listAll({ status: ['pinned'], limit: 5 })) listed.push(status.requestid)
    t.is(listed.length, 12)
    t.deepEqual(new Set(listed), added)
    t.true(requests >= 3, `${requests} pages`)
  })

  test('mock: replace issues a new request and removes the old one', async (t) => {
    const service = await client(t)
    const old = await service.add({ cid: 'bafy-v1', name: 'pinned-v1' })
    const next = await service.replace(old.requestid, { cid: 'bafy-v2', name: 'pinning-v2' })
    t.not(next.requestid, old.requestid)
    t.is(next.status, 'pinning')
    t.is(next.pin.cid, 'bafy-v2')
    t.deepEqual(await service.get(next.requestid), next)
    t.is((await rejection(t, service.get(old.requestid))).status, 404)
  })

  test('mock: delete, then get is a 404 and deleting again is false', async (t) => {
    const service = await client(t)
    const { requestid } = await service.add({ cid: 'bafy-d', name: 'pinned-d' })
    t.true(await service.delete(requestid))
    const err = await rejection(t, service.get(requestid))
    t.is(err.status, 404)
    // The spec's example reason is NOT_FOUND; the mock sends its own spelling, kept as sent.
    t.is(err.reason, 'NotFound')
    t.false(err.retryable)
    t.is(err.service, 'mock')
    assertNoToken(t, err)
    t.false(await service.delete(requestid))
  })

  test('mock: a wrong token is a 401, not retryable, and never reported', async (t) => {
    const endpoint = await startMock(t, cli)
    const right = new PinningServiceClient({ name: 'mock', endpoint, token: TOKEN })
    await right.add({ cid: 'bafy-x', name: 'pinned-x' })
    const wrong = new PinningServiceClient({ name: 'mock', endpoint, token: `${TOKEN}-wrong` })
    const err = await rejection(t, wrong.list())
    t.is(err.status, 401)
    t.is(err.reason, 'access token is invalid', 'the mock\'s reason (the spec\'s example is UNAUTHORIZED)')
    t.false(err.retryable)
    assertNoToken(t, err)
    t.false(inspect(wrong, { showHidden: true }).includes(TOKEN))
    t.false(JSON.stringify(wrong).includes(TOKEN))
  })
})

// ---- against hand-written servers ----

interface Seen { url: string, method: string, authorization?: string, body: string }

/** A server answering by path prefix; records every request. Closed (hung requests too) in teardown. */
async function serve (t: ExecutionContext, handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ base: string, seen: Seen[] }> {
  const seen: Seen[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (s: string) => { body += s }).on('end', () => {
      seen.push({ url: req.url ?? '', method: req.method ?? '', authorization: req.headers.authorization, body })
      handler(req, res, body)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen }
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body))
}

const statusOf = (requestid: string, created: string, cid = 'bafy-x'): PinStatus =>
  ({ requestid, status: 'pinned', created, pin: { cid }, delegates: ['/dnsaddr/pin.example.com'] })

test('http: the path prefix is kept and the token sent as a Bearer credential', async (t) => {
  const { base, seen } = await serve(t, (_req, res) => { json(res, 202, statusOf('r1', '2024-01-01T00:00:00Z')) })
  for (const endpoint of [`${base}/-`, `${base}/-/`, `${base}/-//`]) {
    const service = new PinningServiceClient({ name: 'prefixed', endpoint, token: TOKEN })
    t.is((await service.add({ cid: 'bafy-x', name: 'n' })).requestid, 'r1')
  }
  t.deepEqual(seen.map(s => [s.method, s.url, s.authorization]), Array(3).fill(['POST', '/-/pins', `Bearer ${TOKEN}`]))
  t.deepEqual(JSON.parse(seen[0].body), { cid: 'bafy-x', name: 'n' })
  const service = new PinningServiceClient({ name: 'prefixed', endpoint: `${base}/-`, token: TOKEN })
  await service.get('a/b c')
  await service.list({ cid: ['c1', 'c2'], status: ['pinned', 'failed'], before: new Date(0), limit: 3, meta: { k: 'v' } }).catch(() => {})
  t.is(seen[3].url, '/-/pins/a%2Fb%20c')
  t.is(seen[4].url, '/-/pins?cid=c1%2Cc2&status=pinned%2Cfailed&before=1970-01-01T00%3A00%3A00.000Z&limit=3&meta=%7B%22k%22%3A%22v%22%7D')
})

test('http: 5xx and 429 are retryable, 409 INSUFFICIENT_FUNDS is not and keeps its reason', async (t) => {
  const { base } = await serve(t, (req, res) => {
    if (req.url?.startsWith('/500/')) res.writeHead(500).end('upstream exploded')
    else if (req.url?.startsWith('/503/')) json(res, 503, { error: { reason: 'MAINTENANCE', details: 'back soon' } })
    else if (req.url?.startsWith('/429/')) json(res, 429, { error: { reason: 'RATE_LIMITED' } })
    else if (req.url?.startsWith('/400/')) json(res, 400, { oops: true })
    else json(res, 409, { error: { reason: 'INSUFFICIENT_FUNDS', details: 'top up' } })
  })
  const at = (path: string): PinningServiceClient => new PinningServiceClient({ name: 'svc', endpoint: `${base}/${path}`, token: TOKEN })
  const e500 = await rejection(t, at('500').add({ cid: 'x' }))
  t.like(e500, { status: 500, reason: 'INTERNAL_SERVER_ERROR', details: 'upstream exploded', retryable: true, service: 'svc', code: 'ERR_PINNING_SERVICE' })
  t.like(await rejection(t, at('503').list()), { status: 503, reason: 'MAINTENANCE', details: 'back soon', retryable: true })
  t.like(await rejection(t, at('429').list()), { status: 429, reason: 'RATE_LIMITED', retryable: true })
  t.like(await rejection(t, at('400').list()), { status: 400, reason: 'BAD_REQUEST', retryable: false })
  const e409 = await rejection(t, at('409').add({ cid: 'x' }))
  t.like(e409, { status: 409, reason: 'INSUFFICIENT_FUNDS', details: 'top up', retryable: false })
  t.regex(e409.message, /svc.*POST \/pins.*409 INSUFFICIENT_FUNDS/)
  for (const err of [e500, e409]) assertNoToken(t, err)
})

test('http: a body that is not JSON or not the spec\'s shape is BAD_RESPONSE', async (t) => {
  const { base } = await serve(t, (req, res) => {
    if (req.url?.startsWith('/garbage/')) json(res, 200, '{"requestid": "r1", ')
    else if (req.url?.startsWith('/status/')) json(res, 200, { ...statusOf('r1', '2024-01-01T00:00:00Z'), status: 'done' })
    else if (req.url?.startsWith('/date/')) json(res, 200, statusOf('r1', 'yesterday'))
    else json(res, 200, { count: 1, results: [{ requestid: 'r1' }] })
  })
  const at = (path: string): PinningServiceClient => new PinningServiceClient({ name: 'svc', endpoint: `${base}/${path}`, token: TOKEN })
  t.like(await rejection(t, at('garbage').get('r1')), { status: 200, reason: 'BAD_RESPONSE', retryable: false })
  t.regex((await rejection(t, at('status').get('r1'))).details ?? '', /status "done"/)
  t.regex((await rejection(t, at('date').get('r1'))).details ?? '', /created "yesterday"/)
  t.regex((await rejection(t, at('list').list())).details ?? '', /results\[0\]/)
})

test('http: a service that never answers times out (retryable); a caller\'s abort is the caller\'s', async (t) => {
  const { base, seen } = await serve(t, () => {})
  const service = new PinningServiceClient({ name: 'slow', endpoint: base, token: TOKEN, timeoutMs: 200 })
  const err = await rejection(t, service.get('r1'))
  t.like(err, { status: undefined, reason: 'TIMEOUT', retryable: true, service: 'slow' })
  assertNoToken(t, err)

  const patient = new PinningServiceClient({ name: 'slow', endpoint: base, token: TOKEN })
  const controller = new AbortController()
  const reason = new Error('caller gave up')
  setTimeout(() => { controller.abort(reason) }, 100)
  t.is(await t.throwsAsync(patient.list({}, { signal: controller.signal })), reason)
  const plain = new AbortController()
  setTimeout(() => { plain.abort() }, 100)
  // DOMExceptions are not native errors to ava's throwsAsync, hence the catch.
  t.is((await patient.delete('r1', { signal: plain.signal }).catch((e: unknown) => e) as Error).name, 'AbortError')

  const before = seen.length
  t.is((await patient.add({ cid: 'x' }, { signal: AbortSignal.abort() }).catch((e: unknown) => e) as Error).name, 'AbortError')
  t.is(seen.length, before, 'an aborted signal is honoured before any I/O')
})

test('http: a closed port is UNREACHABLE (retryable)', async (t) => {
  const service = new PinningServiceClient({ name: 'gone', endpoint: `http://127.0.0.1:${await freePort()}/psa`, token: TOKEN })
  const err = await rejection(t, service.list())
  t.like(err, { status: undefined, reason: 'UNREACHABLE', retryable: true, service: 'gone' })
  t.regex(err.details ?? '', /ECONNREFUSED/)
  assertNoToken(t, err)
})

test('http: a token a service echoes back is scrubbed from the error', async (t) => {
  const { base } = await serve(t, (req, res) => { json(res, 401, { error: { reason: `bad token ${TOKEN}`, details: `got Bearer ${TOKEN}` } }) })
  const err = await rejection(t, new PinningServiceClient({ name: 'echo', endpoint: base, token: TOKEN }).list())
  t.like(err, { status: 401, reason: 'bad token [REDACTED]', details: 'got Bearer [REDACTED]', retryable: false })
  assertNoToken(t, err)
})

test('http: listAll pages newest first with before, across pins sharing a millisecond', async (t) => {
  // 23 pins, newest first as the spec orders them, three to a millisecond; count is the total.
  const pins = Array.from({ length: 23 }, (_, i) => statusOf(`r${i}`, new Date(Date.UTC(2024, 0, 1) + Math.floor(i / 3)).toISOString(), `c${i}`)).reverse()
  const { base, seen } = await serve(t, (req, res) => {
    const q = new URL(req.url ?? '', 'http://x').searchParams
    const parsed = parsePinListQuery(q)
    if (parsed.error !== undefined) { json(res, 400, { error: parsed.error }); return }
    const { before, limit } = parsed.query
    const matching = pins.filter(p => before === undefined || Date.parse(p.created) < before.getTime())
    json(res, 200, { count: matching.length, results: matching.slice(0, limit) })
  })
  const service = new PinningServiceClient({ name: 'paged', endpoint: base, token: TOKEN })
  const listed: string[] = []
  for await (const status of service.listAll({ status: ['pinned'], limit: 5 })) listed.push(status.requestid)
  t.deepEqual(listed, pins.map(p => p.requestid))
  t.true(seen.length >= 5 && seen.length <= 15, `${seen.length} pages`)
})

// ---- the shared helpers ----

test('parsePinListQuery: defaults, every field, and each rule', (t) => {
  const parse = (qs: string): ReturnType<typeof parsePinListQuery> => parsePinListQuery(new URLSearchParams(qs))
  t.deepEqual(parse('').query, { match: 'exact', status: ['pinned'], limit: 10 })
  t.deepEqual(parse('cid=a,b&cid=c&name=x&match=ipartial&status=queued,failed&before=2024-01-02T03:04:05Z&after=2024-01-01T00:00:00.5%2B01:00&limit=1000&meta={"k":"v"}&other=1').query, {
    cid: ['a', 'b', 'c'], name: 'x', match: 'ipartial', status: ['queued', 'failed'], limit: 1000, meta: { k: 'v' },
    before: new Date('2024-01-02T03:04:05Z'), after: new Date('2023-12-31T23:00:00.500Z'),
  })
  t.deepEqual(parse('after=2024-01-01T00:00:00+01:00').query?.after, new Date('2023-12-31T23:00:00Z'), 'an unencoded + read as a space')
  const bad: Array<[string, RegExp]> = [
    ['status=pinned,done', /status "done"/], ['status=', /status ""/], ['match=fuzzy', /match "fuzzy"/],
    ['limit=0', /limit "0"/], ['limit=1001', /limit/], ['limit=2.5', /limit/], ['limit=ten', /limit/],
    ['before=yesterday', /before "yesterday"/], ['after=2024-01-01', /after/], ['before=2024-13-45T00:00:00Z', /before/],
    [`cid=${Array.from({ length: 11 }, (_, i) => `c${i}`).join(',')}`, /cid must list 1 to 10 CIDs, got 11/], ['cid=', /cid/],
    [`name=${'n'.repeat(256)}`, /name/], ['meta={bad', /meta is not valid JSON/], ['meta=[1]', /meta must be an object/], ['meta={"k":1}', /meta\.k must be a string/],
  ]
  for (const [qs, details] of bad) {
    const { error } = parse(qs)
    t.is(error?.reason, 'BAD_REQUEST', qs)
    t.regex(error?.details ?? '', details, qs)
  }
  t.is(parse(`name=${'é'.repeat(255)}`).query?.name?.length, 255, '255 characters, not bytes')
  const query = { cid: ['a'], name: 'n', match: 'iexact', status: ['failed'], before: new Date(1e12), after: new Date(0), limit: 7, meta: { a: 'b' } } as const
  t.deepEqual(parsePinListQuery(formatPinListQuery({ ...query, cid: [...query.cid], status: [...query.status] })).query, { ...query, cid: ['a'], status: ['failed'] })
})

test('validatePin: each rule, and only the spec\'s fields are kept', (t) => {
  t.deepEqual(validatePin({ cid: 'bafy', name: 'n', origins: ['/p2p/a'], meta: { k: 'v' }, extra: 1 }).pin, { cid: 'bafy', name: 'n', origins: ['/p2p/a'], meta: { k: 'v' } })
  t.deepEqual(validatePin({ cid: 'bafy', name: 'é'.repeat(255) }).pin?.name?.length, 255)
  const bad: Array<[unknown, RegExp]> = [
    [null, /object/], [['bafy'], /object/], [{}, /cid is required/], [{ cid: '' }, /cid/], [{ cid: 1 }, /cid/],
    [{ cid: 'c', name: 5 }, /name must be a string/], [{ cid: 'c', name: 'n'.repeat(256) }, /at most 255/],
    [{ cid: 'c', origins: '/p2p/a' }, /origins must be an array/], [{ cid: 'c', origins: [1] }, /origins/],
    [{ cid: 'c', origins: Array.from({ length: 21 }, (_, i) => `/p2p/${i}`) }, /21 entries, at most 20/], [{ cid: 'c', origins: ['/a', '/a'] }, /repeat/],
    [{ cid: 'c', meta: 'k=v' }, /meta must be an object/], [{ cid: 'c', meta: { k: { v: 1 } } }, /meta\.k must be a string/],
  ]
  for (const [value, details] of bad) {
    const { error } = validatePin(value)
    t.is(error?.reason, 'BAD_REQUEST', JSON.stringify(value))
    t.regex(error?.details ?? '', details, JSON.stringify(value))
  }
})

test('nameMatches: exact, iexact, partial, ipartial', (t) => {
  t.true(nameMatches('Photo.JPG', 'Photo.JPG'))
  t.false(nameMatches('Photo.JPG', 'photo.jpg', 'exact'))
  t.true(nameMatches('Photo.JPG', 'photo.jpg', 'iexact'))
  t.false(nameMatches('Photo.JPG', 'photo', 'iexact'))
  t.true(nameMatches('Photo.JPG', 'to.J', 'partial'))
  t.false(nameMatches('Photo.JPG', 'to.j', 'partial'))
  t.true(nameMatches('Photo.JPG', 'TO.j', 'ipartial'))
  t.false(nameMatches(undefined, '', 'ipartial'), 'a pin without a name matches nothing')
})
