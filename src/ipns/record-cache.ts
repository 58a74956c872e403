import type { CID } from 'multiformats/cid'
import { signIpnsRecord, type SignedIpnsRecord } from './record.js'
import type { IpnsKey } from './keys.js'

export interface IpnsRecordCacheInit {
  /** How long each record is valid from when it is signed. Default 48 h (Kubo's default lifetime). */
  validityMs?: number
  /** The TTL written in records: how long readers may keep one before asking again. Default 5 min. */
  ttlMs?: number
  /** The clock, in ms since the epoch. Default `Date.now`. */
  now?: () => number
  /** Names remembered at most; the least recently signed is forgotten first. Default 10,000. */
  maxEntries?: number
}

interface Entry {
  value: CID
  sequence: bigint
  record: Promise<SignedIpnsRecord>
}

/**
 * Signed records, one per name: the record for a (name, value, sequence) is signed once and
 * served until less than half its validity is left, then signed again with a fresh validity (the
 * same sequence: readers prefer the later validity). A new value or sequence replaces it.
 */
export class IpnsRecordCache {
  readonly validityMs: number
  readonly ttlMs: number
  /** The clock records are signed by. */
  readonly now: () => number
  private readonly maxEntries: number
  private readonly entries = new Map<string, Entry>()

  constructor (init: IpnsRecordCacheInit = {}) {
    this.validityMs = init.validityMs ?? 48 * 60 * 60 * 1000
    this.ttlMs = init.ttlMs ?? 5 * 60 * 1000
    this.now = init.now ?? Date.now
    this.maxEntries = init.maxEntries ?? 10_000
    if (!(this.validityMs > 0) || !(this.ttlMs >= 0) || !(this.maxEntries >= 1)) throw new RangeError('validityMs and maxEntries must be positive, ttlMs not negative')
  }

  /** The record naming `value` under `key` with `sequence`, signed now or earlier. */
  async record (key: IpnsKey, value: CID, sequence: bigint): Promise<SignedIpnsRecord> {
    const now = this.now()
    const entry = this.entries.get(key.name)
    if (entry !== undefined && entry.sequence === sequence && entry.value.equals(value)) {
      const record = await entry.record
      if (record.validUntil - now > this.validityMs / 2) return record
    }
    const record = signIpnsRecord({ key, value, sequence, validityMs: this.validityMs, ttlMs: this.ttlMs, now })
    const fresh = { value, sequence, record }
    this.entries.delete(key.name)
    this.entries.set(key.name, fresh)
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string)
    record.catch(() => { if (this.entries.get(key.name) === fresh) this.entries.delete(key.name) })
    return await record
  }
}
