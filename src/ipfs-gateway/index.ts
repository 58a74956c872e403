import { createHash } from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { exporter, walkPath } from 'ipfs-unixfs-exporter'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { collectBytes } from '../content/bytes.js'
import { contentRange, parseRange, type ByteRange } from '../protocol/range.js'
import { cidAccess } from './access.js'
import { IpfsGatewayError, parseIpfsRequest, type IpfsRequest } from './request.js'
import type { Authorizer } from '../auth/authorize.js'
import type { ContentStore } from '../content/content-store.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import type { S3Request, S3Response } from '../types.js'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

export { IpfsGatewayError } from './request.js'
export type IpfsGatewayMode = 'open' | 'authorized'

export interface IpfsGatewayInit {
  content: Pick<ContentStore, 'cat' | 'exportCar' | 'stat'>
  blockstore: Pick<Blockstore, 'get'>
  metadata: Pick<MetadataStore, 'listVersionsByCid' | 'getObject' | 'listSnapshotsByCid'>
  mode: IpfsGatewayMode
}

const IMMUTABLE = 'public, max-age=29030400, immutable'

/**
 * `GET/HEAD /ipfs/<cid>[/<path>]` (`rest` is what follows `/ipfs/`, percent-encoded) as the IPFS
 * path and trustless gateway specs describe, for content the caller may read (see cidAccess);
 * anything else is 404, as absent content is. Every error is a short text answer.
 */
export async function serveIpfs (init: IpfsGatewayInit, req: S3Request, rest: string, authorizer: Pick<Authorizer, 'allowed' | 'allowedForAll'>): Promise<S3Response> {
  try {
    const query = new URLSearchParams(req.query)
    const request = parseIpfsRequest(rest, query, req.headers.accept)
    const access = await cidAccess(request.cid.toString(), { metadata: init.metadata, authorizer, open: init.mode === 'open', signal: req.signal })
    if (!access.trustless || (request.format === 'path' && !access.path)) throw notFound(request.cid)
    const base: Record<string, string> = {
      'cache-control': IMMUTABLE,
      vary: 'Accept',
      'x-ipfs-path': `/ipfs/${rest}`,
    }
    if (request.format === 'raw') return await rawBlock(init, request, base, req)
    if (request.format === 'car') return await car(init, request, base, req)
    return await pathResponse(init, request, base, req)
  } catch (err) {
    return errorText(err)
  }
}

function notFound (cid: CID | string): IpfsGatewayError {
  return new IpfsGatewayError(404, `${String(cid)} is not found here`)
}

async function rawBlock (init: IpfsGatewayInit, request: IpfsRequest, headers: Record<string, string>, req: S3Request): Promise<S3Response> {
  const { cid } = request
  const block = cid.multihash.code === identity.code ? cid.multihash.digest : await collectBytes(init.blockstore.get(cid, { signal: req.signal }))
  const etag = `"${cid.toString()}.raw"`
  if (matches(req.headers['if-none-match'], etag)) return { status: 304, headers: { ...headers, etag } }
  return {
    status: 200,
    headers: {
      ...headers,
      ...contentLocation(request, req, 'raw'),
      'content-type': 'application/vnd.ipld.raw',
      'content-disposition': `attachment; filename="${cid.toString()}.bin"`,
      'content-length': String(block.byteLength),
      'x-content-type-options': 'nosniff',
      'x-ipfs-roots': cid.toString(),
      etag,
    },
    body: block,
  }
}

async function car (init: IpfsGatewayInit, request: IpfsRequest, headers: Record<string, string>, req: S3Request): Promise<S3Response> {
  const resolved = request.segments.length === 0 ? undefined : await carPath(init, request, req.signal)
  const cid = resolved?.terminal ?? request.cid
  let scope: 'all' | 'block' = request.scope === 'block' ? 'block' : 'all'
  let range: ByteRange | undefined
  if (request.scope === 'entity') scope = await entityScope(init, cid, req.signal)
  // entity-bytes applies to a file (or raw block); for anything else it is dag-scope=entity.
  if (request.entityBytes !== undefined && scope === 'all' && await isFile(init, cid, req.signal)) {
    range = entityRange(request.entityBytes, (await init.content.stat(cid, { signal: req.signal })).size)
    // Nothing of the file selected: the root block alone, from which a client learns its size.
    if (range === undefined) scope = 'block'
  }
  const stream = await init.content.exportCar(cid, { duplicates: request.duplicates, scope, range, path: resolved?.path, signal: req.signal })
  const dups = request.duplicates ? 'y' : 'n'
  const pathTag = resolved === undefined ? '' : `.path-${createHash('sha256').update(request.segments.join('/')).digest('hex').slice(0, 16)}`
  const etag = `"${request.cid.toString()}${pathTag}.car.dfs.dups-${dups}.${request.scope}${request.entityBytes === undefined ? '' : `.bytes-${request.entityBytes.replace(':', '_')}`}"`
  if (matches(req.headers['if-none-match'], etag)) {
    await stream.return(undefined)
    return { status: 304, headers: { ...headers, etag } }
  }
  return {
    status: 200,
    headers: {
      ...headers,
      ...contentLocation(request, req, 'car'),
      'content-type': `application/vnd.ipld.car; version=1; order=dfs; dups=${dups}`,
      'content-disposition': `attachment; filename="${[request.cid.toString(), ...request.segments].join('_').replace(/["\\\r\n]/g, '_')}.car"`,
      'x-content-type-options': 'nosniff',
      'x-ipfs-roots': resolved?.roots ?? cid.toString(),
      etag,
    },
    body: stream,
  }
}

/**
 * The blocks that prove `/ipfs/<cid>/<path>` leads where it does: every directory on the way,
 * then the CID at its end. HAMT-sharded directories on the way are not walked here yet (501).
 */
async function carPath (init: IpfsGatewayInit, request: IpfsRequest, signal?: AbortSignal): Promise<{ terminal: CID, path: Array<{ cid: CID, block: Uint8Array }>, roots: string }> {
  let terminal: { cid: CID, roots: CID[] } | undefined
  for await (const entry of walkPath([request.cid.toString(), ...request.segments].join('/'), init.blockstore, { signal })) terminal = entry
  if (terminal === undefined) throw notFound(request.cid)
  const roots = terminal.roots.length > 0 ? terminal.roots : [terminal.cid]
  const path: Array<{ cid: CID, block: Uint8Array }> = []
  for (const cid of roots.slice(0, -1)) {
    const block = await collectBytes(init.blockstore.get(cid, { signal }))
    const data = dagPb.decode(block).Data
    if (data === undefined || UnixFS.unmarshal(data).type !== 'directory') {
      throw new IpfsGatewayError(501, 'CAR responses for a path through a HAMT-sharded directory are not implemented here: ask for the CID the path leads to')
    }
    path.push({ cid, block })
  }
  return { terminal: terminal.cid, path, roots: roots.map(String).join(',') }
}

/**
 * `entity-bytes=from:to` against a file of `size` bytes: negative values count from the end, `*`
 * is the last byte; the part of the range inside the file, or undefined when none of it is.
 */
export function entityRange (text: string, size: number): ByteRange | undefined {
  const [fromText, toText] = text.split(':')
  let from = Number(fromText)
  let to = toText === '*' ? size - 1 : Number(toText)
  if (from < 0) from = Math.max(0, size + from)
  if (to < 0) to = size + to
  to = Math.min(to, size - 1)
  if (from > to || from >= size) return undefined
  return { start: from, end: to }
}

async function isFile (init: IpfsGatewayInit, cid: CID, signal?: AbortSignal): Promise<boolean> {
  if (cid.code === raw.code) return true
  if (cid.code !== dagPb.code) return false
  const type = await unixfsType(init, cid, signal)
  return type === 'file' || type === 'raw'
}

async function unixfsType (init: IpfsGatewayInit, cid: CID, signal?: AbortSignal): Promise<string | undefined> {
  const block = cid.multihash.code === identity.code ? cid.multihash.digest : await collectBytes(init.blockstore.get(cid, { signal }))
  const data = dagPb.decode(block).Data
  return data === undefined ? undefined : UnixFS.unmarshal(data).type
}

/**
 * `dag-scope=entity`: a UnixFS file (or raw block) is all its blocks; a plain directory is its one
 * block (enumerating it needs no more). A HAMT-sharded directory's shards are not walked here yet.
 */
async function entityScope (init: IpfsGatewayInit, cid: CID, signal?: AbortSignal): Promise<'all' | 'block'> {
  if (cid.code === raw.code || cid.code !== dagPb.code) return 'all'
  const type = await unixfsType(init, cid, signal)
  if (type === 'directory') return 'block'
  if (type === 'hamt-sharded-directory') throw new IpfsGatewayError(501, 'dag-scope=entity for a HAMT-sharded directory is not implemented here')
  return 'all'
}

async function pathResponse (init: IpfsGatewayInit, request: IpfsRequest, headers: Record<string, string>, req: S3Request): Promise<S3Response> {
  const address = [request.cid.toString(), ...request.segments].join('/')
  let terminal: { cid: CID, roots: CID[] } | undefined
  for await (const entry of walkPath(address, init.blockstore, { signal: req.signal })) terminal = entry
  if (terminal === undefined) throw notFound(address)
  const roots = terminal.roots.length > 0 ? terminal.roots : [terminal.cid]
  headers['x-ipfs-roots'] = roots.map(String).join(',')
  const entry = await exporter(terminal.cid, init.blockstore, { signal: req.signal })
  if (entry.type === 'directory') {
    if (!request.trailingSlash) {
      // As the path gateway does: a directory's address ends with '/', so relative links resolve in it.
      return { status: 301, headers: { ...headers, location: `${req.path}/${req.query === '' ? '' : `?${req.query}`}` } }
    }
    let index: CID | undefined
    for await (const child of entry.entries({ signal: req.signal })) {
      if (child.name === 'index.html') index = child.cid
    }
    if (index !== undefined) return await fileResponse(init, index, 'index.html', headers, req)
    return await listing(entry.cid, entry.entries({ signal: req.signal }), request, headers, req)
  }
  if (entry.type !== 'file' && entry.type !== 'raw' && entry.type !== 'identity') {
    throw new IpfsGatewayError(501, `${terminal.cid} is not UnixFS: ask for it with format=raw or format=car`)
  }
  return await fileResponse(init, terminal.cid, request.segments.at(-1), headers, req)
}

async function fileResponse (init: IpfsGatewayInit, cid: CID, name: string | undefined, headers: Record<string, string>, req: S3Request): Promise<S3Response> {
  const entry = await exporter(cid, init.blockstore, { signal: req.signal })
  const size = Number(entry.size)
  const etag = `"${cid.toString()}"`
  const out: Record<string, string> = { ...headers, etag, 'accept-ranges': 'bytes' }
  if (matches(req.headers['if-none-match'], etag)) return { status: 304, headers: out }
  const head = size === 0 ? new Uint8Array() : await collectBytes(init.content.cat(cid, { length: 512, signal: req.signal }))
  out['content-type'] = contentType(name, head)
  let range
  try {
    range = parseRange(req.headers.range, size)
  } catch {
    throw new IpfsGatewayError(416, `the range is outside the ${size} bytes of ${cid}`, { 'content-range': `bytes */${size}` })
  }
  if (range === undefined) {
    out['content-length'] = String(size)
    return { status: 200, headers: out, body: req.method === 'HEAD' ? undefined : init.content.cat(cid, { signal: req.signal }) }
  }
  const length = range.end - range.start + 1
  out['content-length'] = String(length)
  out['content-range'] = contentRange(range, size)
  return { status: 206, headers: out, body: req.method === 'HEAD' ? undefined : init.content.cat(cid, { offset: range.start, length, signal: req.signal }) }
}

async function listing (cid: CID, entries: AsyncIterable<{ name: string, cid: CID, size: bigint }>, request: IpfsRequest, headers: Record<string, string>, req: S3Request): Promise<S3Response> {
  const base = `${req.path.endsWith('/') ? req.path : `${req.path}/`}`
  const rows: string[] = []
  for await (const child of entries) {
    rows.push(`<li><a href="${escape(base + encodeURIComponent(child.name))}">${escape(child.name)}</a> <small>${escape(child.cid.toString())}</small></li>`)
  }
  const title = escape(`/ipfs/${[request.cid.toString(), ...request.segments].join('/')}/`)
  const body = Buffer.from(`<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><ul>\n${rows.join('\n')}\n</ul></body></html>\n`)
  return {
    status: 200,
    headers: {
      ...headers,
      // A generated page: weak, and different from the directory's own CID (a CAR or block of it).
      etag: `W/"DirIndex-${cid.toString()}"`,
      'content-type': 'text/html; charset=utf-8',
      'content-length': String(body.byteLength),
    },
    body,
  }
}

function escape (text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Content-Location when the format came from Accept only (the response differs from the URL's). */
function contentLocation (request: IpfsRequest, req: S3Request, format: 'raw' | 'car'): Record<string, string> {
  if (request.explicitFormat) return {}
  return { 'content-location': `${req.path}?${req.query === '' ? '' : `${req.query}&`}format=${format}` }
}

function matches (ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false
  return ifNoneMatch.split(',').some((tag) => { const t = tag.trim(); return t === '*' || t === etag || t === `W/${etag}` })
}

const BY_EXTENSION: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  json: 'application/json',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  pdf: 'application/pdf',
  wasm: 'application/wasm',
  mp4: 'video/mp4',
}

const MAGIC: Array<[number[], string]> = [
  [[0x89, 0x50, 0x4e, 0x47], 'image/png'],
  [[0xff, 0xd8, 0xff], 'image/jpeg'],
  [[0x47, 0x49, 0x46, 0x38], 'image/gif'],
  [[0x25, 0x50, 0x44, 0x46, 0x2d], 'application/pdf'],
  [[0x00, 0x61, 0x73, 0x6d], 'application/wasm'],
]

/** From the file name's extension, else the first bytes (a few signatures, UTF-8 text), else octet-stream. */
export function contentType (name: string | undefined, head: Uint8Array): string {
  const ext = name?.includes('.') === true ? name.slice(name.lastIndexOf('.') + 1).toLowerCase() : undefined
  if (ext !== undefined && BY_EXTENSION[ext] !== undefined) return BY_EXTENSION[ext]
  for (const [magic, type] of MAGIC) {
    if (magic.every((b, i) => head[i] === b)) return type
  }
  if (head.byteLength > 0 && looksLikeText(head)) return 'text/plain; charset=utf-8'
  return 'application/octet-stream'
}

function looksLikeText (head: Uint8Array): boolean {
  for (const b of head) if (b === 0 || (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d)) return false
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.byteLength === 512 ? head.subarray(0, 508) : head)
    return true
  } catch {
    return false
  }
}

function errorText (err: unknown): S3Response {
  const name = (err as { name?: string }).name
  const code = (err as { code?: string }).code
  let status: number
  let message: string
  let extra: Record<string, string> = {}
  if (err instanceof IpfsGatewayError || name === IpfsGatewayError.NAME) {
    const e = err as IpfsGatewayError
    status = e.status
    message = e.message
    extra = e.headers
  } else if (name === 'NotFoundError' || code === 'ERR_NOT_FOUND' || code === 'ERR_NO_PROP') {
    status = 404
    message = 'not found here'
  } else if (name === 'UnsupportedContentError' || code === 'ERR_NO_RESOLVER' || code === 'ERR_NOT_UNIXFS') {
    status = 501
    message = 'this content cannot be served in that form here'
  } else {
    throw err
  }
  const body = Buffer.from(`${status} ${message}\n`)
  return { status, headers: { ...extra, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.byteLength) }, body }
}
