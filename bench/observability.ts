/**
 * The observability section of `npm run bench`: what Prometheus metrics and the JSON request log
 * cost on small requests, measured against the same gateway with both off, in the same run.
 *
 * Five gateways, each bench/gateway-server.ts (`startServer`, as `serve` runs it) in a child process
 * on FsBlockstore + SQLite in a fresh temp dir, so the client's CPU is not the server's. The script
 * is bundled as tsup bundles dist/ and run on plain node (buildGatewayServer in bench/targets.ts):
 * through tsx every closure the hot path creates would also pay for tsx's name-keeping helper,
 * which the shipped build does not have, and per-request closures are what instrumentation adds.
 *
 * - on:      `createGateway({ metrics: true })`, `logLevel: 'info'` (one JSON line per request)
 * - off:     `metrics: false`, `logLevel: 'warn'` (no request lines: pino checks the level and stops)
 * - off2:    the same as off, a second gateway: its "cost" against off is the noise floor of the
 *            run (an A/A comparison); a cost within it is not a measurement
 * - metrics: metrics only (`logLevel: 'warn'`)
 * - logging: the request log only (`metrics: false`)
 *
 * Each child's stderr is a file in its temp dir: the log lines go through pino's own destination
 * (fd 2, asynchronous sonic-boom writes) into the file, as with `serve --log-level info 2>file`;
 * nothing is dropped before it is serialised, and nothing passes through the bench process. After
 * the run the file's request lines are counted against the requests sent.
 *
 * After a warm-up, every repetition PUTs `count` distinct 4 KiB objects (`concurrency` in flight,
 * the undici client of bench/client.ts, as the small section) into each gateway, then GETs them
 * back (checked byte for byte) from each. A phase runs in slices of `slice` keys, each slice through
 * every gateway in turn, the order reversing from slice to slice — on, off, off2, metrics, logging,
 * then logging, metrics, off2, off, on — so ON and OFF run back to back (a burst of other work on
 * the machine hits both) and neither always runs first. A repetition's ops/s for a gateway are its
 * requests over the time of its slices; the table shows their medians over the repetitions, and
 * the server's CPU time per request (utime + stime of the child from /proc/<pid>/stat, all its
 * threads; median over the repetitions), which is less disturbed by other work on the machine
 * than throughput is. The cost of a variant is the throughput it loses against off, 1 − ops/ops_off,
 * taken slice by slice against the off slice of the same round and reported as the median over all
 * slices of all repetitions (robust to bursts of other work); and the CPU per request it adds.
 * The target is a cost of at most `limitPct` (3%) on PUT and on GET with both on.
 *
 * After the traffic, `scrapes` timed GETs of /-/metrics on each gateway with metrics (one at a
 * time; its size and series count are printed for information), and a check that
 * s3ipfs_requests_total counted every PutObject and GetObject sent.
 *
 * With `cpuProfDir` (`npm run bench -- --cpu-prof DIR`), each child runs with `node --cpu-prof` and
 * writes its V8 profile into DIR/<variant>/ when it stops (open it in Chrome DevTools' Performance
 * panel, or summarise it by self time).
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { BenchClient } from './client.js'
import { CLK_TCK, cpuTicks } from './cpu.js'
import type { SectionContext } from './multipart.js'
import { makeTempDir, removeTempDir, startGatewayServer, type Target } from './targets.js'
import { fmtBytes, fmtNum, median, printTable, runPool } from './util.js'

export interface ObservabilitySizes {
  /** requests per phase (PUT, GET) per gateway per repetition */
  count: number
  /** a phase runs in slices of this many requests, each slice through every gateway in turn */
  slice: number
  /** object size */
  size: number
  /** requests in flight */
  concurrency: number
  /** PUTs and GETs per gateway before the measured repetitions (JIT, connections, statements) */
  warmup: number
  /** timed GETs of /-/metrics after the traffic */
  scrapes: number
  /** the target: metrics + request log cost at most this many percent of PUT and GET throughput */
  limitPct: number
  /** write each child's V8 CPU profile (node --cpu-prof) under this directory */
  cpuProfDir?: string
}

export interface ObservabilityContext extends SectionContext {
  region: string
}

export type Variant = 'on' | 'off' | 'off2' | 'metrics' | 'logging'
type Op = 'put' | 'get'

interface VariantSpec {
  id: Variant
  name: string
  metrics: boolean
  logLevel: 'info' | 'warn'
}

const VARIANTS: VariantSpec[] = [
  { id: 'on', name: 'metrics + request log', metrics: true, logLevel: 'info' },
  { id: 'off', name: 'both off', metrics: false, logLevel: 'warn' },
  { id: 'off2', name: 'both off again (A/A)', metrics: false, logLevel: 'warn' },
  { id: 'metrics', name: 'metrics only', metrics: true, logLevel: 'warn' },
  { id: 'logging', name: 'request log only', metrics: false, logLevel: 'info' },
]

export interface ScrapeFigures {
  /** median of the timed scrapes, ms (request sent to the last byte read) */
  ms: number
  /** the first scrape after the traffic, ms */
  firstMs: number
  bytes: number
  /** sample lines (not comments) */
  series: number
}

export interface LogFigures {
  /** request lines in the file (`"msg":"request"`) */
  lines: number
  /** size of the file, bytes */
  bytes: number
}

export interface ObservabilityResults {
  sizes: ObservabilitySizes
  /** repetitions measured */
  reps: number
  /** ops/s, median over the repetitions */
  ops: Record<Op, Partial<Record<Variant, number>>>
  /** server CPU µs per request, median over the repetitions */
  cpu: Record<Op, Partial<Record<Variant, number>>>
  /** per repetition, the ops/s of every variant (for the log) */
  samples: Record<Op, Partial<Record<Variant, number[]>>>
  /** percent, the median over all slices of 1 − ops/ops_off against the off slice of the same round */
  cost: Record<Op, Partial<Record<Variant, number>>>
  /** a distribution-free 95% confidence interval of that median, percent */
  costCi: Record<Op, Partial<Record<Variant, [number, number]>>>
  /** slices the costs are medians of */
  slices: number
  scrape: Partial<Record<Variant, ScrapeFigures>>
  log: Partial<Record<Variant, LogFigures>>
  /** requests sent to each gateway (warm-up and measured) */
  requests: Partial<Record<Variant, number>>
  /** peak RSS of each child during the measured repetitions, MB */
  rss: Partial<Record<Variant, number>>
  skipped?: string
}

const BUCKET = 'bench-obs'



interface Server {
  spec: VariantSpec
  t: Target
  c: BenchClient
  dataDir: string
  logFile: string
  requests: number
  /** PutObject / GetObject requests that succeeded */
  puts: number
  gets: number
}

async function scrape (c: BenchClient): Promise<{ ms: number, text: string }> {
  const t0 = performance.now()
  const res = await c.pool.request({ method: 'GET', path: '/-/metrics' })
  const text = await res.body.text()
  const ms = performance.now() - t0
  if (res.statusCode !== 200) throw new Error(`GET /-/metrics -> HTTP ${res.statusCode}: ${text.slice(0, 200)}`)
  return { ms, text }
}

/** The value of one sample line `name{labels} value` in a Prometheus text page (NaN when absent). */
function sampleValue (text: string, series: string): number {
  const at = text.indexOf(`\n${series} `)
  if (at < 0) return NaN
  const end = text.indexOf('\n', at + 1)
  return Number(text.slice(at + 1 + series.length + 1, end < 0 ? undefined : end))
}

export async function sectionObservability (ctx: ObservabilityContext, s: ObservabilitySizes): Promise<ObservabilityResults> {
  const res: ObservabilityResults = {
    sizes: s,
    reps: 0,
    ops: { put: {}, get: {} },
    cpu: { put: {}, get: {} },
    samples: { put: {}, get: {} },
    cost: { put: {}, get: {} },
    costCi: { put: {}, get: {} },
    slices: 0,
    scrape: {},
    log: {},
    requests: {},
    rss: {},
  }
  const hz = CLK_TCK
  const cpuSamples: Record<Op, Partial<Record<Variant, number[]>>> = { put: {}, get: {} }
  /** per slice, 1 − ops/ops_off of each variant, percent */
  const sliceCosts: Record<Op, Partial<Record<Variant, number[]>>> = { put: {}, get: {} }
  const servers: Server[] = []
  const profDir = s.cpuProfDir === undefined ? undefined : resolve(s.cpuProfDir)
  try {
    for (const spec of VARIANTS) {
      const dataDir = makeTempDir(`obs-${spec.id}`)
      const logFile = join(dataDir, 'stderr.log')
      let nodeArgs: string[] | undefined
      if (profDir !== undefined) {
        mkdirSync(join(profDir, spec.id), { recursive: true })
        nodeArgs = ['--cpu-prof', '--cpu-prof-dir', join(profDir, spec.id)]
      }
      const t = await startGatewayServer({ dataDir, region: ctx.region, metrics: spec.metrics, logLevel: spec.logLevel, stderrFile: logFile, nodeArgs, bundled: true })
      const c = new BenchClient({ endpoint: t.endpoint, accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey, region: ctx.region, connections: 64 })
      servers.push({ spec, t, c, dataDir, logFile, requests: 0, puts: 0, gets: 0 })
      ctx.log(`observability: ${spec.id} (${spec.name}: metrics ${spec.metrics ? 'on' : 'off'}, log level ${spec.logLevel}) up at ${t.endpoint} (pid ${t.pid}, RSS ${fmtNum(t.memory().rssMB)} MB)`)
    }

    const { size, concurrency: conc } = s
    const warm = randomBytes(size)
    for (const sv of servers) {
      sv.requests++
      await sv.c.createBucket(BUCKET)
      for (const op of ['put', 'get'] as const) {
        sv.requests += s.warmup
        const r = await runPool(s.warmup, conc, Date.now() + 60_000, op === 'put'
          ? async i => { await sv.c.put(BUCKET, `warm/${i}`, warm) }
          : async i => { await sv.c.get(BUCKET, `warm/${i}`) })
        if (r.errors > 0 || r.timedOut) throw new Error(`${sv.spec.id}: warm-up ${op}: ${r.errors} errors${r.timedOut ? ', timed out' : ''} (first: ${r.firstError ?? '-'})`)
        if (op === 'put') sv.puts += r.done
        else sv.gets += r.done
      }
    }

    const key = (i: number): string => `small/obj-${String(i).padStart(6, '0')}`
    const peaks: Partial<Record<Variant, number>> = {}
    let lastRep = 0
    for (let rep = 0; rep < ctx.reps; rep++) {
      if (ctx.secondsLeft() < Math.max(20, lastRep * 1.2 + 10)) { ctx.note(`observability: stopped before rep ${rep + 1} (time bound)`); break }
      const started = performance.now()
      // distinct bodies per key and per repetition: equal bodies would be deduplicated by content address
      const all = randomBytes(s.count * size)
      const body = (i: number): Buffer => all.subarray(i * size, (i + 1) * size)
      const line: string[] = []
      let ok = true
      for (const op of ['put', 'get'] as const) {
        const fnOf = (sv: Server): (i: number) => Promise<void> => op === 'put'
          ? async i => { await sv.c.put(BUCKET, key(i), body(i)) }
          : async i => {
            const chunks: Uint8Array[] = []
            const got = await sv.c.get(BUCKET, key(i), ch => chunks.push(ch))
            if (got !== size) throw new Error(`GET ${key(i)}: ${got} bytes, expected ${size}`)
            if (!Buffer.concat(chunks).equals(body(i))) throw new Error(`GET ${key(i)}: content differs`)
          }
        const acc = new Map<Server, { done: number, seconds: number, ticks: number, failed: boolean }>(servers.map(sv => [sv, { done: 0, seconds: 0, ticks: 0, failed: false }]))
        // slices of the keys, each through every gateway in turn; the order reverses from slice to slice
        for (let from = 0, k = 0; from < s.count; from += s.slice, k++) {
          const n = Math.min(s.slice, s.count - from)
          const order = (rep + k) % 2 === 0 ? servers : [...servers].reverse()
          const sliceOps = new Map<Variant, number>()
          for (const sv of order) {
            const a = acc.get(sv)!
            if (a.failed) continue
            const fn = fnOf(sv)
            const hwmReset = sv.t.resetPeak()
            const cpu0 = cpuTicks(sv.t.pid)
            const r = await runPool(n, conc, Date.now() + 300_000, async i => { await fn(from + i) })
            a.ticks += cpuTicks(sv.t.pid) - cpu0
            const m = sv.t.memory()
            peaks[sv.spec.id] = Math.max(peaks[sv.spec.id] ?? 0, m.rssMB, hwmReset ? m.hwmMB : 0)
            sv.requests += r.done + r.errors
            if (op === 'put') sv.puts += r.done
            else sv.gets += r.done
            a.done += r.done
            a.seconds += r.seconds
            if (r.errors === 0 && !r.timedOut) sliceOps.set(sv.spec.id, r.done / r.seconds)
            if (r.errors > 0 || r.timedOut) {
              ctx.failed('ours', `observability ${sv.spec.id} ${op.toUpperCase()}`, new Error(`${r.errors} errors${r.timedOut ? ', timed out' : ''}${r.firstError !== undefined ? ` (first: ${r.firstError})` : ''}`))
              a.failed = true
              ok = false
            }
          }
          const off = sliceOps.get('off')
          if (off !== undefined) {
            for (const [v, ops] of sliceOps) if (v !== 'off') (sliceCosts[op][v] ??= []).push((1 - ops / off) * 100)
            if (op === 'put') res.slices++
          }
        }
        const parts: string[] = []
        for (const sv of servers) {
          const a = acc.get(sv)!
          if (a.failed) continue
          const ops = a.done / a.seconds
          const cpuUs = a.ticks / hz * 1e6 / a.done
          ;(res.samples[op][sv.spec.id] ??= []).push(ops)
          if (Number.isFinite(cpuUs)) (cpuSamples[op][sv.spec.id] ??= []).push(cpuUs)
          parts.push(`${sv.spec.id} ${fmtNum(ops)} (${fmtNum(cpuUs)} µs CPU)`)
        }
        line.push(`${op.toUpperCase()} ${parts.join(', ')}`)
      }
      lastRep = (performance.now() - started) / 1000
      if (ok) res.reps++
      const on = res.samples.put.on?.at(-1)
      const off = res.samples.put.off?.at(-1)
      const gon = res.samples.get.on?.at(-1)
      const goff = res.samples.get.off?.at(-1)
      const pct = (a: number | undefined, b: number | undefined): string => a === undefined || b === undefined ? '—' : `${((1 - a / b) * 100).toFixed(1)}%`
      ctx.log(`observability rep ${rep + 1} (${Math.round(lastRep)} s), ops/s: ${line.join('; ')} — on vs off: PUT ${pct(on, off)}, GET ${pct(gon, goff)}`)
    }
    for (const sv of servers) if (peaks[sv.spec.id] !== undefined) res.rss[sv.spec.id] = peaks[sv.spec.id]

    // scrapes after the traffic, one gateway at a time
    for (const sv of servers) {
      if (!sv.spec.metrics) continue
      try {
        const first = await scrape(sv.c)
        const times: number[] = []
        let text = first.text
        for (let i = 0; i < s.scrapes; i++) {
          const r = await scrape(sv.c)
          times.push(r.ms)
          text = r.text
        }
        res.scrape[sv.spec.id] = {
          ms: median(times),
          firstMs: first.ms,
          bytes: Buffer.byteLength(text),
          series: text.split('\n').filter(l => l !== '' && !l.startsWith('#')).length,
        }
        const puts = sampleValue(first.text, 's3ipfs_requests_total{operation="PutObject",code="200"}')
        const gets = sampleValue(first.text, 's3ipfs_requests_total{operation="GetObject",code="200"}')
        ctx.check(`observability ${sv.spec.id}: s3ipfs_requests_total counted every PutObject and GetObject`, puts === sv.puts && gets === sv.gets,
          `PutObject 200: ${puts} of ${sv.puts} sent, GetObject 200: ${gets} of ${sv.gets} sent`)
      } catch (err) {
        ctx.failed('ours', `observability ${sv.spec.id} /-/metrics`, err)
      }
    }
  } finally {
    for (const sv of servers) {
      await sv.c.destroy().catch(() => undefined)
      // SIGTERM: startServer's close() flushes the logger before the child exits
      await sv.t.stop()
      res.requests[sv.spec.id] = sv.requests
      try {
        const text = existsSync(sv.logFile) ? readFileSync(sv.logFile, 'utf8') : ''
        let lines = 0
        for (let i = text.indexOf('"msg":"request"'); i >= 0; i = text.indexOf('"msg":"request"', i + 1)) lines++
        res.log[sv.spec.id] = { lines, bytes: existsSync(sv.logFile) ? statSync(sv.logFile).size : 0 }
      } catch (err) {
        ctx.note(`observability ${sv.spec.id}: reading its log file: ${(err as Error).message}`)
      }
      removeTempDir(sv.dataDir)
    }
  }
  for (const op of ['put', 'get'] as const) {
    for (const v of VARIANTS) {
      const xs = res.samples[op][v.id]
      if (xs !== undefined && xs.length > 0) res.ops[op][v.id] = median(xs)
      const ks = sliceCosts[op][v.id]
      if (ks !== undefined && ks.length > 0) {
        res.cost[op][v.id] = median(ks)
        res.costCi[op][v.id] = medianCi(ks)
      }
      const cs = cpuSamples[op][v.id]
      if (cs !== undefined && cs.length > 0) res.cpu[op][v.id] = median(cs)
    }
  }
  for (const v of VARIANTS) {
    const l = res.log[v.id]
    const sent = res.requests[v.id]
    if (l === undefined || sent === undefined) continue
    const want = v.logLevel === 'info' ? sent : 0
    ctx.check(`observability ${v.id}: ${v.logLevel === 'info' ? 'one request line per request in the log file' : 'no request lines at level warn'}`,
      l.lines === want, `${l.lines} request lines for ${sent} requests (expected ${want})`)
  }
  if (profDir !== undefined) ctx.note(`observability: V8 CPU profiles of the gateways in ${profDir}/<variant>/`)
  return res
}

// ---------------------------------------------------------------------------------------- report

/**
 * A 95% confidence interval of the median of `xs` that assumes nothing about their distribution:
 * the order statistics n/2 ± 0.98·√n (the binomial(n, ½) quantiles, normal approximation).
 */
function medianCi (xs: number[]): [number, number] {
  const v = xs.filter(x => Number.isFinite(x)).sort((a, b) => a - b)
  const n = v.length
  const half = 0.98 * Math.sqrt(n)
  return [v[Math.max(0, Math.floor(n / 2 - half))], v[Math.min(n - 1, Math.ceil(n / 2 + half) - 1)]]
}

/** Throughput lost against off, percent (positive: slower): the median of the slices' costs. */
function opsCost (res: ObservabilityResults, op: Op, v: Variant): number | undefined {
  return res.cost[op][v]
}

/** CPU per request added against off, percent (positive: more). */
function cpuCost (res: ObservabilityResults, op: Op, v: Variant): number | undefined {
  const a = res.cpu[op][v]
  const b = res.cpu[op].off
  return a === undefined || b === undefined ? undefined : (a / b - 1) * 100
}

const fmtPct = (x: number | undefined): string => x === undefined || !Number.isFinite(x) ? '—' : `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`
const fmtCi = (ci: [number, number] | undefined): string => ci === undefined ? '' : ` [${fmtPct(ci[0]).replace('%', '')}, ${fmtPct(ci[1])}]`

export function printObservabilityTable (res: ObservabilityResults): void {
  const s = res.sizes
  const header = [`observability: ${fmtBytes(s.size)} @${s.concurrency}, ${s.count.toLocaleString('en-US')} per phase, FsBlockstore + SQLite`,
    'PUT ops/s', 'cost [95% CI]', 'PUT CPU µs', 'CPU', 'GET ops/s', 'cost [95% CI]', 'GET CPU µs', 'CPU', 'peak RSS MB']
  const body = VARIANTS.map(v => [
    `${v.id}: ${v.name} (metrics: ${String(v.metrics)}, logLevel '${v.logLevel}')`,
    fmtNum(res.ops.put[v.id]), v.id === 'off' ? '' : fmtPct(opsCost(res, 'put', v.id)) + fmtCi(res.costCi.put[v.id]),
    fmtNum(res.cpu.put[v.id]), v.id === 'off' ? '' : fmtPct(cpuCost(res, 'put', v.id)),
    fmtNum(res.ops.get[v.id]), v.id === 'off' ? '' : fmtPct(opsCost(res, 'get', v.id)) + fmtCi(res.costCi.get[v.id]),
    fmtNum(res.cpu.get[v.id]), v.id === 'off' ? '' : fmtPct(cpuCost(res, 'get', v.id)),
    fmtNum(res.rss[v.id]),
  ])
  printTable(header, body)
  console.log(`  ops/s and CPU µs per request: medians of ${res.reps} interleaved repetitions; cost = throughput lost against off (1 − ops/ops_off), ` +
    `the median over ${res.slices} slices of ${s.slice} requests, each against the off slice of its round, with a distribution-free 95% confidence interval; CPU = the server's CPU time per request ` +
    `(utime+stime, all threads) against off; off2 = a second gateway configured as off: its cost is this run's noise floor. The ops/s of each repetition: ` +
    (['put', 'get'] as const).map(op => `${op.toUpperCase()} ` + VARIANTS.map(v => `${v.id} ${(res.samples[op][v.id] ?? []).map(x => fmtNum(x)).join('/')}`).join(', ')).join('; ') + '.')
  for (const v of VARIANTS) {
    const sc = res.scrape[v.id]
    if (sc !== undefined) {
      console.log(`  /-/metrics of ${v.id} after the traffic: ${fmtNum(sc.ms)} ms per scrape (median of ${s.scrapes}; the first ${fmtNum(sc.firstMs)} ms), ` +
        `${fmtNum(sc.bytes / 1000)} kB, ${sc.series} series`)
    }
  }
  for (const v of VARIANTS) {
    const l = res.log[v.id]
    if (l === undefined || v.logLevel !== 'info') continue
    console.log(`  request log of ${v.id}: ${l.lines.toLocaleString('en-US')} lines for ${(res.requests[v.id] ?? 0).toLocaleString('en-US')} requests, ` +
      `${fmtNum(l.bytes / 1e6)} MB (${l.lines > 0 ? fmtNum(l.bytes / l.lines) : '—'} bytes a line), through pino's fd 2 destination into a file`)
  }
}

export function observabilityVerdicts (res: ObservabilityResults | undefined,
  verdict: (name: string, ok: boolean | undefined, detail: string) => void): void {
  const limit = res?.sizes.limitPct ?? 3
  for (const op of ['put', 'get'] as const) {
    const name = `observability: metrics + request log cost ≤ ${limit}% of 4 KiB ${op.toUpperCase()} ops/s`
    const cost = res === undefined ? undefined : opsCost(res, op, 'on')
    if (res === undefined || cost === undefined || !Number.isFinite(cost)) { verdict(name, undefined, res?.skipped ?? 'not measured'); continue }
    const parts = (['metrics', 'logging'] as const).map(v => `${v} only ${fmtPct(opsCost(res, op, v))}`)
    const ci = res.costCi[op].on
    const unsettled = ci !== undefined && ci[0] <= limit && ci[1] > limit
    verdict(name, cost <= limit,
      `on ${fmtNum(res.ops[op].on)} vs off ${fmtNum(res.ops[op].off)} ops/s, cost ${fmtPct(cost)}, 95% CI${fmtCi(ci)} ` +
      `(median of ${res.slices} paired slices; limit ${limit}%)${unsettled ? ' — the interval spans the limit: more --reps or a quieter machine would settle it' : ''}; ` +
      `server CPU per request ${fmtPct(cpuCost(res, op, 'on'))}; ${parts.join(', ')}; A/A (off2) ${fmtPct(opsCost(res, op, 'off2'))}`)
  }
}
