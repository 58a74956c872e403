/**
 * The multipart sections of `npm run bench`:
 *
 * - `multipart`: a large upload in parts (Create, parts streamed with a few in flight, Complete)
 *   against the same client's one-stream PUT of as many bytes, interleaved in the same run; the
 *   result is checked once (size, and for ours the CID of a one-stream PUT of the same bytes).
 * - `complete`: CompleteMultipartUpload alone, for 10 and for 1,000 parts (and 10 parts of 16× the
 *   bytes), the parts made cheaply by whole-object UploadPartCopy.
 *
 * Bodies are the pattern generator's streams (bench/pattern.ts), one part range at a time.
 */
import { s3Error, type BenchClient } from './client.js'
import { patternStream } from './pattern.js'
import type { Target, TargetName } from './targets.js'
import { fmtBytes, fmtNum, fmtRatio, median, runPool } from './util.js'
import { MULTIPART_TARGETS } from './limits.js'

export interface Live { t: Target, c: BenchClient }

/** What a section needs from the runner (bench/run.ts). */
export interface SectionContext {
  targets: TargetName[]
  reps: number
  usable: (n: TargetName) => Live | undefined
  ensureBucket: (n: TargetName, l: Live, bucket: string) => Promise<void>
  record: (key: string, workload: string, unit: string, target: TargetName, value: number, better?: 'higher' | 'lower') => void
  failed: (n: TargetName, what: string, err: unknown) => void
  note: (msg: string) => void
  /** a correctness check's outcome, printed with the targets as PASS or FAIL */
  check: (name: string, ok: boolean, detail: string) => void
  log: (msg: string) => void
  secondsLeft: () => number
  withPeakRss: <T>(t: Target, fn: () => Promise<T>) => Promise<{ result: T, peakMB: number }>
}

export interface MultipartSizes {
  /** object size of the multipart upload and of the one-stream PUT it is compared with */
  size: number
  partSize: number
  inFlight: number
}

export interface CompleteSizes {
  fewParts: number
  manyParts: number
  partSize: number
  /** part size of the "same parts, more bytes" case */
  bigPartSize: number
  reps: number
  copyConcurrency: number
}


export interface UploadedObject {
  etag: string
  headers: Record<string, string | string[] | undefined>
  completeMs: number
}

/**
 * Create, then the parts of the pattern object `seed` (`partSize` each, the last shorter) with
 * `inFlight` of them in flight, then Complete. An upload that fails is aborted.
 */
export async function multipartUpload (c: BenchClient, bucket: string, key: string, seed: number, size: number,
  partSize: number, inFlight: number): Promise<UploadedObject> {
  const uploadId = await c.createMultipartUpload(bucket, key)
  const count = Math.max(1, Math.ceil(size / partSize))
  const etags: string[] = new Array(count)
  const r = await runPool(count, inFlight, Date.now() + 3_600_000, async i => {
    const from = i * partSize
    const len = Math.min(partSize, size - from)
    etags[i] = await c.uploadPart(bucket, key, uploadId, i + 1, patternStream(seed, len, from), len)
  }, 1)
  if (r.errors > 0) {
    await c.abortMultipartUpload(bucket, key, uploadId)
    throw new Error(`UploadPart: ${r.firstError ?? 'failed'}`)
  }
  const t0 = performance.now()
  const done = await c.completeMultipartUpload(bucket, key, uploadId, etags.map((etag, i) => ({ partNumber: i + 1, etag })))
  return { ...done, completeMs: performance.now() - t0 }
}

function header (h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name]
  return Array.isArray(v) ? v[0] : v
}

async function remove (c: BenchClient, bucket: string, key: string): Promise<void> {
  await c.ok({ method: 'DELETE', bucket, key }).then(r => r.body.dump()).catch(() => undefined)
}

// ---------------------------------------------------------------------------------------- multipart

/**
 * Checks the multipart object `key` (pattern `seed`): its size, its ETag's part count, and for
 * ours that its CID is the one a one-stream PUT of the same bytes gets (that PUT is not timed, and
 * is deduplicated against the parts' blocks).
 */
async function verifyMultipart (ctx: SectionContext, n: TargetName, l: Live, bucket: string, key: string, seed: number,
  s: MultipartSizes, etag: string): Promise<void> {
  const parts = Math.ceil(s.size / s.partSize)
  const name = `${n}: ${fmtBytes(s.size)} multipart object = its bytes`
  const head = await l.c.headObject(bucket, key)
  if (head.size !== s.size) { ctx.check(name, false, `HEAD ${key}: Content-Length ${head.size}, expected ${s.size}`); return }
  if (n !== 'ours') { ctx.check(name, true, `HEAD size ${head.size} (content not compared; ETag ${etag})`); return }
  if (!new RegExp(`-${parts}"?$`).test(etag)) { ctx.check(name, false, `ETag ${etag} does not end in -${parts}`); return }
  const cid = header(head.headers, 'x-amz-meta-cid')
  const singleKey = `${key}.single`
  await l.c.put(bucket, singleKey, patternStream(seed, s.size), s.size)
  const single = header((await l.c.headObject(bucket, singleKey)).headers, 'x-amz-meta-cid')
  await remove(l.c, bucket, singleKey)
  const ok = cid !== undefined && cid === single
  ctx.check(`ours: ${fmtBytes(s.size)} multipart (${fmtBytes(s.partSize)} parts) CID = one-stream PUT CID`, ok,
    ok ? `size ${head.size}, ETag ${etag}, CID ${cid}` : `multipart CID ${cid ?? '(none)'} vs one-stream PUT CID ${single ?? '(none)'}`)
}

export async function sectionMultipart (ctx: SectionContext, s: MultipartSizes): Promise<void> {
  const bucket = 'bench-mpu'
  const label = fmtBytes(s.size)
  const mpLabel = `${label} multipart (${fmtBytes(s.partSize)} parts, ${s.inFlight} in flight)`
  const single: Partial<Record<TargetName, number[]>> = {}
  const multi: Partial<Record<TargetName, number[]>> = {}
  const completes: Partial<Record<TargetName, number[]>> = {}
  const peaks: Partial<Record<TargetName, number>> = {}
  for (const n of ctx.targets) {
    const l = ctx.usable(n)
    if (l === undefined) continue
    try { await ctx.ensureBucket(n, l, bucket) } catch (err) { ctx.failed(n, 'create bucket', err) }
  }
  for (let rep = 0; rep < ctx.reps; rep++) {
    for (const n of ctx.targets) {
      const l = ctx.usable(n)
      if (l === undefined) continue
      if (ctx.secondsLeft() < 60) { ctx.note(`multipart: stopped at rep ${rep + 1} (time bound)`); return }
      // interleaved, the order alternating, and fresh bytes for each (ours deduplicates repeats)
      const order: Array<'single' | 'multi'> = rep % 2 === 0 ? ['single', 'multi'] : ['multi', 'single']
      const seed = { single: 3000 + rep, multi: 3100 + rep }
      const key = { single: `mpu/single-${rep}`, multi: `mpu/multi-${rep}` }
      const line: string[] = []
      try {
        for (const kind of order) {
          const { result, peakMB } = await ctx.withPeakRss(l.t, async () => {
            const t0 = performance.now()
            const up = kind === 'single'
              ? (await l.c.put(bucket, key.single, patternStream(seed.single, s.size), s.size), undefined)
              : await multipartUpload(l.c, bucket, key.multi, seed.multi, s.size, s.partSize, s.inFlight)
            return { mbps: s.size / 1e6 / ((performance.now() - t0) / 1000), up }
          })
          ;((kind === 'single' ? single : multi)[n] ??= []).push(result.mbps)
          if (kind === 'multi') {
            peaks[n] = Math.max(peaks[n] ?? 0, peakMB)
            ;(completes[n] ??= []).push(result.up!.completeMs)
            line.push(`multipart ${fmtNum(result.mbps)} MB/s (Complete ${fmtNum(result.up!.completeMs)} ms, peak RSS ${fmtNum(peakMB)} MB)`)
            if (rep === 0 && n !== 'limit') {
              await verifyMultipart(ctx, n, l, bucket, key.multi, seed.multi, s, result.up!.etag)
                .catch(err => ctx.check(`${n}: ${label} multipart object = its bytes`, false, s3Error(err).message))
            }
          } else {
            line.push(`one-stream PUT ${fmtNum(result.mbps)} MB/s`)
          }
        }
        ctx.log(`${n} ${label} rep ${rep + 1}: ${line.join(', ')}`)
      } catch (err) {
        ctx.failed(n, mpLabel, s3Error(err))
      } finally {
        await remove(l.c, bucket, key.single)
        await remove(l.c, bucket, key.multi)
      }
    }
  }
  for (const n of ctx.targets) {
    const m = multi[n]
    const p = single[n]
    if (m !== undefined) ctx.record('mpu-put', `upload ${mpLabel}`, 'MB/s', n, median(m))
    if (p !== undefined) ctx.record('mpu-single', `  PUT ${label} one stream, same section (reference)`, 'MB/s', n, median(p))
    if (m !== undefined && p !== undefined) ctx.record('mpu-ratio', '  ratio multipart / one-stream PUT', 'ratio', n, median(m) / median(p))
    if (completes[n] !== undefined) ctx.record('mpu-complete', `  Complete of the ${Math.ceil(s.size / s.partSize)} parts`, 'ms', n, median(completes[n]!), 'lower')
    if (peaks[n] !== undefined) ctx.record('mpu-rss', `  peak RSS during the ${label} multipart uploads`, 'MB', n, peaks[n]!, 'lower')
  }
}

// ---------------------------------------------------------------------------------------- complete

interface CompleteCase {
  id: string
  parts: number
  partSize: number
  /** makes the parts of `uploadId`; returns their ETags in part order */
  prepare: (key: string, uploadId: string, rep: number) => Promise<string[]>
}

export async function sectionComplete (ctx: SectionContext, s: CompleteSizes): Promise<void> {
  const bucket = 'bench-mpc'
  const res: Record<string, Partial<Record<TargetName, number[]>>> = {}
  const copyRates: Partial<Record<TargetName, number[]>> = {}
  const fmtCount = (k: number): string => k.toLocaleString('en-US')
  const caseLabel = (parts: number, partSize: number, how: string): string =>
    `Complete alone, ${fmtCount(parts)} parts × ${fmtBytes(partSize)} ${how} (${fmtNum(parts * partSize / 1e9)} GB)`
  const labels: Record<string, string> = {
    few: caseLabel(s.fewParts, s.partSize, 'copied'),
    fewUploaded: caseLabel(s.fewParts, s.partSize, 'uploaded'),
    fewBig: caseLabel(s.fewParts, s.bigPartSize, 'copied'),
    many: caseLabel(s.manyParts, s.partSize, 'copied'),
  }

  for (const n of ctx.targets) {
    // the null handler completes nothing
    if (n === 'limit') continue
    const l = ctx.usable(n)
    if (l === undefined) continue
    const c = l.c
    const copyParts = (source: string, parts: number) => async (key: string, uploadId: string): Promise<string[]> => {
      const etags: string[] = new Array(parts)
      const r = await runPool(parts, s.copyConcurrency, Date.now() + 600_000, async i => {
        etags[i] = await c.uploadPartCopy(bucket, key, uploadId, i + 1, bucket, source)
      }, 1)
      if (r.errors > 0 || r.timedOut) throw new Error(`UploadPartCopy: ${r.firstError ?? 'timed out'}`)
      if (parts >= 100) (copyRates[n] ??= []).push(r.done / r.seconds)
      return etags
    }
    const uploadParts = async (key: string, uploadId: string, rep: number): Promise<string[]> => {
      const etags: string[] = new Array(s.fewParts)
      const r = await runPool(s.fewParts, 4, Date.now() + 600_000, async i => {
        etags[i] = await c.uploadPart(bucket, key, uploadId, i + 1, patternStream(4100 + rep, s.partSize, i * s.partSize), s.partSize)
      }, 1)
      if (r.errors > 0 || r.timedOut) throw new Error(`UploadPart: ${r.firstError ?? 'timed out'}`)
      return etags
    }
    let cases: CompleteCase[]
    try {
      await ctx.ensureBucket(n, l, bucket)
      await c.put(bucket, 'mpc/source-small', patternStream(4000, s.partSize), s.partSize)
      cases = [{ id: 'fewUploaded', parts: s.fewParts, partSize: s.partSize, prepare: uploadParts }]
      // UploadPartCopy support, tried once (s3rver 3.7.1 answers NotImplemented)
      const probeKey = 'mpc/probe'
      const probeId = await c.createMultipartUpload(bucket, probeKey)
      const copies = await c.uploadPartCopy(bucket, probeKey, probeId, 1, bucket, 'mpc/source-small').then(() => true, err => {
        ctx.note(`${n}: UploadPartCopy not supported, so Complete is timed for uploaded parts only — ${s3Error(err).message}`)
        return false
      })
      await c.abortMultipartUpload(bucket, probeKey, probeId)
      if (copies) {
        await c.put(bucket, 'mpc/source-big', patternStream(4001, s.bigPartSize), s.bigPartSize)
        cases = [
          { id: 'few', parts: s.fewParts, partSize: s.partSize, prepare: copyParts('mpc/source-small', s.fewParts) },
          ...cases,
          { id: 'fewBig', parts: s.fewParts, partSize: s.bigPartSize, prepare: copyParts('mpc/source-big', s.fewParts) },
          { id: 'many', parts: s.manyParts, partSize: s.partSize, prepare: copyParts('mpc/source-small', s.manyParts) },
        ]
      }
    } catch (err) {
      ctx.failed(n, 'Complete latency setup', s3Error(err))
      continue
    }

    const once = async (cs: CompleteCase, key: string, rep: number): Promise<{ ms: number, etag: string, headers: Record<string, string | string[] | undefined> }> => {
      const uploadId = await c.createMultipartUpload(bucket, key)
      try {
        const etags = await cs.prepare(key, uploadId, rep)
        const t0 = performance.now()
        const done = await c.completeMultipartUpload(bucket, key, uploadId, etags.map((etag, i) => ({ partNumber: i + 1, etag })))
        return { ms: performance.now() - t0, ...done }
      } catch (err) {
        await c.abortMultipartUpload(bucket, key, uploadId)
        throw err
      }
    }
    // warm-up (JIT, prepared statements), not measured
    try {
      await once(cases[0], 'mpc/warm', -1)
      await remove(c, bucket, 'mpc/warm')
    } catch (err) {
      ctx.failed(n, `warm-up ${labels[cases[0].id]}`, s3Error(err))
      continue
    }
    for (let rep = 0; rep < s.reps; rep++) {
      if (ctx.secondsLeft() < 30) { ctx.note(`complete: stopped at rep ${rep + 1} (time bound)`); break }
      const line: string[] = []
      // the cases in a different order each repetition
      const order = cases.map((_, i) => cases[(i + rep) % cases.length])
      for (const cs of order) {
        const key = `mpc/${cs.id}-${rep}`
        try {
          const r = await once(cs, key, rep)
          ;((res[cs.id] ??= {})[n] ??= []).push(r.ms)
          line.push(`${cs.id} ${fmtNum(r.ms)} ms`)
          if (rep === 0 && n === 'ours' && cs.id === 'many') {
            const head = await c.headObject(bucket, key)
            const want = cs.parts * cs.partSize
            const cid = header(head.headers, 'x-amz-meta-cid')
            const ok = head.size === want && cid !== undefined && cid === header(r.headers, 'x-amz-meta-cid') && r.etag.replace(/"/g, '').endsWith(`-${cs.parts}`)
            ctx.check(`ours: ${fmtCount(cs.parts)}-part object (copied parts) HEAD`, ok,
              `size ${head.size} (expected ${want}), ETag ${r.etag}, CID ${cid ?? '(none)'}${cid === header(r.headers, 'x-amz-meta-cid') ? ' (= Complete\'s)' : ` vs Complete's ${header(r.headers, 'x-amz-meta-cid') ?? '(none)'}`}`)
          }
        } catch (err) {
          ctx.failed(n, labels[cs.id], s3Error(err))
        } finally {
          await remove(c, bucket, key)
        }
      }
      ctx.log(`${n} Complete rep ${rep + 1}: ${line.join(', ')}`)
    }
  }

  for (const id of ['few', 'fewUploaded', 'fewBig', 'many']) {
    for (const n of ctx.targets) {
      const v = res[id]?.[n]
      if (v !== undefined) ctx.record(`mpc-${id}`, labels[id], 'ms', n, median(v), 'lower')
    }
  }
  for (const n of ctx.targets) {
    const few = median(res.few?.[n] ?? [])
    const many = median(res.many?.[n] ?? [])
    const fewBig = median(res.fewBig?.[n] ?? [])
    if (Number.isFinite(few) && Number.isFinite(many)) {
      const k = s.manyParts / s.fewParts
      ctx.record('mpc-ratio-parts', `  ratio ${fmtCount(s.manyParts)} / ${s.fewParts} parts (${k}× parts, ${k}× bytes)`, 'ratio', n, many / few, 'lower')
      ctx.record('mpc-per-part-few', `  per part, ${s.fewParts}-part Complete`, 'ms', n, few / s.fewParts, 'lower')
      ctx.record('mpc-per-part-many', `  per part, ${fmtCount(s.manyParts)}-part Complete`, 'ms', n, many / s.manyParts, 'lower')
      ctx.record('mpc-marginal', `  marginal per part, (${fmtCount(s.manyParts)}-part − ${s.fewParts}-part) / ${fmtCount(s.manyParts - s.fewParts)}`, 'ms', n, (many - few) / (s.manyParts - s.fewParts), 'lower')
    }
    if (Number.isFinite(few) && Number.isFinite(fewBig)) {
      ctx.record('mpc-ratio-bytes', `  ratio ${s.fewParts} × ${fmtBytes(s.bigPartSize)} / ${s.fewParts} × ${fmtBytes(s.partSize)} (1× parts, ${s.bigPartSize / s.partSize}× bytes)`, 'ratio', n, fewBig / few, 'lower')
    }
    if (copyRates[n] !== undefined) ctx.record('mpc-copy-rate', `  UploadPartCopy (whole ${fmtBytes(s.partSize)} object) @${s.copyConcurrency}, making the parts`, 'ops/s', n, median(copyRates[n]!))
  }
}

// ---------------------------------------------------------------------------------------- targets

/** The PASS/MISS lines of the two sections' targets (MULTIPART_TARGETS in bench/limits.ts). */
export function multipartVerdicts (value: (key: string, t: TargetName) => number | undefined,
  verdict: (name: string, ok: boolean | undefined, detail: string) => void, m: MultipartSizes, cs: CompleteSizes): void {
  const label = fmtBytes(m.size)
  const need = MULTIPART_TARGETS.multipartVsSinglePut
  const mp = value('mpu-put', 'ours')
  const single = value('mpu-single', 'ours')
  const name = `${label} multipart (${fmtBytes(m.partSize)} parts, ${m.inFlight} in flight) ≥ ${need === 1 ? '' : `${need}× `}one-stream PUT, same run`
  if (mp === undefined || single === undefined || !Number.isFinite(mp) || !Number.isFinite(single)) verdict(name, undefined, 'not measured')
  else {
    const peer = value('mpu-put', 's3rver')
    verdict(name, mp >= need * single, `ours ${fmtNum(mp)} vs ${fmtNum(single)} MB/s = ${fmtRatio(mp / single)}` +
      (peer !== undefined && Number.isFinite(peer) ? `; s3rver's multipart ${fmtNum(peer)} MB/s (its Complete copies the bytes)` : ''))
  }
  const limitMs = MULTIPART_TARGETS.completeManyPartsMs
  const many = value('mpc-many', 'ours')
  const few = value('mpc-few', 'ours')
  const parts = cs.manyParts.toLocaleString('en-US')
  const cname = `Complete of ${parts} parts × ${fmtBytes(cs.partSize)} < ${fmtNum(limitMs)} ms`
  if (many === undefined || !Number.isFinite(many)) { verdict(cname, undefined, 'not measured'); return }
  const bytes = cs.manyParts * cs.partSize
  const fewBig = value('mpc-fewBig', 'ours')
  verdict(cname, many < limitMs, `${fmtNum(many)} ms for ${fmtNum(bytes / 1e9)} GB (${fmtNum(many / cs.manyParts)} ms a part` +
    (few !== undefined && Number.isFinite(few)
      ? `; ${cs.fewParts} parts: ${fmtNum(few)} ms, ${fmtNum(few / cs.fewParts)} ms a part; ratio ${fmtRatio(many / few)} for ${cs.manyParts / cs.fewParts}× parts and bytes` +
        (fewBig !== undefined && Number.isFinite(fewBig) ? `, ${fmtRatio(fewBig / few)} for ${cs.bigPartSize / cs.partSize}× bytes alone)` : ')')
      : ')'))
}
