/**
 * The federation section of `npm run bench`: what replication to another gateway costs a write,
 * and how long a large object takes to be replicated, measured in the same run against the same
 * gateway without replication.
 *
 * Every gateway is `startServer` (bin/server.ts, what `serve` runs) in a child process on
 * FsBlockstore + SQLite in a fresh temp dir, with an embedded IPFS node on 127.0.0.1 (`ipfsListen`)
 * — with or without replication, so the only difference between them is the replication. The child
 * is this module's `federationGatewayMain`, bundled the way tsup bundles dist/ and run on plain
 * node, as bench/targets.ts does for bench/gateway-server.ts (which has no replication options).
 *
 * - B:      the replica: serves the Pinning Service API (`pinsToken`) and fetches every pinned DAG
 *           from its origins over bitswap (its worker on)
 * - repl:   `pinningServices: [B]`, `replicas: '1'`, `workers: false`: the commit of a PUT enqueues
 *           the replicate job in its own transaction, and nothing runs it
 * - off:    no replication
 * - off2:   the same as off, a second gateway: its "cost" against off is the noise floor of the run
 *           (an A/A comparison)
 * - worker: `pinningServices: [B]` with the worker on: the PUTs are replicated to B while they run
 *
 * 1. The commit path. After a warm-up, every repetition PUTs `count` distinct 4 KiB objects
 *    (`concurrency` in flight, the undici client of bench/client.ts) into repl, off and off2, in
 *    slices of `slice` keys, each slice through every gateway in turn, the order reversing from
 *    slice to slice (as bench/observability.ts does), so a burst of other work hits all of them.
 *    The keys are the same in every repetition (from the second on, the PUTs replace objects; with
 *    replication the commit then also enqueues a job for the replaced version's CID). The cost of
 *    repl is 1 − ops/ops_off slice by slice against the off slice of the same round, the median over
 *    all slices of all repetitions, with a distribution-free 95% confidence interval; beside it the
 *    server CPU per PUT (utime + stime from /proc/<pid>/stat, all threads). Target: at most
 *    `limitPct` (5%). Checked afterwards: repl answers HEAD with `x-amz-replication-status: PENDING`
 *    and holds one waiting replicate job per object version written; off answers no status.
 *
 * 2. With the worker on (for information): the same PUTs into worker and off, interleaved the same
 *    way, with this difference: after each slice of worker, the bench waits until every object of
 *    the slice answers COMPLETED on HEAD (walking the keys, 100 ms between polls of one still
 *    PENDING) and no replicate job is waiting (`GET /-/replication`), so the replication of one
 *    slice never runs during another gateway's slice. What is reported: the PUT ops/s while the
 *    worker replicates, the time the replication of a slice takes after its last PUT (the replicate
 *    job polls B every 5 s, its default `pollMs`), and the CPU per object of worker and of B over a
 *    slice and its drain.
 *
 * 3. Time to COMPLETED: one object of `bigSize` (100 MiB) PUT to worker; from the moment the PUT
 *    is answered (the commit), HEAD on worker every `pollMs` (50 ms) until COMPLETED, and B's
 *    `GET /-/pins?cid=` every `pollMs` for when B's pin becomes `pinning` and `pinned`. Then B must
 *    list the pin as `pinned` (a check). For comparison, the plain transfer of the same DAG: a fresh
 *    gateway C (like B) is asked to pin the CID with B's node as the only origin — so C fetches from
 *    B alone over bitswap, which also proves that B holds every block — timed from the answer to the
 *    POST to `pinned` on C.
 *
 * With `cpuProfDir` (`npm run bench -- --cpu-prof DIR`), each child runs with `node --cpu-prof` and
 * writes its V8 profile into DIR/federation/<gateway>/ when it stops: comparing repl's with off2's
 * (the same PUTs, without replication) shows where the commit path spends the difference.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { BenchClient } from './client.js'
import { CLK_TCK, cpuTicks } from './cpu.js'
import type { SectionContext } from './multipart.js'
import { patternStream } from './pattern.js'
import { bundleForPlainNode, freePort, makeTempDir, onCleanupSync, OURS_KEYS, removeTempDir, ROOT } from './targets.js'
import { fmtBytes, fmtNum, median, printTable, runPool, sleep } from './util.js'

export interface FederationSizes {
  /** PUTs per gateway per repetition (each phase) */
  count: number
  /** a phase runs in slices of this many PUTs, each slice through every gateway in turn */
  slice: number
  /** object size of the PUTs */
  size: number
  /** PUTs in flight */
  concurrency: number
  /** PUTs per gateway before the measured repetitions (JIT, connections, statements) */
  warmup: number
  /** the object replicated once, timed to COMPLETED */
  bigSize: number
  /** interval of the HEAD and pin-status polls of the large object, ms */
  pollMs: number
  /** the target: replication configured costs at most this many percent of PUT throughput */
  limitPct: number
  /** write each child's V8 CPU profile (node --cpu-prof) under this directory (<dir>/federation/<gateway>/) */
  cpuProfDir?: string
}

export interface FederationContext extends SectionContext {
  region: string
}

export type FederationVariant = 'repl' | 'off' | 'off2' | 'worker'

/** One interleaved phase: ops/s and CPU per PUT of its gateways, and the cost against off. */
export interface PhaseFigures {
  /** repetitions measured */
  reps: number
  /** ops/s, median over the repetitions */
  ops: Partial<Record<FederationVariant, number>>
  /** server CPU µs per PUT during its slices, median over the repetitions */
  cpu: Partial<Record<FederationVariant, number>>
  /** per repetition, ops/s of every gateway */
  samples: Partial<Record<FederationVariant, number[]>>
  /** percent, the median over all slices of 1 − ops/ops_off against the off slice of the same round */
  cost: Partial<Record<FederationVariant, number>>
  costCi: Partial<Record<FederationVariant, [number, number]>>
  /** slices the costs are medians of */
  slices: number
  /** VmHWM of each child after the phase, MB */
  rss: Partial<Record<FederationVariant, number>>
}

export interface DrainFigures {
  /** seconds from the last PUT of a slice of worker until all its objects were COMPLETED and no replicate job waited, per slice */
  seconds: number[]
  /** objects replicated (seen COMPLETED) and seen FAILED */
  completed: number
  failed: number
  /** worker's CPU µs per object over its slices and their drains (median over the repetitions) */
  aCpuUs?: number
  /** B's CPU µs per object over the same time */
  bCpuUs?: number
  /** objects replicated per second over slice + drain time (median over the repetitions) */
  objectsPerSecond?: number
}

export interface BigFigures {
  size: number
  cid?: string
  /** the PUT to worker, seconds */
  putSeconds?: number
  /** after the PUT was answered: B's pin first seen `pinning`, first seen `pinned`, worker's HEAD first COMPLETED */
  pinningSeconds?: number
  pinnedSeconds?: number
  completedSeconds?: number
  /** worker's last replication status and B's pin status at the end */
  status?: string
  bStatus?: string
  /** C fetching the same DAG from B alone (pin API, B's node the only origin): POST answered → `pinned` */
  directSeconds?: number
  directPinningSeconds?: number
  directStatus?: string
  error?: string
}

export interface FederationResults {
  sizes: FederationSizes
  commit: PhaseFigures
  worker: PhaseFigures
  drain: DrainFigures
  big: BigFigures
  skipped?: string
}

const BUCKET = 'bench-fed'
const PINS_TOKEN = 'bench-federation-pins-token'
const LISTEN = ['/ip4/127.0.0.1/tcp/0']

// ---------------------------------------------------------------------------------------- the child

/** What a child gateway is started with (passed as JSON). */
interface ChildConfig {
  port: number
  dataDir: string
  region: string
  ipfsListen?: string[]
  pinningServices?: Array<{ name: string, endpoint: string, token: string }>
  replicas?: string
  pinsToken?: string
  workers?: boolean
}

/**
 * The child process: `startServer` with the configuration given as `--config <json>`; prints
 * `federation-gateway {"url","multiaddrs"}` on stdout once it listens, closes on SIGTERM / SIGINT.
 * (bin/server.ts is imported here, not at the top: the bench process never loads the gateway.)
 */
export async function federationGatewayMain (argv: string[]): Promise<void> {
  const at = argv.indexOf('--config')
  if (at < 0 || at + 1 >= argv.length) throw new Error('federation gateway: --config <json> is required')
  const cfg = JSON.parse(argv[at + 1]) as ChildConfig
  const { startServer } = await import('../bin/server.js')
  const running = await startServer({
    port: cfg.port,
    host: '127.0.0.1',
    dataDir: cfg.dataDir,
    region: cfg.region,
    accessKeyId: process.env.S3IPFS_ACCESS_KEY,
    secretAccessKey: process.env.S3IPFS_SECRET_KEY,
    logLevel: 'warn',
    ipfsListen: cfg.ipfsListen,
    pinningServices: cfg.pinningServices,
    replicas: cfg.replicas,
    pinsToken: cfg.pinsToken,
    workers: cfg.workers,
  })
  process.stdout.write(`federation-gateway ${JSON.stringify({ url: running.url, multiaddrs: running.ipfs?.multiaddrs ?? [] })}\n`)
  let closing = false
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (closing) return
      closing = true
      running.close().then(() => process.exit(0), () => process.exit(1))
    })
  }
}

/** The child script, bundled for plain node as bench/gateway-server.ts is (bundleForPlainNode). */
async function buildChildScript (): Promise<string> {
  return await bundleForPlainNode('federation-gateway', {
    contents: "import { federationGatewayMain } from './federation.ts'\nawait federationGatewayMain(process.argv.slice(2))\n",
  })
}

/** A child gateway. */
interface Gw {
  id: string
  pid: number
  endpoint: string
  /** its IPFS node's addresses (with /p2p/) */
  multiaddrs: string[]
  dataDir: string
  c: BenchClient
  alive (): boolean
  logTail (): string
  /** VmRSS and VmHWM, MB */
  memory (): { rssMB: number, hwmMB: number }
  stop (): Promise<void>
}

function readStatusKB (pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? NaN : Number(m[1])
  } catch {
    return NaN
  }
}

function fileTail (path: string, chars: number): string {
  try { return readFileSync(path, 'utf8').slice(-chars) } catch { return '' }
}

async function startChild (id: string, cfg: Omit<ChildConfig, 'port' | 'dataDir' | 'region'>, region: string, profDir: string | undefined): Promise<Gw> {
  const script = await buildChildScript()
  const dataDir = makeTempDir(`fed-${id}`)
  const port = await freePort()
  const stderrFile = join(dataDir, 'stderr.log')
  let nodeArgs: string[] = []
  if (profDir !== undefined) {
    mkdirSync(join(profDir, id), { recursive: true })
    nodeArgs = ['--cpu-prof', '--cpu-prof-dir', join(profDir, id)]
  }
  const config: ChildConfig = { ...cfg, port, dataDir, region }
  const fd = openSync(stderrFile, 'a')
  let child: ChildProcess
  try {
    child = spawn(process.execPath, [...nodeArgs, script, '--config', JSON.stringify(config)], {
      cwd: ROOT,
      env: { ...process.env, S3IPFS_ACCESS_KEY: OURS_KEYS.accessKeyId, S3IPFS_SECRET_KEY: OURS_KEYS.secretAccessKey },
      stdio: ['ignore', 'pipe', fd],
    })
  } finally {
    closeSync(fd)
  }
  const isAlive = (): boolean => child.exitCode === null && child.signalCode === null
  // on exit and on Ctrl-C (cleanupSync in bench/targets.ts), before the temp dirs go
  const unregister = onCleanupSync(() => { if (isAlive() && child.pid !== undefined) process.kill(child.pid, 'SIGKILL') })
  const exited = new Promise<void>(res => child.once('exit', () => res()))
  let out = ''
  const tail = (): string => `${out.slice(-2000)}${fileTail(stderrFile, 3000)}`
  const banner = await new Promise<{ url: string, multiaddrs: string[] }>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`federation ${id} did not start within 90 s:\n${tail().trim().split('\n').slice(-15).join('\n')}`)), 90_000)
    child.stdout!.on('data', (b: Buffer) => {
      out = (out + b.toString('utf8')).slice(-8000)
      const m = /^federation-gateway (.+)$/m.exec(out)
      if (m !== null) { clearTimeout(timer); res(JSON.parse(m[1]) as { url: string, multiaddrs: string[] }) }
    })
    child.once('exit', (code, sig) => { clearTimeout(timer); rej(new Error(`federation ${id} exited (${code ?? sig}) before listening:\n${tail().trim().split('\n').slice(-15).join('\n')}`)) })
  }).catch(async (err: unknown) => {
    if (isAlive()) { child.kill('SIGKILL'); await exited }
    unregister()
    removeTempDir(dataDir)
    throw err
  })
  const pid = child.pid!
  const c = new BenchClient({ endpoint: banner.url, accessKeyId: OURS_KEYS.accessKeyId, secretAccessKey: OURS_KEYS.secretAccessKey, region, connections: 64 })
  return {
    id,
    pid,
    endpoint: banner.url,
    multiaddrs: banner.multiaddrs.filter(a => a.includes('/p2p/')),
    dataDir,
    c,
    alive: isAlive,
    logTail: tail,
    memory: () => ({ rssMB: readStatusKB(pid, 'VmRSS') * 1024 / 1e6, hwmMB: readStatusKB(pid, 'VmHWM') * 1024 / 1e6 }),
    stop: async () => {
      await c.destroy().catch(() => undefined)
      if (isAlive()) {
        child.kill('SIGTERM')
        const t = setTimeout(() => { if (isAlive()) child.kill('SIGKILL') }, 15_000)
        await exited
        clearTimeout(t)
      }
      unregister()
      removeTempDir(dataDir)
    },
  }
}

// ---------------------------------------------------------------------------------------- helpers



/** A distribution-free 95% confidence interval of the median (order statistics n/2 ± 0.98·√n). */
function medianCi (xs: number[]): [number, number] {
  const v = xs.filter(x => Number.isFinite(x)).sort((a, b) => a - b)
  const n = v.length
  const half = 0.98 * Math.sqrt(n)
  return [v[Math.max(0, Math.floor(n / 2 - half))], v[Math.min(n - 1, Math.ceil(n / 2 + half) - 1)]]
}

/** A JSON admin / Pinning Service API call (not signed: `/-/` is outside S3). */
async function adminJson (g: Gw, method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<{ status: number, json: unknown }> {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  let payload: string | undefined
  if (body !== undefined) { payload = JSON.stringify(body); headers['content-type'] = 'application/json' }
  const res = await g.c.pool.request({ method, path, headers, body: payload })
  const text = await res.body.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = text }
  return { status: res.statusCode, json }
}

interface PinListed { requestid: string, status: string, delegates: string[] }

/** The pins a gateway lists for a CID (any status), as the Pinning Service API answers them. */
async function pinsOf (g: Gw, cid: string): Promise<PinListed[]> {
  const r = await adminJson(g, 'GET', `/-/pins?cid=${encodeURIComponent(cid)}&status=queued,pinning,pinned,failed`, undefined, PINS_TOKEN)
  if (r.status !== 200) throw new Error(`GET /-/pins?cid=${cid} on ${g.id} -> HTTP ${r.status}: ${JSON.stringify(r.json).slice(0, 200)}`)
  return ((r.json as { results?: PinListed[] }).results ?? [])
}

/** Replicate jobs of a gateway by state (from `GET /-/replication`). */
async function replicateJobs (g: Gw): Promise<Record<string, number>> {
  const r = await adminJson(g, 'GET', '/-/replication')
  if (r.status !== 200) throw new Error(`GET /-/replication on ${g.id} -> HTTP ${r.status}`)
  const out: Record<string, number> = {}
  for (const j of (r.json as { jobs?: Array<{ kind: string, state: string, count: number }> }).jobs ?? []) {
    if (j.kind === 'replicate') out[j.state] = (out[j.state] ?? 0) + j.count
  }
  return out
}

const replicationStatus = (h: Record<string, string | string[] | undefined>): string | undefined => {
  const v = h['x-amz-replication-status']
  return typeof v === 'string' ? v : undefined
}

function emptyPhase (): PhaseFigures {
  return { reps: 0, ops: {}, cpu: {}, samples: {}, cost: {}, costCi: {}, slices: 0, rss: {} }
}

// ---------------------------------------------------------------------------------------- section

export async function sectionFederation (ctx: FederationContext, s: FederationSizes): Promise<FederationResults> {
  const res: FederationResults = { sizes: s, commit: emptyPhase(), worker: emptyPhase(), drain: { seconds: [], completed: 0, failed: 0 }, big: { size: s.bigSize } }
  const hz = CLK_TCK
  const profDir = s.cpuProfDir === undefined ? undefined : resolve(s.cpuProfDir, 'federation')
  const all: Gw[] = []
  const start = async (id: string, cfg: Omit<ChildConfig, 'port' | 'dataDir' | 'region'>, what: string): Promise<Gw> => {
    const g = await startChild(id, cfg, ctx.region, profDir)
    all.push(g)
    ctx.log(`federation: ${id} (${what}) up at ${g.endpoint}, IPFS node ${g.multiaddrs[0] ?? '—'} (pid ${g.pid}, RSS ${fmtNum(g.memory().rssMB)} MB)`)
    return g
  }
  const stop = async (g: Gw): Promise<void> => {
    const i = all.indexOf(g)
    if (i >= 0) all.splice(i, 1)
    await g.stop()
  }
  try {
    const b = await start('B', { ipfsListen: LISTEN, pinsToken: PINS_TOKEN }, 'the replica: Pinning Service API, worker on')
    const services = [{ name: 'gateway-b', endpoint: `${b.endpoint}/-`, token: PINS_TOKEN }]
    const repl = await start('repl', { ipfsListen: LISTEN, pinningServices: services, replicas: '1', workers: false }, 'replication to B configured, no worker')
    const off = await start('off', { ipfsListen: LISTEN }, 'no replication')
    const off2 = await start('off2', { ipfsListen: LISTEN }, 'no replication, A/A')
    const worker = await start('worker', { ipfsListen: LISTEN, pinningServices: services, replicas: '1' }, 'replication to B, worker on')
    const byId = new Map<FederationVariant, Gw>([['repl', repl], ['off', off], ['off2', off2], ['worker', worker]])
    const puts = new Map<Gw, number>(all.map(g => [g, 0]))

    const { size, concurrency: conc } = s
    // warm-up: distinct bodies (equal ones would be deduplicated by content address)
    for (const g of [repl, off, off2, worker]) {
      await g.c.createBucket(BUCKET)
      const warm = randomBytes(s.warmup * size)
      const r = await runPool(s.warmup, conc, Date.now() + 120_000, async i => { await g.c.put(BUCKET, `warm/${i}`, warm.subarray(i * size, (i + 1) * size)) })
      if (r.errors > 0 || r.timedOut) throw new Error(`${g.id}: warm-up: ${r.errors} errors${r.timedOut ? ', timed out' : ''} (first: ${r.firstError ?? '-'})`)
      puts.set(g, (puts.get(g) ?? 0) + r.done)
    }
    // worker's warm-up replicated before anything is measured
    const warmDrain = await drainReplication(worker, Array.from({ length: s.warmup }, (_, i) => `warm/${i}`), Date.now() + 600_000)
    ctx.log(`federation: worker's ${s.warmup} warm-up objects replicated to B in ${fmtNum(warmDrain.seconds)} s after the last PUT (${warmDrain.failed} FAILED)`)

    // ---- 1. the commit path (repl vs off, off2), and 2. with the worker on (worker vs off, drained after each slice)
    const phases: Array<{ name: 'commit' | 'worker', gws: FederationVariant[], prefix: string }> = [
      { name: 'commit', gws: ['repl', 'off', 'off2'], prefix: 'c' },
      { name: 'worker', gws: ['worker', 'off'], prefix: 'w' },
    ]
    for (const ph of phases) {
      try {
        const fig = res[ph.name]
        const servers = ph.gws.map(id => ({ id, g: byId.get(id)! }))
        const sliceCosts: Partial<Record<FederationVariant, number[]>> = {}
        const cpuSamples: Partial<Record<FederationVariant, number[]>> = {}
        const drainCpuA: number[] = []
        const drainCpuB: number[] = []
        const drainRate: number[] = []
        const key = (i: number): string => `${ph.prefix}/obj-${String(i).padStart(6, '0')}`
        let lastRep = 0
        for (let rep = 0; rep < ctx.reps; rep++) {
          if (ctx.secondsLeft() < Math.max(30, lastRep * 1.2 + 60)) { ctx.note(`federation ${ph.name}: stopped before rep ${rep + 1} (time bound)`); break }
          const started = performance.now()
          const bodies = randomBytes(s.count * size)
          const body = (i: number): Buffer => bodies.subarray(i * size, (i + 1) * size)
          const acc = new Map<FederationVariant, { done: number, seconds: number, ticks: number }>(servers.map(sv => [sv.id, { done: 0, seconds: 0, ticks: 0 }]))
          // worker only: its ticks and B's over slices and drains, objects, seconds
          const w = { aTicks: 0, bTicks: 0, objects: 0, seconds: 0 }
          let ok = true
          for (let from = 0, k = 0; from < s.count && ok; from += s.slice, k++) {
            const n = Math.min(s.slice, s.count - from)
            const order = (rep + k) % 2 === 0 ? servers : [...servers].reverse()
            const sliceOps = new Map<FederationVariant, number>()
            for (const sv of order) {
              const a = acc.get(sv.id)!
              const cpu0 = cpuTicks(sv.g.pid)
              const b0 = sv.id === 'worker' ? cpuTicks(b.pid) : NaN
              const t0 = performance.now()
              const r = await runPool(n, conc, Date.now() + 300_000, async i => { await sv.g.c.put(BUCKET, key(from + i), body(from + i)) })
              const cpu1 = cpuTicks(sv.g.pid)
              a.ticks += cpu1 - cpu0
              a.done += r.done
              a.seconds += r.seconds
              puts.set(sv.g, (puts.get(sv.g) ?? 0) + r.done)
              if (r.errors > 0 || r.timedOut) {
                ctx.failed('ours', `federation ${ph.name} ${sv.id} PUT`, new Error(`${r.errors} errors${r.timedOut ? ', timed out' : ''}${r.firstError !== undefined ? ` (first: ${r.firstError})` : ''}`))
                ok = false
                break
              }
              sliceOps.set(sv.id, r.done / r.seconds)
              if (sv.id === 'worker') {
                // the slice's replication runs to its end before any other gateway's slice
                const d = await drainReplication(sv.g, Array.from({ length: n }, (_, i) => key(from + i)), Date.now() + 600_000)
                res.drain.seconds.push(d.seconds)
                res.drain.completed += d.completed
                res.drain.failed += d.failed
                w.aTicks += cpuTicks(sv.g.pid) - cpu0
                w.bTicks += cpuTicks(b.pid) - b0
                w.objects += n
                w.seconds += (performance.now() - t0) / 1000
              }
            }
            const offOps = sliceOps.get('off')
            if (offOps !== undefined) {
              for (const [v, ops] of sliceOps) if (v !== 'off') (sliceCosts[v] ??= []).push((1 - ops / offOps) * 100)
              fig.slices++
            }
          }
          lastRep = (performance.now() - started) / 1000
          if (!ok) break
          fig.reps++
          const parts: string[] = []
          for (const sv of servers) {
            const a = acc.get(sv.id)!
            const ops = a.done / a.seconds
            const cpuUs = a.ticks / hz * 1e6 / a.done
            ;(fig.samples[sv.id] ??= []).push(ops)
            if (Number.isFinite(cpuUs)) (cpuSamples[sv.id] ??= []).push(cpuUs)
            parts.push(`${sv.id} ${fmtNum(ops)} (${fmtNum(cpuUs)} µs CPU)`)
          }
          let extra = ''
          if (w.objects > 0) {
            drainCpuA.push(w.aTicks / hz * 1e6 / w.objects)
            drainCpuB.push(w.bTicks / hz * 1e6 / w.objects)
            drainRate.push(w.objects / w.seconds)
            extra = `; worker + drains: ${fmtNum(w.objects / w.seconds)} objects replicated/s, CPU per object worker ${fmtNum(drainCpuA.at(-1))} µs, B ${fmtNum(drainCpuB.at(-1))} µs`
          }
          const cost = (v: FederationVariant): string => {
            const x = fig.samples[v]?.at(-1)
            const o = fig.samples.off?.at(-1)
            return x === undefined || o === undefined ? '—' : `${((1 - x / o) * 100).toFixed(1)}%`
          }
          ctx.log(`federation ${ph.name} rep ${rep + 1} (${Math.round(lastRep)} s), PUT ops/s: ${parts.join(', ')} — ` +
            `${ph.gws.filter(v => v !== 'off').map(v => `${v} vs off ${cost(v)}`).join(', ')}${extra}`)
        }
        for (const sv of servers) {
          const xs = fig.samples[sv.id]
          if (xs !== undefined && xs.length > 0) fig.ops[sv.id] = median(xs)
          const cs = cpuSamples[sv.id]
          if (cs !== undefined && cs.length > 0) fig.cpu[sv.id] = median(cs)
          const ks = sliceCosts[sv.id]
          if (ks !== undefined && ks.length > 0) { fig.cost[sv.id] = median(ks); fig.costCi[sv.id] = medianCi(ks) }
          fig.rss[sv.id] = sv.g.memory().hwmMB
        }
        if (drainCpuA.length > 0) {
          res.drain.aCpuUs = median(drainCpuA)
          res.drain.bCpuUs = median(drainCpuB)
          res.drain.objectsPerSecond = median(drainRate)
        }

        if (ph.name === 'commit' && fig.reps > 0) {
          // repl really has replication configured and only enqueues; off has none
          try {
            const hr = await repl.c.headObject(BUCKET, key(0))
            const ho = await off.c.headObject(BUCKET, key(0))
            const jobs = await replicateJobs(repl)
            const waiting = jobs.ready ?? 0
            const want = puts.get(repl) ?? 0
            ctx.check('federation repl: HEAD says PENDING (replication configured, no worker), off says nothing',
              replicationStatus(hr.headers) === 'PENDING' && replicationStatus(ho.headers) === undefined,
              `repl x-amz-replication-status ${replicationStatus(hr.headers) ?? 'absent'}, off ${replicationStatus(ho.headers) ?? 'absent'}`)
            ctx.check('federation repl: one waiting replicate job per object version written (the commit enqueued it)',
              waiting === want && (jobs.leased ?? 0) === 0,
              `${waiting} ready, ${jobs.leased ?? 0} leased replicate jobs for ${want} PUTs (each a new CID)`)
          } catch (err) {
            ctx.failed('ours', 'federation repl checks', err)
          }
        }
        if (ph.name === 'worker' && fig.reps > 0) {
          ctx.check('federation worker: every object PUT during the worker phase reached COMPLETED on HEAD',
            res.drain.failed === 0 && res.drain.completed === fig.reps * s.count,
            `${res.drain.completed} COMPLETED, ${res.drain.failed} FAILED of ${fig.reps * s.count} PUTs`)
        }
      } catch (err) {
        // a phase that fails leaves the other's figures, and the large object still runs
        ctx.failed('ours', `federation ${ph.name} phase`, err)
      }
    }

    // phase 1's gateways are done: only worker and B (and later C) run during the large object
    for (const g of [repl, off, off2]) await stop(g)

    // ---- 3. one large object to COMPLETED
    if (ctx.secondsLeft() < 90) {
      res.big.error = 'skipped (time bound)'
      ctx.note('federation: the large object was skipped (time bound)')
    } else {
      await bigObject(ctx, s, worker, b, res.big, start)
    }
  } catch (err) {
    ctx.failed('ours', 'federation', err)
    res.skipped ??= (err as Error).message.split('\n')[0]
  } finally {
    for (const g of [...all]) {
      if (!g.alive()) ctx.note(`federation ${g.id} exited during the run; last output:\n${g.logTail().trim().split('\n').slice(-10).join('\n')}`)
      await stop(g)
    }
  }
  if (profDir !== undefined) ctx.note(`federation: V8 CPU profiles of the gateways in ${profDir}/<gateway>/`)
  return res
}

/**
 * Waits until every key answers COMPLETED (or FAILED) on HEAD, walking the keys in order and
 * polling one still PENDING every 100 ms, then until no replicate job waits or runs (the jobs of
 * replaced versions' CIDs, which remove their pins). Seconds from the call.
 */
async function drainReplication (g: Gw, keys: string[], deadline: number): Promise<{ seconds: number, completed: number, failed: number }> {
  const t0 = performance.now()
  let completed = 0
  let failed = 0
  for (let i = 0; i < keys.length;) {
    const st = replicationStatus((await g.c.headObject(BUCKET, keys[i])).headers)
    if (st === 'COMPLETED') { completed++; i++; continue }
    if (st === 'FAILED') { failed++; i++; continue }
    if (st === undefined) throw new Error(`${g.id}: HEAD ${keys[i]} answers no x-amz-replication-status`)
    if (Date.now() > deadline) throw new Error(`${g.id}: ${keys.length - i} objects still ${st} at the time bound`)
    await sleep(100)
  }
  for (;;) {
    const jobs = await replicateJobs(g)
    if ((jobs.ready ?? 0) + (jobs.leased ?? 0) === 0) break
    if (Date.now() > deadline) throw new Error(`${g.id}: replicate jobs still waiting at the time bound: ${JSON.stringify(jobs)}`)
    await sleep(100)
  }
  return { seconds: (performance.now() - t0) / 1000, completed, failed }
}

async function bigObject (ctx: FederationContext, s: FederationSizes, a: Gw, b: Gw, big: BigFigures,
  start: (id: string, cfg: Omit<ChildConfig, 'port' | 'dataDir' | 'region'>, what: string) => Promise<Gw>): Promise<void> {
  const key = 'big/object'
  const limitMs = Math.min(900_000, (ctx.secondsLeft() - 60) * 1000)
  try {
    ctx.log(`federation: PUT ${fmtBytes(s.bigSize)} to worker, then HEAD every ${s.pollMs} ms until COMPLETED`)
    const t0 = performance.now()
    const put = await a.c.ok({ method: 'PUT', bucket: BUCKET, key, body: patternStream(0xfed, s.bigSize), contentLength: s.bigSize })
    await put.body.dump()
    const committed = performance.now()
    big.putSeconds = (committed - t0) / 1000
    let cid = put.headers['x-amz-meta-cid']
    if (typeof cid !== 'string') cid = (await a.c.headObject(BUCKET, key)).headers['x-amz-meta-cid']
    if (typeof cid !== 'string') throw new Error('no x-amz-meta-cid on the PUT or HEAD')
    big.cid = cid
    const deadline = Date.now() + limitMs
    let done = false
    const pollB = (async () => {
      while (!done || big.pinnedSeconds === undefined) {
        const pins = await pinsOf(b, cid).catch(() => [])
        const st = pins[0]?.status
        const at = (performance.now() - committed) / 1000
        if ((st === 'pinning' || st === 'pinned') && big.pinningSeconds === undefined) big.pinningSeconds = at
        if (st === 'pinned') { big.pinnedSeconds = at; return }
        if (st === 'failed' || Date.now() > deadline) return
        await sleep(s.pollMs)
      }
    })()
    for (;;) {
      const st = replicationStatus((await a.c.headObject(BUCKET, key)).headers)
      big.status = st
      if (st === 'COMPLETED') { big.completedSeconds = (performance.now() - committed) / 1000; break }
      if (st === 'FAILED' || st === undefined) break
      if (Date.now() > deadline) { big.error = `still ${st} after ${Math.round(limitMs / 1000)} s`; break }
      await sleep(s.pollMs)
    }
    done = true
    await pollB
    const pins = await pinsOf(b, cid)
    big.bStatus = pins.map(p => p.status).join(',') || 'none'
    ctx.check(`federation: B holds the ${fmtBytes(s.bigSize)} object (GET /-/pins?cid= with the token says pinned)`,
      pins.length === 1 && pins[0].status === 'pinned', `B lists ${pins.length} pin(s) for ${cid}: ${big.bStatus}; worker says ${big.status ?? '—'}`)
    const fmtS = (x: number | undefined): string => x === undefined ? '—' : `${fmtNum(x)} s`
    ctx.log(`federation: PUT ${fmtS(big.putSeconds)}; after the commit B pinning at ${fmtS(big.pinningSeconds)}, pinned at ${fmtS(big.pinnedSeconds)}, worker COMPLETED at ${fmtS(big.completedSeconds)}`)

    // the plain transfer: C pins the same CID with B's node as its only origin
    const delegates = pins[0]?.delegates.filter(d => d.includes('/p2p/')) ?? []
    const origins = delegates.length > 0 ? delegates : b.multiaddrs
    const c = await start('C', { ipfsListen: LISTEN, pinsToken: PINS_TOKEN }, 'a second replica, for the plain transfer from B')
    const p0 = performance.now()
    const added = await adminJson(c, 'POST', '/-/pins', { cid, name: 'bench-direct', origins }, PINS_TOKEN)
    if (added.status !== 202 && added.status !== 200) throw new Error(`POST /-/pins on C -> HTTP ${added.status}: ${JSON.stringify(added.json).slice(0, 200)}`)
    const asked = performance.now()
    const requestId = (added.json as { requestid: string }).requestid
    for (;;) {
      const r = await adminJson(c, 'GET', `/-/pins/${encodeURIComponent(requestId)}`, undefined, PINS_TOKEN)
      const st = (r.json as { status?: string }).status
      big.directStatus = st
      const at = (performance.now() - asked) / 1000
      if ((st === 'pinning' || st === 'pinned') && big.directPinningSeconds === undefined) big.directPinningSeconds = at
      if (st === 'pinned') { big.directSeconds = at; break }
      if (st === 'failed') { big.error = `C's pin failed: ${JSON.stringify(r.json).slice(0, 300)}`; break }
      if (Date.now() > deadline) { big.error = `C's pin still ${st ?? '?'} after ${Math.round(limitMs / 1000)} s`; break }
      await sleep(s.pollMs)
    }
    ctx.log(`federation: C fetched the ${fmtBytes(s.bigSize)} DAG from B alone in ${fmtS(big.directSeconds)} (POST answered in ${fmtNum((asked - p0) / 1000)} s)`)
    ctx.check(`federation: C fetched the ${fmtBytes(s.bigSize)} DAG from B alone (B holds every block)`, big.directStatus === 'pinned', `C's pin ${big.directStatus ?? '—'}`)
  } catch (err) {
    big.error = (err as Error).message.split('\n')[0]
    ctx.failed('ours', 'federation large object', err)
  }
}

// ---------------------------------------------------------------------------------------- report

const fmtPct = (x: number | undefined): string => x === undefined || !Number.isFinite(x) ? '—' : `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`
const fmtCi = (ci: [number, number] | undefined): string => ci === undefined ? '' : ` [${fmtPct(ci[0]).replace('%', '')}, ${fmtPct(ci[1])}]`
const mbps = (bytes: number, seconds: number | undefined): string => seconds === undefined || seconds <= 0 ? '—' : `${fmtNum(bytes / 1e6 / seconds)} MB/s`

function cpuCost (fig: PhaseFigures, v: FederationVariant): number | undefined {
  const a = fig.cpu[v]
  const o = fig.cpu.off
  return a === undefined || o === undefined ? undefined : (a / o - 1) * 100
}

const NAMES: Record<FederationVariant, string> = {
  repl: 'repl: replication to B configured, workers: false (the commit only enqueues)',
  off: 'off: no replication',
  off2: 'off2: no replication again (A/A noise floor)',
  worker: 'worker: replication to B, worker on (for information)',
}

export function printFederationTable (res: FederationResults): void {
  const s = res.sizes
  const header = [`federation: ${fmtBytes(s.size)} PUT @${s.concurrency}, ${s.count.toLocaleString('en-US')} per gateway per rep, FsBlockstore + SQLite + IPFS node`,
    'PUT ops/s', 'cost [95% CI]', 'PUT CPU µs', 'CPU', 'peak RSS MB']
  const rowsOf = (fig: PhaseFigures, ids: FederationVariant[], label: string): string[][] => ids.filter(v => fig.ops[v] !== undefined).map(v => [
    `${label}${NAMES[v]}`,
    fmtNum(fig.ops[v]), v === 'off' ? '' : fmtPct(fig.cost[v]) + fmtCi(fig.costCi[v]),
    fmtNum(fig.cpu[v]), v === 'off' ? '' : fmtPct(cpuCost(fig, v)),
    fmtNum(fig.rss[v]),
  ])
  const body = [...rowsOf(res.commit, ['repl', 'off', 'off2'], '[commit] '), ...rowsOf(res.worker, ['worker', 'off'], '[worker on] ')]
  if (body.length > 0) {
    printTable(header, body)
    const reps = (fig: PhaseFigures, ids: FederationVariant[]): string => ids.map(v => `${v} ${(fig.samples[v] ?? []).map(x => fmtNum(x)).join('/')}`).join(', ')
    console.log(`  ops/s and CPU µs per PUT: medians of ${res.commit.reps} (commit) and ${res.worker.reps} (worker on) interleaved repetitions; cost = throughput lost against off ` +
      `(1 − ops/ops_off), the median over ${res.commit.slices} (commit) / ${res.worker.slices} (worker on) slices of ${s.slice} PUTs, each against the off slice of its round, ` +
      `with a distribution-free 95% confidence interval; CPU = the server's CPU time per PUT (utime+stime, all threads) during its slices against off. ` +
      `The keys are the same in every repetition (from the second on, PUTs replace objects). Per repetition: commit ${reps(res.commit, ['repl', 'off', 'off2'])}; ` +
      `worker on ${reps(res.worker, ['worker', 'off'])}.`)
    const d = res.drain
    if (d.seconds.length > 0) {
      console.log(`  worker on (for information; the worker replicates during its slices, and after each slice the bench waits until every object of it is COMPLETED and no replicate job ` +
        `waits, so no replication runs during off's slices): ${d.completed.toLocaleString('en-US')} objects COMPLETED, ${d.failed} FAILED; after a slice's last PUT its replication took ` +
        `${fmtNum(median(d.seconds))} s (median of ${d.seconds.length}; min ${fmtNum(Math.min(...d.seconds))}, max ${fmtNum(Math.max(...d.seconds))}; the replicate job asks B, then polls B every 5 s); ` +
        `over slices + drains ${fmtNum(d.objectsPerSecond)} objects replicated/s, CPU per object: worker ${fmtNum(d.aCpuUs)} µs, B ${fmtNum(d.bCpuUs)} µs.`)
    }
  }
  const g = res.big
  if (g.putSeconds !== undefined || g.error !== undefined) {
    const fmtS = (x: number | undefined): string => x === undefined ? '—' : `${fmtNum(x)} s`
    console.log('')
    console.log(`federation: one ${fmtBytes(g.size)} object PUT to worker (A), replicated to B${g.cid !== undefined ? ` (${g.cid})` : ''}`)
    console.log(`  PUT to A                                : ${fmtS(g.putSeconds)} (${mbps(g.size, g.putSeconds)})`)
    console.log(`  after the PUT's answer: B's pin pinning : ${fmtS(g.pinningSeconds)}`)
    console.log(`  after the PUT's answer: B's pin pinned  : ${fmtS(g.pinnedSeconds)} (${mbps(g.size, g.pinnedSeconds)})`)
    console.log(`  after the PUT's answer: A COMPLETED     : ${fmtS(g.completedSeconds)} (${mbps(g.size, g.completedSeconds)}; PUT + replication ${fmtS(g.completedSeconds === undefined || g.putSeconds === undefined ? undefined : g.completedSeconds + g.putSeconds)}) — polled every ${res.sizes.pollMs} ms; A learns of B's pin at its replicate job's next poll of B (every 5 s)`)
    console.log(`  plain transfer: C pins it from B alone  : ${fmtS(g.directSeconds)} (${mbps(g.size, g.directSeconds)}; pinning after ${fmtS(g.directPinningSeconds)}) — the Pinning Service API on a fresh gateway, B's node the only origin`)
    console.log(`  B's pin at the end: ${g.bStatus ?? '—'}; A's status: ${g.status ?? '—'}${g.error !== undefined ? `; error: ${g.error}` : ''}`)
  }
}

export function federationVerdicts (res: FederationResults | undefined,
  verdict: (name: string, ok: boolean | undefined, detail: string) => void): void {
  const limit = res?.sizes.limitPct ?? 5
  const name = `federation: replication configured (no worker: the commit enqueues the job) costs ≤ ${limit}% of 4 KiB PUT ops/s`
  const fig = res?.commit
  const cost = fig?.cost.repl
  if (res === undefined || fig === undefined || cost === undefined || !Number.isFinite(cost)) { verdict(name, undefined, res?.skipped ?? 'not measured'); return }
  const ci = fig.costCi.repl
  const unsettled = ci !== undefined && ci[0] <= limit && ci[1] > limit
  const ratio = fig.ops.repl !== undefined && fig.ops.off !== undefined ? fig.ops.repl / fig.ops.off : undefined
  verdict(name, cost <= limit,
    `repl ${fmtNum(fig.ops.repl)} vs off ${fmtNum(fig.ops.off)} ops/s (ratio ${ratio === undefined ? '—' : ratio.toFixed(3)}), cost ${fmtPct(cost)}, 95% CI${fmtCi(ci)} ` +
    `(median of ${fig.slices} paired slices; limit ${limit}%)${unsettled ? ' — the interval spans the limit: more --reps or a quieter machine would settle it' : ''}; ` +
    `server CPU per PUT ${fmtPct(cpuCost(fig, 'repl'))}; A/A (off2) ${fmtPct(fig.cost.off2)}`)
}
