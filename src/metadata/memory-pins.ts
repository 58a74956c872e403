import { compareKeys } from './key-order.js'
import { copyRecord } from './memory-state.js'
import type { PinDeleteResult, PinList, PinListOptions, PinNameMatch, PinRecord, PinState, PinStatusOptions } from './pins.js'
import { foldName, pinExists } from './pins.js'

/** The memory store's reference counts, as pins use them. */
export interface MemoryRefs {
  retain(cid: string): void
  /** Returns the CID when that was its last reference. */
  release(cid: string): string[]
}

/** The memory store's pins: every method is synchronous, so each is one "transaction". */
export class MemoryPins {
  private readonly byId = new Map<string, PinRecord>()
  /** The `created` milliseconds in use, per owner. */
  private readonly times = new Map<string, Set<number>>()

  constructor (private readonly refs: MemoryRefs) {}

  create (pin: PinRecord): PinRecord {
    if (this.byId.has(pin.requestId)) throw pinExists(pin.requestId)
    return this.insert(pin)
  }

  get (requestId: string): PinRecord | undefined {
    const pin = this.byId.get(requestId)
    return pin === undefined ? undefined : copyRecord(pin)
  }

  /** Undefined when nothing changed. */
  setStatus (requestId: string, status: PinState, options: PinStatusOptions = {}): { released: string[] } | undefined {
    const pin = this.byId.get(requestId)
    if (pin === undefined || (options.from !== undefined && !options.from.includes(pin.status))) return undefined
    const was = pin.status
    pin.status = status
    pin.updated = new Date((options.now ?? new Date()).getTime())
    if (options.info !== undefined) pin.info = { ...options.info }
    if (status === 'pinned' && was !== 'pinned') this.refs.retain(pin.cid)
    return { released: was === 'pinned' && status !== 'pinned' ? this.refs.release(pin.cid) : [] }
  }

  delete (requestId: string): PinDeleteResult {
    const pin = this.byId.get(requestId)
    if (pin === undefined) return { released: [] }
    return { deleted: copyRecord(pin), released: this.remove(pin) }
  }

  /** Undefined when nothing changed. */
  replace (oldRequestId: string, next: PinRecord): { record: PinRecord, released: string[] } | undefined {
    const old = this.byId.get(oldRequestId)
    if (old === undefined || old.owner !== next.owner) return undefined
    if (next.requestId !== oldRequestId && this.byId.has(next.requestId)) throw pinExists(next.requestId)
    const carried = old.status === 'pinned' && old.cid === next.cid
    // The new pin's reference is taken before the old one's is dropped: a shared CID never reaches zero.
    this.byId.delete(oldRequestId)
    this.times.get(old.owner)?.delete(old.created.getTime())
    const record = this.insert({ ...next, status: carried ? 'pinned' : 'queued' })
    return { record, released: old.status === 'pinned' ? this.refs.release(old.cid) : [] }
  }

  list (options: PinListOptions): PinList {
    const match = options.match ?? 'exact'
    const matches = [...this.byId.values()].filter((pin) =>
      (options.owner === undefined || pin.owner === options.owner) &&
      (options.cids === undefined || options.cids.includes(pin.cid)) &&
      (options.name === undefined || nameMatches(pin.name, options.name, match)) &&
      (options.status === undefined || options.status.includes(pin.status)) &&
      (options.before === undefined || pin.created < options.before) &&
      (options.after === undefined || pin.created > options.after) &&
      (options.meta === undefined || Object.entries(options.meta).every(([k, v]) => Object.hasOwn(pin.meta, k) && pin.meta[k] === v)))
    matches.sort((a, b) => b.created.getTime() - a.created.getTime() || compareKeys(a.requestId, b.requestId))
    const limit = options.limit >= 1 ? Math.floor(options.limit) : 0
    return { count: matches.length, results: matches.slice(0, limit).map((pin) => copyRecord(pin)) }
  }

  private insert (pin: PinRecord): PinRecord {
    let times = this.times.get(pin.owner)
    if (times === undefined) this.times.set(pin.owner, times = new Set())
    let at = pin.created.getTime()
    while (times.has(at)) at++
    times.add(at)
    const stored = copyRecord({ ...pin, created: new Date(at) })
    this.byId.set(stored.requestId, stored)
    if (stored.status === 'pinned') this.refs.retain(stored.cid)
    return copyRecord(stored)
  }

  private remove (pin: PinRecord): string[] {
    this.byId.delete(pin.requestId)
    this.times.get(pin.owner)?.delete(pin.created.getTime())
    return pin.status === 'pinned' ? this.refs.release(pin.cid) : []
  }
}

function nameMatches (name: string | undefined, pattern: string, match: PinNameMatch): boolean {
  if (name === undefined) return false
  const fold = match === 'iexact' || match === 'ipartial'
  const a = fold ? foldName(name) : name
  const b = fold ? foldName(pattern) : pattern
  return match === 'exact' || match === 'iexact' ? a === b : a.includes(b)
}
