import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

type Collect = (options: { type: 'minor' | 'major', execution?: 'sync' | 'async' }) => unknown

let collect: Collect | null | undefined

/**
 * V8's `gc()`, obtained without exposing it: `--expose-gc` is set only while one context is made
 * to take it from, then unset. Null where the runtime refuses (V8's flags frozen).
 */
function collector (): Collect | null {
  if (collect !== undefined) return collect
  try {
    setFlagsFromString('--expose-gc')
    const found = runInNewContext('gc') as unknown
    collect = typeof found === 'function' ? found as Collect : null
  } catch {
    collect = null
  } finally {
    try { setFlagsFromString('--no-expose-gc') } catch {}
  }
  return collect
}

/**
 * Asks V8 for a collection: `minor` scavenges the young generation at once (well under a
 * millisecond when it is small); `major` starts an incremental mark-and-compact that finishes in
 * the background. False when the runtime does not allow it.
 */
export function requestCollection (type: 'minor' | 'major'): boolean {
  const gc = collector()
  if (gc === null) return false
  gc(type === 'minor' ? { type } : { type, execution: 'async' })
  return true
}
