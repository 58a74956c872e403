import { S3Error } from '../errors.js'
import { classRank, isArchiveClass } from '../archive/classes.js'
import { childText, children, type XmlNode } from '../xml/parse.js'
import type { XmlObject } from '../xml/render.js'

/**
 * The Transition and NoncurrentVersionTransition actions of lifecycle rules: parsed and validated
 * as S3 does, and rendered back. Which versions they move, and when, is rules.ts.
 */

export interface Transition {
  days?: number
  /** ISO date at midnight UTC. */
  date?: string
  storageClass: string
}

export interface NoncurrentTransition {
  noncurrentDays: number
  newerNoncurrentVersions?: number
  storageClass: string
}

/** The classes a lifecycle rule may move objects to. */
const TRANSITION_CLASSES = new Set(['GLACIER', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'DEEP_ARCHIVE', 'GLACIER_IR'])
/** Classes S3 moves objects to only 30 days after creation (or after they became noncurrent). */
const THIRTY_DAY_CLASSES = new Set(['STANDARD_IA', 'ONEZONE_IA'])
const MAX_NEWER_NONCURRENT = 100

const malformed = (): S3Error => new S3Error('MalformedXML')
const invalid = (message: string): S3Error => new S3Error('InvalidArgument', message)

function count (text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const value = text.trim()
  if (!/^-?\d+$/.test(value)) throw malformed()
  return Number(value)
}

function storageClassOf (node: XmlNode): string {
  const storageClass = childText(node, 'StorageClass')
  if (storageClass === undefined || !TRANSITION_CLASSES.has(storageClass)) throw malformed()
  return storageClass
}

export interface TransitionOptions {
  /** An archive target is configured: transitions to GLACIER_IR, GLACIER and DEEP_ARCHIVE can be applied. */
  archiving: boolean
  /** Parses `<Date>` (midnight UTC) into ISO text, with S3's error. */
  midnight: (text: string) => string
}

function requireArchiving (storageClass: string, options: TransitionOptions): void {
  if (isArchiveClass(storageClass) && !options.archiving) {
    throw new S3Error('NotImplemented', `Transitions to ${storageClass} need an archive target, and this gateway has none configured.`)
  }
}

/** A rule's `<Transition>` elements, validated: one class each, days rising with colder classes. */
export function parseTransitions (rule: XmlNode, options: TransitionOptions): Transition[] {
  const transitions = children(rule, 'Transition').map((node): Transition => {
    const days = count(childText(node, 'Days'))
    const dateText = childText(node, 'Date')
    if ((days === undefined) === (dateText === undefined)) throw malformed()
    const storageClass = storageClassOf(node)
    if (days !== undefined && days < 0) throw invalid('\'Days\' in Transition action must be nonnegative')
    if (days !== undefined && THIRTY_DAY_CLASSES.has(storageClass) && days < 30) {
      throw invalid(`'Days' in Transition action for StorageClass ${storageClass} must be greater than or equal to 30`)
    }
    requireArchiving(storageClass, options)
    return days !== undefined ? { days, storageClass } : { date: options.midnight(dateText as string), storageClass }
  })
  if (transitions.some(t => t.days !== undefined) && transitions.some(t => t.date !== undefined)) {
    throw new S3Error('InvalidRequest', 'Found mixed \'Date\' and \'Days\' based Transition actions in lifecycle rule')
  }
  checkWaterfall(transitions.map(t => ({ at: t.days ?? Date.parse(t.date as string), storageClass: t.storageClass })), 'Transition')
  return transitions
}

/** A rule's `<NoncurrentVersionTransition>` elements, validated as parseTransitions. */
export function parseNoncurrentTransitions (rule: XmlNode, options: TransitionOptions): NoncurrentTransition[] {
  const transitions = children(rule, 'NoncurrentVersionTransition').map((node): NoncurrentTransition => {
    const noncurrentDays = count(childText(node, 'NoncurrentDays'))
    if (noncurrentDays === undefined) throw malformed()
    const storageClass = storageClassOf(node)
    if (noncurrentDays < 0) throw invalid('\'NoncurrentDays\' in NoncurrentVersionTransition action must be nonnegative')
    if (THIRTY_DAY_CLASSES.has(storageClass) && noncurrentDays < 30) {
      throw invalid(`'NoncurrentDays' in NoncurrentVersionTransition action for StorageClass ${storageClass} must be greater than or equal to 30`)
    }
    const newer = count(childText(node, 'NewerNoncurrentVersions'))
    if (newer !== undefined && (newer < 1 || newer > MAX_NEWER_NONCURRENT)) {
      throw invalid('\'NewerNoncurrentVersions\' for NoncurrentVersionTransition action must be a positive integer of at most 100')
    }
    requireArchiving(storageClass, options)
    return { noncurrentDays, storageClass, ...(newer === undefined ? {} : { newerNoncurrentVersions: newer }) }
  })
  checkWaterfall(transitions.map(t => ({ at: t.noncurrentDays, storageClass: t.storageClass })), 'NoncurrentVersionTransition')
  return transitions
}

/** One transition per class, and a colder class never sooner than a warmer one. */
function checkWaterfall (steps: Array<{ at: number, storageClass: string }>, action: string): void {
  const seen = new Set<string>()
  for (const step of steps) {
    if (seen.has(step.storageClass)) throw invalid(`'StorageClass' must be different for '${action}' actions in same 'Rule'`)
    seen.add(step.storageClass)
  }
  for (const a of steps) {
    for (const b of steps) {
      if (classRank(b.storageClass) > classRank(a.storageClass) && b.at < a.at) {
        throw invalid(`'${action}' to ${b.storageClass} must not come before '${action}' to ${a.storageClass}`)
      }
    }
  }
}

export function transitionsXml (transitions: Transition[]): XmlObject[] | undefined {
  return transitions.length === 0 ? undefined : transitions.map(t => ({ Date: t.date, Days: t.days, StorageClass: t.storageClass }))
}

export function noncurrentTransitionsXml (transitions: NoncurrentTransition[]): XmlObject[] | undefined {
  return transitions.length === 0
    ? undefined
    : transitions.map(t => ({ NoncurrentDays: t.noncurrentDays, StorageClass: t.storageClass, NewerNoncurrentVersions: t.newerNoncurrentVersions }))
}
