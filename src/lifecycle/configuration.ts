import { randomBytes } from 'node:crypto'
import { S3Error } from '../errors.js'
import { validateTags } from '../protocol/headers.js'
import { childText, children, parseXml, type XmlNode } from '../xml/parse.js'
import type { XmlObject } from '../xml/render.js'
import { noncurrentTransitionsXml, parseNoncurrentTransitions, parseTransitions, transitionsXml } from './transitions.js'
import type { NoncurrentTransition, Transition, TransitionOptions } from './transitions.js'

/**
 * A bucket's lifecycle configuration as Amazon S3 defines it (PutBucketLifecycleConfiguration):
 * parsed and validated with S3's errors, stored as JSON, rendered back for
 * GetBucketLifecycleConfiguration. Pure; applying the rules is pass.ts.
 */

export interface LifecycleFilter {
  prefix?: string
  /** Every tag must be on the object (key = value). */
  tags: Array<[string, string]>
  /** Bytes; the object must be larger. */
  sizeGreaterThan?: number
  /** Bytes; the object must be smaller. */
  sizeLessThan?: number
}

export interface LifecycleRule {
  id: string
  enabled: boolean
  /** How the rule named its objects: the legacy top-level `<Prefix>`, or `<Filter>`. */
  legacyPrefix: boolean
  filter: LifecycleFilter
  expiration?: { days?: number, date?: string, expiredObjectDeleteMarker?: boolean }
  noncurrentExpiration?: { noncurrentDays?: number, newerNoncurrentVersions?: number }
  abortIncompleteDays?: number
  /** Absent in configurations stored before transitions existed: none. */
  transitions?: Transition[]
  noncurrentTransitions?: NoncurrentTransition[]
}

/**
 * How small objects transition (`x-amz-transition-default-minimum-object-size`): by default none
 * under 128 KiB moves; `varies_by_storage_class` lets GLACIER and DEEP_ARCHIVE take any size.
 */
export type MinimumObjectSize = 'all_storage_classes_128K' | 'varies_by_storage_class'

export interface LifecycleConfiguration {
  rules: LifecycleRule[]
  /** Absent: the default, all_storage_classes_128K. */
  minimumObjectSize?: MinimumObjectSize
}

const MAX_RULES = 1000
const MAX_ID_LENGTH = 255
const MAX_NEWER_NONCURRENT = 100

const malformed = (): S3Error => new S3Error('MalformedXML')
const invalid = (message: string): S3Error => new S3Error('InvalidArgument', message)
const invalidRequest = (message: string): S3Error => new S3Error('InvalidRequest', message)

function positive (text: string | undefined, message: string): number | undefined {
  if (text === undefined) return undefined
  const value = text.trim()
  if (!/^-?\d+$/.test(value)) throw malformed()
  const n = Number(value)
  if (n <= 0 || !Number.isSafeInteger(n)) throw invalid(message)
  return n
}

function size (text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const value = text.trim()
  if (!/^\d+$/.test(value)) throw malformed()
  return Number(value)
}

function tagOf (node: XmlNode): [string, string] {
  const key = childText(node, 'Key')
  const value = childText(node, 'Value')
  if (key === undefined || value === undefined) throw malformed()
  return [key, value]
}

/** The `<Filter>` of a rule: empty (every object), or exactly one of Prefix, Tag, size or And. */
function parseFilter (node: XmlNode): LifecycleFilter {
  const kinds = ['Prefix', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan', 'And'].filter(k => node[k] !== undefined)
  if (kinds.length > 1) throw malformed()
  const filter: LifecycleFilter = { tags: [] }
  const and = children(node, 'And')
  if (and.length > 1) throw malformed()
  const source = and.length === 1 ? and[0] : node
  const prefix = childText(source, 'Prefix')
  if (prefix !== undefined) filter.prefix = prefix
  filter.tags = validateTags(children(source, 'Tag').map(tagOf), 'bucket')
  if (and.length === 0 && filter.tags.length > 1) throw malformed()
  const greater = size(childText(source, 'ObjectSizeGreaterThan'))
  const less = size(childText(source, 'ObjectSizeLessThan'))
  if (greater !== undefined) filter.sizeGreaterThan = greater
  if (less !== undefined) filter.sizeLessThan = less
  if (greater !== undefined && less !== undefined && greater >= less) {
    throw invalid('Invalid object size range: ObjectSizeGreaterThan must be less than ObjectSizeLessThan')
  }
  return filter
}

/** An ISO 8601 date at midnight UTC, as S3 requires for `<Date>`. */
function midnight (text: string): string {
  const value = text.trim()
  const ms = Date.parse(value)
  if (!/^\d{4}-\d{2}-\d{2}(T00:00:00(\.0+)?(Z|[+-]00:?00)?)?$/.test(value) || Number.isNaN(ms)) {
    throw invalid('\'Date\' must be at midnight GMT')
  }
  return new Date(ms).toISOString()
}

function parseRule (node: XmlNode, index: number, options: TransitionOptions): LifecycleRule {
  const status = childText(node, 'Status')
  if (status !== 'Enabled' && status !== 'Disabled') throw malformed()
  const id = childText(node, 'ID') ?? ''
  if (id.length > MAX_ID_LENGTH) throw invalid('ID length should not exceed allowed limit of 255')
  const legacy = childText(node, 'Prefix')
  const filters = children(node, 'Filter')
  if (filters.length > 1 || (legacy !== undefined && filters.length > 0)) throw malformed()
  const filter = filters.length === 1 ? parseFilter(filters[0]) : { tags: [], ...(legacy === undefined ? {} : { prefix: legacy }) }
  const rule: LifecycleRule = { id: id === '' ? generatedId(index) : id, enabled: status === 'Enabled', legacyPrefix: filters.length === 0, filter }

  const transitions = parseTransitions(node, options)
  const noncurrentTransitions = parseNoncurrentTransitions(node, options)
  if (transitions.length > 0) rule.transitions = transitions
  if (noncurrentTransitions.length > 0) rule.noncurrentTransitions = noncurrentTransitions
  const expirations = children(node, 'Expiration')
  if (expirations.length > 1) throw malformed()
  if (expirations.length === 1) {
    const e = expirations[0]
    const days = positive(childText(e, 'Days'), '\'Days\' for Expiration action must be a positive integer')
    const dateText = childText(e, 'Date')
    const markerText = childText(e, 'ExpiredObjectDeleteMarker')
    if (markerText !== undefined && markerText !== 'true' && markerText !== 'false') throw malformed()
    const given = [days !== undefined, dateText !== undefined, markerText !== undefined].filter(Boolean).length
    if (given !== 1) throw malformed()
    rule.expiration = days !== undefined ? { days } : dateText !== undefined ? { date: midnight(dateText) } : { expiredObjectDeleteMarker: markerText === 'true' }
    if (rule.expiration.expiredObjectDeleteMarker === true && filter.tags.length > 0) {
      throw invalidRequest('ExpiredObjectDeleteMarker cannot be specified with object tags')
    }
  }
  const noncurrent = children(node, 'NoncurrentVersionExpiration')
  if (noncurrent.length > 1) throw malformed()
  if (noncurrent.length === 1) {
    const nc = noncurrent[0]
    const noncurrentDays = positive(childText(nc, 'NoncurrentDays'), '\'NoncurrentDays\' for NoncurrentVersionExpiration action must be a positive integer')
    const newer = positive(childText(nc, 'NewerNoncurrentVersions'), '\'NewerNoncurrentVersions\' for NoncurrentVersionExpiration action must be a positive integer')
    if (noncurrentDays === undefined) throw malformed()
    if (newer !== undefined && newer > MAX_NEWER_NONCURRENT) throw invalid('\'NewerNoncurrentVersions\' for NoncurrentVersionExpiration action must be at most 100')
    rule.noncurrentExpiration = { noncurrentDays, ...(newer === undefined ? {} : { newerNoncurrentVersions: newer }) }
  }
  const abort = children(node, 'AbortIncompleteMultipartUpload')
  if (abort.length > 1) throw malformed()
  if (abort.length === 1) {
    const days = positive(childText(abort[0], 'DaysAfterInitiation'), '\'DaysAfterInitiation\' for AbortIncompleteMultipartUpload action must be a positive integer')
    if (days === undefined) throw malformed()
    if (filter.tags.length > 0 || filter.sizeGreaterThan !== undefined || filter.sizeLessThan !== undefined) {
      throw invalidRequest('AbortIncompleteMultipartUpload cannot be specified with tags or object size filters')
    }
    rule.abortIncompleteDays = days
  }
  if (rule.expiration === undefined && rule.noncurrentExpiration === undefined && rule.abortIncompleteDays === undefined &&
    transitions.length === 0 && noncurrentTransitions.length === 0) {
    throw invalidRequest('At least one action needs to be specified in a rule')
  }
  const expirationDays = rule.expiration?.days
  if (expirationDays !== undefined && transitions.some(t => t.days !== undefined && t.days >= expirationDays)) {
    throw invalid('\'Days\' in the Expiration action must be greater than \'Days\' in the Transition action')
  }
  const noncurrentDays = rule.noncurrentExpiration?.noncurrentDays
  if (noncurrentDays !== undefined && noncurrentTransitions.some(t => t.noncurrentDays >= noncurrentDays)) {
    throw invalid('\'NoncurrentDays\' in the NoncurrentVersionExpiration action must be greater than \'NoncurrentDays\' in the NoncurrentVersionTransition action')
  }
  return rule
}

function generatedId (index: number): string {
  return `${randomBytes(18).toString('base64url')}${index}`
}

export interface ParseOptions {
  /** An archive target is configured (transitions to archive classes can be applied). Default false. */
  archiving?: boolean
  /** The request's `x-amz-transition-default-minimum-object-size`. */
  minimumObjectSize?: string
}

/** The body of PutBucketLifecycleConfiguration, validated as S3 does. */
export function parseLifecycleConfiguration (body: Uint8Array, options: ParseOptions = {}): LifecycleConfiguration {
  const minimum = options.minimumObjectSize
  if (minimum !== undefined && minimum !== 'all_storage_classes_128K' && minimum !== 'varies_by_storage_class') {
    throw new S3Error('InvalidArgument', 'Invalid x-amz-transition-default-minimum-object-size', { ArgumentName: 'x-amz-transition-default-minimum-object-size', ArgumentValue: minimum })
  }
  const doc = parseXml(body, 'LifecycleConfiguration')
  const transitionOptions: TransitionOptions = { archiving: options.archiving ?? false, midnight }
  const rules = children(doc, 'Rule').map((node, index) => parseRule(node, index, transitionOptions))
  if (rules.length === 0 || rules.length > MAX_RULES) throw malformed()
  const ids = new Set<string>()
  for (const rule of rules) {
    if (ids.has(rule.id)) throw invalid('Rule ID must be unique. Found same ID for more than one rule')
    ids.add(rule.id)
  }
  return minimum === 'varies_by_storage_class' ? { rules, minimumObjectSize: minimum } : { rules }
}

export function toStoredLifecycle (config: LifecycleConfiguration): string {
  return JSON.stringify(config)
}

const PARSED_CACHE_SIZE = 100
/** Stored configurations by text: GET and HEAD (x-amz-expiration) parse none they have seen before. */
const parsed = new Map<string, LifecycleConfiguration | undefined>()

/** A stored configuration, parsed once per distinct text (treat it as read-only). */
export function fromStoredLifecycle (text: string | undefined): LifecycleConfiguration | undefined {
  if (text === undefined) return undefined
  if (parsed.has(text)) return parsed.get(text)
  const config = JSON.parse(text) as LifecycleConfiguration
  const result = Array.isArray(config?.rules) ? config : undefined
  if (parsed.size >= PARSED_CACHE_SIZE) parsed.delete(parsed.keys().next().value as string)
  parsed.set(text, result)
  return result
}

function filterXml (filter: LifecycleFilter): XmlObject {
  const tags = filter.tags.map(([Key, Value]) => ({ Key, Value }))
  const predicates = (filter.prefix !== undefined ? 1 : 0) + tags.length +
    (filter.sizeGreaterThan !== undefined ? 1 : 0) + (filter.sizeLessThan !== undefined ? 1 : 0)
  const body: XmlObject = {
    Prefix: filter.prefix,
    Tag: tags.length === 0 ? undefined : tags,
    ObjectSizeGreaterThan: filter.sizeGreaterThan,
    ObjectSizeLessThan: filter.sizeLessThan,
  }
  return predicates > 1 ? { And: body } : body
}

/** The `<LifecycleConfiguration>` body of GetBucketLifecycleConfiguration. */
export function lifecycleXml (config: LifecycleConfiguration): XmlObject {
  return {
    Rule: config.rules.map(rule => ({
      Expiration: rule.expiration === undefined
        ? undefined
        : { Days: rule.expiration.days, Date: rule.expiration.date, ExpiredObjectDeleteMarker: rule.expiration.expiredObjectDeleteMarker },
      ID: rule.id,
      ...(rule.legacyPrefix ? { Prefix: rule.filter.prefix ?? '' } : { Filter: filterXml(rule.filter) }),
      Status: rule.enabled ? 'Enabled' : 'Disabled',
      Transition: transitionsXml(rule.transitions ?? []),
      NoncurrentVersionTransition: noncurrentTransitionsXml(rule.noncurrentTransitions ?? []),
      NoncurrentVersionExpiration: rule.noncurrentExpiration === undefined
        ? undefined
        : { NoncurrentDays: rule.noncurrentExpiration.noncurrentDays, NewerNoncurrentVersions: rule.noncurrentExpiration.newerNoncurrentVersions },
      AbortIncompleteMultipartUpload: rule.abortIncompleteDays === undefined ? undefined : { DaysAfterInitiation: rule.abortIncompleteDays },
    })),
  }
}
