import test from 'ava'
import type { S3Error } from '../src/errors.js'
import { readPostForm, expandFilename, MAX_POST_PRE_DATA_BYTES } from '../src/protocol/form-data.js'

const BOUNDARY = 'xYzZY-boundary'
const CONTENT_TYPE = `multipart/form-data; boundary=${BOUNDARY}`

interface Part { name: string, value: string | Uint8Array, filename?: string, contentType?: string, disposition?: string }

/** A multipart/form-data body as a browser frames it. */
function formBody (parts: Part[], opts: { boundary?: string, close?: string, preamble?: string } = {}): Buffer {
  const b = opts.boundary ?? BOUNDARY
  const out: Buffer[] = []
  if (opts.preamble !== undefined) out.push(Buffer.from(opts.preamble))
  for (const p of parts) {
    const disposition = p.disposition ?? `form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`
    out.push(Buffer.from(`--${b}\r\nContent-Disposition: ${disposition}\r\n${p.contentType === undefined ? '' : `Content-Type: ${p.contentType}\r\n`}\r\n`))
    out.push(typeof p.value === 'string' ? Buffer.from(p.value) : Buffer.from(p.value))
    out.push(Buffer.from('\r\n'))
  }
  out.push(Buffer.from(opts.close ?? `--${b}--\r\n`))
  return Buffer.concat(out)
}

/** Deterministic pseudo-random numbers (mulberry32), so a failing chunking can be replayed. */
function random (seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6D2B79F5) | 0
    let r = Math.imul(a ^ (a >>> 15), 1 | a)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

/** The body cut into pieces: all of a `size`, or of random sizes up to `size` when `seed` is given. */
async function * pieces (data: Uint8Array, size = 1 << 30, seed?: number): AsyncGenerator<Uint8Array> {
  const next = seed === undefined ? undefined : random(seed)
  for (let i = 0; i < data.length;) {
    const n = next === undefined ? size : 1 + Math.floor(next() * size)
    yield data.subarray(i, i + n)
    i += n
  }
}

async function collect (stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Buffer[] = []
  for await (const chunk of stream) out.push(Buffer.from(chunk))
  return Buffer.concat(out)
}

async function read (body: Uint8Array, pieceSize?: number, seed?: number): Promise<{ fields: Map<string, string>, file?: { filename: string, contentType?: string, data: Buffer } }> {
  const form = await readPostForm(pieces(body, pieceSize, seed), CONTENT_TYPE)
  if (form.file === undefined) return { fields: form.fields }
  const { filename, contentType, stream } = form.file
  return { fields: form.fields, file: { filename, contentType, data: await collect(stream) } }
}

async function errorCode (run: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await run()
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

/** Binary content that tries hard to look like the end of its part. */
function trickyContent (): Buffer {
  const parts = [
    Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10]),
    Buffer.from(`\r\n--${BOUNDARY.slice(0, -1)}`),
    Buffer.from('\r\n-'),
    Buffer.from(`--${BOUNDARY}\r\n`), // a boundary not preceded by CRLF is content
    Buffer.from(`\r\r\n\r\n-\r\n--${BOUNDARY.slice(0, 5)}X\r\n`),
    Buffer.alloc(3000, 0x0d),
    Buffer.from('\r\n--'),
    Buffer.from(`\r\n--${BOUNDARY.slice(0, -2)}`),
    Buffer.from('\r')
  ]
  return Buffer.concat(parts)
}

// ---- through a real client's encoding --------------------------------------------------------

test('a form encoded by undici (fetch FormData) reads back, however the bytes are cut', async t => {
  const content = Buffer.concat([trickyContent(), Buffer.alloc(70000, 7), trickyContent()])
  const fd = new FormData()
  fd.append('key', 'user/eric/${filename}')
  fd.append('X-Amz-Meta-Note', 'héllo wörld ✓')
  fd.append('Content-Type', 'image/png')
  fd.append('file', new Blob([content], { type: 'image/png' }), 'cat.png')
  fd.append('after', 'ignored')
  const request = new Request('http://127.0.0.1:1/photos', { method: 'POST', body: fd })
  const contentType = request.headers.get('content-type') ?? undefined
  const body = Buffer.from(await request.arrayBuffer())

  for (const [size, seed] of [[1 << 30], [65536], [4096, 1], [97, 2], [7, 3], [1]] as Array<[number, number?]>) {
    const form = await readPostForm(pieces(body, size, seed), contentType)
    t.deepEqual([...form.fields], [['key', 'user/eric/${filename}'], ['x-amz-meta-note', 'héllo wörld ✓'], ['content-type', 'image/png']])
    t.is(form.file?.filename, 'cat.png')
    t.is(form.file?.contentType, 'image/png')
    t.true((await collect(form.file!.stream)).equals(content), `cut in pieces of ${size}`)
  }
})

// ---- framing ---------------------------------------------------------------------------------

test('binary content with CRLFs and boundary look-alikes survives every chunking', async t => {
  const content = trickyContent()
  const body = formBody([
    { name: 'key', value: 'k' },
    { name: 'file', value: content, filename: 'x.bin', contentType: 'application/octet-stream' }
  ])
  for (const size of [1, 2, 3, 5, BOUNDARY.length + 3, BOUNDARY.length + 4, 1000, 1 << 30]) {
    const got = await read(body, size)
    t.true(got.file?.data.equals(content), `pieces of ${size}`)
  }
  for (let seed = 1; seed <= 200; seed++) {
    const got = await read(body, 1 + (seed % 40), seed)
    if (!got.file?.data.equals(content)) return t.fail(`random chunking with seed ${seed}`)
  }
  t.pass()
})

test('file content ending in a partial delimiter is not cut short', async t => {
  for (const tail of ['\r', '\r\n', '\r\n-', '\r\n--', `\r\n--${BOUNDARY.slice(0, -1)}`]) {
    const content = Buffer.from(`data${tail}`)
    const body = formBody([{ name: 'file', value: content, filename: 'f' }])
    for (const size of [1, 3, 8, 1 << 30]) {
      t.true((await read(body, size)).file?.data.equals(content), JSON.stringify(tail))
    }
  }
})

test('an empty file is an empty stream', async t => {
  const body = formBody([{ name: 'key', value: 'a' }, { name: 'file', value: '', filename: 'empty.txt' }])
  for (const size of [1, 1 << 30]) {
    const got = await read(body, size)
    t.is(got.file?.filename, 'empty.txt')
    t.is(got.file?.data.length, 0)
  }
})

test('fields: names lower-cased, values utf-8 and kept byte for byte, the first of a repeated name wins', async t => {
  const body = formBody([
    { name: 'Key', value: 'a/b c' },
    { name: 'X-AMZ-META-Emoji', value: '😀 ü' },
    { name: 'key', value: 'second' },
    { name: 'empty', value: '' },
    { name: 'multi', value: 'line1\r\nline2\r\n' },
    { name: 'FILE', value: 'content', filename: 'f.txt' }
  ])
  const got = await read(body, 1)
  t.deepEqual([...got.fields], [['key', 'a/b c'], ['x-amz-meta-emoji', '😀 ü'], ['empty', ''], ['multi', 'line1\r\nline2\r\n']])
  t.is(got.file?.data.toString(), 'content')
})

test('the body after the file is read to its end and ignored', async t => {
  const body = formBody([
    { name: 'file', value: 'payload', filename: 'f' },
    { name: 'key', value: 'after-the-file' }
  ], { close: `--${BOUNDARY}--\r\nepilogue that is not framing at all` })
  let pulled = 0
  async function * counted (): AsyncGenerator<Uint8Array> {
    for await (const p of pieces(body, 5)) {
      pulled += p.length
      yield p
    }
  }
  const form = await readPostForm(counted(), CONTENT_TYPE)
  t.is((await collect(form.file!.stream)).toString(), 'payload')
  t.is(pulled, body.length)
  t.false(form.fields.has('key'))
})

test('a preamble before the first boundary and whitespace after boundaries are allowed', async t => {
  const body = Buffer.from(`preamble\r\n--${BOUNDARY}  \r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--${BOUNDARY}\t\r\nContent-Disposition: form-data; name="file"\r\n\r\nZ\r\n--${BOUNDARY}--`)
  const got = await read(body, 1)
  t.deepEqual([...got.fields], [['a', '1']])
  t.is(got.file?.filename, '')
  t.is(got.file?.contentType, undefined)
  t.is(got.file?.data.toString(), 'Z')
})

test('a missing final "--" is forgiven: after the file, and after the last field', async t => {
  const afterFile = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nbytes\r\n--${BOUNDARY}`)
  t.is((await read(afterFile, 1)).file?.data.toString(), 'bytes')
  const noFile = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--${BOUNDARY}`)
  const got = await read(noFile, 1)
  t.deepEqual([...got.fields], [['key', 'k']])
  t.is(got.file, undefined)
})

test('no file part: fields only', async t => {
  const got = await read(formBody([{ name: 'key', value: 'k' }, { name: 'acl', value: 'private' }]), 3)
  t.is(got.file, undefined)
  t.deepEqual([...got.fields], [['key', 'k'], ['acl', 'private']])
})

// ---- Content-Type ----------------------------------------------------------------------------

test('the boundary comes from the Content-Type, quoted or not, among other parameters', async t => {
  const b = 'a "quoted" boundary:'
  const body = formBody([{ name: 'k', value: 'v' }, { name: 'file', value: 'x', filename: 'f' }], { boundary: b })
  for (const ct of [`multipart/form-data; boundary="a \\"quoted\\" boundary:"`, `Multipart/Form-Data; charset=utf-8; BOUNDARY="a \\"quoted\\" boundary:"`]) {
    const form = await readPostForm(pieces(body, 2), ct)
    t.is(form.fields.get('k'), 'v')
    t.is((await collect(form.file!.stream)).toString(), 'x')
  }
  const plain = formBody([{ name: 'file', value: 'y', filename: 'f' }], { boundary: 'simple' })
  const form = await readPostForm(pieces(plain), 'multipart/form-data;boundary=simple')
  t.is((await collect(form.file!.stream)).toString(), 'y')
})

test('not multipart/form-data is PreconditionFailed; no boundary is MalformedPOSTRequest', async t => {
  const body = formBody([{ name: 'file', value: 'x', filename: 'f' }])
  for (const ct of [undefined, 'application/x-www-form-urlencoded', 'text/plain; boundary=x', 'multipart/mixed; boundary=x']) {
    const err = await t.throwsAsync<S3Error>(readPostForm(pieces(body), ct), { code: 'PreconditionFailed' })
    t.is(err?.status, 412)
    t.deepEqual(err?.detail, { Condition: 'Bucket POST must be of the enclosure-type multipart/form-data' })
  }
  for (const ct of ['multipart/form-data', 'multipart/form-data; boundary=', 'multipart/form-data; boundary=""', `multipart/form-data; boundary=${'b'.repeat(257)}`]) {
    await t.throwsAsync(readPostForm(pieces(body), ct), { code: 'MalformedPOSTRequest', message: 'The body of your POST request is not well-formed multipart/form-data.' })
  }
})

// ---- malformed bodies ------------------------------------------------------------------------

test('malformed bodies are MalformedPOSTRequest', async t => {
  const cases: Record<string, string> = {
    empty: '',
    'no boundary at all': 'just some text',
    'wrong boundary': formBody([{ name: 'a', value: '1' }], { boundary: 'other' }).toString(),
    'ends inside a field': `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue without end`,
    'ends inside headers': `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"`,
    'no Content-Disposition': `--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nv\r\n--${BOUNDARY}--`,
    'no name': `--${BOUNDARY}\r\nContent-Disposition: form-data; filename="f"\r\n\r\nv\r\n--${BOUNDARY}--`,
    'not form-data': `--${BOUNDARY}\r\nContent-Disposition: attachment; name="a"\r\n\r\nv\r\n--${BOUNDARY}--`,
    'header without colon': `--${BOUNDARY}\r\nContent-Disposition form-data\r\n\r\nv\r\n--${BOUNDARY}--`,
    'junk after a boundary': `--${BOUNDARY}junk\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--${BOUNDARY}--`
  }
  for (const [name, body] of Object.entries(cases)) {
    for (const size of [1, 1 << 30]) {
      t.is(await errorCode(async () => await read(Buffer.from(body), size)), 'MalformedPOSTRequest', name)
    }
  }
})

test('a body that ends inside the file fails the file stream with MalformedPOSTRequest', async t => {
  const body = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\npartial content\r\n--${BOUNDARY.slice(0, 4)}`)
  const form = await readPostForm(pieces(body, 4), CONTENT_TYPE)
  const chunks: Buffer[] = []
  await t.throwsAsync(async () => {
    for await (const c of form.file!.stream) chunks.push(Buffer.from(c))
  }, { code: 'MalformedPOSTRequest' })
  t.true(Buffer.concat(chunks).toString().startsWith('partial content'))
})

// ---- the 20 KB before the file ---------------------------------------------------------------

test('more than 20 KB before the file content is MaxPostPreDataLengthExceededError; 20 KB exactly is fine', async t => {
  const marker = 'FILE-CONTENT'
  const bodyWith = (padding: number): Buffer => formBody([
    { name: 'key', value: 'k' },
    { name: 'x-ignore-padding', value: 'p'.repeat(padding) },
    { name: 'file', value: marker, filename: 'f' }
  ])
  const base = bodyWith(0).indexOf(marker)
  const exact = bodyWith(MAX_POST_PRE_DATA_BYTES - base)
  t.is(exact.indexOf(marker), MAX_POST_PRE_DATA_BYTES)
  const over = bodyWith(MAX_POST_PRE_DATA_BYTES - base + 1)
  for (const size of [1, 1000, 1 << 30]) {
    t.is((await read(exact, size)).file?.data.toString(), marker)
    const err = await t.throwsAsync<S3Error>(read(over, size), { code: 'MaxPostPreDataLengthExceededError' })
    t.is(err?.status, 400)
  }
  // Fields alone (no file) are held to the same limit.
  const fieldsOnly = formBody([{ name: 'x-ignore-padding', value: 'p'.repeat(MAX_POST_PRE_DATA_BYTES) }])
  await t.throwsAsync(read(fieldsOnly, 512), { code: 'MaxPostPreDataLengthExceededError' })
})

// ---- streaming -------------------------------------------------------------------------------

test('the file streams: bytes buffered stay under two chunks, whatever the file size', async t => {
  const chunkSize = 64 * 1024
  const fileSize = 64 * 1024 * 1024 + 12345
  const head = formBody([{ name: 'key', value: 'big' }, { name: 'file', value: '', filename: 'big.bin' }], { close: '' })
  const headerEnd = head.length - 2 // the formBody's CRLF after the (empty) value opens the delimiter
  const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`)
  let pulled = 0
  async function * source (): AsyncGenerator<Uint8Array> {
    const chunk = Buffer.alloc(chunkSize, 0x0d) // CRs: every chunk ends like the start of a delimiter
    const prefix = head.subarray(0, headerEnd)
    pulled += prefix.length
    yield prefix
    for (let sent = 0; sent < fileSize;) {
      const n = Math.min(chunkSize, fileSize - sent)
      pulled += n
      yield chunk.subarray(0, n)
      sent += n
    }
    pulled += tail.length
    yield tail
  }
  const form = await readPostForm(source(), CONTENT_TYPE)
  t.true(pulled <= headerEnd + chunkSize, 'reading the fields pulls no file content beyond one chunk')
  let received = 0
  let maxBuffered = 0
  for await (const c of form.file!.stream) {
    received += c.byteLength
    maxBuffered = Math.max(maxBuffered, pulled - headerEnd - received)
  }
  t.is(received, fileSize)
  t.true(maxBuffered <= 2 * chunkSize, `buffered ${maxBuffered} bytes`)
})

test('breaking out of the file stream stops reading the body; the stream is read once', async t => {
  let returned = false
  let nexts = 0
  const body = formBody([{ name: 'file', value: Buffer.alloc(100000, 1), filename: 'f' }])
  const source: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator] () {
      const it = pieces(body, 1000)
      return {
        next: async () => { nexts++; return await it.next() },
        return: async () => { returned = true; return await it.return(undefined) }
      }
    }
  }
  const form = await readPostForm(source, CONTENT_TYPE)
  for await (const c of form.file!.stream) {
    t.true(c.length > 0)
    break
  }
  t.true(returned)
  t.true(nexts < 10)
  t.throws(() => form.file!.stream[Symbol.asyncIterator](), { message: /once/ })
})

// ---- file names ------------------------------------------------------------------------------

test('file names: quoted escapes, RFC 8187 filename*, Windows paths, none', async t => {
  const cases: Array<[string, string]> = [
    ['form-data; name="file"; filename="a \\"b\\" c.txt"', 'a "b" c.txt'],
    ['form-data; name="file"; filename="ünïcödé ✓.png"', 'ünïcödé ✓.png'],
    ['form-data; name="file"; filename="fallback.txt"; filename*=UTF-8\'\'na%C3%AFve%20file.txt', 'naïve file.txt'],
    ['form-data; name="file"; filename="C:\\Program Files\\dir\\photo.jpg"', 'C:\\Program Files\\dir\\photo.jpg'],
    ['form-data; filename="semi;colon.txt"; name="file"', 'semi;colon.txt'],
    ['form-data; name=file; filename=plain.txt', 'plain.txt'],
    ['form-data; name="file"', '']
  ]
  for (const [disposition, filename] of cases) {
    const got = await read(formBody([{ name: 'file', value: 'x', disposition }]), 3)
    t.is(got.file?.filename, filename, disposition)
  }
})

test('expandFilename puts the last path segment of the file name in place of ${filename}', t => {
  t.is(expandFilename('user/eric/${filename}', 'cat.png'), 'user/eric/cat.png')
  t.is(expandFilename('user/${filename}', 'C:\\Program Files\\directory1\\file.txt'), 'user/file.txt')
  t.is(expandFilename('${filename}/${filename}', 'a/b/c.txt'), 'c.txt/c.txt')
  t.is(expandFilename('fixed-key', 'c.txt'), 'fixed-key')
  t.is(expandFilename('k/${filename}', ''), 'k/')
})
