/** Small helpers for the benchmarks: statistics, a bounded concurrent runner, formatting. */

export function median (xs: number[]): number {
  const v = xs.filter(x => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const m = v.length >> 1
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2
}

/** The nearest-rank q-quantile (0 < q ≤ 1): the smallest value with at least q of the values at or below it. */
export function quantile (xs: number[], q: number): number {
  const v = xs.filter(x => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))]
}

export interface PoolResult {
  done: number
  errors: number
  firstError: string | undefined
  seconds: number
  /** true when the deadline, not the count, ended the run */
  timedOut: boolean
}

/**
 * Runs fn(0..count-1) with `concurrency` in flight. Ends by count or by deadline (absolute ms
 * timestamp), whichever comes first; stops early after `maxErrors` failures.
 */
export async function runPool (count: number, concurrency: number, deadline: number,
  fn: (i: number) => Promise<void>, maxErrors = 20): Promise<PoolResult> {
  let next = 0
  let done = 0
  let errors = 0
  let firstError: string | undefined
  let timedOut = false
  const t0 = performance.now()
  const worker = async (): Promise<void> => {
    while (true) {
      if (next >= count || errors >= maxErrors) return
      if (Date.now() > deadline) { timedOut = true; return }
      const i = next++
      try {
        await fn(i)
        done++
      } catch (err) {
        errors++
        firstError ??= err instanceof Error ? err.message : String(err)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  return { done, errors, firstError, seconds: (performance.now() - t0) / 1000, timedOut }
}

export function fmtNum (x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—'
  const a = Math.abs(x)
  if (a >= 100) return Math.round(x).toLocaleString('en-US')
  if (a >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

export function fmtRatio (x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—'
  return x >= 10 ? `${x.toFixed(1)}×` : `${x.toFixed(2)}×`
}

export function fmtBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let u = 0
  let v = n
  while (v >= 1024 && u < units.length - 1 && v % 1024 === 0) { v /= 1024; u++ }
  return `${v} ${units[u]}`
}

export function pad (s: string, w: number, right = false): string {
  if (s.length >= w) return s
  return right ? ' '.repeat(w - s.length) + s : s + ' '.repeat(w - s.length)
}

export function sleep (ms: number): Promise<void> {
  return new Promise(r => setTimeout(r, ms))
}

/** Counts occurrences of `needle` in `hay` (cheap response sanity checks). */
export function countOf (hay: string, needle: string): number {
  let n = 0
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + needle.length)) n++
  return n
}

/** A table on stdout: a blank line, the header, a rule, the rows; columns after the first right-aligned. */
export function printTable (header: string[], body: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map(b => b[i].length)))
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i], i > 0)).join(' | ')
  console.log('')
  console.log(line(header))
  console.log(widths.map(w => '-'.repeat(w)).join('-|-'))
  for (const b of body) console.log(line(b))
}
