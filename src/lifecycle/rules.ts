import type { BucketRecord } from '../metadata/metadata-store.js'
import { fromStoredLifecycle, type LifecycleConfiguration, type LifecycleFilter, type LifecycleRule } from './configuration.js'
import { classRank } from '../archive/classes.js'

/**
 * When lifecycle rules act, as Amazon S3 computes it: an action due `days` after a time is due at
 * the first day boundary (midnight UTC) at or after that time plus the days. A "day" is `dayMs` long
 * (86,400,000 unless a test or staging shortens it, as Ceph RGW's rgw_lc_debug_interval does); day
 * boundaries are multiples of it since the epoch, so with real days they are midnights UTC.
 */
export function dueAfter (start: Date, days: number, dayMs: number): Date {
  const at = start.getTime() + days * dayMs
  return new Date(Math.ceil(at / dayMs) * dayMs)
}

/** The first day boundary after `now`: when the next lifecycle pass runs. */
export function nextBoundary (now: Date, dayMs: number): Date {
  return new Date((Math.floor(now.getTime() / dayMs) + 1) * dayMs)
}

/** What a rule's filter reads of an object version. */
export interface Subject {
  key: string
  size: number
  /** Needed only by rules that filter on tags. */
  tags?: Array<[string, string]>
}

export function filterNeedsTags (filter: LifecycleFilter): boolean {
  return filter.tags.length > 0
}

export function matches (filter: LifecycleFilter, subject: Subject): boolean {
  if (filter.prefix !== undefined && !subject.key.startsWith(filter.prefix)) return false
  if (filter.sizeGreaterThan !== undefined && !(subject.size > filter.sizeGreaterThan)) return false
  if (filter.sizeLessThan !== undefined && !(subject.size < filter.sizeLessThan)) return false
  for (const [k, v] of filter.tags) {
    if (!(subject.tags ?? []).some(([tk, tv]) => tk === k && tv === v)) return false
  }
  return true
}

export interface Expiry { at: Date, ruleId: string }

/**
 * When the current version `subject`, last modified at `lastModified`, expires under the enabled
 * Expiration (Days or Date) rules that match it: the earliest, with its rule (the x-amz-expiration
 * header shows it). Undefined when no rule expires it.
 */
export function currentExpiry (config: LifecycleConfiguration, subject: Subject, lastModified: Date, dayMs: number): Expiry | undefined {
  let best: Expiry | undefined
  for (const rule of config.rules) {
    const at = expiryOf(rule, lastModified, dayMs)
    if (at === undefined || !matches(rule.filter, subject)) continue
    if (best === undefined || at < best.at) best = { at, ruleId: rule.id }
  }
  return best
}

function expiryOf (rule: LifecycleRule, lastModified: Date, dayMs: number): Date | undefined {
  if (!rule.enabled || rule.expiration === undefined) return undefined
  if (rule.expiration.days !== undefined) return dueAfter(lastModified, rule.expiration.days, dayMs)
  if (rule.expiration.date !== undefined) return new Date(rule.expiration.date)
  return undefined
}

/** Whether a noncurrent version (noncurrent since `since`, with `newer` noncurrent versions newer than it) is due for removal. */
export function noncurrentDue (config: LifecycleConfiguration, subject: Subject, since: Date, newer: number, now: Date, dayMs: number): boolean {
  return config.rules.some(rule => {
    const nc = rule.noncurrentExpiration
    if (!rule.enabled || nc?.noncurrentDays === undefined) return false
    if (nc.newerNoncurrentVersions !== undefined && newer < nc.newerNoncurrentVersions) return false
    return dueAfter(since, nc.noncurrentDays, dayMs) <= now && matches(rule.filter, subject)
  })
}

/** Objects smaller than this do not transition by default (S3's all_storage_classes_128K). */
export const MINIMUM_TRANSITION_SIZE = 128 * 1024

/** Whether a transition to `storageClass` may move an object of this size under the rule. */
function transitionSizeAllowed (config: LifecycleConfiguration, rule: LifecycleRule, storageClass: string, size: number): boolean {
  if (size >= MINIMUM_TRANSITION_SIZE) return true
  // A rule that filters on size says itself which objects it moves.
  if (rule.filter.sizeGreaterThan !== undefined || rule.filter.sizeLessThan !== undefined) return true
  return config.minimumObjectSize === 'varies_by_storage_class' && (storageClass === 'GLACIER' || storageClass === 'DEEP_ARCHIVE')
}

/** The coldest class the Transition rules matching a current version have made due by `now`. */
export function transitionDue (config: LifecycleConfiguration, subject: Subject, lastModified: Date, now: Date, dayMs: number): string | undefined {
  let due: string | undefined
  for (const rule of config.rules) {
    if (!rule.enabled || rule.transitions === undefined || !matches(rule.filter, subject)) continue
    for (const t of rule.transitions) {
      const at = t.days !== undefined ? dueAfter(lastModified, t.days, dayMs) : new Date(t.date as string)
      if (at <= now && transitionSizeAllowed(config, rule, t.storageClass, subject.size) && classRank(t.storageClass) > classRank(due)) due = t.storageClass
    }
  }
  return due
}

/** The coldest class the NoncurrentVersionTransition rules have made due for a noncurrent version (see noncurrentDue). */
export function noncurrentTransitionDue (config: LifecycleConfiguration, subject: Subject, since: Date, newer: number, now: Date, dayMs: number): string | undefined {
  let due: string | undefined
  for (const rule of config.rules) {
    if (!rule.enabled || rule.noncurrentTransitions === undefined || !matches(rule.filter, subject)) continue
    for (const t of rule.noncurrentTransitions) {
      if (t.newerNoncurrentVersions !== undefined && newer < t.newerNoncurrentVersions) continue
      if (dueAfter(since, t.noncurrentDays, dayMs) <= now && transitionSizeAllowed(config, rule, t.storageClass, subject.size) &&
        classRank(t.storageClass) > classRank(due)) due = t.storageClass
    }
  }
  return due
}

/** Whether a delete marker that is a key's only version is to be removed (ExpiredObjectDeleteMarker). */
export function removesLoneMarker (config: LifecycleConfiguration, key: string): boolean {
  return config.rules.some(rule => rule.enabled && rule.expiration?.expiredObjectDeleteMarker === true && matches(rule.filter, { key, size: 0, tags: [] }))
}

/** Whether a multipart upload initiated at `initiated` is to be aborted now. */
export function abortDue (config: LifecycleConfiguration, key: string, initiated: Date, now: Date, dayMs: number): boolean {
  return config.rules.some(rule => rule.enabled && rule.abortIncompleteDays !== undefined &&
    matches(rule.filter, { key, size: 0, tags: [] }) && dueAfter(initiated, rule.abortIncompleteDays, dayMs) <= now)
}

/** Whether any enabled rule of the configuration reads tags (so a pass must load them). */
export function readsTags (config: LifecycleConfiguration): boolean {
  return config.rules.some(rule => rule.enabled && filterNeedsTags(rule.filter))
}

/**
 * The `x-amz-expiration` header of a current version an Expiration rule will expire:
 * `expiry-date="<HTTP date>", rule-id="<URL-encoded id>"`, as Amazon S3 sends it on PUT, GET and
 * HEAD. Empty when no rule expires it.
 */
export function expirationHeader (config: LifecycleConfiguration | undefined, version: Subject & { lastModified: Date }, dayMs: number): Record<string, string> {
  if (config === undefined) return {}
  const expiry = currentExpiry(config, version, version.lastModified, dayMs)
  if (expiry === undefined) return {}
  return { 'x-amz-expiration': `expiry-date="${expiry.at.toUTCString()}", rule-id="${encodeURIComponent(expiry.ruleId)}"` }
}

/** `x-amz-expiration` of a bucket's current version under the bucket's stored rules (see expirationHeader). */
export function bucketExpirationHeader (bucket: Pick<BucketRecord, 'config'> | undefined, version: Subject & { lastModified: Date }, dayMs: number): Record<string, string> {
  return expirationHeader(fromStoredLifecycle(bucket?.config?.lifecycle), version, dayMs)
}
