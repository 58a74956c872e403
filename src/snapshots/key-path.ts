/**
 * The reversible rule between S3 keys and UnixFS paths (see SNAPSHOTS-README.md, "Keys and paths").
 *
 * A key is split at its slashes into names, except where a split would make a name that cannot be
 * a path segment. Each name is then written as one or more segments:
 *
 * - `%` is written `%25`; a `/` kept inside a name is written `%2F`.
 * - A key is not split where the name before the slash would be empty (a leading slash, `a//b`)
 *   or the name after it would be (a trailing slash: the folder marker `photos/` is the file
 *   `photos%2F` beside the directory `photos`).
 * - A name that is also a file of the same directory (keys `a` and `a/b`) is not split there
 *   either: the file stays `a`, the other key becomes the file `a%2Fb` beside it.
 * - A name that is exactly `.` or `..` is written `%2E` or `%2E%2E`; the empty name (the key equal
 *   to a snapshot's prefix) is written `%`.
 * - A segment longer than 255 UTF-8 bytes is cut (at a character, never inside an escape) into
 *   directories of at most 255 bytes each ending in a bare `%`, meaning "no slash here".
 *
 * Reading a path back (`pathToKey`): a segment that is exactly `%` is the empty name; a bare `%`
 * ending a directory's name joins it to the next segment without a slash; otherwise segments are
 * joined with `/`; and in each, `%25`, `%2F` and `%2E` (upper-case only) become `%`, `/` and `.`.
 * Nothing else is decoded, so names from any directory (e.g. `ipfs add -r`) read back as
 * themselves unless they hold those exact sequences or, for a directory, end in a bare `%`.
 */

/** The longest segment written, in UTF-8 bytes (NAME_MAX of common file systems). */
export const MAX_SEGMENT_BYTES = 255

const utf8 = new TextEncoder()

/** The segments one name (a part of a key, possibly holding `/`) is written as: usually one. */
export function nameToSegments (name: string): string[] {
  if (name === '') return ['%']
  let escaped = name.replaceAll('%', '%25').replaceAll('/', '%2F')
  const segments: string[] = []
  while (utf8.encode(escaped).byteLength > MAX_SEGMENT_BYTES) {
    const cut = cutPoint(escaped, MAX_SEGMENT_BYTES - 1)
    segments.push(escaped.slice(0, cut) + '%')
    escaped = escaped.slice(cut)
  }
  segments.push(escaped === '.' ? '%2E' : escaped === '..' ? '%2E%2E' : escaped)
  return segments
}

/** The string index where at most `bytes` UTF-8 bytes of `text` end: at a code point, never inside a `%XX`. */
function cutPoint (text: string, bytes: number): number {
  let used = 0
  let i = 0
  while (i < text.length) {
    const code = text.codePointAt(i) as number
    const units = code > 0xffff ? 2 : 1
    const width = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4
    if (used + width > bytes) break
    used += width
    i += units
  }
  // An escape is three ASCII characters: step back to its start when the cut falls inside one.
  if (text[i - 1] === '%') i -= 1
  else if (text[i - 2] === '%') i -= 2
  return i
}

/** A segment's escapes decoded (`%25`, `%2F`, `%2E` only). */
export function unescapeSegment (segment: string): string {
  return segment.replace(/%(25|2F|2E)/g, (_match, hex: string) => hex === '25' ? '%' : hex === '2F' ? '/' : '.')
}

/** The key a path (its segments, root first) stands for: the inverse of the rule above. */
export function pathToKey (segments: readonly string[]): string {
  let key = ''
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]
    const last = i === segments.length - 1
    if (segment === '%') {
      if (!last) key += '/'
      continue
    }
    if (!last && segment.endsWith('%')) {
      key += unescapeSegment(segment.slice(0, -1))
      continue
    }
    key += unescapeSegment(segment)
    if (!last) key += '/'
  }
  return key
}

/**
 * How a key is split into names in one directory: the first name of `rest` (the key's part below
 * the directory), given the names of the files the directory already has that `rest` starts with.
 * `file` when the name is the whole of `rest`.
 */
export function firstName (rest: string, files: readonly string[]): { name: string, file: boolean } {
  let end = rest.indexOf('/')
  while (end !== -1) {
    // No empty name before the slash, none after it, and no name that is a file here already.
    if (end !== 0 && end !== rest.length - 1 && !files.includes(rest.slice(0, end))) return { name: rest.slice(0, end), file: false }
    end = rest.indexOf('/', end + 1)
  }
  return { name: rest, file: true }
}
