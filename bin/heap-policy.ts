import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8'
import type { Worker } from 'node:worker_threads'
import { requestCollection } from '../src/heap.js'

/**
 * How the standalone server (`serve`, and the other commands) keeps V8's heap near what it uses.
 * An embedding application owns its process and its heap; this is applied by bin/cli.ts only.
 *
 * Left alone, V8 grows the young generation to 2 × 16 MiB as soon as allocation is brisk (module
 * loading is enough) and never shrinks it back while the process is busy, and it lets garbage
 * promoted to the old generation accumulate well past what is live before it collects: after
 * 5,000 small PUTs the heap held 60–70 MB of which 20–25 MB were live. Both only bound by flags
 * given at start (`--max-semi-space-size`, `--max-old-space-size`, the latter a hard limit that
 * ends the process). Measured (bench/WRITE-PATH.md, round three), this policy takes the peak RSS
 * of 10,000 × 4 KiB PUTs from 141–154 MB to 112–126 MB at the same throughput.
 *
 * - Young generation: growth is held off from the start (V8 reads `--semi-space-growth-factor`
 *   each time it would grow the space) and allowed again, after each collection, only while the
 *   space is under YOUNG_GENERATION_BYTES. A larger young generation saves little once it holds a
 *   few milliseconds of allocation: requests' objects die within it either way. Making an isolate
 *   raises the factor back to V8's own (2), so it is set again after every collection and once
 *   each worker thread is running. (Before that, the first body of 1 MiB or more started the
 *   digest worker and the young generation grew to 2 × 16 MiB: bench/WRITE-PATH.md, round six.)
 * - Old generation: after each collection, once the heap has grown OLD_GENERATION_HEADROOM past
 *   what the last full collection left, an incremental full collection is asked for (it marks
 *   beside the program and finishes in the background).
 * - V8's own trigger gets more room (`--heap-growing-percent`, read each time V8 sets its limit).
 *   V8 starts marking once the old generation plus the external memory allocated since
 *   the last full collection come within the young generation's size of its limit, which is
 *   max(size × factor, size + 8 MB) + the young generation. A small heap thus has 8 MB of room,
 *   and streamed bodies swing external memory by that much or more between scavenges (the dead
 *   socket buffers of read-buffers.ts, the batches at the digest worker). A full collection that ends at the swing's low point was
 *   followed by another as soon as it was high again, every 50–250 ms for as long as the stream
 *   lasted, each freeing almost nothing: 13–43 per GiB of upload once small requests had been
 *   served, and 11–18% of the server's CPU. With the factor at OLD_GENERATION_GROWTH, the room
 *   is the heap's own size when that is over 8 MB (14 MB for what `serve` holds): 2–4 full
 *   collections per GiB of multipart upload, and no chain. A factor of 3 left 0–1, at the same
 *   CPU, but 12 MB more peak RSS, the heap keeping its garbage up to this policy's headroom
 *   (bench/WRITE-PATH.md, round nine).
 *
 * Where the runtime refuses a flag or `gc`, the heap behaves as V8 decides.
 */
export const YOUNG_GENERATION_BYTES = 8 * 1024 * 1024
export const OLD_GENERATION_HEADROOM = 24 * 1024 * 1024
/** V8's limit for starting a full collection, as a multiple of what the last one left. */
export const OLD_GENERATION_GROWTH = 2

export interface HeapPolicy {
  /** Stop steering; the young generation may grow as V8 decides again (its default factor, 2). */
  stop: () => void
}

function youngGenerationSize (): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0
}

function setFlag (flag: string): boolean {
  try {
    setFlagsFromString(flag)
    return true
  } catch {
    return false
  }
}

function setGrowthFactor (factor: number): boolean {
  return setFlag(`--semi-space-growth-factor=${factor}`)
}

/** Applies the policy to this process; call it before loading anything large. */
export function applyHeapPolicy (): HeapPolicy {
  setFlag(`--heap-growing-percent=${(OLD_GENERATION_GROWTH - 1) * 100}`)
  const steering = youngGenerationSize() < YOUNG_GENERATION_BYTES && setGrowthFactor(1)
  // Set every time, not only when it changes: V8 raises the factor to at least 2, for the whole
  // process, whenever an isolate is made (a worker thread starting, such as the digest worker).
  const steer = (): void => {
    if (steering) setGrowthFactor(youngGenerationSize() < YOUNG_GENERATION_BYTES ? 2 : 1)
  }
  const onWorker = (worker: Worker): void => { worker.once('online', steer) }
  process.on('worker', onWorker)
  let live = getHeapStatistics().used_heap_size
  let collecting = false
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { kind } = (entry as PerformanceEntry & { detail: { kind: number } }).detail
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        live = getHeapStatistics().used_heap_size
        collecting = false
      }
    }
    steer()
    if (!collecting && getHeapStatistics().used_heap_size > live + OLD_GENERATION_HEADROOM) {
      collecting = requestCollection('major')
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  return {
    stop: () => {
      observer.disconnect()
      process.off('worker', onWorker)
      if (steering) setGrowthFactor(2)
      setFlag('--heap-growing-percent=0')
    },
  }
}
