import { S3Error } from '../errors.js'
import { parseHttpDate } from './headers.js'

export interface ConditionTarget {
  /** Quoted-free ETag of the current object. */
  etag: string
  lastModified: Date
}

export interface Conditions {
  ifMatch?: string
  ifNoneMatch?: string
  ifModifiedSince?: string
  ifUnmodifiedSince?: string
}

function etagList (header: string): string[] {
  return header.split(',').map(s => s.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1')).filter(s => s !== '')
}

function etagMatches (header: string, etag: string): boolean {
  return etagList(header).some(t => t === '*' || t === etag)
}

/** Second precision, as HTTP dates carry. */
function seconds (d: Date): number { return Math.floor(d.getTime() / 1000) }

/**
 * Evaluates GET/HEAD preconditions in S3's order (RFC 9110 13.2.2): If-Match, else
 * If-Unmodified-Since (412); then If-None-Match, else If-Modified-Since (304).
 * Unparseable dates are ignored, as S3 does.
 */
export function checkConditions (c: Conditions, target: ConditionTarget, failure: { notModified: boolean } = { notModified: true }): void {
  if (c.ifMatch !== undefined) {
    if (!etagMatches(c.ifMatch, target.etag)) throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Match' })
  } else if (c.ifUnmodifiedSince !== undefined) {
    const date = parseHttpDate(c.ifUnmodifiedSince)
    if (date !== undefined && seconds(target.lastModified) > seconds(date)) {
      throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Unmodified-Since' })
    }
  }
  if (c.ifNoneMatch !== undefined) {
    if (etagMatches(c.ifNoneMatch, target.etag)) throw notModifiedOr412(failure, 'If-None-Match', target)
  } else if (c.ifModifiedSince !== undefined) {
    const date = parseHttpDate(c.ifModifiedSince)
    if (date !== undefined && seconds(target.lastModified) <= seconds(date)) {
      throw notModifiedOr412(failure, 'If-Modified-Since', target)
    }
  }
}

function notModifiedOr412 (failure: { notModified: boolean }, condition: string, target: ConditionTarget): S3Error {
  if (failure.notModified) {
    return new S3Error('NotModified', undefined, {}, { etag: `"${target.etag}"`, 'last-modified': target.lastModified.toUTCString() })
  }
  return new S3Error('PreconditionFailed', undefined, { Condition: condition })
}

/**
 * CopyObject / UploadPartCopy source conditions (`x-amz-copy-source-if-*`). Every failure is 412,
 * with S3's pairing: if-match true overrides if-unmodified-since false; if-none-match false with
 * if-modified-since true is still 412.
 */
export function checkCopySourceConditions (headers: Record<string, string>, target: ConditionTarget): void {
  checkConditions({
    ifMatch: headers['x-amz-copy-source-if-match'],
    ifNoneMatch: headers['x-amz-copy-source-if-none-match'],
    ifModifiedSince: headers['x-amz-copy-source-if-modified-since'],
    ifUnmodifiedSince: headers['x-amz-copy-source-if-unmodified-since'],
  }, target, { notModified: false })
}
