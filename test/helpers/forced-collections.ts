import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'

/**
 * Counts the collections of one kind that something asked for (a `gc()` call sets the forced
 * flag), from now until `stop`. GC entries arrive asynchronously: read `count` after a pause.
 */
export function forcedCollections (kind: 'minor' | 'major'): { count: () => number, stop: () => void } {
  const wanted = kind === 'minor' ? constants.NODE_PERFORMANCE_GC_MINOR : constants.NODE_PERFORMANCE_GC_MAJOR
  let forced = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as PerformanceEntry & { detail: { kind: number, flags: number } }).detail
      if (detail.kind === wanted && (detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0) forced++
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  return { count: () => forced, stop: () => { observer.disconnect() } }
}
