import { S3Error } from '../errors.js'

export interface ByteRange {
  /** First byte, inclusive. */
  start: number
  /** Last byte, inclusive. */
  end: number
}

/**
 * Interprets a Range header against an object of `size` bytes, as S3 does: one `bytes=` range in the
 * forms `a-b`, `a-` and `-n`. A header S3 would ignore (not a single well-formed bytes range) gives
 * `undefined`, meaning the whole object. A well-formed range that selects nothing is InvalidRange.
 */
export function parseRange (header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  if (m === null) return undefined
  const [, first, last] = m
  if (first === '' && last === '') return undefined
  if (first === '') {
    const suffix = Number(last)
    if (!Number.isSafeInteger(suffix)) return undefined
    if (suffix === 0 || size === 0) throw invalidRange(size)
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  const end = last === '' ? size - 1 : Number(last)
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return undefined
  if (last !== '' && end < start) return undefined
  if (start >= size) throw invalidRange(size)
  return { start, end: Math.min(end, size - 1) }
}

export function invalidRange (size: number): S3Error {
  return new S3Error('InvalidRange', undefined, { ActualObjectSize: String(size) }, { 'content-range': `bytes */${size}` })
}

export function contentRange (range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`
}
