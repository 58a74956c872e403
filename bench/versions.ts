/**
 * The versions section of `npm run bench`: do a key's old versions slow down its latest one?
 *
 * In a versioning-enabled bucket, `d/deep` gets 10,000 versions and `s/shallow` one, each among the
 * same single-version neighbours (`a-*` sorting before it, `z-*` after); an unversioned bucket holds
 * the shallow layout again, as the reference. Four requests are timed one at a time, the three
 * cases interleaved: HEAD and GET of the latest version, the first ListObjectsV2 page of the key's
 * prefix, and a ListObjectVersions page from a key-marker + version-id-marker in the middle of the
 * deep key's versions (for the other two, in the middle of the `a-*` neighbours).
 *
 * Before the timing, the deep key's version listing is walked page by page and compared with the
 * version ids its PUTs returned, and each case's HEAD, GET and pages are checked once.
 */
import { randomBytes } from 'node:crypto'
import { s3Error, xmlElement, type BenchClient } from './client.js'
import { VERSIONS_TARGETS } from './limits.js'
import type { Live, SectionContext } from './multipart.js'
import type { TargetName } from './targets.js'
import { countOf, fmtNum, fmtRatio, median, runPool } from './util.js'

export interface VersionsSizes {
  /** versions of the deep key */
  deep: number
  /** single-version neighbours sorting before the deep (and the shallow) key in its prefix */
  before: number
  /** ... and after it */
  after: number
  /** body size of every version */
  size: number
  /** PUTs in flight while writing */
  concurrency: number
  /** max-keys of the ListObjectVersions pages (at most half the deep key's versions) */
  page: number
  /** timed requests per case and request kind (the median is reported) */
  reps: number
}

type Case = 'deep' | 'shallow' | 'plain'
type Op = 'head' | 'get' | 'list' | 'versions'
const CASES: Case[] = ['deep', 'shallow', 'plain']
const OPS: Op[] = ['head', 'get', 'list', 'versions']
const LIST_MAX_KEYS = 1000

const VERSIONED = 'bench-ver'
const UNVERSIONED = 'bench-ver-plain'
const LAYOUT: Record<Case, { bucket: string, prefix: string, key: string }> = {
  deep: { bucket: VERSIONED, prefix: 'd/', key: 'd/deep' },
  shallow: { bucket: VERSIONED, prefix: 's/', key: 's/shallow' },
  plain: { bucket: UNVERSIONED, prefix: 's/', key: 's/shallow' },
}
const neighbour = (prefix: string, side: 'a' | 'z', i: number): string => `${prefix}${side}-${String(i).padStart(5, '0')}`
const fmtCount = (k: number): string => k.toLocaleString('en-US')

interface ListedVersion { key: string, versionId: string, isLatest: boolean }

function versionsOf (xml: string): ListedVersion[] {
  return [...xml.matchAll(/<Version>([\s\S]*?)<\/Version>/g)].map(m => ({
    key: xmlElement(m[1], 'Key') ?? '',
    versionId: xmlElement(m[1], 'VersionId') ?? '',
    isLatest: xmlElement(m[1], 'IsLatest') === 'true',
  }))
}

/** What a case's timed requests need, found while writing and checking. */
interface Prepared {
  /** the latest version: its bytes and the id its PUT returned */
  body: Buffer
  versionId: string | undefined
  /** where the timed version page starts */
  marker: { key: string, versionId: string }
  /** the version id that page must start with (deep only) */
  first?: string
}

/** PUTs distinct random bodies to `keys`, `concurrency` in flight; throws on the first error. */
async function putKeys (c: BenchClient, bucket: string, count: number, key: (i: number) => string,
  s: VersionsSizes, deadline: number): Promise<{ rate: number, versionIds: string[] }> {
  const versionIds: string[] = []
  const r = await runPool(count, s.concurrency, deadline, async i => {
    const v = await c.putVersion(bucket, key(i), randomBytes(s.size)).catch(err => { throw s3Error(err) })
    versionIds.push(v.versionId ?? '(none)')
  }, 1)
  if (r.errors > 0) throw new Error(`PUT ${key(0)}…: ${r.firstError ?? 'failed'}`)
  if (r.timedOut) throw new Error(`PUT ${key(0)}…: time bound reached after ${r.done} of ${count}`)
  return { rate: r.done / r.seconds, versionIds }
}

/** Every version of `key`, following NextKeyMarker / NextVersionIdMarker, `page` at a time. */
async function walkVersions (c: BenchClient, bucket: string, key: string, page: number, expected: number): Promise<ListedVersion[]> {
  const all: ListedVersion[] = []
  let params: Record<string, string> = { prefix: key, 'max-keys': String(page) }
  for (;;) {
    const xml = await c.listVersions(bucket, params)
    all.push(...versionsOf(xml))
    if (xmlElement(xml, 'IsTruncated') !== 'true') return all
    if (all.length > 2 * expected) throw new Error(`version listing of ${key} still truncated after ${all.length} versions`)
    const nextKey = xmlElement(xml, 'NextKeyMarker')
    const nextId = xmlElement(xml, 'NextVersionIdMarker')
    if (nextKey === undefined || nextId === undefined) {
      throw new Error(`truncated version listing of ${key} without NextKeyMarker / NextVersionIdMarker (after ${all.length} versions)`)
    }
    params = { prefix: key, 'max-keys': String(page), 'key-marker': nextKey, 'version-id-marker': nextId }
  }
}

function header (h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name]
  return Array.isArray(v) ? v[0] : v
}

/**
 * Writes a case's keys (the deep key's versions `concurrency` in flight, the last one alone so
 * it is known to be the latest) and finds where its version page starts.
 */
async function prepare (ctx: SectionContext, n: TargetName, c: BenchClient, cs: Case, s: VersionsSizes, deadline: number): Promise<Prepared> {
  const { bucket, prefix, key } = LAYOUT[cs]
  await putKeys(c, bucket, s.before, i => neighbour(prefix, 'a', i), s, deadline)
  await putKeys(c, bucket, s.after, i => neighbour(prefix, 'z', i), s, deadline)
  let putIds: string[] = []
  if (cs === 'deep') {
    // in tenths, to see whether writing the n-th version gets slower as n grows
    const rates: number[] = []
    const tenth = Math.ceil((s.deep - 1) / 10)
    for (let from = 0; from < s.deep - 1; from += tenth) {
      const count = Math.min(tenth, s.deep - 1 - from)
      const r = await putKeys(c, bucket, count, () => key, s, deadline)
      rates.push(r.rate)
      putIds.push(...r.versionIds)
    }
    ctx.record('ver-put-first', `PUT a new version of one key, 4 KiB @${s.concurrency}: versions 1–${fmtCount(tenth)}`, 'ops/s', n, rates[0])
    ctx.record('ver-put-last', `  versions ${fmtCount(s.deep - tenth)}–${fmtCount(s.deep - 1)}`, 'ops/s', n, rates[rates.length - 1])
    ctx.log(`${n}: ${fmtCount(s.deep - 1)} versions of ${key} written, ${rates.map(r => fmtNum(r)).join(', ')} PUT/s by tenths`)
  }
  const body = randomBytes(s.size)
  const last = await c.putVersion(bucket, key, body)
  putIds.push(last.versionId ?? '(none)')

  if (cs !== 'deep') {
    // the marker is the last entry of a page of half the a-* neighbours
    const xml = await c.listVersions(bucket, { prefix, 'max-keys': String(Math.max(1, s.before >> 1)) })
    const markerKey = xmlElement(xml, 'NextKeyMarker')
    const markerId = xmlElement(xml, 'NextVersionIdMarker')
    if (markerKey === undefined || markerId === undefined) {
      throw new Error(`ListObjectVersions prefix=${prefix} max-keys=${s.before >> 1} in ${bucket}: no NextKeyMarker / NextVersionIdMarker (IsTruncated ${xmlElement(xml, 'IsTruncated') ?? '(none)'})`)
    }
    return { body, versionId: last.versionId, marker: { key: markerKey, versionId: markerId } }
  }

  const listed = await walkVersions(c, bucket, key, s.page, s.deep)
  const problems: string[] = []
  if (listed.length !== s.deep) problems.push(`${fmtCount(listed.length)} versions listed, ${fmtCount(s.deep)} PUT`)
  if (listed.some(v => v.key !== key)) problems.push(`other keys listed: ${listed.find(v => v.key !== key)?.key ?? ''}`)
  const latest = listed.filter(v => v.isLatest)
  if (latest.length !== 1 || listed[0]?.versionId !== last.versionId || !listed[0].isLatest) {
    problems.push(`${latest.length} marked IsLatest; first listed ${listed[0]?.versionId ?? '(none)'}, last PUT returned ${last.versionId ?? '(none)'}`)
  }
  const ids = new Set(listed.map(v => v.versionId))
  if (ids.size !== listed.length) problems.push(`${listed.length - ids.size} version ids listed twice`)
  const missing = putIds.filter(id => !ids.has(id))
  if (missing.length > 0) problems.push(`${missing.length} version ids returned by PUT not listed (e.g. ${missing[0]})`)
  ctx.check(`${n}: ListObjectVersions of a key with ${fmtCount(s.deep)} versions, ${fmtCount(s.page)} a page = its PUTs`, problems.length === 0,
    problems.length === 0 ? `${fmtCount(listed.length)} distinct version ids in ${Math.ceil(listed.length / s.page)} pages, the first = the last PUT's` : problems.join('; '))
  const mid = (s.deep >> 1) - 1
  if (listed.length < mid + 1 + s.page) throw new Error(`only ${listed.length} versions of ${key} listed; cannot start a page of ${s.page} at the middle`)
  return { body, versionId: last.versionId, marker: { key, versionId: listed[mid].versionId }, first: listed[mid + 1].versionId }
}

/** One request of kind `op` for case `cs`; throws if the answer is not the expected one. */
async function request (c: BenchClient, op: Op, cs: Case, p: Prepared, s: VersionsSizes): Promise<void> {
  const { bucket, prefix, key } = LAYOUT[cs]
  if (op === 'head') {
    const size = await c.head(bucket, key)
    if (size !== s.size) throw new Error(`HEAD ${key}: Content-Length ${size}, expected ${s.size}`)
  } else if (op === 'get') {
    const size = await c.get(bucket, key)
    if (size !== s.size) throw new Error(`GET ${key}: ${size} bytes, expected ${s.size}`)
  } else if (op === 'list') {
    const xml = await c.listV2(bucket, { prefix, 'max-keys': String(LIST_MAX_KEYS) })
    const want = Math.min(LIST_MAX_KEYS, s.before + 1 + s.after)
    if (countOf(xml, '<Key>') !== want) throw new Error(`ListObjectsV2 prefix=${prefix}: ${countOf(xml, '<Key>')} keys, expected ${want}`)
  } else {
    const xml = await c.listVersions(bucket, { prefix, 'max-keys': String(s.page), 'key-marker': p.marker.key, 'version-id-marker': p.marker.versionId })
    if (countOf(xml, '<Version>') !== s.page) {
      throw new Error(`ListObjectVersions prefix=${prefix} key-marker=${p.marker.key} version-id-marker=${p.marker.versionId}: ${countOf(xml, '<Version>')} versions, expected ${s.page}`)
    }
  }
}

/** The contents of each case's answers, once: the latest version's bytes and id, the pages' first entries. */
async function verify (ctx: SectionContext, n: TargetName, c: BenchClient, cs: Case, p: Prepared, s: VersionsSizes): Promise<void> {
  const { bucket, prefix, key } = LAYOUT[cs]
  const problems: string[] = []
  const head = await c.headObject(bucket, key)
  const headId = header(head.headers, 'x-amz-version-id')
  if (head.size !== s.size) problems.push(`HEAD Content-Length ${head.size}`)
  if (cs !== 'plain' && headId !== p.versionId) problems.push(`HEAD x-amz-version-id ${headId ?? '(none)'}, last PUT returned ${p.versionId ?? '(none)'}`)
  const parts: Uint8Array[] = []
  await c.get(bucket, key, chunk => parts.push(chunk))
  if (!Buffer.concat(parts).equals(p.body)) problems.push('GET body is not the last PUT\'s')
  const list = await c.listV2(bucket, { prefix, 'max-keys': String(LIST_MAX_KEYS) })
  if (!list.includes(`<Key>${key}</Key>`)) problems.push(`ListObjectsV2 prefix=${prefix} first page lacks ${key}`)
  const page = versionsOf(await c.listVersions(bucket, { prefix, 'max-keys': String(s.page), 'key-marker': p.marker.key, 'version-id-marker': p.marker.versionId }))
  if (p.first !== undefined) {
    if (page[0]?.versionId !== p.first) problems.push(`version page starts with ${page[0]?.versionId ?? '(nothing)'}, expected ${p.first}`)
    if (page.some(v => v.key !== key || v.isLatest)) problems.push('version page holds other keys or the latest version')
  } else if (page.length === 0 || page[0].key <= p.marker.key) {
    problems.push(`version page starts with ${page[0]?.key ?? '(nothing)'}, after key-marker ${p.marker.key}`)
  }
  ctx.check(`${n}: ${cs} key — HEAD, GET = last PUT; pages as expected`, problems.length === 0,
    problems.length === 0 ? `version page from key-marker ${p.marker.key} / version-id-marker ${p.marker.versionId}` : problems.join('; '))
}

const OP_LABEL: Record<Op, (s: VersionsSizes) => string> = {
  head: () => 'HEAD latest version',
  get: s => `GET latest version (${fmtCount(s.size / 1024)} KiB)`,
  list: s => `ListObjectsV2 first page of the key's prefix (${fmtCount(Math.min(LIST_MAX_KEYS, s.before + 1 + s.after))} keys)`,
  versions: s => `ListObjectVersions page of ${fmtCount(s.page)} from mid-listing markers`,
}

export async function sectionVersions (ctx: SectionContext, s: VersionsSizes): Promise<void> {
  for (const n of ctx.targets) {
    // the null handler keeps nothing
    if (n === 'limit') continue
    const l: Live | undefined = ctx.usable(n)
    if (l === undefined) continue
    const c = l.c
    const prepared: Partial<Record<Case, Prepared>> = {}
    try {
      await ctx.ensureBucket(n, l, VERSIONED)
      await ctx.ensureBucket(n, l, UNVERSIONED)
      try {
        await c.putBucketVersioning(VERSIONED, 'Enabled')
      } catch (err) {
        ctx.note(`${n}: versions section not run — PutBucketVersioning answered ${s3Error(err).message}` + (n === 's3rver'
          ? ' (s3rver 3.7.1 has no versioning: "versioning" is not among its bucket query methods, so PUT ?versioning is taken as CreateBucket)'
          : ''))
        continue
      }
      const deadline = Date.now() + Math.max(0, ctx.secondsLeft() - 60) * 1000
      ctx.log(`${n}: writing ${fmtCount(s.deep)} versions of ${LAYOUT.deep.key}, ${LAYOUT.shallow.key} in both buckets and ${fmtCount(3 * (s.before + s.after))} neighbouring keys`)
      for (const cs of CASES) prepared[cs] = await prepare(ctx, n, c, cs, s, deadline)
    } catch (err) {
      ctx.failed(n, 'versions setup', s3Error(err))
      continue
    }
    try {
      for (const cs of CASES) await verify(ctx, n, c, cs, prepared[cs]!, s)
    } catch (err) {
      ctx.failed(n, 'versions check', s3Error(err))
    }

    const times = {} as Record<Op, Record<Case, number[]>>
    for (const op of OPS) times[op] = { deep: [], shallow: [], plain: [] }
    for (const op of OPS) {
      const broken = new Set<Case>()
      try {
        for (let w = 0; w < 5; w++) for (const cs of CASES) await request(c, op, cs, prepared[cs]!, s) // warm-up
      } catch (err) {
        ctx.failed(n, `warm-up ${OP_LABEL[op](s)}`, s3Error(err))
        continue
      }
      for (let rep = 0; rep < s.reps && broken.size < CASES.length; rep++) {
        if (ctx.secondsLeft() < 20) { ctx.note(`versions: ${op} stopped at rep ${rep + 1} (time bound)`); break }
        // the cases in a different order each repetition
        for (let j = 0; j < CASES.length; j++) {
          const cs = CASES[(j + rep) % CASES.length]
          if (broken.has(cs)) continue
          try {
            const t0 = performance.now()
            await request(c, op, cs, prepared[cs]!, s)
            times[op][cs].push(performance.now() - t0)
          } catch (err) {
            broken.add(cs)
            ctx.failed(n, `${OP_LABEL[op](s)}, ${cs} key`, s3Error(err))
          }
        }
      }
      const m = (cs: Case): number => median(times[op][cs])
      ctx.log(`${n} ${OP_LABEL[op](s)}: deep ${fmtNum(m('deep'))} ms, shallow ${fmtNum(m('shallow'))} ms, unversioned ${fmtNum(m('plain'))} ms ` +
        `→ deep/shallow ${fmtRatio(m('deep') / m('shallow'))}, deep/unversioned ${fmtRatio(m('deep') / m('plain'))} (${times[op].deep.length} reps)`)
    }

    for (const op of OPS) {
      const [deep, shallow, plain] = CASES.map(cs => median(times[op][cs]))
      if (Number.isFinite(deep)) ctx.record(`ver-${op}-deep`, `${OP_LABEL[op](s)}, key with ${fmtCount(s.deep)} versions`, 'ms', n, deep, 'lower')
      if (Number.isFinite(shallow)) ctx.record(`ver-${op}-shallow`, '  same, key with 1 version', 'ms', n, shallow, 'lower')
      if (Number.isFinite(plain)) ctx.record(`ver-${op}-plain`, '  same, key in an unversioned bucket', 'ms', n, plain, 'lower')
      if (Number.isFinite(deep / shallow)) ctx.record(`ver-${op}-ratio`, `  ratio ${fmtCount(s.deep)} versions / 1 version`, 'ratio', n, deep / shallow, 'lower')
      if (Number.isFinite(deep / plain)) ctx.record(`ver-${op}-ratio-plain`, `  ratio ${fmtCount(s.deep)} versions / unversioned`, 'ratio', n, deep / plain, 'lower')
    }
  }
}

/** The PASS/MISS lines of the section's targets (VERSIONS_TARGETS in bench/limits.ts). */
export function versionsVerdicts (value: (key: string, t: TargetName) => number | undefined,
  verdict: (name: string, ok: boolean | undefined, detail: string) => void, s: VersionsSizes): void {
  const limit = VERSIONS_TARGETS.deepVsShallow
  for (const op of OPS) {
    const name = `${OP_LABEL[op](s)}: ${fmtCount(s.deep)} versions ≤ ${limit}× 1 version`
    const deep = value(`ver-${op}-deep`, 'ours')
    const shallow = value(`ver-${op}-shallow`, 'ours')
    const plain = value(`ver-${op}-plain`, 'ours')
    if (deep === undefined || shallow === undefined || !Number.isFinite(deep / shallow)) { verdict(name, undefined, 'not measured'); continue }
    verdict(name, deep / shallow <= limit, `${fmtNum(deep)} / ${fmtNum(shallow)} ms = ${fmtRatio(deep / shallow)} (limit ${fmtRatio(limit)})` +
      (plain !== undefined && Number.isFinite(plain) ? `; unversioned bucket ${fmtNum(plain)} ms (${fmtRatio(deep / plain)})` : ''))
  }
}
