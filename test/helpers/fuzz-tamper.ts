import { header, setHeader, uriEscape, withoutHeader, type ChunkedPiece, type Rand, type WireRequest } from './wire.js'

/**
 * Breaking signed requests after they were signed, aws-chunked framing after it was built, and HTTP
 * framing on the wire. Each breakage here is definite (S3 must refuse the result) unless its
 * description says otherwise.
 */

const HEX = '0123456789abcdef'
const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-;'
const CREDENTIAL_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'

/** `s` with one character replaced by another from `alphabet` that differs even ignoring case. */
export function replaceChar (rand: Rand, s: string, alphabet: string, caseSensitive = false): string {
  if (s === '') return rand.pick([...alphabet])
  const at = rand.int(s.length)
  const same = (a: string, b: string): boolean => caseSensitive ? a === b : a.toLowerCase() === b.toLowerCase()
  const choices = [...alphabet].filter(c => !same(c, s[at]))
  return s.slice(0, at) + rand.pick(choices) + s.slice(at + 1)
}

function authField (auth: string, name: string): string | undefined {
  return new RegExp(`${name}=([^,]*)`).exec(auth)?.[1]
}

function replaceAuthField (auth: string, name: string, value: string): string {
  return auth.replace(new RegExp(`${name}=[^,]*`), `${name}=${value}`)
}

/** Tampers with a request signed in the Authorization header. Returns what was done. */
export function tamperHeaderAuth (rand: Rand, r: WireRequest): { label: string, req: WireRequest } {
  const auth = header(r, 'authorization') ?? ''
  const kinds = ['signature', 'signature-length', 'credential', 'signed-headers', 'amz-date', 'drop-amz-date', 'drop-content-sha256', 'unsigned-amz-header',
    'signed-value', 'path', 'query', 'method', 'algorithm', 'drop-component', 'sigv2', 'both-mechanisms', 'payload-claim', 'body'] as const
  let kind = rand.pick(kinds)
  const payload = header(r, 'x-amz-content-sha256') ?? ''
  if (kind === 'body' && !(/^[0-9a-f]{64}$/.test(payload) && r.body.length > 0)) kind = 'signature'
  switch (kind) {
    case 'signature':
      return { label: 'sig: signature char', req: setHeader(r, 'authorization', replaceAuthField(auth, 'Signature', replaceChar(rand, authField(auth, 'Signature') ?? '', HEX + 'gz-'))) }
    case 'signature-length': {
      const sig = authField(auth, 'Signature') ?? ''
      const changed = rand.chance(0.5) ? sig.slice(0, rand.int(sig.length)) : sig + rand.pick(['0', 'a', '00'])
      return { label: 'sig: signature length', req: setHeader(r, 'authorization', replaceAuthField(auth, 'Signature', changed)) }
    }
    case 'credential':
      return { label: 'sig: credential char', req: setHeader(r, 'authorization', replaceAuthField(auth, 'Credential', replaceChar(rand, authField(auth, 'Credential') ?? '', CREDENTIAL_CHARS, true))) }
    case 'signed-headers':
      return { label: 'sig: signed headers char', req: setHeader(r, 'authorization', replaceAuthField(auth, 'SignedHeaders', replaceChar(rand, authField(auth, 'SignedHeaders') ?? '', NAME_CHARS))) }
    case 'amz-date': {
      const date = header(r, 'x-amz-date') ?? ''
      return { label: 'sig: x-amz-date char', req: setHeader(r, 'x-amz-date', replaceChar(rand, date, '0123456789TZ:-', true)) }
    }
    case 'drop-amz-date':
      return { label: 'sig: no x-amz-date', req: withoutHeader(r, 'x-amz-date') }
    case 'drop-content-sha256':
      return { label: 'sig: no x-amz-content-sha256', req: withoutHeader(r, 'x-amz-content-sha256') }
    case 'unsigned-amz-header':
      return { label: 'sig: unsigned x-amz header', req: { ...r, headers: [...r.headers, [rand.pick(['x-amz-meta-evil', 'x-amz-acl', 'x-amz-tagging', 'X-Amz-Date']), 'public-read-write']] } }
    case 'signed-value': {
      const signed = (authField(auth, 'SignedHeaders') ?? 'host').split(';').filter(h => h !== 'host' && h !== 'x-amz-date')
      const name = signed.length > 0 ? rand.pick(signed) : 'x-amz-content-sha256'
      return { label: `sig: signed header ${name} changed`, req: setHeader(r, name, `${header(r, name) ?? ''}Z`) }
    }
    case 'path':
      return { label: 'sig: path changed', req: { ...r, path: r.path + rand.pick(['x', '/', '%20', '.']) } }
    case 'query':
      return { label: 'sig: query changed', req: { ...r, query: [r.query, rand.pick(['x-id=PutObject', 'versionId=null', 'fuzz', 'acl='])].filter(Boolean).join('&') } }
    case 'method':
      return { label: 'sig: method changed', req: { ...r, method: rand.pick(['GET', 'PUT', 'POST', 'DELETE', 'HEAD'].filter(m => m !== r.method)) } }
    case 'algorithm':
      return { label: 'sig: algorithm', req: setHeader(r, 'authorization', auth.replace('AWS4-HMAC-SHA256', rand.pick(['AWS4-HMAC-SHA512', 'aws4-hmac-sha256', 'AWS4-ECDSA-P256-SHA256', 'AWS4', '']))) }
    case 'drop-component': {
      const name = rand.pick(['Credential', 'SignedHeaders', 'Signature'])
      return { label: `sig: no ${name}`, req: setHeader(r, 'authorization', auth.replace(new RegExp(`,?\\s*${name}=[^,]*`), '')) }
    }
    case 'sigv2':
      return { label: 'sig: sigv2', req: setHeader(r, 'authorization', `AWS ${(authField(auth, 'Credential') ?? 'X').split('/')[0]}:${Buffer.from('nope').toString('base64')}`) }
    case 'both-mechanisms':
      return { label: 'sig: header and query', req: { ...r, query: [r.query, 'X-Amz-Algorithm=AWS4-HMAC-SHA256'].filter(Boolean).join('&') } }
    case 'payload-claim':
      return { label: 'sig: payload claim', req: setHeader(r, 'x-amz-content-sha256', rand.pick(['0'.repeat(64), 'UNSIGNED-PAYLOAD-X', 'abc', 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD', payload === 'UNSIGNED-PAYLOAD' ? 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' : 'UNSIGNED-PAYLOAD'])) }
    case 'body': {
      const body = Buffer.from(r.body)
      body[rand.int(body.length)] ^= 1 + rand.int(255)
      return { label: 'sig: body changed (signed sha256)', req: { ...r, body } }
    }
  }
}

function queryPairs (query: string): Array<[string, string]> {
  return query.split('&').filter(p => p !== '').map(p => {
    const eq = p.indexOf('=')
    return eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)]
  })
}

function joinPairs (pairs: Array<[string, string]>): string {
  return pairs.map(([k, v]) => `${k}=${v}`).join('&')
}

/** Tampers with a presigned request's query. Param names keep their case (S3 reads them case-insensitively). */
export function tamperPresigned (rand: Rand, r: WireRequest): { label: string, req: WireRequest } {
  const pairs = queryPairs(r.query)
  const kind = rand.pick(['value', 'drop', 'extra', 'duplicate-signature', 'expires-too-long', 'path', 'method'] as const)
  const names = ['X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Algorithm']
  const name = rand.pick(names)
  const at = pairs.findIndex(([k]) => k === name)
  switch (kind) {
    case 'value': {
      const value = decodeURIComponent(pairs[at][1])
      const alphabet = name === 'X-Amz-Signature' ? HEX + 'g' : name === 'X-Amz-SignedHeaders' ? NAME_CHARS : CREDENTIAL_CHARS + ';/'
      const changed = replaceChar(rand, value, alphabet, name !== 'X-Amz-Signature' && name !== 'X-Amz-SignedHeaders')
      pairs[at] = [name, uriEscape(changed)]
      return { label: `presign: ${name} char`, req: { ...r, query: joinPairs(pairs) } }
    }
    case 'drop':
      // (without X-Amz-Algorithm the request is anonymous, which may be allowed: not a definite failure)
      if (name === 'X-Amz-Algorithm') pairs.splice(pairs.findIndex(([k]) => k === 'X-Amz-Signature'), 1)
      else pairs.splice(at, 1)
      return { label: `presign: no ${name}`, req: { ...r, query: joinPairs(pairs) } }
    case 'extra':
      return { label: 'presign: extra parameter', req: { ...r, query: `${r.query}&${rand.pick(['x-id=GetObject', 'response-content-type=text%2Fevil', 'versionId=null', 'acl'])}` } }
    case 'duplicate-signature':
      return { label: 'presign: bogus signature first', req: { ...r, query: `X-Amz-Signature=${'0'.repeat(64)}&${r.query}` } }
    case 'expires-too-long': {
      const i = pairs.findIndex(([k]) => k === 'X-Amz-Expires')
      pairs[i] = ['X-Amz-Expires', rand.pick(['604801', '99999999999999999999', '-1', '1.5', '', '0x10'])]
      return { label: 'presign: expires invalid', req: { ...r, query: joinPairs(pairs) } }
    }
    case 'path':
      return { label: 'presign: path changed', req: { ...r, path: `${r.path}x` } }
    case 'method':
      return { label: 'presign: method changed', req: { ...r, method: rand.pick(['GET', 'PUT', 'POST', 'DELETE', 'HEAD'].filter(m => m !== r.method)) } }
  }
}

// ---- aws-chunked framing -----------------------------------------------------------------

export interface ChunkBreak {
  label: string
  pieces: ChunkedPiece[]
  /** Headers to change on the request along with the body. */
  headers?: Array<[string, string]>
}

/**
 * Breaks aws-chunked framing so that no decoder may accept it. `signed`: chunk signatures are
 * present; `trailer`: a checksum trailer was announced. Chunk data is letters only, so a shifted
 * boundary never lands on a CRLF by chance.
 */
export function breakChunked (rand: Rand, pieces: ChunkedPiece[], o: { signed: boolean, trailer: boolean, decodedLength: number }): ChunkBreak {
  const copy = pieces.map(p => ({ ...p, bytes: Buffer.from(p.bytes) }))
  const indexes = (kind: ChunkedPiece['kind']): number[] => copy.flatMap((p, i) => p.kind === kind ? [i] : [])
  const dataAt = indexes('data')
  const sizeAt = indexes('size-line')
  const trailerAt = indexes('trailer-line')
  const kinds: string[] = ['size-garbage', 'drop-crlf', 'truncate', 'append-garbage', 'decoded-length', 'size-change', 'huge-size', 'long-line']
  if (o.signed) kinds.push('chunk-signature', 'data-flip', 'missing-signature', 'reorder')
  if (o.trailer) kinds.push('trailer-checksum', 'trailer-dropped', 'trailer-no-colon')
  if (o.signed && o.trailer) kinds.push('trailer-signature', 'trailer-signature-missing')
  if (dataAt.length === 0) kinds.splice(kinds.indexOf('drop-crlf'), 1)
  const kind = rand.pick(kinds)
  const line = (i: number): string => copy[i].bytes.toString('latin1')
  const setLine = (i: number, s: string): void => { copy[i].bytes = Buffer.from(s, 'latin1') }
  switch (kind) {
    case 'size-garbage': {
      const i = rand.pick(sizeAt)
      setLine(i, line(i).replace(/^[0-9a-f]+/, rand.pick(['zz', '', '-1', '0x10', ' 10', '1 0', 'ffffffffffffffffff'])))
      break
    }
    case 'drop-crlf':
      copy.splice(rand.pick(indexes('crlf')), 1)
      break
    case 'truncate': {
      // Cut inside the chunks, before the final chunk's size line is complete.
      const bytes = Buffer.concat(copy.map(p => p.bytes))
      const finalLine = copy.slice(0, sizeAt[sizeAt.length - 1] + 1).reduce((n, p) => n + p.bytes.length, 0)
      return { label: 'chunked: truncated', pieces: [{ kind: 'data', bytes: bytes.subarray(0, rand.int(finalLine - 1)) }] }
    }
    case 'append-garbage':
      copy.push({ kind: 'end', bytes: Buffer.from(rand.pick(['garbage', '0\r\n\r\n', 'x:y\r\n\r\n', '\r\n\r\n'])) })
      break
    case 'decoded-length':
      return { label: 'chunked: x-amz-decoded-content-length wrong', pieces: copy, headers: [['x-amz-decoded-content-length', String(rand.chance(0.5) ? o.decodedLength + 1 + rand.int(100) : Math.max(0, o.decodedLength - 1 - rand.int(o.decodedLength)))]] }
    case 'size-change': {
      const i = rand.pick(sizeAt.slice(0, -1).length > 0 ? sizeAt.slice(0, -1) : sizeAt)
      const size = parseInt(line(i), 16)
      let other = size
      while (other === size) other = Math.max(0, size + rand.pick([-2, -1, 1, 2, 7, 100]))
      setLine(i, line(i).replace(/^[0-9a-f]+/, other.toString(16)))
      break
    }
    case 'huge-size': {
      const i = rand.pick(sizeAt)
      setLine(i, line(i).replace(/^[0-9a-f]+/, rand.pick(['7fffffff', 'fffffffffffffff', '1000001'])))
      break
    }
    case 'long-line': {
      const i = rand.pick(sizeAt)
      setLine(i, line(i).replace(/\r\n$/, `;ext=${'x'.repeat(5000)}\r\n`))
      break
    }
    case 'chunk-signature': {
      const i = rand.pick(sizeAt)
      const sig = /chunk-signature=([0-9a-f]+)/.exec(line(i))?.[1] ?? ''
      setLine(i, line(i).replace(sig, replaceChar(rand, sig, HEX)))
      break
    }
    case 'data-flip': {
      const i = rand.pick(dataAt)
      const at = rand.int(copy[i].bytes.length)
      copy[i].bytes[at] = copy[i].bytes[at] === 97 ? 98 : 97
      break
    }
    case 'missing-signature': {
      const i = rand.pick(sizeAt)
      setLine(i, line(i).replace(/;chunk-signature=[0-9a-f]*/, rand.pick(['', ';chunk-signature=', ';chunk-signature=xyz', ';chunk-sig=abc'])))
      break
    }
    case 'reorder': {
      // Two data chunks swapped with their size lines: each signature now signs the wrong bytes.
      if (dataAt.length < 2) {
        const i = rand.pick(sizeAt)
        setLine(i, line(i).replace(/chunk-signature=[0-9a-f]/, 'chunk-signature=' + (line(i).includes('chunk-signature=0') ? '1' : '0')))
        break
      }
      const [a, b] = [dataAt[0], dataAt[1]]
      const tmp = copy[a].bytes
      copy[a].bytes = copy[b].bytes
      copy[b].bytes = tmp
      const sa = line(a - 1).replace(/^[0-9a-f]+/, copy[a].bytes.length.toString(16))
      const sb = line(b - 1).replace(/^[0-9a-f]+/, copy[b].bytes.length.toString(16))
      setLine(a - 1, sa)
      setLine(b - 1, sb)
      if (copy[a].bytes.equals(copy[b].bytes)) copy[a].bytes[0] = copy[a].bytes[0] === 97 ? 98 : 97
      break
    }
    case 'trailer-checksum': {
      const i = trailerAt.find(j => line(j).startsWith('x-amz-checksum-')) ?? trailerAt[0]
      const [name, value] = line(i).replace(/\r\n$/, '').split(':')
      const bytes = Buffer.from(value, 'base64')
      bytes[0] ^= 0xff
      setLine(i, `${name}:${rand.chance(0.7) ? bytes.toString('base64') : rand.pick(['', 'notbase64!', 'AAAA'])}\r\n`)
      break
    }
    case 'trailer-dropped': {
      const i = trailerAt.find(j => line(j).startsWith('x-amz-checksum-')) ?? trailerAt[0]
      copy.splice(i, 1)
      break
    }
    case 'trailer-no-colon': {
      const i = trailerAt[0]
      setLine(i, line(i).replace(':', rand.pick([' ', '', '='])))
      break
    }
    case 'trailer-signature': {
      const i = trailerAt.find(j => line(j).startsWith('x-amz-trailer-signature:')) ?? trailerAt[0]
      const sig = line(i).replace(/\r\n$/, '').split(':')[1] ?? ''
      setLine(i, `x-amz-trailer-signature:${replaceChar(rand, sig, HEX)}\r\n`)
      break
    }
    case 'trailer-signature-missing': {
      const i = trailerAt.find(j => line(j).startsWith('x-amz-trailer-signature:'))
      if (i !== undefined) copy.splice(i, 1)
      break
    }
  }
  return { label: `chunked: ${kind}`, pieces: copy }
}

// ---- HTTP framing on the wire ------------------------------------------------------------

export interface WireBytes {
  label: string
  bytes: Buffer
  /** Half-close after sending (the body is shorter than announced). */
  halfClose?: boolean
  /** Reset the connection right after sending: the client vanishes mid-request. */
  destroy?: boolean
  /** The connection may end without an answer (node's HTTP parser refused the bytes, or the body never completed). */
  mayDrop?: boolean
  /** The request can no longer succeed whatever it was. */
  fails?: boolean
  /** The request may have become a different one (its method changed): any outcome. */
  changesMeaning?: boolean
}

function head (r: WireRequest, hostHeader: string, extra: string[] = [], target?: string, version = 'HTTP/1.1'): string {
  const lines = [`${r.method} ${target ?? r.path + (r.query === '' ? '' : `?${r.query}`)} ${version}`, `Host: ${hostHeader}`]
  for (const [n, v] of r.headers) lines.push(`${n}: ${v}`)
  return [...lines, ...extra, 'Connection: close', '', ''].join('\r\n')
}

/** Serializes a request with one HTTP-level twist. */
export function httpTwist (rand: Rand, r: WireRequest, host: string): WireBytes {
  const body = r.body
  const cl = `Content-Length: ${body.length}`
  const kinds = ['te-chunked', 'te-chunked-broken', 'cl-larger', 'cl-smaller', 'cl-garbage', 'cl-duplicate', 'cl-and-te', 'expect-continue',
    'huge-header', 'many-headers', 'duplicate-header', 'header-case', 'obs-fold', 'bad-header-bytes', 'absolute-form', 'http10', 'odd-method',
    'latin1-value', 'nul-in-target', 'vanish', 'vanish-mid-body', 'host-other', 'host-duplicate', 'host-missing'] as const
  const kind = rand.pick(kinds)
  const wire = (text: string, b: Buffer = body): Buffer => Buffer.concat([Buffer.from(text, 'latin1'), b])
  switch (kind) {
    case 'te-chunked': {
      const parts: Buffer[] = []
      for (let at = 0; at < body.length;) {
        const n = 1 + rand.int(Math.min(4096, body.length - at))
        parts.push(Buffer.from(`${n.toString(16)}\r\n`), body.subarray(at, at + n), Buffer.from('\r\n'))
        at += n
      }
      parts.push(Buffer.from('0\r\n\r\n'))
      return { label: 'http: transfer-encoding chunked', bytes: wire(head(r, host, ['Transfer-Encoding: chunked']), Buffer.concat(parts)) }
    }
    case 'te-chunked-broken':
      return { label: 'http: broken transfer-encoding', bytes: wire(head(r, host, ['Transfer-Encoding: chunked']), Buffer.concat([Buffer.from(rand.pick(['zz\r\n', '5\r\nab', '3\r\nabcdef\r\n0\r\n\r\n'])), body])), mayDrop: true, halfClose: true }
    case 'cl-larger':
      return { label: 'http: body shorter than Content-Length', bytes: wire(head(r, host, [`Content-Length: ${body.length + 1 + rand.int(5000)}`])), halfClose: true, mayDrop: true }
    case 'cl-smaller': {
      const n = body.length === 0 ? 0 : rand.int(body.length)
      return { label: 'http: body longer than Content-Length', bytes: wire(head(r, host, [`Content-Length: ${n}`])), mayDrop: true }
    }
    case 'cl-garbage':
      return { label: 'http: bad Content-Length', bytes: wire(head(r, host, [`Content-Length: ${rand.pick(['abc', '-1', '1e3', '0x10', '', '18446744073709551616', `${body.length} ${body.length}`])}`])), mayDrop: true, fails: true }
    case 'cl-duplicate':
      return { label: 'http: two Content-Lengths', bytes: wire(head(r, host, [cl, `Content-Length: ${body.length + 1}`])), mayDrop: true, fails: true }
    case 'cl-and-te':
      return { label: 'http: Content-Length and Transfer-Encoding', bytes: wire(head(r, host, [cl, 'Transfer-Encoding: chunked'])), mayDrop: true, halfClose: true }
    case 'expect-continue':
      return { label: 'http: expect 100-continue', bytes: wire(head(r, host, [cl, 'Expect: 100-continue'])) }
    case 'huge-header': {
      const size = rand.pick([9000, 17000, 70000])
      return { label: `http: ${size} byte header`, bytes: wire(head(r, host, [cl, `X-Fuzz-Huge: ${'h'.repeat(size)}`])), fails: true, mayDrop: true }
    }
    case 'many-headers':
      return { label: 'http: many headers', bytes: wire(head(r, host, [cl, ...Array.from({ length: 120 }, (_, i) => `X-Fuzz-${i}: ${i}`)])) }
    case 'duplicate-header': {
      const name = rand.pick(['Content-Type', 'Range', 'If-Match', 'If-None-Match', 'If-Modified-Since', 'Origin', 'Cache-Control', 'Content-MD5'])
      return { label: `http: duplicate ${name}`, bytes: wire(head(r, host, [cl, `${name}: a`, `${name}: b`])), changesMeaning: true }
    }
    case 'header-case':
      return { label: 'http: header name case', bytes: wire(head({ ...r, headers: r.headers.map(([n, v]) => [rand.chance(0.5) ? n.toUpperCase() : n, v]) }, host, [cl])) }
    case 'obs-fold':
      return { label: 'http: folded header', bytes: wire(head(r, host, [cl, 'X-Fuzz: a', ' folded'])), mayDrop: true, fails: true }
    case 'bad-header-bytes':
      return { label: 'http: control bytes in a header', bytes: wire(head(r, host, [cl, rand.pick(['X-Fuzz: a\x01b', 'X Fuzz: a', 'X-Fuzz:\x00', ': empty'])])), mayDrop: true, fails: true }
    case 'absolute-form':
      return { label: 'http: absolute-form target', bytes: wire(head(r, host, [cl], `http://${host}${r.path}${r.query === '' ? '' : `?${r.query}`}`)) }
    case 'http10':
      return { label: 'http: HTTP/1.0', bytes: wire(head(r, host, [cl], undefined, 'HTTP/1.0')) }
    case 'odd-method':
      return { label: 'http: odd method', bytes: wire(head({ ...r, method: rand.pick(['PATCH', 'TRACE', 'PROPFIND', 'FOO', 'get', 'MKCOL', 'M-SEARCH']) }, host, [cl])), mayDrop: true, fails: true, changesMeaning: true }
    case 'latin1-value':
      return { label: 'http: latin1 header value', bytes: wire(head(r, host, [cl, 'X-Amz-Meta-Latin: caf\xe9', 'Content-Disposition: attachment; filename="\xe9\xff"'])) }
    case 'vanish':
      return { label: 'http: client vanishes after sending', bytes: wire(head(r, host, [cl])), destroy: true, mayDrop: true }
    case 'vanish-mid-body': {
      const declared = body.length + 1 + rand.int(100_000)
      return { label: 'http: client vanishes mid-body', bytes: wire(head(r, host, [`Content-Length: ${declared}`])), destroy: true, mayDrop: true }
    }
    case 'host-other': {
      const text = head(r, host, [cl]).replace(`Host: ${host}`, `Host: ${rand.pick(['evil.example', 'localhost', '[::1]:1', 'fuzz-ver.elsewhere.test', ''])}`)
      return { label: 'http: another Host', bytes: wire(text) }
    }
    case 'host-duplicate':
      return { label: 'http: two Hosts', bytes: wire(head(r, host, [cl]).replace(`Host: ${host}`, `Host: ${host}\r\nHost: evil.example`)), mayDrop: true }
    case 'host-missing':
      return { label: 'http: no Host', bytes: wire(head(r, host, [cl]).replace(`Host: ${host}\r\n`, '')), mayDrop: true }
    case 'nul-in-target':
      return { label: 'http: bad byte in request target', bytes: wire(head(r, host, [cl], `${r.path}${rand.pick(['\x00', '\x7f', '\t', '#frag', ' x'])}`)), mayDrop: true, changesMeaning: true }
  }
}

/** Bytes that are not a usable HTTP request at all. */
export function garbageRequest (rand: Rand, host: string): WireBytes {
  const choices = [
    'GARBAGE\r\n\r\n',
    '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03',
    'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
    'GET\r\n\r\n',
    `GET /fuzz-ver/canary HTTP/1.1\r\nHost: ${host}\r\nX-Fuzz: never ends`,
    `PUT /fuzz-ver/canary HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 10\r\n\r\nabc`,
    `CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
    `OPTIONS * HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    `GET ${'/a'.repeat(20000)} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    `GET /fuzz-ver/canary HTTP/1.1\r\n${'X: y\r\n'.repeat(3000)}Connection: close\r\n\r\n`,
    `DELETE /fuzz-ver/canary HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
  ]
  return { label: 'http: garbage', bytes: Buffer.from(rand.pick(choices), 'latin1'), halfClose: true, mayDrop: true, fails: true }
}
