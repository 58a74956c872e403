/**
 * `npm run bench` — benchmarks (never tests). Every server under test is driven by the same client
 * (bench/client.ts) in the same run, and every figure is printed next to limits measured in that run.
 *
 *   npm run bench                         full sizes (1 GiB stream, 8 × 64 MiB, 5,000 × 4 KiB, 10k/100k keys,
 *                                         1 GiB in 8 MiB parts, Complete of 10 and 1,000 parts,
 *                                         a key with 10,000 versions, 50 tests' setup + PUT + GET, 256 MiB on js-ipfs,
 *                                         5 gateways × 5,000 × 4 KiB PUT + GET per repetition for observability,
 *                                         3 + 2 gateways × 5,000 × 4 KiB PUT per repetition and 100 MiB to COMPLETED for federation)
 *   npm run bench -- --quick              sizes ÷16, counts ÷10 (a smoke run)
 *   npm run bench -- --only small,list    sections: hash, disk, big, flat (ours only: peak RSS of one PUT of the big size and
 *                                         of 5 times it — 5 GiB, S3's largest single PUT — which must stay within 16 MB of each other, and
 *                                         the RSS through the 5 GiB PUT, whose last fifth must peak within 8 MB of its first), parallel, small, list,
 *                                         multipart, complete,
 *                                         versions, testing (runs in this process: see bench/testing.ts),
 *                                         metadata (SQLite vs PostgreSQL, 1 and 3 processes: see bench/metadata.ts),
 *                                         kubo (256 MiB PUT, cold and warm GET with content on js-ipfs over the Kubo RPC,
 *                                         beside the fs blockstore and the node alone: see bench/kubo.ts),
 *                                         observability (4 KiB PUT and GET with metrics + the JSON request log on vs off,
 *                                         each alone, and off again as the noise floor, interleaved; a /-/metrics scrape:
 *                                         see bench/observability.ts),
 *                                         federation (4 KiB PUT with replication to another gateway configured but no
 *                                         worker — the commit only enqueues the job — vs none, and none again as the
 *                                         noise floor, interleaved; the same with the worker replicating, for
 *                                         information; one 100 MiB object PUT → COMPLETED beside the plain bitswap
 *                                         transfer of it: see bench/federation.ts),
 *                                         search (see bench/search.ts), ha (the HA rehearsal's throughput around a
 *                                         SIGKILL, a restart and a SIGTERM behind HAProxy: see bench/ha.ts)
 *   npm run bench -- --targets ours,limit servers: ours, s3rver, limit
 *   npm run bench -- --reps 3             repetitions for throughput figures (median reported)
 *   npm run bench -- --peer-cap           list s3rver at the small key count only
 *   npm run bench -- --max-minutes 60     overall time bound
 *   npm run bench -- --from-source        run ours from bin/cli.ts through tsx instead of the built dist/cli.js
 *   npm run bench -- --pg URL             PostgreSQL of the metadata section (default $BENCH_PG_URL or
 *                                         postgres://postgres@127.0.0.1:5432/test; a fresh schema per configuration)
 *   npm run bench -- --kubo-port N        the kubo section's js-ipfs on ports N..N+3 (default 15050, reserved for it
 *                                         in test/helpers/js-ipfs.ts; another free block if something holds those)
 *   npm run bench -- --cpu-prof DIR       ours (the server of big, flat, parallel, small, list, multipart, ...) runs with
 *                                         node --cpu-prof and writes its V8 CPU profile to DIR/ours/ when stopped (how
 *                                         bench/WRITE-PATH.md was made: run one section at a time); the observability section's gateways run with node --cpu-prof and write their
 *                                         V8 CPU profiles to DIR/<variant>/ (on, off, off2, metrics, logging); the
 *                                         federation section's to DIR/federation/<gateway>/ (B, repl, off, off2, worker, C)
 *   npm run bench -- --perf DIR           ours runs with --perf-basic-prof and Linux perf records it (999 Hz, call graphs) into
 *                                         DIR/ours.perf.data until it is stopped; bench/perf-report.ts reads it (on-CPU samples
 *                                         charged to our own code: how round three of bench/WRITE-PATH.md was made)
 *
 * All traffic goes to 127.0.0.1. Child servers and temp dirs are removed on exit and on SIGINT.
 */
// first: the bench restarts itself with its allocator settings (client-allocator.ts)
import './client-allocator.js'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { BenchClient } from './client.js'
import { measureDisk, measureHashing } from './limits.js'
import { multipartVerdicts, sectionComplete, sectionMultipart, type SectionContext } from './multipart.js'
import { PatternVerifier, patternStream } from './pattern.js'
import { buildDist, cleanupSync, makeTempDir, removeTempDir, startTarget, type Target, type TargetName } from './targets.js'
import { countOf, fmtBytes, fmtNum, fmtRatio, median, pad, runPool, sleep } from './util.js'
import { sectionVersions, versionsVerdicts } from './versions.js'
import { sectionTesting, testingVerdicts, type TestingSizes } from './testing.js'
import { printSearchTable, searchVerdicts, sectionSearch, type SearchResults } from './search.js'
import { haVerdicts, printHaTable, sectionHa, type HaResults } from './ha.js'
import { metadataVerdicts, printMetadataTable, sectionMetadata, type MetadataResults, type MetadataSizes } from './metadata.js'
import { kuboVerdicts, printKuboTable, sectionKubo, type KuboResults, type KuboSizes } from './kubo.js'
import { observabilityVerdicts, printObservabilityTable, sectionObservability, type ObservabilityResults, type ObservabilitySizes } from './observability.js'
import { federationVerdicts, printFederationTable, sectionFederation, type FederationResults, type FederationSizes } from './federation.js'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync } from 'node:fs'

// ---------------------------------------------------------------------------------------- options

const SECTIONS = ['hash', 'disk', 'big', 'flat', 'parallel', 'small', 'list', 'multipart', 'complete', 'versions', 'testing', 'metadata', 'kubo', 'observability', 'federation', 'search', 'ha'] as const
type Section = typeof SECTIONS[number]
const ALL_TARGETS: TargetName[] = ['ours', 's3rver', 'limit']
/** The sections that drive the shared servers (the others start servers of their own). */
const SHARED_SERVER_SECTIONS = new Set<Section>(['big', 'flat', 'parallel', 'small', 'list', 'multipart', 'complete', 'versions'])

function parseArgs (argv: string[]) {
  const opts = {
    quick: false,
    only: new Set<Section>(SECTIONS),
    targets: [...ALL_TARGETS],
    reps: 3,
    region: 'us-east-1',
    peerCap: false,
    fromSource: false,
    maxMinutes: NaN,
    pgUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    kuboPort: 15050,
    cpuProf: undefined as string | undefined,
    perf: undefined as string | undefined,
  }
  const sectionList = (v: string): Set<Section> => {
    const s = new Set<Section>()
    for (const n of v.split(',').map(x => x.trim()).filter(Boolean)) {
      if (n === 'limits') { s.add('hash'); s.add('disk'); continue }
      if (!(SECTIONS as readonly string[]).includes(n)) throw new Error(`unknown section "${n}" (${SECTIONS.join(', ')})`)
      s.add(n as Section)
    }
    return s
  }
  let onlyGiven = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = (): string => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    if (a === '--quick') opts.quick = true
    else if (a === '--only') {
      const s = sectionList(val())
      if (!onlyGiven) { opts.only = s; onlyGiven = true } else for (const x of s) opts.only.add(x)
    } else if (a === '--targets') {
      const t = val().split(',').map(x => x.trim()) as TargetName[]
      for (const n of t) if (!ALL_TARGETS.includes(n)) throw new Error(`unknown target "${n}"`)
      opts.targets = t
    } else if (a === '--reps') opts.reps = Math.max(1, Math.min(9, Number(val()) | 0))
    else if (a === '--region') opts.region = val()
    else if (a === '--peer-cap') opts.peerCap = true
    else if (a === '--from-source') opts.fromSource = true
    else if (a === '--max-minutes') opts.maxMinutes = Number(val())
    else if (a === '--pg') opts.pgUrl = val()
    else if (a === '--kubo-port') {
      opts.kuboPort = Number(val())
      if (!Number.isInteger(opts.kuboPort) || opts.kuboPort < 1024 || opts.kuboPort > 65532) throw new Error('--kubo-port needs a port from 1024 to 65532')
    }
    else if (a === '--cpu-prof') opts.cpuProf = val()
    else if (a === '--perf') opts.perf = val()
    else if (a === '--help' || a === '-h') {
      console.log('usage: tsx bench/run.ts [--quick] [--only hash,disk,big,flat,parallel,small,list,multipart,complete,versions,testing,metadata,kubo,observability,federation,search,ha] [--targets ours,s3rver,limit] [--reps N] [--peer-cap] [--from-source] [--max-minutes M] [--pg URL] [--kubo-port N] [--cpu-prof DIR] [--perf DIR]')
      process.exit(0)
    } else throw new Error(`unknown argument "${a}"`)
  }
  if (!Number.isFinite(opts.maxMinutes)) opts.maxMinutes = opts.quick ? 20 : 90
  return opts
}

const opts = parseArgs(process.argv.slice(2))
const Q = opts.quick
const MiB = 1 << 20
const SIZES = {
  big: Q ? 64 * MiB : 1024 * MiB,
  parallelCount: 8,
  parallelSize: Q ? 4 * MiB : 64 * MiB,
  smallCount: Q ? 500 : 5000,
  smallSize: 4096,
  smallConcurrency: 32,
  listSmall: Q ? 1000 : 10_000,
  listLarge: Q ? 10_000 : 100_000,
  listDirs: 100, // constant, so the delimiter page has the same 100 prefixes at both sizes
  listReps: Q ? 7 : 11,
  hash: Q ? 16 * MiB : 256 * MiB,
  disk: Q ? 64 * MiB : 1024 * MiB,
  multipart: { size: Q ? 64 * MiB : 1024 * MiB, partSize: 8 * MiB, inFlight: 4 },
  complete: { fewParts: 10, manyParts: Q ? 100 : 1000, partSize: 8 * MiB, bigPartSize: Q ? 32 * MiB : 128 * MiB, reps: Q ? 3 : 9, copyConcurrency: 16 },
  // the key sorts after `before` < 1,000 neighbours (so it is on the first ListObjectsV2 page), and more than
  // `page` keys follow the middle of those neighbours (so the shallow version page is full)
  versions: { deep: Q ? 1000 : 10_000, before: Q ? 20 : 100, after: Q ? 250 : 1000, size: 4096, concurrency: 16, page: Q ? 250 : 1000, reps: Q ? 51 : 201 },
  testing: { reps: Q ? 10 : 50, warmup: 3, size: 4096 } satisfies TestingSizes,
  search: { keys: Q ? 10_000 : 100_000, reps: Q ? 51 : 201, fillConcurrency: 64 },
  ha: { phaseMs: Q ? 3000 : 10_000, clients: 4 },
  metadata: { count: Q ? 500 : 5000, size: 4096, concurrency: 32, keys: Q ? 10_000 : 100_000, fillConcurrency: 64, fillSeconds: Q ? 180 : 900, listReps: Q ? 11 : 31 } satisfies MetadataSizes,
  // the warm gateway's cache holds the object with room to spare
  kubo: { size: Q ? 16 * MiB : 256 * MiB, cacheBytes: 320 * MiB, inFlight: 4, basePort: opts.kuboPort } satisfies KuboSizes,
  observability: { count: Q ? 1000 : 5000, slice: Q ? 250 : 500, size: 4096, concurrency: 32, warmup: Q ? 300 : 1000, scrapes: Q ? 5 : 11, limitPct: 3, cpuProfDir: opts.cpuProf } satisfies ObservabilitySizes,
  federation: { count: Q ? 1000 : 5000, slice: Q ? 250 : 500, size: 4096, concurrency: 32, warmup: Q ? 300 : 1000, bigSize: Q ? 8 * MiB : 100 * MiB, pollMs: 50, limitPct: 5, cpuProfDir: opts.cpuProf } satisfies FederationSizes,
}
const DEADLINE = Date.now() + opts.maxMinutes * 60_000
const secondsLeft = (): number => Math.max(0, (DEADLINE - Date.now()) / 1000)

// ---------------------------------------------------------------------------------------- cleanup

let cleaning = false
process.on('exit', () => cleanupSync())
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (cleaning) return
    cleaning = true
    console.error(`\n${sig}: stopping servers and removing temp dirs`)
    // Under `npm run bench` / `npx tsx`, tsx's CLI SIGKILLs this process if, within ~60 ms of a
    // Ctrl-C, tsx's own handler here has not had the event loop to report the signal: a long
    // synchronous cleanup (removing a data dir of a GiB) was cut short and left files behind.
    setTimeout(() => {
      cleanupSync()
      process.exit(130)
    }, 150)
  })
}

// ---------------------------------------------------------------------------------------- results

type Better = 'higher' | 'lower'
interface Row {
  key: string
  workload: string
  unit: string
  better: Better
  values: Partial<Record<TargetName, number>>
  notes: string[]
}
const rows: Row[] = []
const notes: string[] = []
/** correctness checks made along the way (printed with the targets as PASS / FAIL) */
const checks: Array<{ name: string, ok: boolean, detail: string }> = []

function row (key: string, workload: string, unit: string, better: Better = 'higher'): Row {
  let r = rows.find(x => x.key === key)
  if (r === undefined) {
    r = { key, workload, unit, better, values: {}, notes: [] }
    rows.push(r)
  }
  return r
}

function record (key: string, workload: string, unit: string, target: TargetName, value: number, better: Better = 'higher'): void {
  row(key, workload, unit, better).values[target] = value
}

function log (msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
}

// ---------------------------------------------------------------------------------------- targets

interface Live { t: Target, c: BenchClient, dead?: string }
let perfRecording: { stop: () => Promise<void> } | undefined

/** `perf record` of a process (call graphs, 999 Hz) into DIR/ours.perf.data; read it with bench/perf-report.ts. */
async function recordPerf (pid: number, dir: string): Promise<{ stop: () => Promise<void> }> {
  mkdirSync(dir, { recursive: true })
  const out = join(dir, 'ours.perf.data')
  const perf = spawn('perf', ['record', '-F', '999', '-g', '-p', String(pid), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  perf.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  await Promise.race([once(perf, 'spawn'), once(perf, 'error').then(([err]) => { throw new Error(`--perf: cannot run perf (Debian: apt-get install linux-perf): ${(err as Error).message}`) })])
  await sleep(300) // perf attaches to every thread
  if (perf.exitCode !== null) throw new Error(`--perf: perf exited: ${stderr.trim()}`)
  notes.push(`perf recording of ours: ${out} (perf script -i ${out} -F tid,ip,sym | npx tsx bench/perf-report.ts)`)
  return {
    stop: async () => {
      if (perf.exitCode !== null) return
      perf.kill('SIGINT')
      await once(perf, 'exit')
    },
  }
}
const live = new Map<TargetName, Live>()

let distBuilt: Promise<void> | undefined
/** Builds dist/ once per run (not at all with --from-source). */
async function ensureDist (): Promise<void> {
  if (opts.fromSource) return
  distBuilt ??= (async () => {
    log('building dist/ (tsup) so ours runs as `npx s3-ipfs-gateway serve` does')
    await buildDist()
  })()
  await distBuilt
}

async function startAll (names: TargetName[]): Promise<void> {
  for (const n of names) {
    try {
      log(`starting ${n}`)
      if (n === 'ours') await ensureDist()
      // --cpu-prof: our server's V8 profile of the whole run (written when it is stopped) under DIR/ours
      // --perf: JIT frames named for perf, and perf recording the process until it is stopped
      const nodeArgs = n !== 'ours'
        ? undefined
        : opts.cpuProf !== undefined
          ? ['--cpu-prof', '--cpu-prof-dir', join(resolve(opts.cpuProf), 'ours')]
          // (code that is not moved or flushed keeps the address perf's map gave its name)
          : opts.perf !== undefined ? ['--perf-basic-prof', '--interpreted-frames-native-stack', '--no-compact-code-space', '--no-flush-bytecode'] : undefined
      const t = await startTarget(n, { region: opts.region, fromSource: opts.fromSource, nodeArgs })
      if (n === 'ours' && opts.perf !== undefined) perfRecording = await recordPerf(t.pid, resolve(opts.perf))
      if (n === 'ours') notes.push(opts.fromSource ? 'ours = tsx bin/cli.ts serve (from source)' : 'ours = node dist/cli.js serve (built)')
      const c = new BenchClient({ endpoint: t.endpoint, accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey, region: opts.region, connections: 64 })
      live.set(n, { t, c })
      setInterval(() => { if (t.alive()) notePeak(n, t.memory().rssMB) }, 100).unref()
      const m = t.memory()
      record('rss-idle', 'RSS idle after start', 'MB', n, m.rssMB, 'lower')
      log(`${n} up at ${t.endpoint} (pid ${t.pid}, RSS ${fmtNum(m.rssMB)} MB)`)
    } catch (err) {
      notes.push(`${n}: could not start — ${(err as Error).message}`)
      log(`${n} FAILED to start: ${(err as Error).message}`)
    }
  }
}

function usable (n: TargetName): Live | undefined {
  const l = live.get(n)
  if (l === undefined || l.dead !== undefined) return undefined
  if (!l.t.alive()) {
    l.dead = `${n} exited during the run; last output:\n${l.t.logTail().trim().split('\n').slice(-10).join('\n')}`
    notes.push(l.dead)
    return undefined
  }
  return l
}

function failed (n: TargetName, what: string, err: unknown): void {
  const msg = err instanceof Error ? err.message : String(err)
  notes.push(`${n} / ${what}: ${msg.split('\n')[0].slice(0, 400)}`)
  log(`${n} / ${what} failed: ${msg.split('\n')[0].slice(0, 400)}`)
}

const bucketsMade = new Set<string>()
async function ensureBucket (n: TargetName, l: Live, bucket: string): Promise<void> {
  const k = `${n}/${bucket}`
  if (bucketsMade.has(k)) return
  await l.c.createBucket(bucket)
  bucketsMade.add(k)
}

// ---------------------------------------------------------------------------------------- sections

async function sectionHash (): Promise<void> {
  log(`hashing ${fmtBytes(SIZES.hash)} in 1 MiB slices`)
  const h = measureHashing(SIZES.hash)
  record('hash-md5', `MD5 alone (${fmtBytes(SIZES.hash)}, in-process)`, 'MB/s', 'limit', h.md5)
  record('hash-sha', `SHA-256 alone (${fmtBytes(SIZES.hash)}, in-process)`, 'MB/s', 'limit', h.sha256)
  record('hash-both', `MD5+SHA-256 one pass (${fmtBytes(SIZES.hash)})`, 'MB/s', 'limit', h.both)
}

async function sectionDisk (): Promise<void> {
  const dir = makeTempDir('disk')
  try {
    log(`disk: write+fsync and read ${fmtBytes(SIZES.disk)} in ${tmpdir()}`)
    const d = await measureDisk(dir, SIZES.disk)
    record('disk-w', `disk write ${fmtBytes(SIZES.disk)} + fsync`, 'MB/s', 'limit', d.writeFsync)
    record('disk-r', `disk read ${fmtBytes(SIZES.disk)} (page cache not dropped)`, 'MB/s', 'limit', d.read)
  } finally {
    removeTempDir(dir)
  }
}

/** The highest RSS of each shared target over the whole run: sampled every 100 ms, and every section's peak. */
const runPeaks = new Map<TargetName, number>()
function notePeak (n: TargetName, mb: number): void {
  if (Number.isFinite(mb) && mb > (runPeaks.get(n) ?? 0)) runPeaks.set(n, mb)
}

/** Samples VmRSS every 50 ms while running `fn`; returns max(sampled, VmHWM after a reset). */
async function withPeakRss<T> (t: Target, fn: () => Promise<T>, samples?: Array<{ at: number, mb: number }>): Promise<{ result: T, peakMB: number, hwmReset: boolean }> {
  const hwmReset = t.resetPeak()
  let peak = t.memory().rssMB
  const t0 = performance.now()
  const timer = setInterval(() => {
    const m = t.memory().rssMB
    if (m > peak) peak = m
    samples?.push({ at: performance.now() - t0, mb: m })
  }, 50)
  try {
    const result = await fn()
    const m = t.memory()
    peak = Math.max(peak, m.rssMB, hwmReset ? m.hwmMB : 0)
    notePeak(t.name, peak)
    return { result, peakMB: peak, hwmReset }
  } finally {
    clearInterval(timer)
  }
}

async function putPattern (l: Live, bucket: string, key: string, seed: number, size: number): Promise<void> {
  await l.c.put(bucket, key, patternStream(seed, size), size)
}

async function getPattern (n: TargetName, l: Live, bucket: string, key: string, seed: number, size: number): Promise<void> {
  // the null handler serves zeros: only the length can be checked there
  const v = n === 'limit' ? undefined : new PatternVerifier(seed, size)
  const got = await l.c.get(bucket, key, v === undefined ? undefined : c => v.update(c))
  if (got !== size) throw new Error(`GET ${key}: ${got} bytes, expected ${size}`)
  if (v !== undefined && !v.done()) throw new Error(`GET ${key}: content differs from what was PUT (first bad byte at ${v.firstBad})`)
}

async function sectionBig (): Promise<void> {
  const size = SIZES.big
  const label = fmtBytes(size)
  const put: Record<string, number[]> = {}
  const get: Record<string, number[]> = {}
  const peaks: Record<string, number> = {}
  for (const n of opts.targets) {
    const l = usable(n)
    if (l === undefined) continue
    try { await ensureBucket(n, l, 'bench-big') } catch (err) { failed(n, 'create bucket', err) }
  }
  for (let rep = 0; rep < opts.reps; rep++) {
    for (const n of opts.targets) {
      const l = usable(n)
      if (l === undefined || !bucketsMade.has(`${n}/bench-big`)) continue
      if (secondsLeft() < 30) { notes.push(`big: stopped at rep ${rep + 1} (time bound)`); return }
      // fresh content every repetition: the same bytes again would be deduplicated by our server
      const seed = 1000 + rep
      const key = `big/object-${rep}`
      try {
        const putPeak = await withPeakRss(l.t, async () => {
          const t0 = performance.now()
          await putPattern(l, 'bench-big', key, seed, size)
          ;(put[n] ??= []).push(size / 1e6 / ((performance.now() - t0) / 1000))
        })
        const getPeak = await withPeakRss(l.t, async () => {
          const t0 = performance.now()
          await getPattern(n, l, 'bench-big', key, seed, size)
          ;(get[n] ??= []).push(size / 1e6 / ((performance.now() - t0) / 1000))
        })
        const peakMB = Math.max(putPeak.peakMB, getPeak.peakMB)
        peaks[n] = Math.max(peaks[n] ?? 0, peakMB)
        log(`${n} ${label} rep ${rep + 1}: PUT ${fmtNum(put[n].at(-1))} MB/s (peak RSS ${fmtNum(putPeak.peakMB)} MB), ` +
          `GET ${fmtNum(get[n].at(-1))} MB/s (peak RSS ${fmtNum(getPeak.peakMB)} MB)`)
        await l.c.ok({ method: 'DELETE', bucket: 'bench-big', key }).then(r => r.body.dump()).catch(() => undefined)
      } catch (err) {
        failed(n, `${label} PUT/GET`, err)
      }
    }
  }
  for (const n of opts.targets) {
    if (put[n] !== undefined) record('big-put', `PUT ${label} (one stream)`, 'MB/s', n, median(put[n]))
    if (get[n] !== undefined) record('big-get', `GET ${label} (one stream, verified)`, 'MB/s', n, median(get[n]))
    if (peaks[n] !== undefined) record('big-rss', `peak RSS during ${label} PUT+GET`, 'MB', n, peaks[n], 'lower')
  }
}

/** Peak RSS in the first and in the last fifth of a transfer's duration; undefined with too few samples. */
function fifthsGrowth (samples: Array<{ at: number, mb: number }>, duration: number): { first: number, last: number } | undefined {
  const first = samples.filter(x => x.at <= duration / 5).map(x => x.mb)
  const last = samples.filter(x => x.at >= duration * 4 / 5).map(x => x.mb)
  if (first.length < 3 || last.length < 3) return undefined
  return { first: Math.max(...first), last: Math.max(...last) }
}

/** Memory does not grow with the object: peak server RSS of a PUT of the big size, then of 5× it (S3's largest single PUT at full size; ours only). */
async function sectionFlat (): Promise<void> {
  const l = usable('ours')
  if (l === undefined) return
  try { await ensureBucket('ours', l, 'bench-flat') } catch (err) { failed('ours', 'create bucket', err); return }
  for (const [id, size] of [['flat-1x', SIZES.big], ['flat-5x', 5 * SIZES.big]] as const) {
    if (secondsLeft() < size / 100e6 + 30) { notes.push(`flat: ${fmtBytes(size)} skipped (time bound)`); return }
    const key = `flat/${id}`
    try {
      let mbps = 0
      // RSS through the PUT, to see whether it climbs as the object grows (not only the peak)
      const samples: Array<{ at: number, mb: number }> = []
      const t0 = performance.now()
      const { peakMB } = await withPeakRss(l.t, async () => {
        await putPattern(l, 'bench-flat', key, 7000 + size / SIZES.big, size)
        mbps = size / 1e6 / ((performance.now() - t0) / 1000)
      }, samples)
      const growth = fifthsGrowth(samples, performance.now() - t0)
      log(`ours flat ${fmtBytes(size)}: PUT ${fmtNum(mbps)} MB/s, peak RSS ${fmtNum(peakMB)} MB, RSS ${growth === undefined ? 'not sampled' : `${fmtNum(growth.first)} MB in its first fifth, ${fmtNum(growth.last)} MB in its last`}`)
      record(id, `peak RSS during one PUT of ${fmtBytes(size)}`, 'MB', 'ours', peakMB, 'lower')
      // (the first transfer of a process also warms it up: only the large one's climb is the object's)
      if (growth !== undefined && id === 'flat-5x') record(`${id}-growth`, `RSS growth through one PUT of ${fmtBytes(size)} (peak of its last fifth − of its first)`, 'MB', 'ours', growth.last - growth.first, 'lower')
      await l.c.ok({ method: 'DELETE', bucket: 'bench-flat', key }).then(r => r.body.dump()).catch(() => undefined)
    } catch (err) {
      failed('ours', `${fmtBytes(size)} PUT`, err)
    }
  }
}

async function sectionParallel (): Promise<void> {
  const { parallelCount: count, parallelSize: size } = SIZES
  const label = `${count} × ${fmtBytes(size)}`
  const put: Record<string, number[]> = {}
  const get: Record<string, number[]> = {}
  for (const n of opts.targets) {
    const l = usable(n)
    if (l === undefined) continue
    try { await ensureBucket(n, l, 'bench-par') } catch (err) { failed(n, 'create bucket', err) }
  }
  for (let rep = 0; rep < opts.reps; rep++) {
    for (const n of opts.targets) {
      const l = usable(n)
      if (l === undefined || !bucketsMade.has(`${n}/bench-par`)) continue
      if (secondsLeft() < 30) { notes.push(`parallel: stopped at rep ${rep + 1} (time bound)`); return }
      const seed = (j: number): number => 2000 + rep * 100 + j
      const key = (j: number): string => `par/${rep}/object-${j}`
      try {
        let t0 = performance.now()
        await Promise.all(Array.from({ length: count }, (_, j) => putPattern(l, 'bench-par', key(j), seed(j), size)))
        ;(put[n] ??= []).push(count * size / 1e6 / ((performance.now() - t0) / 1000))
        t0 = performance.now()
        await Promise.all(Array.from({ length: count }, (_, j) => getPattern(n, l, 'bench-par', key(j), seed(j), size)))
        ;(get[n] ??= []).push(count * size / 1e6 / ((performance.now() - t0) / 1000))
        log(`${n} ${label} rep ${rep + 1}: PUT ${fmtNum(put[n].at(-1))} MB/s, GET ${fmtNum(get[n].at(-1))} MB/s`)
        await Promise.all(Array.from({ length: count }, (_, j) =>
          l.c.ok({ method: 'DELETE', bucket: 'bench-par', key: key(j) }).then(r => r.body.dump()).catch(() => undefined)))
      } catch (err) {
        failed(n, `${label} parallel PUT/GET`, err)
      }
    }
  }
  for (const n of opts.targets) {
    if (put[n] !== undefined) record('par-put', `PUT ${label} in parallel`, 'MB/s', n, median(put[n]))
    if (get[n] !== undefined) record('par-get', `GET ${label} in parallel (verified)`, 'MB/s', n, median(get[n]))
  }
}

async function sectionSmall (): Promise<void> {
  const { smallCount: count, smallSize: size, smallConcurrency: conc } = SIZES
  const label = `${count.toLocaleString('en-US')} × ${fmtBytes(size)} @${conc}`
  const res: Record<'put' | 'get' | 'head', Record<string, number[]>> = { put: {}, get: {}, head: {} }
  for (const n of opts.targets) {
    const l = usable(n)
    if (l === undefined) continue
    try {
      await ensureBucket(n, l, 'bench-small')
      // warm-up (JIT, connections, prepared statements) — not measured
      const warm = randomBytes(size)
      await runPool(200, conc, Date.now() + 30_000, async i => { await l.c.put('bench-small', `warm/${i}`, warm) })
      await runPool(200, conc, Date.now() + 30_000, async i => { await l.c.get('bench-small', `warm/${i}`) })
      await runPool(200, conc, Date.now() + 30_000, async i => { await l.c.head('bench-small', `warm/${i}`) })
    } catch (err) {
      failed(n, 'small warm-up', err)
    }
  }
  const key = (i: number): string => `small/obj-${String(i).padStart(6, '0')}`
  for (let rep = 0; rep < opts.reps; rep++) {
    // distinct bodies per key and per repetition: equal bodies would be deduplicated by content address
    const all = randomBytes(count * size)
    const body = (i: number): Buffer => all.subarray(i * size, (i + 1) * size)
    for (const n of opts.targets) {
      const l = usable(n)
      if (l === undefined || !bucketsMade.has(`${n}/bench-small`)) continue
      if (secondsLeft() < 20) { notes.push(`small: stopped at rep ${rep + 1} (time bound)`); return }
      const phases: Array<['put' | 'get' | 'head', (i: number) => Promise<void>]> = [
        ['put', async i => { await l.c.put('bench-small', key(i), body(i)) }],
        ['get', async i => {
          const parts: Uint8Array[] = []
          const got = await l.c.get('bench-small', key(i), c => parts.push(c))
          if (got !== size) throw new Error(`GET ${key(i)}: ${got} bytes, expected ${size}`)
          if (n !== 'limit' && !Buffer.concat(parts).equals(body(i))) throw new Error(`GET ${key(i)}: content differs`)
        }],
        ['head', async i => {
          const len = await l.c.head('bench-small', key(i))
          if (len !== size) throw new Error(`HEAD ${key(i)}: Content-Length ${len}, expected ${size}`)
        }],
      ]
      const line: string[] = []
      for (const [op, fn] of phases) {
        const r = await runPool(count, conc, Math.min(DEADLINE, Date.now() + 300_000), fn)
        if (r.errors > 0 || r.timedOut) {
          failed(n, `${op} ${label}`, new Error(`${r.errors} errors${r.timedOut ? ', timed out' : ''}${r.firstError !== undefined ? ` (first: ${r.firstError})` : ''}`))
          if (r.errors > 0) continue
        }
        const ops = r.done / r.seconds
        ;(res[op][n] ??= []).push(ops)
        line.push(`${op.toUpperCase()} ${fmtNum(ops)}`)
      }
      log(`${n} ${label} rep ${rep + 1}: ${line.join(', ')} ops/s`)
    }
  }
  for (const op of ['put', 'get', 'head'] as const) {
    for (const n of opts.targets) {
      if (res[op][n] !== undefined) record(`small-${op}`, `${op.toUpperCase()} ${label}`, 'ops/s', n, median(res[op][n]))
    }
  }
}

// ---- listing

const listKey = (dir: number, file: number): string =>
  `dir-${String(dir).padStart(4, '0')}/file-${String(file).padStart(5, '0')}`

/** PUTs files [from, to) in every one of the listDirs dirs; returns keys/s or throws. */
async function populate (l: Live, bucket: string, from: number, to: number, deadline: number): Promise<number> {
  const perDir = to - from
  const total = perDir * SIZES.listDirs
  const tiny = Buffer.from('8 bytes!')
  const r = await runPool(total, 64, deadline, async i => {
    const dir = i % SIZES.listDirs
    const file = from + Math.floor(i / SIZES.listDirs)
    await l.c.put(bucket, listKey(dir, file), tiny)
  })
  if (r.errors > 0) throw new Error(`populate: ${r.errors} errors (first: ${r.firstError})`)
  if (r.timedOut) throw new Error(`populate: time bound reached after ${r.done} of ${total} keys`)
  return r.done / r.seconds
}

interface PageSpec { id: string, name: string, params: (keys: number) => Record<string, string>, check: (xml: string, keys: number) => string | undefined }
const PAGES: PageSpec[] = [
  {
    id: 'first',
    name: 'first page (max-keys 1000)',
    params: () => ({ 'max-keys': '1000' }),
    check: (xml, keys) => {
      const got = countOf(xml, '<Key>')
      return got === Math.min(1000, keys) ? undefined : `first page: ${got} keys, expected ${Math.min(1000, keys)}`
    },
  },
  {
    id: 'middle',
    name: 'middle page (start-after)',
    params: () => ({ 'max-keys': '1000', 'start-after': listKey(SIZES.listDirs / 2, 0) }),
    check: (xml, keys) => {
      const want = Math.min(1000, keys / 2 - 1)
      const got = countOf(xml, '<Key>')
      return got === want ? undefined : `middle page: ${got} keys, expected ${want}`
    },
  },
  {
    id: 'delim',
    name: "delimiter page ('/', prefix '')",
    params: () => ({ 'max-keys': '1000', delimiter: '/', prefix: '' }),
    check: xml => {
      const got = countOf(xml, '<CommonPrefixes>')
      return got === SIZES.listDirs ? undefined : `delimiter page: ${got} common prefixes, expected ${SIZES.listDirs}`
    },
  },
]

async function measurePages (n: TargetName, l: Live, bucket: string, keys: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const p of PAGES) {
    const params = p.params(keys)
    const times: number[] = []
    const until = Math.min(DEADLINE, Date.now() + 30_000)
    try {
      for (let w = 0; w < 2; w++) await l.c.listV2(bucket, params) // warm-up
      for (let i = 0; i < SIZES.listReps && Date.now() < until; i++) {
        const t0 = performance.now()
        const xml = await l.c.listV2(bucket, params)
        times.push(performance.now() - t0)
        if (i === 0 && n !== 'limit') {
          const bad = p.check(xml, keys)
          if (bad !== undefined) notes.push(`${n} @${keys} keys: ${bad}`)
        }
      }
      out[p.id] = median(times)
    } catch (err) {
      failed(n, `list ${p.name} @${keys}`, err)
    }
  }
  return out
}

async function sectionList (): Promise<void> {
  const { listSmall: small, listLarge: large, listDirs: dirs } = SIZES
  const fmtK = (k: number): string => k >= 1000 ? `${k / 1000}k` : String(k)
  const bucket = 'bench-list'
  const at: Record<string, { small?: Record<string, number>, large?: Record<string, number> }> = {}
  for (const n of opts.targets) {
    const l = usable(n)
    if (l === undefined) continue
    at[n] = {}
    try {
      await ensureBucket(n, l, bucket)
      // the null handler ignores keys and answers a fixed page; nothing to populate
      let rate = Infinity
      if (n !== 'limit') {
        log(`${n}: populating ${fmtK(small)} keys`)
        rate = await populate(l, bucket, 0, small / dirs, Math.min(DEADLINE, Date.now() + 600_000))
        log(`${n}: ${fmtK(small)} keys at ${fmtNum(rate)} PUT/s`)
        record('list-populate', 'populate listing bucket (tiny PUTs @64)', 'PUT/s', n, rate)
      }
      at[n].small = await measurePages(n, l, bucket, small)
      const more = large - small
      const predicted = more / rate
      // ours is the subject of the 100k targets: it gets the larger populate budget
      const budget = Math.min(secondsLeft() - 60, n === 'ours' ? (Q ? 300 : 1500) : (Q ? 120 : 420))
      if (n === 's3rver' && opts.peerCap) {
        notes.push(`s3rver listing capped at ${fmtK(small)} keys (--peer-cap)`)
        continue
      }
      if (predicted > budget) {
        notes.push(`${n}: skipped listing at ${fmtK(large)} keys — populating would take ~${Math.round(predicted)} s at ${fmtNum(rate)} PUT/s (budget ${Math.round(budget)} s)`)
        continue
      }
      if (n !== 'limit') {
        log(`${n}: populating to ${fmtK(large)} keys (~${Math.round(predicted)} s)`)
        await populate(l, bucket, small / dirs, large / dirs, Math.min(DEADLINE, Date.now() + budget * 1000 * 1.5 + 30_000))
      }
      at[n].large = await measurePages(n, l, bucket, large)
    } catch (err) {
      failed(n, 'listing', err)
    }
  }
  for (const p of PAGES) {
    for (const n of opts.targets) {
      const s = at[n]?.small?.[p.id]
      const b = at[n]?.large?.[p.id]
      if (s !== undefined) record(`list-${p.id}-s`, `list ${p.name} @${fmtK(small)}`, 'ms', n, s, 'lower')
      if (b !== undefined) record(`list-${p.id}-l`, `list ${p.name} @${fmtK(large)}`, 'ms', n, b, 'lower')
      if (s !== undefined && b !== undefined) record(`list-${p.id}-r`, `  ratio ${fmtK(large)}/${fmtK(small)} ${p.id} page`, 'ratio', n, b / s, 'lower')
    }
  }
}

// ---- multipart (bench/multipart.ts)

const sectionContext: SectionContext = {
  targets: opts.targets,
  reps: opts.reps,
  usable,
  ensureBucket,
  record,
  failed,
  note: msg => { notes.push(msg) },
  check: (name, ok, detail) => {
    checks.push({ name, ok, detail })
    if (!ok) log(`FAIL ${name}: ${detail}`)
  },
  log,
  secondsLeft,
  withPeakRss,
}

// ---------------------------------------------------------------------------------------- report

function printTable (): void {
  const header = ['workload', 'unit', 'ours', 's3rver', 'limit', 'ours/s3rver', 'ours/limit']
  const body = rows.map(r => {
    const o = r.values.ours
    const s = r.values.s3rver
    const lim = r.values.limit
    return [r.workload, r.unit, fmtNum(o), fmtNum(s), fmtNum(lim),
      o !== undefined && s !== undefined && r.unit !== 'ratio' ? fmtRatio(o / s) : '—',
      o !== undefined && lim !== undefined && r.unit !== 'ratio' ? fmtRatio(o / lim) : '—']
  })
  const widths = header.map((h, i) => Math.max(h.length, ...body.map(b => b[i].length)))
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i], i >= 2)).join(' | ')
  console.log(line(header))
  console.log(widths.map(w => '-'.repeat(w)).join('-|-'))
  for (const b of body) console.log(line(b))
}

function printTargets (metadata: MetadataResults | undefined, kubo: KuboResults | undefined, observability: ObservabilityResults | undefined, federation: FederationResults | undefined,
  search: SearchResults | undefined, ha: HaResults | undefined): void {
  console.log('\nTargets' + (Q ? ' (quick sizes — the targets are defined for the full sizes)' : ''))
  const v = (key: string, t: TargetName): number | undefined => rows.find(r => r.key === key)?.values[t]
  const out: string[] = []
  const verdict = (name: string, ok: boolean | undefined, detail: string): void => {
    out.push(`  ${ok === undefined ? 'N/A ' : ok ? 'PASS' : 'MISS'}  ${name}: ${detail}`)
  }
  const atLeast = (name: string, key: string, factor: number): void => {
    const o = v(key, 'ours')
    const s = v(key, 's3rver')
    if (o === undefined || s === undefined || !Number.isFinite(o) || !Number.isFinite(s)) { verdict(name, undefined, 'not measured'); return }
    const need = s * factor
    const pct = (o / need - 1) * 100
    verdict(name, o >= need, `ours ${fmtNum(o)} vs needed ${fmtNum(need)} (${factor === 1 ? '' : `${factor}× `}s3rver ${fmtNum(s)}) → ${pct >= 0 ? '+' : ''}${pct.toFixed(0)}%`)
  }
  const bigLabel = fmtBytes(SIZES.big)
  atLeast(`${bigLabel} PUT ≥ s3rver`, 'big-put', 1)
  atLeast(`${bigLabel} GET ≥ s3rver`, 'big-get', 1)
  atLeast(`4 KiB PUT ≥ 2× s3rver`, 'small-put', 2)
  atLeast(`4 KiB GET ≥ 2× s3rver`, 'small-get', 2)
  atLeast(`4 KiB HEAD ≥ 2× s3rver`, 'small-head', 2)
  const large = SIZES.listLarge >= 1000 ? `${SIZES.listLarge / 1000}k` : String(SIZES.listLarge)
  for (const p of PAGES) {
    const b = v(`list-${p.id}-l`, 'ours')
    const s = v(`list-${p.id}-s`, 'ours')
    if (b === undefined || !Number.isFinite(b)) {
      verdict(`list ${p.id} page @${large} < 10 ms`, undefined, 'not measured')
      verdict(`list ${p.id} page @${large} ≤ 1.5× small`, undefined, 'not measured')
      continue
    }
    verdict(`list ${p.id} page @${large} < 10 ms`, b < 10, `${fmtNum(b)} ms (${b < 10 ? `${fmtNum(10 - b)} ms to spare` : `${fmtNum(b - 10)} ms over`})`)
    if (s === undefined || !Number.isFinite(s)) verdict(`list ${p.id} page @${large} ≤ 1.5× small`, undefined, 'small page not measured')
    else verdict(`list ${p.id} page @${large} ≤ 1.5× small`, b / s <= 1.5, `${fmtNum(b)} / ${fmtNum(s)} ms = ${fmtRatio(b / s)} (limit 1.50×)`)
  }
  const rss = v('big-rss', 'ours')
  if (rss === undefined || !Number.isFinite(rss)) verdict(`peak RSS < 150 MB (${bigLabel} transfers)`, undefined, 'not measured')
  else verdict(`peak RSS < 150 MB (${bigLabel} transfers)`, rss < 150, `${fmtNum(rss)} MB (${rss < 150 ? `${fmtNum(150 - rss)} MB to spare` : `${fmtNum(rss - 150)} MB over`}; idle ${fmtNum(v('rss-idle', 'ours'))} MB)`)
  // The issue's wording: the server's peak over the whole bench (the sections that use the shared server).
  const runPeak = v('rss-run-peak', 'ours')
  if (runPeak === undefined || !Number.isFinite(runPeak)) verdict('peak RSS ≤ 150 MB over the run', undefined, 'not measured')
  else verdict('peak RSS ≤ 150 MB over the run', runPeak <= 150, `${fmtNum(runPeak)} MB over sections ${[...opts.only].filter(x => SHARED_SERVER_SECTIONS.has(x)).join(', ') || '(none using it)'}`)
  const flat1 = v('flat-1x', 'ours')
  const flat5 = v('flat-5x', 'ours')
  if (flat1 === undefined || flat5 === undefined || !Number.isFinite(flat1) || !Number.isFinite(flat5)) verdict(`PUT peak RSS flat: ${fmtBytes(5 * SIZES.big)} within 16 MB of ${bigLabel}`, undefined, 'not measured')
  else verdict(`PUT peak RSS flat: ${fmtBytes(5 * SIZES.big)} within 16 MB of ${bigLabel}`, flat5 - flat1 <= 16, `${fmtNum(flat5)} vs ${fmtNum(flat1)} MB (${fmtNum(flat5 - flat1)} MB apart)`)
  // Within one PUT: what a transfer keeps per byte shows as a climb from its first fifth to its last.
  const growth = v('flat-5x-growth', 'ours')
  if (growth === undefined || !Number.isFinite(growth)) verdict(`PUT RSS flat through ${fmtBytes(5 * SIZES.big)}: last fifth within 8 MB of the first`, undefined, 'not measured')
  else verdict(`PUT RSS flat through ${fmtBytes(5 * SIZES.big)}: last fifth within 8 MB of the first`, growth <= 8, `${fmtNum(growth)} MB`)
  multipartVerdicts(v, verdict, SIZES.multipart, SIZES.complete)
  versionsVerdicts(v, verdict, SIZES.versions)
  testingVerdicts(v, verdict)
  if (opts.only.has('metadata')) metadataVerdicts(metadata, verdict)
  if (opts.only.has('kubo')) kuboVerdicts(kubo, verdict)
  if (opts.only.has('observability')) observabilityVerdicts(observability, verdict)
  if (opts.only.has('federation')) federationVerdicts(federation, verdict)
  if (opts.only.has('search')) searchVerdicts(search, verdict)
  if (opts.only.has('ha')) haVerdicts(ha, verdict)
  for (const c of checks) out.push(`  ${c.ok ? 'PASS' : 'FAIL'}  check ${c.name}: ${c.detail}`)
  console.log(out.join('\n'))
}

// ---------------------------------------------------------------------------------------- main

async function main (): Promise<void> {
  const started = Date.now()
  const load0 = loadavg()
  console.log(`s3-ipfs-gateway bench — ${new Date().toISOString()} — node ${process.version}, ${cpus().length} cores, ` +
    `${Q ? 'QUICK sizes' : 'full sizes'}, reps ${opts.reps}, sections ${[...opts.only].join(',')}, load ${load0.map(x => x.toFixed(2)).join(' ')}`)
  // testing runs in this process, metadata, kubo, observability and federation start servers of their own
  const needServers = [...opts.only].some(s => s !== 'hash' && s !== 'disk' && s !== 'testing' && s !== 'metadata' && s !== 'kubo' && s !== 'observability' && s !== 'federation' && s !== 'search' && s !== 'ha')
  if (opts.only.has('hash')) await sectionHash()
  if (opts.only.has('disk')) await sectionDisk()
  if (needServers) await startAll(opts.targets)
  const run = async (s: Section, fn: () => Promise<void>): Promise<void> => {
    if (!opts.only.has(s)) return
    if (secondsLeft() < 20) { notes.push(`${s}: skipped (time bound)`); return }
    log(`== ${s}`)
    try { await fn() } catch (err) { notes.push(`${s}: ${(err as Error).message}`) }
  }
  await run('big', sectionBig)
  await run('flat', sectionFlat)
  await run('parallel', sectionParallel)
  await run('small', sectionSmall)
  await run('list', sectionList)
  await run('multipart', () => sectionMultipart(sectionContext, SIZES.multipart))
  await run('complete', () => sectionComplete(sectionContext, SIZES.complete))
  await run('versions', () => sectionVersions(sectionContext, SIZES.versions))
  await run('testing', () => sectionTesting(sectionContext, SIZES.testing))
  let metadataResults: MetadataResults | undefined
  await run('metadata', async () => {
    metadataResults = await sectionMetadata({ ...sectionContext, region: opts.region, fromSource: opts.fromSource, pgUrl: opts.pgUrl, ensureDist }, SIZES.metadata)
  })
  let kuboResults: KuboResults | undefined
  await run('kubo', async () => {
    kuboResults = await sectionKubo({ ...sectionContext, region: opts.region }, SIZES.kubo)
  })
  let observabilityResults: ObservabilityResults | undefined
  await run('observability', async () => {
    observabilityResults = await sectionObservability({ ...sectionContext, region: opts.region }, SIZES.observability)
  })
  let federationResults: FederationResults | undefined
  await run('federation', async () => {
    federationResults = await sectionFederation({ ...sectionContext, region: opts.region }, SIZES.federation)
  })

  let searchResults: SearchResults | undefined
  await run('search', async () => {
    searchResults = await sectionSearch(SIZES.search, opts.pgUrl, log)
    notes.push(...searchResults.notes)
  })
  let haResults: HaResults | undefined
  await run('ha', async () => {
    haResults = await sectionHa(SIZES.ha, opts.pgUrl, log)
  })

  for (const [n, l] of live) {
    if (l.t.alive()) {
      const end = l.t.memory().rssMB
      notePeak(n, end)
      record('rss-end', 'RSS at end of run', 'MB', n, end, 'lower')
    }
    const peak = runPeaks.get(n)
    if (peak !== undefined) record('rss-run-peak', 'peak RSS over the run (sampled every 100 ms, and each section\'s peak)', 'MB', n, peak, 'lower')
  }
  console.log('')
  if (rows.length > 0) printTable()
  if (metadataResults !== undefined) printMetadataTable(metadataResults)
  if (kuboResults !== undefined && kuboResults.skipped === undefined) printKuboTable(kuboResults)
  if (observabilityResults !== undefined && observabilityResults.reps > 0) printObservabilityTable(observabilityResults)
  if (federationResults !== undefined) printFederationTable(federationResults)
  if (searchResults !== undefined) printSearchTable(searchResults)
  if (haResults !== undefined) printHaTable(haResults)
  printTargets(metadataResults, kuboResults, observabilityResults, federationResults, searchResults, haResults)
  const load1 = loadavg()
  console.log(`\nNotes`)
  console.log(`  MB = 10^6 bytes. Medians of ${opts.reps} for throughput, of up to ${SIZES.listReps} for listing latency, of ${SIZES.complete.reps} for Complete latency, ` +
    `of ${SIZES.versions.reps} for the versions section's latencies (one request at a time), of ${SIZES.testing.reps} tests per mode for the testing section, ` +
    `of ${opts.reps} interleaved repetitions for the observability and federation sections. ` +
    `Same undici client for every server (the testing section: the AWS SDK, in this process); client and servers share ${cpus().length} cores.`)
  console.log(`  limit = null handler (no auth, discards bodies, serves zeros / a fixed list page) and in-process hashing/disk figures.`)
  console.log(`  load average start ${load0.map(x => x.toFixed(2)).join(' ')}, end ${load1.map(x => x.toFixed(2)).join(' ')} (other work on the machine skews figures); ` +
    `run took ${Math.round((Date.now() - started) / 1000)} s.`)
  const v = (key: string, t: TargetName): number | undefined => rows.find(r => r.key === key)?.values[t]
  const floor = [v('big-put', 'limit'), v('hash-both', 'limit'), v('disk-w', 'limit')].filter((x): x is number => x !== undefined && Number.isFinite(x))
  const oursPut = v('big-put', 'ours')
  if (floor.length > 0 && oursPut !== undefined && Number.isFinite(oursPut)) {
    const f = Math.min(...floor)
    console.log(`  PUT floor = min(null-handler PUT, MD5+SHA-256 one pass, disk write+fsync) = ${fmtNum(f)} MB/s; ours ${fmtBytes(SIZES.big)} PUT is ${fmtRatio(oursPut / f)} of it ` +
      '(the hashes can overlap on 2 cores, so this floor is not a hard ceiling).')
  }
  const nullIdle = v('rss-idle', 'limit')
  if (nullIdle !== undefined) console.log(`  The null handler's idle RSS (${fmtNum(nullIdle)} MB) is roughly node + tsx before any server code (a bare node:http server measured ~45 MB here, tsx's loader ~30 MB more); ours runs from dist/ without tsx unless --from-source.`)
  for (const n of notes) console.log(`  - ${n}`)

  for (const l of live.values()) await l.c.destroy().catch(() => undefined)
  await perfRecording?.stop()
  for (const l of live.values()) await l.t.stop()
}

main().then(() => {
  cleanupSync()
  process.exit(0)
}, err => {
  console.error(err)
  cleanupSync()
  process.exit(1)
})
