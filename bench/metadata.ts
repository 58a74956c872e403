/**
 * The metadata section of `npm run bench`: the standalone server with its metadata in SQLite and in
 * PostgreSQL, as one process and as three, in the same run.
 *
 * Four configurations of `node dist/cli.js serve`, each with a fresh data dir (and for PostgreSQL a
 * fresh schema, dropped afterwards), all started before the first measurement:
 *
 * - SQLite ×1: one process, `<data-dir>/meta.db`;
 * - PG ×1: one process, `--metadata postgres://…?schema=<random>`;
 * - PG ×3: three processes sharing a schema and one data dir (the blocks);
 * - SQLite ×3: three processes sharing one data dir, so one meta.db in WAL mode.
 *
 * With three processes one client pool per process is used and requests go round-robin; a GET goes
 * to the process after the one that took the key's PUT and a HEAD to the one after that, so every
 * GET and HEAD also checks that a write made through one process is seen by another.
 *
 * Then each configuration's listing bucket is filled with tiny objects (distinct bodies, so distinct
 * blocks and reference counts), many PUTs in flight, and ListObjectsV2 pages of 1,000 keys (the first, and one
 * from the middle by start-after) are timed one request at a time, the configurations interleaved.
 * The whole listing is walked once by continuation token (across processes for ×3) and checked.
 * PostgreSQL plans each page from its statistics of the tables, which only ANALYZE (or autovacuum,
 * if the cluster runs it) makes: its pages are timed as the gateway left the tables, and again after
 * an ANALYZE of the schema's tables, with the planner's row estimate reported.
 *
 * During every measured phase the CPU taken by the servers, the client (this process), PostgreSQL
 * (when it runs on this machine: the backends serving these servers, found by the client port in
 * their process titles, and its background processes) and the machine as a whole is read from
 * /proc, to tell a saturated or shared machine from a slow server.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpus } from 'node:os'
import pg from 'pg'
import { BenchClient, s3Error, xmlElement } from './client.js'
import { addCpu, cpuBetween, cpuSample, fmtCpu, type CpuShare } from './cpu.js'
import { METADATA_TARGETS } from './limits.js'
import type { SectionContext } from './multipart.js'
import { makeTempDir, onCleanupSync, removeTempDir, ROOT, startOurs, type Target } from './targets.js'
import { fmtBytes, fmtNum, fmtRatio, median, pad, runPool } from './util.js'

export interface MetadataSizes {
  /** 4 KiB objects per PUT / GET / HEAD phase */
  count: number
  size: number
  /** requests in flight in those phases */
  concurrency: number
  /** keys in the listing bucket */
  keys: number
  /** PUTs in flight while filling it */
  fillConcurrency: number
  /** the longest a configuration's fill may take, s (fewer keys are listed, and said so, if it takes longer) */
  fillSeconds: number
  /** timed requests per listing page and configuration (the median is reported) */
  listReps: number
}

/** What the section needs beyond the other sections' context. */
export interface MetadataContext extends SectionContext {
  region: string
  fromSource: boolean
  /** postgres://user@host:port/db, without a schema */
  pgUrl: string
  /** builds dist/ once (unless running from source) */
  ensureDist: () => Promise<void>
}

export type ConfigId = 'sqlite1' | 'pg1' | 'pg3' | 'sqlite3'
interface Config { id: ConfigId, label: string, store: 'sqlite' | 'pg', procs: number }
const CONFIGS: Config[] = [
  { id: 'sqlite1', label: 'SQLite ×1', store: 'sqlite', procs: 1 },
  { id: 'pg1', label: 'PG ×1', store: 'pg', procs: 1 },
  { id: 'pg3', label: 'PG ×3', store: 'pg', procs: 3 },
  { id: 'sqlite3', label: 'SQLite ×3', store: 'sqlite', procs: 3 },
]

type Op = 'put' | 'get' | 'head'
const OPS: Op[] = ['put', 'get', 'head']
type Page = 'first' | 'middle'
const PAGES: Page[] = ['first', 'middle']
/** `list-*-analyzed`: PostgreSQL only, timed again after ANALYZE of the schema's tables */
type Metric = Op | 'fill' | `list-${Page}` | `list-${Page}-analyzed`

export interface MetadataResults {
  sizes: MetadataSizes
  values: Record<ConfigId, Partial<Record<Metric, number>>>
  /** keys actually in each configuration's listing bucket */
  keys: Partial<Record<ConfigId, number>>
  cpu: Record<ConfigId, Partial<Record<Op | 'fill', CpuShare>>>
  ran: ConfigId[]
}

const SMALL_BUCKET = 'bench-meta-small'
const LIST_BUCKET = 'bench-meta-list'
const smallKey = (i: number): string => `small/obj-${String(i).padStart(6, '0')}`
const listKey = (i: number): string => `key-${String(i).padStart(7, '0')}`
const fmtCount = (k: number): string => k.toLocaleString('en-US')
const fmtK = (k: number): string => k >= 1000 && k % 1000 === 0 ? `${k / 1000}k` : fmtCount(k)

// ---------------------------------------------------------------------------------------- PostgreSQL

/** The URL with `?schema=` set (any other query parameters kept). */
function withSchema (url: string, schema: string): string {
  const u = new URL(url)
  u.searchParams.set('schema', schema)
  return u.toString()
}

/** The URL pg connects with: the schema parameter is ours, not libpq's. */
function connectionUrl (url: string): string {
  const u = new URL(url)
  u.searchParams.delete('schema')
  return u.toString()
}

async function pgQuery<R extends pg.QueryResultRow = pg.QueryResultRow> (url: string, sql: string, values?: unknown[]): Promise<R[]> {
  const c = new pg.Client({ connectionString: connectionUrl(url), connectionTimeoutMillis: 5000 })
  await c.connect()
  try { return (await c.query<R>(sql, values)).rows } finally { await c.end() }
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`

interface TableStats { relname: string, reltuples: number, live: number, analyzed: string | null, autovacuum: string }

/** The planner's view of a schema's tables: its row estimate, the live rows, when last analyzed. */
async function tableStats (url: string, schema: string): Promise<TableStats[]> {
  return pgQuery<TableStats>(url, `SELECT c.relname, c.reltuples::float8 AS reltuples, coalesce(s.n_live_tup, 0)::float8 AS live,
      greatest(s.last_analyze, s.last_autoanalyze)::text AS analyzed, current_setting('autovacuum') AS autovacuum
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
    WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY coalesce(s.n_live_tup, 0) DESC`, [schema])
}

/** ANALYZE of every table in the schema (whatever the store named them). */
async function analyzeSchema (url: string, schema: string): Promise<void> {
  for (const t of await tableStats(url, schema)) await pgQuery(url, `ANALYZE ${quoteIdent(schema)}.${quoteIdent(t.relname)}`)
}

const dropSql = (schema: string): string => `DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`

/** Last resort on exit or a signal: drops the schema from a child process (cleanup must be synchronous there). */
function dropSchemaSync (url: string, schema: string): void {
  const script = 'const pg = require("pg"); const c = new pg.Client({ connectionString: process.argv[1] }); ' +
    'c.connect().then(() => c.query(process.argv[2])).finally(() => c.end())'
  spawnSync(process.execPath, ['-e', script, connectionUrl(url), dropSql(schema)], { cwd: ROOT, stdio: 'ignore', timeout: 10_000 })
}

// ---------------------------------------------------------------------------------------- configurations

interface Running {
  cfg: Config
  servers: Target[]
  clients: BenchClient[]
  dataDir: string
  schema?: string
  /** why the configuration stopped being measured */
  broken?: string
}

async function startConfig (ctx: MetadataContext, cfg: Config, pgUrl: string, schemas: Set<string>): Promise<Running> {
  const dataDir = makeTempDir(`meta-${cfg.id}`)
  const r: Running = { cfg, servers: [], clients: [], dataDir }
  let metadataUrl: string | undefined
  if (cfg.store === 'pg') {
    r.schema = `bench_meta_${cfg.id}_${randomBytes(4).toString('hex')}`
    schemas.add(r.schema)
    metadataUrl = withSchema(pgUrl, r.schema)
  }
  try {
    // one at a time: the first creates meta.db or the schema
    for (let p = 0; p < cfg.procs; p++) {
      const t = await startOurs({ region: ctx.region, fromSource: ctx.fromSource, dataDir, metadataUrl })
      r.servers.push(t)
      r.clients.push(new BenchClient({ endpoint: t.endpoint, accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey, region: ctx.region, connections: 64 }))
    }
    await r.clients[0].createBucket(SMALL_BUCKET)
    await r.clients[r.clients.length - 1].createBucket(LIST_BUCKET)
  } catch (err) {
    await stopConfig(r)
    throw err
  }
  return r
}

async function stopConfig (r: Running): Promise<void> {
  for (const c of r.clients) await c.destroy().catch(() => undefined)
  for (const t of r.servers) await t.stop().catch(() => undefined)
  removeTempDir(r.dataDir)
}

/** The first server of `r` that exited, with its last output; undefined while all run. */
function exited (r: Running): string | undefined {
  const t = r.servers.find(s => !s.alive())
  if (t === undefined) return undefined
  return `${r.cfg.label}: server pid ${t.pid} exited; last output: ${t.logTail().trim().split('\n').slice(-8).join(' | ')}`
}

// ---------------------------------------------------------------------------------------- listing

const keysOf = (xml: string): string[] => [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map(m => m[1])

/** Checks one page against the keys 0..keys-1; a message when it is wrong. */
function checkPage (page: Page, xml: string, keys: number): string | undefined {
  const got = keysOf(xml)
  const from = page === 'first' ? 0 : (keys >> 1) + 1
  const want = Math.max(0, Math.min(1000, keys - from))
  if (got.length !== want) return `${page} page: ${got.length} keys, expected ${want}`
  if (want > 0 && (got[0] !== listKey(from) || got[want - 1] !== listKey(from + want - 1))) {
    return `${page} page: keys ${got[0]} … ${got[want - 1]}, expected ${listKey(from)} … ${listKey(from + want - 1)}`
  }
  return undefined
}

const pageParams = (page: Page, keys: number): Record<string, string> =>
  page === 'first' ? { 'max-keys': '1000' } : { 'max-keys': '1000', 'start-after': listKey(keys >> 1) }

/** Walks the whole listing by continuation token, the pages round-robin over the processes. */
async function walkListing (r: Running, keys: number): Promise<string | undefined> {
  let token: string | undefined
  let count = 0
  let last = ''
  for (let page = 0; ; page++) {
    const c = r.clients[page % r.clients.length]
    const xml = await c.listV2(LIST_BUCKET, token === undefined ? { 'max-keys': '1000' } : { 'max-keys': '1000', 'continuation-token': token })
    for (const k of keysOf(xml)) {
      if (k <= last) return `key ${k} listed after ${last}`
      if (k !== listKey(count)) return `key ${count} listed as ${k}, expected ${listKey(count)}`
      last = k
      count++
    }
    if (xmlElement(xml, 'IsTruncated') !== 'true') break
    token = xmlElement(xml, 'NextContinuationToken')
    if (token === undefined) return `page ${page + 1} truncated without NextContinuationToken`
    if (count > keys) break
  }
  return count === keys ? undefined : `${fmtCount(count)} keys listed, ${fmtCount(keys)} PUT`
}

// ---------------------------------------------------------------------------------------- section

export async function sectionMetadata (ctx: MetadataContext, s: MetadataSizes): Promise<MetadataResults | undefined> {
  if (!ctx.targets.includes('ours')) return undefined
  const results: MetadataResults = {
    sizes: s,
    values: { sqlite1: {}, pg1: {}, pg3: {}, sqlite3: {} },
    keys: {},
    cpu: { sqlite1: {}, pg1: {}, pg3: {}, sqlite3: {} },
    ran: [],
  }
  const fail = (r: Running, what: string, err: unknown): void => {
    r.broken ??= what
    ctx.failed('ours', `metadata ${r.cfg.label} ${what}`, s3Error(err))
  }

  let pgOk = true
  try {
    await pgQuery(ctx.pgUrl, 'SELECT 1')
  } catch (err) {
    pgOk = false
    ctx.note(`metadata: PostgreSQL configurations not run — cannot connect to ${ctx.pgUrl}: ${(err as Error).message}`)
  }
  await ctx.ensureDist()

  const schemas = new Set<string>()
  const unregister = onCleanupSync(() => { for (const sc of schemas) dropSchemaSync(ctx.pgUrl, sc) })
  const running: Running[] = []
  try {
    for (const cfg of CONFIGS) {
      if (cfg.store === 'pg' && !pgOk) continue
      try {
        ctx.log(`metadata: starting ${cfg.label}`)
        const r = await startConfig(ctx, cfg, ctx.pgUrl, schemas)
        running.push(r)
        results.ran.push(cfg.id)
        ctx.log(`metadata: ${cfg.label} up (pids ${r.servers.map(t => t.pid).join(', ')}; data dir ${r.dataDir}${r.schema === undefined ? '' : `, schema ${r.schema}`})`)
      } catch (err) {
        ctx.note(`metadata: ${cfg.label} did not start — ${(err as Error).message.split('\n').slice(0, 4).join(' | ')}`)
      }
    }
    const usable = (): Running[] => running.filter(r => {
      if (r.broken !== undefined) return false
      const gone = exited(r)
      if (gone !== undefined) { r.broken = 'exited'; ctx.note(gone) }
      return r.broken === undefined
    })
    const pids = (r: Running): number[] => r.servers.map(t => t.pid)
    const pgPort = Number(new URL(ctx.pgUrl).port || 5432)
    const n = (r: Running): number => r.clients.length

    // warm-up (JIT, connections, prepared statements), on every process — not measured
    for (const r of usable()) {
      try {
        const warm = randomBytes(s.size)
        await runPool(200, s.concurrency, Date.now() + 60_000, async i => { await r.clients[i % n(r)].put(SMALL_BUCKET, `warm/${i}`, warm) }, 1)
          .then(x => { if (x.errors > 0) throw new Error(`warm-up PUT: ${x.firstError ?? ''}`) })
        await runPool(200, s.concurrency, Date.now() + 60_000, async i => { await r.clients[(i + 1) % n(r)].get(SMALL_BUCKET, `warm/${i}`) }, 1)
          .then(x => { if (x.errors > 0) throw new Error(`warm-up GET: ${x.firstError ?? ''}`) })
        await runPool(200, s.concurrency, Date.now() + 60_000, async i => { await r.clients[(i + 2) % n(r)].head(SMALL_BUCKET, `warm/${i}`) }, 1)
          .then(x => { if (x.errors > 0) throw new Error(`warm-up HEAD: ${x.firstError ?? ''}`) })
      } catch (err) {
        fail(r, 'warm-up', err)
      }
    }

    // ---- 4 KiB PUT / GET / HEAD, the configurations interleaved
    const label = `${fmtCount(s.count)} × ${fmtBytes(s.size)} @${s.concurrency}`
    const rates: Record<ConfigId, Partial<Record<Op, number[]>>> = { sqlite1: {}, pg1: {}, pg3: {}, sqlite3: {} }
    let outOfTime = false
    for (let rep = 0; rep < ctx.reps && !outOfTime; rep++) {
      // distinct bodies per key and per repetition: equal bodies would share one block and one reference count
      const all = randomBytes(s.count * s.size)
      const body = (i: number): Buffer => all.subarray(i * s.size, (i + 1) * s.size)
      const order = usable()
      for (let j = 0; j < order.length; j++) {
        const r = order[(j + rep) % order.length]
        if (r.broken !== undefined) continue
        if (ctx.secondsLeft() < 60) { ctx.note(`metadata: 4 KiB phases stopped at rep ${rep + 1} (time bound)`); outOfTime = true; break }
        const fn: Record<Op, (i: number) => Promise<void>> = {
          put: async i => { await r.clients[i % n(r)].put(SMALL_BUCKET, smallKey(i), body(i)) },
          get: async i => {
            const parts: Uint8Array[] = []
            const got = await r.clients[(i + 1) % n(r)].get(SMALL_BUCKET, smallKey(i), c => parts.push(c))
            if (got !== s.size) throw new Error(`GET ${smallKey(i)}: ${got} bytes, expected ${s.size}`)
            if (!Buffer.concat(parts).equals(body(i))) throw new Error(`GET ${smallKey(i)}: content differs from the PUT's`)
          },
          head: async i => {
            const len = await r.clients[(i + 2) % n(r)].head(SMALL_BUCKET, smallKey(i))
            if (len !== s.size) throw new Error(`HEAD ${smallKey(i)}: Content-Length ${len}, expected ${s.size}`)
          },
        }
        const line: string[] = []
        for (const op of OPS) {
          const c0 = cpuSample(pids(r), pgPort)
          const x = await runPool(s.count, s.concurrency, Math.min(Date.now() + 300_000, Date.now() + ctx.secondsLeft() * 1000), fn[op])
          const c1 = cpuSample(pids(r), pgPort)
          if (x.errors > 0 || x.timedOut) {
            fail(r, `${op.toUpperCase()} ${label}`, new Error(`${x.errors} errors${x.timedOut ? ', timed out' : ''}` +
              `${x.firstError !== undefined ? ` (first: ${x.firstError})` : ''}; ${x.done} done`))
            break
          }
          const ops = x.done / x.seconds
          ;(rates[r.cfg.id][op] ??= []).push(ops)
          results.cpu[r.cfg.id][op] = addCpu(results.cpu[r.cfg.id][op], cpuBetween(c0, c1))
          line.push(`${op.toUpperCase()} ${fmtNum(ops)}`)
        }
        ctx.log(`metadata ${r.cfg.label} ${label} rep ${rep + 1}: ${line.join(', ')} ops/s`)
      }
    }
    for (const r of running) for (const op of OPS) {
      const xs = rates[r.cfg.id][op]
      if (xs !== undefined && xs.length > 0) results.values[r.cfg.id][op] = median(xs)
    }

    // ---- fill the listing buckets, one configuration at a time
    for (const r of usable()) {
      const budget = Math.min(s.fillSeconds, ctx.secondsLeft() - 60 - 20 * running.length)
      if (budget < 10) { ctx.note(`metadata: ${r.cfg.label} listing bucket not filled (time bound)`); continue }
      ctx.log(`metadata ${r.cfg.label}: filling ${LIST_BUCKET} with ${fmtCount(s.keys)} keys, ${s.fillConcurrency} PUTs in flight (budget ${Math.round(budget)} s)`)
      const c0 = cpuSample(pids(r), pgPort)
      // 8 distinct bytes per key: distinct blocks, as distinct objects have
      const x = await runPool(s.keys, s.fillConcurrency, Date.now() + budget * 1000,
        async i => { await r.clients[i % n(r)].put(LIST_BUCKET, listKey(i), Buffer.from(String(i).padStart(8, '0'))) })
      const c1 = cpuSample(pids(r), pgPort)
      if (x.errors > 0) { fail(r, 'fill', new Error(`${x.errors} errors (first: ${x.firstError ?? ''}) after ${x.done} keys`)); continue }
      results.values[r.cfg.id].fill = x.done / x.seconds
      results.cpu[r.cfg.id].fill = cpuBetween(c0, c1)
      results.keys[r.cfg.id] = x.done
      if (x.timedOut) ctx.note(`metadata: ${r.cfg.label} filled ${fmtCount(x.done)} of ${fmtCount(s.keys)} keys within its ${Math.round(budget)} s budget; its pages are timed at ${fmtCount(x.done)} keys`)
      ctx.log(`metadata ${r.cfg.label}: ${fmtCount(x.done)} keys in ${Math.round(x.seconds)} s, ${fmtNum(x.done / x.seconds)} PUT/s`)
    }

    // ---- listing pages, checked once, then timed one at a time, the configurations interleaved
    const listable = usable().filter(r => results.keys[r.cfg.id] !== undefined)
    for (const r of listable) {
      const keys = results.keys[r.cfg.id]!
      try {
        const bad = await walkListing(r, keys)
        ctx.check(`metadata ${r.cfg.label}: ListObjectsV2 walked by continuation token${n(r) > 1 ? ' across the processes' : ''} = the ${fmtCount(keys)} keys PUT`,
          bad === undefined, bad ?? `${Math.ceil(keys / 1000)} pages, every key once, in order`)
        for (const page of PAGES) {
          for (let w = 0; w < 3 * n(r); w++) {
            const xml = await r.clients[w % n(r)].listV2(LIST_BUCKET, pageParams(page, keys))
            const wrong = checkPage(page, xml, keys)
            if (wrong !== undefined) throw new Error(`from process ${w % n(r) + 1}: ${wrong}`)
          }
        }
      } catch (err) {
        fail(r, 'listing check', err)
      }
    }
    const timePages = async (set: Running[], suffix: '' | '-analyzed'): Promise<void> => {
      const times: Record<ConfigId, Record<Page, number[]>> = {
        sqlite1: { first: [], middle: [] }, pg1: { first: [], middle: [] }, pg3: { first: [], middle: [] }, sqlite3: { first: [], middle: [] },
      }
      for (let rep = 0; rep < s.listReps; rep++) {
        if (ctx.secondsLeft() < 20) { ctx.note(`metadata: listing${suffix === '' ? '' : ' after ANALYZE'} stopped at rep ${rep + 1} (time bound)`); break }
        for (let j = 0; j < set.length; j++) {
          const r = set[(j + rep) % set.length]
          if (r.broken !== undefined) continue
          const keys = results.keys[r.cfg.id]!
          for (const page of PAGES) {
            try {
              const t0 = performance.now()
              await r.clients[rep % n(r)].listV2(LIST_BUCKET, pageParams(page, keys))
              times[r.cfg.id][page].push(performance.now() - t0)
            } catch (err) {
              fail(r, `list ${page} page`, err)
            }
          }
        }
      }
      for (const r of set) {
        for (const page of PAGES) if (times[r.cfg.id][page].length > 0) results.values[r.cfg.id][`list-${page}${suffix}`] = median(times[r.cfg.id][page])
        ctx.log(`metadata ${r.cfg.label} @${fmtK(results.keys[r.cfg.id]!)} keys${suffix === '' ? '' : ' after ANALYZE'}: ` +
          `first page ${fmtNum(results.values[r.cfg.id][`list-first${suffix}`])} ms, middle page ${fmtNum(results.values[r.cfg.id][`list-middle${suffix}`])} ms ` +
          `(${times[r.cfg.id].first.length} reps)`)
      }
    }
    await timePages(listable, '')
    // PostgreSQL plans a listing from its statistics of the table, which ANALYZE (or autovacuum) makes
    const pgListable = listable.filter(r => r.schema !== undefined && r.broken === undefined)
    for (const r of pgListable) {
      try {
        const stats = await tableStats(ctx.pgUrl, r.schema!)
        const big = stats[0]
        if (big !== undefined) {
          ctx.note(`metadata: ${r.cfg.label} pages first timed with the planner's statistics as the gateway left them — autovacuum ${big.autovacuum} on this cluster; ` +
            `largest table "${big.relname}": ${fmtCount(big.live)} live rows, planner's row estimate ${big.reltuples < 0 ? 'none (never analyzed)' : fmtCount(big.reltuples)}, ` +
            `last analyzed ${big.analyzed ?? 'never'}; then again after ANALYZE of the schema's ${stats.length} tables`)
        }
        await analyzeSchema(ctx.pgUrl, r.schema!)
      } catch (err) {
        fail(r, 'ANALYZE', err)
      }
    }
    await timePages(pgListable.filter(r => r.broken === undefined), '-analyzed')
    for (const r of running) {
      const gone = exited(r)
      if (gone !== undefined && r.broken === undefined) ctx.note(gone)
    }
  } finally {
    for (const r of running) await stopConfig(r)
    for (const sc of schemas) {
      try {
        await pgQuery(ctx.pgUrl, dropSql(sc))
        schemas.delete(sc)
      } catch (err) {
        ctx.note(`metadata: could not drop schema ${sc}: ${(err as Error).message}`)
      }
    }
    unregister()
  }
  const cpuLines = results.ran.map(id => {
    const cfg = CONFIGS.find(c => c.id === id)!
    const per = (['put', 'get', 'head', 'fill'] as const).filter(k => results.cpu[id][k] !== undefined)
      .map(k => `${k === 'fill' ? 'fill' : `4 KiB ${k.toUpperCase()}`}: ${fmtCpu(results.cpu[id][k])}`)
    return `${cfg.label} — ${per.join('; ')}`
  })
  ctx.note(`metadata: ops/s are medians of ${ctx.reps} repetitions, page latencies medians of up to ${s.listReps} requests sent one at a time; ` +
    'with three processes one undici pool per process, requests round-robin, a GET and a HEAD sent to a different process than the PUT of their key.')
  if (cpuLines.length > 0) ctx.note(`metadata: CPU in cores during the phases (from /proc, all reps) — ${cpuLines.join(' // ')}`)
  return results
}

// ---------------------------------------------------------------------------------------- report

const METRIC_LABEL = (s: MetadataSizes, keys: number): Record<Metric, string> => ({
  put: `PUT ${fmtCount(s.count)} × ${fmtBytes(s.size)} @${s.concurrency}`,
  get: `GET ${fmtCount(s.count)} × ${fmtBytes(s.size)} @${s.concurrency} (verified)`,
  head: `HEAD ${fmtCount(s.count)} × ${fmtBytes(s.size)} @${s.concurrency}`,
  fill: `fill to ${fmtK(keys)} keys (8 B PUTs @${s.fillConcurrency})`,
  'list-first': `ListObjectsV2 first page (1,000) @${fmtK(keys)}`,
  'list-middle': `ListObjectsV2 middle page (start-after) @${fmtK(keys)}`,
  'list-first-analyzed': '  first page after ANALYZE (PostgreSQL)',
  'list-middle-analyzed': '  middle page after ANALYZE (PostgreSQL)',
})
const UNIT: Record<Metric, string> = {
  put: 'ops/s', get: 'ops/s', head: 'ops/s', fill: 'PUT/s', 'list-first': 'ms', 'list-middle': 'ms', 'list-first-analyzed': 'ms', 'list-middle-analyzed': 'ms',
}

/** The section's own table: one column per configuration, then the ratios of their values. */
export function printMetadataTable (res: MetadataResults): void {
  const v = (id: ConfigId, m: Metric): number | undefined => res.values[id][m]
  const ratio = (a: number | undefined, b: number | undefined): string => a === undefined || b === undefined ? '—' : fmtRatio(a / b)
  const keyCounts = [...new Set(Object.values(res.keys))]
  const labels = METRIC_LABEL(res.sizes, keyCounts.length === 1 ? keyCounts[0] : res.sizes.keys)
  const header = ['metadata: workload', 'unit', ...CONFIGS.map(c => c.label), 'PG/SQLite ×1', 'PG/SQLite ×3', 'PG ×3/×1', 'SQLite ×3/×1']
  const metrics: Metric[] = ['put', 'get', 'head', 'fill', 'list-first', 'list-middle', 'list-first-analyzed', 'list-middle-analyzed']
  const body = metrics.map(m => [labels[m], UNIT[m], ...CONFIGS.map(c => fmtNum(v(c.id, m))),
    ratio(v('pg1', m), v('sqlite1', m)), ratio(v('pg3', m), v('sqlite3', m)), ratio(v('pg3', m), v('pg1', m)), ratio(v('sqlite3', m), v('sqlite1', m))])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map(b => b[i].length)))
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i], i >= 2)).join(' | ')
  console.log('')
  console.log(line(header))
  console.log(widths.map(w => '-'.repeat(w)).join('-|-'))
  for (const b of body) console.log(line(b))
  if (keyCounts.length > 1) {
    console.log(`  keys listed: ${res.ran.map(id => `${CONFIGS.find(c => c.id === id)!.label} ${fmtCount(res.keys[id] ?? 0)}`).join(', ')}`)
  }
  console.log('  ratios are of the values (ops/s: higher is better; ms: lower is better).')
}

/** The PASS/MISS lines of the section's targets (METADATA_TARGETS in bench/limits.ts). */
export function metadataVerdicts (res: MetadataResults | undefined,
  verdict: (name: string, ok: boolean | undefined, detail: string) => void): void {
  const v = (id: ConfigId, m: Metric): number | undefined => res?.values[id][m]
  const T = METADATA_TARGETS
  for (const id of ['pg1', 'pg3'] as const) {
    const cfg = CONFIGS.find(c => c.id === id)!
    const keys = res?.keys[id] ?? res?.sizes.keys ?? 0
    for (const page of PAGES) {
      const name = `metadata ${cfg.label}: ListObjectsV2 ${page} page @${fmtK(keys)} keys < ${T.listPageMs} ms`
      const ms = v(id, `list-${page}`)
      if (ms === undefined) { verdict(name, undefined, 'not measured'); continue }
      const sq = v(id === 'pg1' ? 'sqlite1' : 'sqlite3', `list-${page}`)
      const analyzed = v(id, `list-${page}-analyzed`)
      verdict(name, ms < T.listPageMs, `${fmtNum(ms)} ms (${ms < T.listPageMs ? `${fmtNum(T.listPageMs - ms)} ms to spare` : `${fmtNum(ms - T.listPageMs)} ms over`})` +
        (analyzed === undefined ? '' : `; after ANALYZE ${fmtNum(analyzed)} ms`) + (sq === undefined ? '' : `; SQLite ${fmtNum(sq)} ms`))
    }
  }
  for (const op of OPS) {
    const name = `metadata PG ×1 4 KiB ${op.toUpperCase()} ≥ ${T.pgVsSqlite}× SQLite ×1`
    const p = v('pg1', op)
    const q = v('sqlite1', op)
    if (p === undefined || q === undefined) { verdict(name, undefined, 'not measured'); continue }
    verdict(name, p >= q * T.pgVsSqlite, `${fmtNum(p)} vs SQLite ${fmtNum(q)} ops/s = ${fmtRatio(p / q)} (needed ${fmtRatio(T.pgVsSqlite)})`)
  }
  const name = `metadata PG ×3 4 KiB GET ≥ ${T.threeVsOneGet}× PG ×1`
  const three = v('pg3', 'get')
  const one = v('pg1', 'get')
  if (three === undefined || one === undefined) verdict(name, undefined, 'not measured')
  else {
    const c3 = res?.cpu.pg3.get
    verdict(name, three >= one * T.threeVsOneGet, `${fmtNum(three)} vs ${fmtNum(one)} ops/s = ${fmtRatio(three / one)} (needed ${fmtRatio(T.threeVsOneGet)})` +
      (c3 === undefined ? '' : `; during PG ×3 GET the machine had ${fmtNum(c3.machine)} of ${cpus().length} cores busy`))
  }
}
