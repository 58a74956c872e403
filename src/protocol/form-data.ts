import { S3Error } from '../errors.js'

/**
 * A browser form upload (S3 "POST Object") as read from its multipart/form-data body: the fields
 * that came before the file, and the file itself as a stream.
 */
export interface PostForm {
  /** Fields that came before the file part; names lower-cased (S3 matches them case-insensitively); values utf-8. The first of repeated names wins. */
  fields: Map<string, string>
  /**
   * The part named `file`. `filename` is as the client sent it (possibly a path, see
   * `expandFilename`), '' when it sent none. `stream` yields the file's bytes and ends at the
   * part's closing boundary, after reading and discarding the rest of the body (S3 ignores fields
   * after the file). It can be iterated once; it throws MalformedPOSTRequest when the body ends
   * before the boundary. Breaking out of it early stops reading the body. Undefined when the form
   * has no file part (S3 then answers InvalidArgument "POST requires exactly one file upload per
   * request.").
   */
  file?: { filename: string, contentType?: string, stream: AsyncIterable<Uint8Array> }
}

/** S3's limit on the form data and boundaries before the file's content: 20 KB. */
export const MAX_POST_PRE_DATA_BYTES = 20 * 1024

const MAX_BOUNDARY_LENGTH = 256
const CRLF = Buffer.from('\r\n')
const EMPTY = Buffer.alloc(0)

/**
 * Reads a multipart/form-data body up to the start of its file part, keeping memory bounded
 * whatever the size of the file: the file is left unread, for `file.stream`.
 *
 * `contentType` is the request's Content-Type header. Throws PreconditionFailed when it is not
 * multipart/form-data (as S3 does for a bucket POST of another enclosure type),
 * MalformedPOSTRequest when it has no boundary or the body is not well-formed,
 * MaxPostPreDataLengthExceededError when more than 20 KB come before the file's content.
 *
 * @example
 * const form = await readPostForm(req.body, req.headers['content-type'])
 * if (form.file === undefined) throw new S3Error('InvalidArgument', 'POST requires exactly one file upload per request.')
 * for await (const chunk of form.file.stream) store(chunk)
 */
export async function readPostForm (body: AsyncIterable<Uint8Array>, contentType: string | undefined): Promise<PostForm> {
  const delimiter = Buffer.from(`\r\n--${boundaryOf(contentType)}`)
  // A CRLF in front lets the first boundary, which opens the body, be found as any other.
  const input = new Input(body[Symbol.asyncIterator](), CRLF, MAX_POST_PRE_DATA_BYTES)
  const fields = new Map<string, string>()
  try {
    const first = await input.find(delimiter)
    if (first < 0) throw malformed()
    input.skip(first + delimiter.length)
    while (await nextPart(input)) {
      const { name, filename, contentType } = await readPartHeaders(input)
      if (name === 'file') {
        input.limit = Infinity
        return { fields, file: { filename: filename ?? '', contentType, stream: fileStream(input, delimiter) } }
      }
      const end = await input.find(delimiter)
      if (end < 0) throw malformed()
      if (!fields.has(name)) fields.set(name, input.window().toString('utf8', 0, end))
      input.skip(end + delimiter.length)
    }
    return { fields }
  } catch (err) {
    await input.close()
    throw err
  }
}

/**
 * The value of a form field with `${filename}` replaced by the uploaded file's name, as S3 does
 * for the key field: only the text after the file name's last `/` or `\` is used.
 */
export function expandFilename (value: string, filename: string): string {
  const base = filename.slice(Math.max(filename.lastIndexOf('/'), filename.lastIndexOf('\\')) + 1)
  return value.split('${filename}').join(base)
}

function boundaryOf (contentType: string | undefined): string {
  const parsed = contentType === undefined ? undefined : parseHeaderValue(contentType)
  if (parsed?.value.toLowerCase() !== 'multipart/form-data') {
    throw new S3Error('PreconditionFailed', undefined, { Condition: 'Bucket POST must be of the enclosure-type multipart/form-data' })
  }
  const boundary = parsed.params.get('boundary')
  if (boundary === undefined || boundary === '' || boundary.length > MAX_BOUNDARY_LENGTH) throw malformed()
  return boundary
}

/**
 * Reads the rest of a boundary line. False when it was the closing boundary, or the body ended
 * right after a boundary (a missing final `--` is forgiven).
 */
async function nextPart (input: Input): Promise<boolean> {
  await input.ensure(2)
  const head = input.window()
  if (head.length === 0 || (head[0] === 0x2d && head[1] === 0x2d)) return false
  const eol = await input.find(CRLF)
  const line = eol < 0 ? input.window() : input.window().subarray(0, eol)
  // RFC 2046 lets whitespace follow a boundary on its line; anything else is a broken boundary.
  if (!line.every((b) => b === 0x20 || b === 0x09)) throw malformed()
  if (eol < 0) return false
  input.skip(eol + CRLF.length)
  return true
}

interface PartHeaders { name: string, filename?: string, contentType?: string }

async function readPartHeaders (input: Input): Promise<PartHeaders> {
  const headers = new Map<string, string>()
  let last: string | undefined
  for (;;) {
    const eol = await input.find(CRLF)
    if (eol < 0) throw malformed()
    const line = input.window().toString('utf8', 0, eol)
    input.skip(eol + CRLF.length)
    if (line === '') break
    if ((line[0] === ' ' || line[0] === '\t') && last !== undefined) {
      headers.set(last, `${headers.get(last) ?? ''} ${line.trim()}`)
      continue
    }
    const colon = line.indexOf(':')
    if (colon <= 0) throw malformed()
    last = line.slice(0, colon).trim().toLowerCase()
    if (!headers.has(last)) headers.set(last, line.slice(colon + 1).trim())
  }
  const disposition = headers.get('content-disposition')
  const parsed = disposition === undefined ? undefined : parseHeaderValue(disposition)
  const name = parsed?.params.get('name')
  if (parsed?.value.toLowerCase() !== 'form-data' || name === undefined) throw malformed()
  const extended = parsed.params.get('filename*')
  const filename = (extended === undefined ? undefined : decodeExtendedValue(extended)) ?? parsed.params.get('filename')
  const type = headers.get('content-type')
  return { name: name.toLowerCase(), filename, contentType: type === '' ? undefined : type }
}

function fileStream (input: Input, delimiter: Buffer): AsyncIterable<Uint8Array> {
  let used = false
  return {
    [Symbol.asyncIterator] () {
      if (used) throw new Error('The file of a POST form can be read only once')
      used = true
      return streamFile(input, delimiter)[Symbol.asyncIterator]()
    }
  }
}

async function * streamFile (input: Input, delimiter: Buffer): AsyncGenerator<Uint8Array> {
  let complete = false
  try {
    let data = input.take()
    for (;;) {
      const end = data.indexOf(delimiter)
      if (end >= 0) {
        if (end > 0) yield data.subarray(0, end)
        await input.drain()
        complete = true
        return
      }
      // Everything up to a possible start of the delimiter at the very end is file content.
      const keep = partialMatchStart(data, delimiter)
      if (keep > 0) yield data.subarray(0, keep)
      const tail = data.subarray(keep)
      const chunk = await input.nextChunk()
      if (chunk === undefined) throw malformed()
      data = tail.length === 0 ? chunk : Buffer.concat([tail, chunk])
    }
  } finally {
    if (!complete) await input.close()
  }
}

/** Where the longest suffix of `data` that is a proper prefix of `delimiter` starts (`data.length` if none). */
function partialMatchStart (data: Buffer, delimiter: Buffer): number {
  let k = Math.max(0, data.length - delimiter.length + 1)
  for (;;) {
    k = data.indexOf(delimiter[0], k)
    if (k < 0) return data.length
    if (data.subarray(k).equals(delimiter.subarray(0, data.length - k))) return k
    k++
  }
}

/**
 * The request body as a window of unread bytes. Chunks are kept as they come while the window is
 * otherwise empty; bytes that must wait for more are copied into a buffer that grows by doubling,
 * so that 1-byte chunks cost no more than large ones.
 */
class Input {
  private buf: Buffer
  private start = 0
  private end: number
  private owned = false
  private ended = false
  /** Body bytes skipped so far. */
  private offset: number
  /** `find` fails with MaxPostPreDataLengthExceededError when its match would end past this many body bytes. */
  limit: number

  constructor (private readonly source: AsyncIterator<Uint8Array>, prefix: Buffer, limit: number) {
    this.buf = prefix
    this.end = prefix.length
    this.offset = -prefix.length
    this.limit = limit
  }

  window (): Buffer {
    return this.buf.subarray(this.start, this.end)
  }

  skip (n: number): void {
    this.start += n
    this.offset += n
  }

  /** Hands the window over to the caller and empties it. */
  take (): Buffer {
    const w = this.window()
    this.offset += w.length
    this.buf = EMPTY
    this.start = this.end = 0
    this.owned = false
    return w
  }

  /** The window if it holds anything, else the next chunk of the body; undefined at its end. */
  async nextChunk (): Promise<Buffer | undefined> {
    if (this.end === this.start && !await this.pull()) return undefined
    return this.take()
  }

  /** Position of `needle` in the window, reading more of the body as needed; -1 if the body ends first. */
  async find (needle: Buffer): Promise<number> {
    let from = 0
    for (;;) {
      const w = this.window()
      const at = w.indexOf(needle, from)
      if (at >= 0) {
        if (this.offset + at + needle.length > this.limit) throw tooMuchPreData()
        return at
      }
      // A match can only end past everything read so far.
      if (this.offset + w.length + 1 > this.limit) throw tooMuchPreData()
      from = Math.max(0, w.length - needle.length + 1)
      if (!await this.pull()) return -1
    }
  }

  /** Reads until the window holds `n` bytes or the body has ended. */
  async ensure (n: number): Promise<void> {
    while (this.end - this.start < n) {
      if (!await this.pull()) return
    }
  }

  /** Reads the rest of the body and forgets it. */
  async drain (): Promise<void> {
    this.take()
    while (!this.ended) {
      const r = await this.source.next()
      if (r.done === true) this.ended = true
    }
  }

  /** Stops reading the body. */
  async close (): Promise<void> {
    if (this.ended) return
    this.ended = true
    await this.source.return?.()
  }

  private async pull (): Promise<boolean> {
    while (!this.ended) {
      const r = await this.source.next()
      if (r.done === true) {
        this.ended = true
        break
      }
      if (r.value.byteLength === 0) continue
      this.append(r.value)
      return true
    }
    return false
  }

  private append (chunk: Uint8Array): void {
    const size = this.end - this.start
    if (size === 0) {
      this.buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      this.start = 0
      this.end = chunk.byteLength
      this.owned = false
      return
    }
    if (this.owned && this.buf.length - this.end >= chunk.byteLength) {
      this.buf.set(chunk, this.end)
      this.end += chunk.byteLength
      return
    }
    const next = Buffer.allocUnsafe(Math.max(2 * (size + chunk.byteLength), 1024))
    this.buf.copy(next, 0, this.start, this.end)
    next.set(chunk, size)
    this.buf = next
    this.start = 0
    this.end = size + chunk.byteLength
    this.owned = true
  }
}

/**
 * `type/subtype; a=b; c="d"` or `form-data; name="x"`: the value and its parameters (names
 * lower-cased, first occurrence wins). In quoted strings a backslash escapes only `"` and `\`, so
 * the Windows paths some browsers send as file names keep their backslashes.
 */
function parseHeaderValue (header: string): { value: string, params: Map<string, string> } {
  const params = new Map<string, string>()
  let i = header.indexOf(';')
  const value = (i < 0 ? header : header.slice(0, i)).trim()
  while (i >= 0 && i < header.length) {
    i++
    const eq = header.indexOf('=', i)
    const semi = header.indexOf(';', i)
    if (eq < 0 || (semi >= 0 && semi < eq)) {
      i = semi
      continue
    }
    const name = header.slice(i, eq).trim().toLowerCase()
    let j = eq + 1
    while (header[j] === ' ' || header[j] === '\t') j++
    let v = ''
    if (header[j] === '"') {
      for (j++; j < header.length && header[j] !== '"'; j++) {
        if (header[j] === '\\' && (header[j + 1] === '"' || header[j + 1] === '\\')) j++
        v += header[j]
      }
      i = header.indexOf(';', j)
    } else {
      const stop = header.indexOf(';', j)
      v = (stop < 0 ? header.slice(j) : header.slice(j, stop)).trim()
      i = stop
    }
    if (name !== '' && !params.has(name)) params.set(name, v)
  }
  return { value, params }
}

/** An RFC 8187 `charset'lang'percent-encoded` value, or undefined when it is not one. */
function decodeExtendedValue (value: string): string | undefined {
  const m = /^([^']*)'[^']*'(.*)$/.exec(value)
  if (m === null) return undefined
  const charset = m[1].toLowerCase()
  try {
    if (charset === 'utf-8') return decodeURIComponent(m[2])
    if (charset === 'iso-8859-1') return m[2].replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  } catch {}
  return undefined
}

function malformed (): S3Error {
  return new S3Error('MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.')
}

function tooMuchPreData (): S3Error {
  return new S3Error('MaxPostPreDataLengthExceededError', 'Your POST request fields preceding the upload file were too large.')
}
