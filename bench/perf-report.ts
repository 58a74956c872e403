/**
 * Where the server's main thread spent its CPU, from a Linux `perf` recording of `npm run bench --
 * --perf DIR` (ours runs with --perf-basic-prof, so JIT frames carry JavaScript names):
 *
 *   perf script -i DIR/ours.perf.data -F tid,ip,sym | npx tsx bench/perf-report.ts [--ops N] [--leaves PATTERN]
 *
 * Unlike `--cpu-prof` (V8's sampler runs on a wall-clock timer, so a thread waiting for a core is
 * charged to whatever it last ran, most often a system call), perf samples only while a thread is
 * on a CPU. Each main-thread sample is charged to the nearest frame of our own code (src/,
 * adapters/, bin/, mapped back through dist's source maps), so native work (SQLite, hashing,
 * system calls, allocation) counts for the code that asked for it; samples in V8's collector count
 * as GC; samples with no frame of ours are node's own HTTP and stream machinery or the event loop.
 * `--ops N` prints microseconds per operation (N operations in the recording). `--leaves PATTERN`
 * lists the innermost frames of the samples charged to the functions of ours matching PATTERN (a
 * regular expression on `file:line name`): what those functions spent their time in.
 *
 * One limit: optimized code carries the functions V8 inlined into it, so a caller (the gateway's
 * dispatch, say) is charged for callees of other files; the categories by file shift by a few
 * percent between runs for that reason. Add `--no-turbo-inlining` to the server's flags for exact
 * attribution, at some cost to its speed.
 */
import { readFileSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { fileURLToPath } from 'node:url'

interface Frame { name: string, url?: string, line?: number, column?: number }

const JS_FRAME = /^JS:[*^~+]?(.*?) (\S+):(\d+):(\d+)$/
const maps = new Map<string, SourceMap | null>()

function sourceMapOf (url: string): SourceMap | null {
  let map = maps.get(url)
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(fileURLToPath(url) + '.map', 'utf8')))
    } catch {
      map = null
    }
    maps.set(url, map)
  }
  return map
}

/** `src/blockstores/pack.ts:160 put` for a frame of our bundle; undefined for anything else. */
function ownCode (frame: Frame): { file: string, where: string } | undefined {
  if (frame.url === undefined || !frame.url.includes('/dist/') || frame.url.includes('/node_modules/') || frame.line === undefined) return undefined
  const entry = sourceMapOf(frame.url)?.findEntry(frame.line - 1, (frame.column ?? 1) - 1) as { originalSource?: string, originalLine?: number } | undefined
  const source = entry?.originalSource
  if (source === undefined) return undefined
  const file = source.replace(/^.*?\/((src|adapters|bin)\/.*)$/, '$1')
  if (!/^(src|adapters|bin)\//.test(file)) return undefined
  return { file, where: `${file}:${(entry?.originalLine ?? 0) + 1} ${frame.name || '(anonymous)'}` }
}

const CATEGORIES: Array<[RegExp, string]> = [
  [/^src\/metadata\//, 'metadata store (SQLite statements, group commit)'],
  [/^src\/blockstores\//, 'blockstore (pack writes, index, flush)'],
  [/^src\/auth\//, 'authentication and authorization'],
  [/^src\/protocol\/(payload|md5-worker|checksums|chunked)/, 'request body (payload plan, digests)'],
  [/^src\/protocol\//, 'protocol (headers, XML, conditions)'],
  [/^src\/content\//, 'content import and export'],
  [/^src\/operations\//, 'the operation itself'],
  [/^src\/observability\/|^src\/audit/, 'metrics, request log, audit'],
  [/^adapters\//, 'node adapter (request, response)'],
  [/^src\/(gateway|router)\.ts/, 'routing and dispatch'],
]

function category (file: string): string {
  for (const [pattern, name] of CATEGORIES) if (pattern.test(file)) return name
  return 'other code of ours'
}

function parse (text: string): Array<{ tid: string, frames: Frame[] }> {
  const samples: Array<{ tid: string, frames: Frame[] }> = []
  let current: { tid: string, frames: Frame[] } | undefined
  for (const line of text.split('\n')) {
    if (line.trim() === '') { if (current !== undefined) samples.push(current); current = undefined; continue }
    // a sample's first line is its thread id, right-aligned (so it may start with spaces); frames follow
    if (/^\s*\d+\s*$/.test(line)) { current = { tid: line.trim(), frames: [] }; continue }
    const sym = line.trim().replace(/^[0-9a-f]+\s+/, '')
    const js = JS_FRAME.exec(sym)
    current?.frames.push(js === null ? { name: sym } : { name: js[1], url: js[2], line: Number(js[3]), column: Number(js[4]) })
  }
  if (current !== undefined) samples.push(current)
  return samples
}

function main (): void {
  const ops = process.argv.includes('--ops') ? Number(process.argv[process.argv.indexOf('--ops') + 1]) : undefined
  const samples = parse(readFileSync(0, 'utf8'))
  const byThread = new Map<string, number>()
  for (const s of samples) byThread.set(s.tid, (byThread.get(s.tid) ?? 0) + 1)
  // the main thread's id is the process id, the lowest of its threads' (the busiest may be a worker's)
  const main = [...byThread.keys()].sort((a, b) => Number(a) - Number(b))[0]
  const shares = new Map<string, number>()
  const functions = new Map<string, number>()
  // --leaves PATTERN: what the samples charged to matching functions of ours were doing (their innermost frames)
  const leavesOf = process.argv.includes('--leaves') ? new RegExp(process.argv[process.argv.indexOf('--leaves') + 1]) : undefined
  const leaves = new Map<string, number>()
  let busy = 0
  for (const s of samples) {
    if (s.tid !== main) continue
    if (s.frames.slice(0, 8).some(f => /epoll_wait|epoll_pwait/.test(f.name))) continue // waiting for events
    busy++
    let name: string
    if (s.frames.some(f => /Heap::CollectGarbage|Scavenger|MarkCompactCollector|ConcurrentMarking|Heap::PerformGarbageCollection/.test(f.name))) {
      name = 'garbage collection'
    } else {
      const own = s.frames.map(ownCode).find(o => o !== undefined)
      if (own === undefined) {
        name = s.frames.some(f => f.url !== undefined) ? 'node (HTTP parser, streams, timers, promises)' : 'event loop and native callbacks'
      } else {
        name = category(own.file)
        functions.set(own.where, (functions.get(own.where) ?? 0) + 1)
        if (leavesOf?.test(own.where) === true) {
          const leaf = s.frames.slice(0, 2).map(f => f.url === undefined ? f.name : `${f.name} ${f.url.replace(/^.*\//, '')}:${f.line ?? 0}`).join(' < ')
          leaves.set(leaf, (leaves.get(leaf) ?? 0) + 1)
        }
      }
    }
    shares.set(name, (shares.get(name) ?? 0) + 1)
  }
  const total = samples.length
  const per = (n: number): string => ops === undefined ? '' : `${(n / busy * mainCpuSeconds(busy) / ops * 1e6).toFixed(0).padStart(6)} µs/op`
  console.log(`${total} samples, ${byThread.size} threads; main thread ${byThread.get(main ?? '') ?? 0} samples, ${busy} busy`)
  for (const [tid, n] of [...byThread].sort((a, b) => b[1] - a[1]).slice(0, 6)) console.log(`  thread ${tid}: ${(100 * n / total).toFixed(1)}% of samples${tid === main ? ' (main)' : ''}`)
  console.log('\nmain thread, busy time charged to the nearest code of ours:')
  for (const [name, n] of [...shares].sort((a, b) => b[1] - a[1])) console.log(`  ${(100 * n / busy).toFixed(1).padStart(5)}% ${per(n)}  ${name}`)
  console.log('\nfunctions of ours (samples charged to them, including the native work they called):')
  for (const [where, n] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${(100 * n / busy).toFixed(1).padStart(5)}%  ${where}`)
  if (leavesOf === undefined) return
  console.log(`\ninnermost two frames of the samples charged to ${String(leavesOf)}:`)
  for (const [leaf, n] of [...leaves].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`  ${(100 * n / busy).toFixed(1).padStart(5)}%  ${leaf}`)
}

/** perf's default rate for `perf record -F 999`: samples → CPU seconds. */
function mainCpuSeconds (samples: number): number {
  return samples / Number(process.env.PERF_FREQUENCY ?? 999)
}

main()
