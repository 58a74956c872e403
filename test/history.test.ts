/**
 * RequestHistory with an injected clock: which interval a record lands in, zero-filled gaps, the
 * size cap (and reuse of old slots), p50/p99 against the exact nearest-rank quantiles of random data,
 * the in-flight maximum and its carry-over through quiet intervals, and cache counts.
 */
import test from 'ava'
import { LATENCY_RELATIVE_ERROR, RequestHistory, type RequestRecord } from '../src/observability/history.js'

const T0 = 1_733_480_000_000 // a multiple of 5 s

function clock (start = T0): { now: () => number, set: (ms: number) => void, advance: (ms: number) => void } {
  let t = start
  return { now: () => t, set: (ms) => { t = ms }, advance: (ms) => { t += ms } }
}

function req (operation: string, init: Partial<RequestRecord> = {}): RequestRecord {
  return { operation, status: 200, durationSeconds: 0.01, receivedBytes: 0, sentBytes: 0, ...init }
}

/** Deterministic PRNG (mulberry32). */
function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function nearestRank (sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]
}

test('defaults: 360 samples of 5 s, newest is the current interval, all empty', (t) => {
  const c = clock(T0 + 2_345)
  const h = new RequestHistory({ now: c.now })
  t.is(h.intervalSeconds, 5)
  const samples = h.samples()
  t.is(samples.length, 360)
  t.is(samples[359].t, T0)
  t.is(samples[0].t, T0 - 359 * 5_000)
  for (let i = 1; i < samples.length; i++) t.is(samples[i].t - samples[i - 1].t, 5_000)
  t.deepEqual(samples[359], {
    t: T0, requests: {}, errors: {}, serverErrors: 0, p50: null, p99: null,
    receivedBytes: 0, sentBytes: 0, inFlight: 0, cacheHits: 0, cacheMisses: 0,
  })
})

test('records land in the interval of their time and roll over at the boundary', (t) => {
  const c = clock()
  const h = new RequestHistory({ size: 3, now: c.now })
  h.recordRequest(req('GetObject', { receivedBytes: 1, sentBytes: 100 }))
  c.set(T0 + 4_999)
  h.recordRequest(req('GetObject', { status: 404, sentBytes: 50 }))
  h.recordRequest(req('PutObject', { receivedBytes: 1000 }))
  c.set(T0 + 5_000)
  h.recordRequest(req('PutObject', { status: 503, receivedBytes: 10 }))
  h.recordRequest(req('ListObjectsV2', { status: 500 }))

  const [older, first, second] = h.samples()
  t.is(older.t, T0 - 5_000)
  t.deepEqual(older.requests, {})
  t.is(first.t, T0)
  t.deepEqual(first.requests, { GetObject: 2, PutObject: 1 })
  t.deepEqual(first.errors, { GetObject: 1 })
  t.is(first.serverErrors, 0)
  t.is(first.receivedBytes, 1001)
  t.is(first.sentBytes, 150)
  t.is(second.t, T0 + 5_000)
  t.deepEqual(second.requests, { PutObject: 1, ListObjectsV2: 1 })
  t.deepEqual(second.errors, { PutObject: 1, ListObjectsV2: 1 })
  t.is(second.serverErrors, 2)
  t.is(second.receivedBytes, 10)
  t.is(second.sentBytes, 0)
  // the result is plain JSON
  t.deepEqual(JSON.parse(JSON.stringify(h.samples())), h.samples())
})

test('intervals without records are zero-filled, and reading alone rolls the window forward', (t) => {
  const c = clock()
  const h = new RequestHistory({ size: 5, now: c.now })
  h.recordRequest(req('GetObject'))
  c.advance(15_000) // intervals +1 and +2 are empty
  h.recordRequest(req('HeadObject'))
  c.advance(5_000) // +4: nothing recorded yet

  const samples = h.samples()
  t.deepEqual(samples.map(s => s.t), [T0, T0 + 5_000, T0 + 10_000, T0 + 15_000, T0 + 20_000])
  t.deepEqual(samples.map(s => s.requests), [{ GetObject: 1 }, {}, {}, { HeadObject: 1 }, {}])
  t.deepEqual(samples.map(s => s.p50 === null), [false, true, true, false, true])
  t.deepEqual(samples.map(s => s.p99 === null), [false, true, true, false, true])

  c.advance(60_000) // long silence: everything is out of the window
  t.true(h.samples().every(s => Object.keys(s.requests).length === 0 && s.p50 === null))
  t.is(h.samples()[4].t, T0 + 80_000)
})

test('only the last `size` intervals are kept; a reused slot starts empty', (t) => {
  const c = clock()
  const h = new RequestHistory({ size: 4, intervalSeconds: 1, now: c.now })
  for (let i = 0; i < 10; i++) {
    for (let n = 0; n <= i; n++) h.recordRequest(req('GetObject', { status: n === 0 ? 500 : 200, durationSeconds: 1 + i }))
    h.recordCache(true)
    c.advance(1_000)
  }
  c.advance(-1_000)
  const samples = h.samples()
  t.is(samples.length, 4)
  t.deepEqual(samples.map(s => s.t), [T0 + 6_000, T0 + 7_000, T0 + 8_000, T0 + 9_000])
  t.deepEqual(samples.map(s => s.requests.GetObject), [7, 8, 9, 10])
  t.deepEqual(samples.map(s => s.serverErrors), [1, 1, 1, 1])
  t.deepEqual(samples.map(s => s.cacheHits), [1, 1, 1, 1])
  // each slot's quantiles only reflect its own interval (all durations equal there)
  t.deepEqual(samples.map(s => s.p50), [7, 8, 9, 10])
  t.deepEqual(samples.map(s => s.p99), [7, 8, 9, 10])
})

test('p50 / p99 are within the documented relative error of the exact quantiles on random data', (t) => {
  t.true(LATENCY_RELATIVE_ERROR > 0.09 && LATENCY_RELATIVE_ERROR < 0.1)
  const next = random(14)
  const distributions: Record<string, () => number> = {
    // log-uniform over the whole bucketed range, 100 µs .. 10 min
    logUniform: () => 1e-4 * Math.pow(6e6, next()),
    // a typical small-request mix: mostly a few ms, a slow tail
    mixed: () => next() < 0.97 ? 0.001 + 0.01 * next() : 0.2 + 3 * next(),
    // exponential around 20 ms
    exponential: () => 1e-4 + -Math.log(1 - next()) * 0.02,
  }
  let checked = 0
  for (const [name, draw] of Object.entries(distributions)) {
    for (const n of [1, 2, 3, 10, 99, 100, 101, 1000, 20_000]) {
      const c = clock()
      const h = new RequestHistory({ size: 2, now: c.now })
      const durations: number[] = []
      for (let i = 0; i < n; i++) {
        const d = draw()
        durations.push(d)
        h.recordRequest(req('GetObject', { durationSeconds: d }))
      }
      durations.sort((a, b) => a - b)
      const sample = h.samples()[1]
      for (const [q, got] of [[0.5, sample.p50], [0.99, sample.p99]] as const) {
        const truth = nearestRank(durations, q)
        if (got === null) {
          t.fail(`${name} n=${n} q=${q}: null`)
          continue
        }
        const error = Math.abs(got - truth) / truth
        t.true(error <= LATENCY_RELATIVE_ERROR + 1e-9, `${name} n=${n} q=${q}: got ${got}, exact ${truth}, error ${error}`)
        t.true(got >= durations[0] && got <= durations[n - 1], 'never outside what was seen')
        checked++
      }
    }
  }
  t.is(checked, 3 * 9 * 2)
})

test('durations outside 100 µs .. 10 min are reported within what was seen', (t) => {
  const c = clock()
  const h = new RequestHistory({ size: 1, now: c.now })
  h.recordRequest(req('HeadObject', { durationSeconds: 0.00002 }))
  h.recordRequest(req('HeadObject', { durationSeconds: 0.00003 }))
  let [s] = h.samples()
  t.is(s.p50, 0.00003)
  t.is(s.p99, 0.00003)
  c.advance(5_000)
  h.recordRequest(req('GetObject', { durationSeconds: 1200 }))
  h.recordRequest(req('GetObject', { durationSeconds: 0 }))
  ;[s] = h.samples()
  t.true(s.p50 !== null && s.p50 <= 1e-4, 'below the first bucket: at most 100 µs')
  t.is(s.p99, 1200)
})

test('inFlight is the most in flight during an interval, carried through quiet ones', (t) => {
  const c = clock()
  const h = new RequestHistory({ size: 4, now: c.now })
  h.noteInFlight(1)
  h.noteInFlight(3)
  h.noteInFlight(2)
  c.advance(5_000)
  h.noteInFlight(1) // 2 were in flight when this interval began
  h.noteInFlight(0)
  c.advance(5_000) // quiet: 0 in flight
  c.advance(5_000)
  h.noteInFlight(1) // one starts and keeps running through the next interval
  t.deepEqual(h.samples().map(s => s.inFlight), [3, 2, 0, 1])
  c.advance(5_000)
  t.deepEqual(h.samples().map(s => s.inFlight), [2, 0, 1, 1])
})

test('cache hits and misses are counted per interval', (t) => {
  const c = clock()
  const h = new RequestHistory({ size: 2, now: c.now })
  h.recordCache(true)
  h.recordCache(true)
  h.recordCache(false)
  c.advance(5_000)
  h.recordCache(false)
  h.recordCache(true, 40)
  h.recordCache(false, 2)
  t.deepEqual(h.samples().map(s => [s.cacheHits, s.cacheMisses]), [[2, 1], [40, 3]])
})

test('a clock that steps back keeps recording into the newest interval', (t) => {
  const c = clock()
  const h = new RequestHistory({ size: 3, now: c.now })
  c.advance(10_000)
  h.recordRequest(req('GetObject'))
  c.advance(-7_000)
  h.recordRequest(req('GetObject'))
  const samples = h.samples()
  t.is(samples[2].t, T0 + 10_000)
  t.deepEqual(samples[2].requests, { GetObject: 2 })
})

test('bad settings are refused', (t) => {
  t.throws(() => new RequestHistory({ size: 0 }), { instanceOf: RangeError })
  t.throws(() => new RequestHistory({ size: 1.5 }), { instanceOf: RangeError })
  t.throws(() => new RequestHistory({ intervalSeconds: 0 }), { instanceOf: RangeError })
})

test('a million records in one interval are all counted, per operation, in bounded state', (t) => {
  const c = clock()
  const h = new RequestHistory({ now: c.now })
  const ops = ['GetObject', 'PutObject', 'HeadObject', 'ListObjectsV2']
  const r = req('GetObject')
  for (let i = 0; i < 1_000_000; i++) {
    r.operation = ops[i & 3]
    r.durationSeconds = (i % 1000) / 1e4
    h.recordRequest(r)
  }
  const last = h.samples().at(-1)
  t.deepEqual(last?.requests, { GetObject: 250_000, PutObject: 250_000, HeadObject: 250_000, ListObjectsV2: 250_000 })
  // durations 0 .. 99.9 ms, uniform: the median is near 50 ms
  t.true(last?.p50 !== null && Math.abs((last?.p50 ?? 0) - 0.05) <= 0.05 * LATENCY_RELATIVE_ERROR + 1e-4)
})
