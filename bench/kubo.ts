/**
 * The kubo section of `npm run bench`: the gateway with its content on an IPFS node over the Kubo
 * RPC API (KuboBlockstore), against the same gateway on the fs blockstore, in the same run.
 *
 * The node is js-ipfs 0.66.1, the test fixture in test/fixtures/js-ipfs (test/helpers/js-ipfs.ts),
 * offline on a fresh repo on ports basePort..basePort+3; without the fixture the section is
 * skipped. Every gateway is bench/gateway-server.ts in a child process: `startServer`, as `serve`
 * runs it, so the two blockstores are compared through the same code and loader.
 *
 * Each repetition, with a fresh pattern object (bench/pattern.ts) of `size` bytes:
 *
 * - fs: PUT then GET in one gateway on FsBlockstore + SQLite (the blocks just written: the page
 *   cache is not dropped);
 * - Kubo PUT: a gateway as `serve --ipfs-api` runs it (blocks put 4 in flight, the root pinned
 *   recursively before the commit), then stopped;
 * - Kubo GET cold: a new process on the same metadata and node, so its block cache is empty; then
 *   GET again in it, through serve's default 64 MiB cache;
 * - Kubo GET warm: a new process with a `cacheBytes` cache (more than the object), one GET to fill
 *   it (timed too) and the warm one; its cache counters, printed when it stops, show where the
 *   bytes came from;
 * - the node alone: `size` bytes of 1 MiB raw blocks through kubo-rpc-client block/put with
 *   `inFlight` calls in flight (as the gateway's write-behind), then block/get the same way (as its
 *   read-ahead): how fast the node is without the gateway.
 *
 * Every GET is checked byte for byte as it streams; nothing holds an object in memory. Figures are
 * medians over the repetitions, each also a ratio to the fs figure of the same run.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { BenchClient } from './client.js'
import type { SectionContext } from './multipart.js'
import { makeSlice, PatternVerifier, patternStream, SLICE } from './pattern.js'
import { makeTempDir, onCleanupSync, removeTempDir, ROOT, startGatewayServer, type GatewayServerOptions, type Target } from './targets.js'
import { fmtBytes, fmtNum, fmtRatio, median, pad, runPool } from './util.js'

export interface KuboSizes {
  /** the object PUT and read back */
  size: number
  /** the MemoryBlockCache of the warm gateway (more than the object) */
  cacheBytes: number
  /** RPC calls in flight in the node-alone figures: the gateway's write-behind and read-ahead (4) */
  inFlight: number
  /** js-ipfs listens on basePort..basePort+3 (test/helpers/js-ipfs.ts reserves 15050 for the benchmark) */
  basePort: number
}

export interface KuboContext extends SectionContext {
  region: string
}

type Metric = 'fs-put' | 'fs-get' | 'put' | 'cold' | 'again' | 'fill' | 'warm' | 'node-put' | 'node-get'
const METRICS: Metric[] = ['fs-put', 'fs-get', 'put', 'cold', 'again', 'fill', 'warm', 'node-put', 'node-get']

export interface KuboResults {
  sizes: KuboSizes
  /** MB/s, the median over the repetitions */
  values: Partial<Record<Metric, number>>
  /** repetitions measured */
  reps: number
  /** MB: peak RSS of the fs gateway (PUT + GET) and of the warm gateway (its two GETs); the node's RSS and peak at the end */
  rss: { fs?: number, warm?: number, node?: number, nodePeak?: number }
  /** serve's default MemoryBlockCache budget */
  defaultCacheBytes: number
  /** the node's agent version */
  agent?: string
  /** why the section did not run */
  skipped?: string
}

const BUCKET = 'bench-kubo'
const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000)

// ---------------------------------------------------------------------------------------- the node

interface Node {
  apiUrl: string
  pid: number | undefined
  close(): Promise<void>
}

/** The fixture's `ipfs` package version (its agent version names ipfs-core's). */
function fixtureVersion (): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'test/fixtures/js-ipfs/node_modules/ipfs/package.json'), 'utf8')) as { version: string }).version
  } catch {
    return '?'
  }
}

/** The parent pid of `pid` (from /proc/<pid>/stat), or undefined when it is gone. */
function parentOf (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

/** The child of this process that runs with IPFS_PATH=repo: the daemon startJsIpfs spawned. */
function daemonPid (repo: string): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || parentOf(Number(name)) !== process.pid) continue
    try {
      if (readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(`IPFS_PATH=${repo}`)) return Number(name)
    } catch { /* exited */ }
  }
  return undefined
}

function statusMB (pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number | undefined {
  if (pid === undefined) return undefined
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) * 1024 / 1e6
  } catch {
    return undefined
  }
}

/** The first of `ports` something already listens on (the daemon would fail to start, leaving its repo). */
async function portInUse (ports: number[]): Promise<number | undefined> {
  for (const port of ports) {
    const free = await new Promise<boolean>(resolve => {
      const s = net.createServer()
      s.once('error', () => { resolve(false) })
      s.listen(port, '127.0.0.1', () => { s.close(() => { resolve(true) }) })
    })
    if (!free) return port
  }
  return undefined
}

/**
 * Starts js-ipfs; on exit or a signal the runner's cleanup kills it (by its pid, if it is still our
 * child) and removes its repo.
 */
async function startNode (basePort: number): Promise<Node> {
  const { startJsIpfs } = await import('../test/helpers/js-ipfs.js')
  const daemon = await startJsIpfs(basePort)
  const pid = daemonPid(daemon.repo)
  const forget = onCleanupSync(() => {
    if (pid !== undefined && parentOf(pid) === process.pid) {
      try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
    }
    rmSync(daemon.repo, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
  })
  return {
    apiUrl: daemon.apiUrl,
    pid,
    close: async () => {
      try { await daemon.close() } finally { forget() }
    },
  }
}

/** `size` bytes of 1 MiB raw blocks put, then got (and compared), `inFlight` calls at a time; MB/s each. */
async function nodeAlone (apiUrl: string, seed: number, size: number, inFlight: number): Promise<{ put: number, get: number }> {
  const { create } = await import('kubo-rpc-client')
  const rpc = create({ url: apiUrl })
  const count = Math.ceil(size / SLICE)
  const len = (i: number): number => Math.min(SLICE, size - i * SLICE)
  const cids: CID[] = new Array(count)
  const put = await runPool(count, inFlight, Date.now() + 3_600_000, async i => {
    cids[i] = await rpc.block.put(makeSlice(seed, i, len(i)), { format: 'raw', version: 1, mhtype: 'sha2-256' })
  }, 1)
  if (put.errors > 0) throw new Error(`block/put: ${put.firstError ?? 'failed'}`)
  const get = await runPool(count, inFlight, Date.now() + 3_600_000, async i => {
    const b = await rpc.block.get(cids[i])
    if (Buffer.compare(Buffer.from(b.buffer, b.byteOffset, b.byteLength), makeSlice(seed, i, len(i))) !== 0) throw new Error(`block/get ${cids[i]}: not the bytes put`)
  }, 1)
  if (get.errors > 0) throw new Error(`block/get: ${get.firstError ?? 'failed'}`)
  return { put: size / 1e6 / put.seconds, get: size / 1e6 / get.seconds }
}

// ---------------------------------------------------------------------------------------- gateways

interface CacheCounters { hits: number, misses: number, hitBytes: number, missBytes: number }

interface Gateway {
  t: Target
  c: BenchClient
  /** stops the process; the block cache's counters it printed (null without a cache) */
  close(): Promise<CacheCounters | null | undefined>
}

async function openGateway (ctx: KuboContext, opts: GatewayServerOptions): Promise<Gateway> {
  const t = await startGatewayServer(opts)
  const c = new BenchClient({ endpoint: t.endpoint, accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey, region: ctx.region, connections: 8 })
  return {
    t,
    c,
    close: async () => {
      await c.destroy().catch(() => undefined)
      await t.stop()
      const line = t.logTail().split('\n').reverse().find(l => l.startsWith('cache-metrics '))
      return line === undefined ? undefined : JSON.parse(line.slice('cache-metrics '.length)) as CacheCounters | null
    },
  }
}

/** Runs `fn` on a new gateway and stops it, also when `fn` fails. */
async function withGateway<T> (ctx: KuboContext, opts: GatewayServerOptions, fn: (g: Gateway) => Promise<T>): Promise<{ result: T, cache: CacheCounters | null | undefined }> {
  const g = await openGateway(ctx, opts)
  let result: T
  try {
    result = await fn(g)
  } catch (err) {
    await g.close().catch(() => undefined)
    throw err
  }
  return { result, cache: await g.close() }
}

async function timedPut (c: BenchClient, key: string, seed: number, size: number): Promise<number> {
  const t0 = performance.now()
  await c.put(BUCKET, key, patternStream(seed, size), size)
  return mbps(size, performance.now() - t0)
}

/** GET, checked byte for byte as it streams; MB/s. */
async function timedGet (c: BenchClient, key: string, seed: number, size: number): Promise<number> {
  const v = new PatternVerifier(seed, size)
  const t0 = performance.now()
  const got = await c.get(BUCKET, key, chunk => { v.update(chunk) })
  const ms = performance.now() - t0
  if (got !== size) throw new Error(`GET ${key}: ${got} bytes, expected ${size}`)
  if (!v.done()) throw new Error(`GET ${key}: content differs from what was PUT (first bad byte at ${v.firstBad})`)
  return mbps(size, ms)
}

// ---------------------------------------------------------------------------------------- section

export async function sectionKubo (ctx: KuboContext, s: KuboSizes): Promise<KuboResults> {
  const { MemoryBlockCache } = await import('../src/blockstores/cached.js')
  const res: KuboResults = { sizes: s, values: {}, reps: 0, rss: {}, defaultCacheBytes: new MemoryBlockCache().maxBytes }
  const { jsIpfsProblem } = await import('../test/helpers/js-ipfs.js')
  const ports = [0, 1, 2, 3].map(i => s.basePort + i)
  const busy = await portInUse(ports)
  res.skipped = jsIpfsProblem() ?? (busy === undefined ? undefined : `port ${busy} (of js-ipfs's ${ports[0]}–${ports[3]}) is in use; --kubo-port N picks other ports`)
  if (res.skipped !== undefined) {
    ctx.note(`kubo: skipped — ${res.skipped}`)
    ctx.log(`kubo: skipped — ${res.skipped}`)
    return res
  }

  const label = fmtBytes(s.size)
  ctx.log(`kubo: starting js-ipfs (offline, fresh repo) on ports ${ports[0]}–${ports[3]}`)
  const node = await startNode(s.basePort)
  const fsDir = makeTempDir('kubo-fs')
  const kuboDir = makeTempDir('kubo-meta')
  const kubo: GatewayServerOptions = { dataDir: kuboDir, region: ctx.region, ipfsApi: node.apiUrl }
  const samples: Record<Metric, number[]> = Object.fromEntries(METRICS.map(m => [m, []])) as unknown as Record<Metric, number[]>
  const peaks = { fs: 0, warm: 0 }
  let gets = 0
  let verified = 0
  let fs: Gateway | undefined
  try {
    const { create } = await import('kubo-rpc-client')
    res.agent = `js-ipfs ${fixtureVersion()} (agent ${(await create({ url: node.apiUrl }).id()).agentVersion})`
    ctx.log(`kubo: node ${res.agent} at ${node.apiUrl} (pid ${node.pid ?? '?'})`)
    fs = await openGateway(ctx, { dataDir: fsDir, region: ctx.region })
    await fs.c.createBucket(BUCKET)
    let bucketMade = false
    let lastRep = 0
    for (let rep = 0; rep < ctx.reps; rep++) {
      if (ctx.secondsLeft() < Math.max(60, lastRep * 1.2 + 20)) { ctx.note(`kubo: stopped before rep ${rep + 1} (time bound)`); break }
      const started = performance.now()
      // a fresh object every repetition: the same bytes again would already be stored
      const seed = 7000 + rep * 10
      const key = `kubo/object-${rep}`
      const line: string[] = []
      const step = async (what: string, fn: () => Promise<void>): Promise<boolean> => {
        try {
          await fn()
          return true
        } catch (err) {
          ctx.failed('ours', `kubo ${what}`, err)
          return false
        }
      }
      const get = async (c: BenchClient, m: Metric): Promise<void> => {
        gets++
        samples[m].push(await timedGet(c, key, seed, s.size))
        verified++
        line.push(`${m} ${fmtNum(samples[m].at(-1))}`)
      }

      await step(`fs ${label} PUT/GET`, async () => {
        const fsg = fs!
        const { peakMB } = await ctx.withPeakRss(fsg.t, async () => {
          samples['fs-put'].push(await timedPut(fsg.c, key, seed, s.size))
          line.push(`fs-put ${fmtNum(samples['fs-put'].at(-1))}`)
          await get(fsg.c, 'fs-get')
        })
        peaks.fs = Math.max(peaks.fs, peakMB)
        await fsg.c.ok({ method: 'DELETE', bucket: BUCKET, key }).then(r => r.body.dump())
      })
      const putOk = await step(`${label} PUT`, async () => {
        await withGateway(ctx, kubo, async g => {
          if (!bucketMade) { await g.c.createBucket(BUCKET); bucketMade = true }
          samples.put.push(await timedPut(g.c, key, seed, s.size))
          line.push(`put ${fmtNum(samples.put.at(-1))}`)
        })
      })
      if (putOk) {
        await step(`${label} GET cold / again`, async () => {
          const { cache } = await withGateway(ctx, kubo, async g => {
            await get(g.c, 'cold')
            await get(g.c, 'again')
          })
          if (cache != null) ctx.log(`kubo: default-cache gateway: ${fmtNum(cache.hitBytes / 1e6)} MB from its cache, ${fmtNum(cache.missBytes / 1e6)} MB from the node`)
        })
        await step(`${label} GET with a ${fmtBytes(s.cacheBytes)} cache`, async () => {
          const { cache } = await withGateway(ctx, { ...kubo, cacheBytes: s.cacheBytes }, async g => {
            const { peakMB } = await ctx.withPeakRss(g.t, async () => {
              await get(g.c, 'fill')
              await get(g.c, 'warm')
            })
            peaks.warm = Math.max(peaks.warm, peakMB)
            // unpins the root; the blocks stay in the node's repo (removed with it)
            await g.c.ok({ method: 'DELETE', bucket: BUCKET, key }).then(r => r.body.dump())
          })
          // the fill GET reads every block from the node; only the warm GET can hit
          const hit = cache?.hitBytes ?? NaN
          ctx.check(`kubo rep ${rep + 1}: the warm GET came from the ${fmtBytes(s.cacheBytes)} block cache`, hit >= s.size,
            cache == null ? 'no cache counters printed' : `${fmtNum(cache.hitBytes / 1e6)} MB hits (${cache.hits} blocks), ${fmtNum(cache.missBytes / 1e6)} MB misses (${cache.misses} blocks); object ${fmtNum(s.size / 1e6)} MB`)
        })
      }
      await step(`node alone ${label}`, async () => {
        const r = await nodeAlone(node.apiUrl, 9000 + rep, s.size, s.inFlight)
        samples['node-put'].push(r.put)
        samples['node-get'].push(r.get)
        line.push(`node block/put ${fmtNum(r.put)}, block/get ${fmtNum(r.get)}`)
      })
      lastRep = (performance.now() - started) / 1000
      res.reps++
      ctx.log(`kubo ${label} rep ${rep + 1} (${Math.round(lastRep)} s), MB/s: ${line.join(', ')}`)
    }
    res.rss.node = statusMB(node.pid, 'VmRSS')
    res.rss.nodePeak = statusMB(node.pid, 'VmHWM')
  } finally {
    await fs?.close().catch(() => undefined)
    await node.close().catch(err => { ctx.note(`kubo: stopping js-ipfs: ${(err as Error).message}`) })
    removeTempDir(fsDir)
    removeTempDir(kuboDir)
  }
  for (const m of METRICS) if (samples[m].length > 0) res.values[m] = median(samples[m])
  if (peaks.fs > 0) res.rss.fs = peaks.fs
  if (peaks.warm > 0) res.rss.warm = peaks.warm
  if (gets > 0) {
    ctx.check(`kubo: every GET returned the bytes PUT (${label}, checked as they streamed)`, verified === gets, `${verified} of ${gets} GETs`)
  }
  return res
}

// ---------------------------------------------------------------------------------------- report

export function printKuboTable (res: KuboResults): void {
  const s = res.sizes
  const v = res.values
  const label = fmtBytes(s.size)
  const def = fmtBytes(res.defaultCacheBytes)
  const big = fmtBytes(s.cacheBytes)
  const vs = (m: Metric, ref: 'fs-put' | 'fs-get'): string => {
    const a = v[m]
    const b = v[ref]
    return a === undefined || b === undefined ? '—' : `${fmtRatio(a / b)} fs ${ref === 'fs-put' ? 'PUT' : 'GET'}`
  }
  const body: string[][] = [
    [`fs: PUT ${label} (FsBlockstore + SQLite)`, 'MB/s', fmtNum(v['fs-put']), ''],
    ['fs: GET (verified; page cache not dropped)', 'MB/s', fmtNum(v['fs-get']), ''],
    [`Kubo: PUT ${label} (blocks 4 in flight, root pinned)`, 'MB/s', fmtNum(v.put), vs('put', 'fs-put')],
    [`Kubo: GET cold, fresh process (serve's ${def} cache)`, 'MB/s', fmtNum(v.cold), vs('cold', 'fs-get')],
    [`Kubo: GET again, same process (${def} cache ${s.size <= res.defaultCacheBytes ? 'holds' : 'is smaller than'} the object)`, 'MB/s', fmtNum(v.again), vs('again', 'fs-get')],
    [`Kubo: GET cold, fresh process with a ${big} cache (filling it)`, 'MB/s', fmtNum(v.fill), vs('fill', 'fs-get')],
    ['Kubo: GET warm, same process (the object in its cache)', 'MB/s', fmtNum(v.warm), vs('warm', 'fs-get')],
    [`node alone: block/put ${label} in 1 MiB raw blocks, ${s.inFlight} in flight`, 'MB/s', fmtNum(v['node-put']), vs('node-put', 'fs-put')],
    [`node alone: block/get of those blocks, ${s.inFlight} in flight`, 'MB/s', fmtNum(v['node-get']), vs('node-get', 'fs-get')],
    ['peak RSS, fs gateway during PUT + GET', 'MB', fmtNum(res.rss.fs), ''],
    [`peak RSS, ${big}-cache gateway during its two GETs`, 'MB', fmtNum(res.rss.warm), ''],
    ['js-ipfs RSS at the end (its peak)', 'MB', `${fmtNum(res.rss.node)} (${fmtNum(res.rss.nodePeak)})`, ''],
  ]
  const header = [`kubo: workload — ${res.agent ?? 'js-ipfs'} over the Kubo RPC`, 'unit', 'value', 'vs fs']
  const widths = header.map((h, i) => Math.max(h.length, ...body.map(b => b[i].length)))
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i], i === 2)).join(' | ')
  console.log('')
  console.log(line(header))
  console.log(widths.map(w => '-'.repeat(w)).join('-|-'))
  for (const b of body) console.log(line(b))
  const share = (a: number | undefined, b: number | undefined): string => a === undefined || b === undefined ? '—' : fmtRatio(a / b)
  console.log(`  medians of ${res.reps}; MB = 10^6 bytes. Kubo PUT runs at ${share(v.put, v['node-put'])} the node's own block/put rate and ` +
    `Kubo GET cold at ${share(v.cold, v['node-get'])} its block/get: the node alone vs fs is the part of the gap the gateway cannot close.`)
  console.log('  every gateway: bench/gateway-server.ts (startServer, as `serve` runs it) from source through tsx, a child process; ' +
    'the node: js-ipfs offline on a fresh repo (test/helpers/js-ipfs.ts), in its own process.')
}

/** The section's one natural verdict: a cache that holds the object makes the second read faster. */
export function kuboVerdicts (res: KuboResults | undefined,
  verdict: (name: string, ok: boolean | undefined, detail: string) => void): void {
  const name = 'kubo: GET warm (object in the block cache) ≥ GET cold'
  const warm = res?.values.warm
  const cold = res?.values.cold
  if (warm === undefined || cold === undefined) { verdict(name, undefined, res?.skipped ?? 'not measured'); return }
  const fill = res?.values.fill
  verdict(name, warm >= cold, `${fmtNum(warm)} vs ${fmtNum(cold)} MB/s = ${fmtRatio(warm / cold)}` +
    (fill === undefined ? '' : `; the same process's cold GET ${fmtNum(fill)} MB/s`))
}
