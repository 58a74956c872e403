import { createHash } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import type { AbortOptions, S3Request, S3Response } from '../types.js'
import { parseIpnsName } from './name.js'
import { IPNS_RECORD_CONTENT_TYPE } from './record.js'
import { IpnsRecordCache, type IpnsRecordCacheInit } from './record-cache.js'
import type { IpnsKey } from './keys.js'

/** What a name points to now. */
export interface IpnsPublication {
  /** The name's key (`keyring.self`, or `keyring.key(label)`): it signs the record. */
  key: IpnsKey
  value: CID
  /**
   * Must grow whenever the value changes, across restarts too: readers keep the record with the
   * highest sequence. The value's creation time in ms (e.g. a snapshot's created time) does.
   */
  sequence: bigint
}

/**
 * What `name` (canonical `k51...`, as `IpnsKey.name`) points to now, or undefined when the name is
 * not one this server publishes (or has nothing published yet).
 */
export type IpnsResolver = (name: string, options: AbortOptions) => Promise<IpnsPublication | undefined>

export interface IpnsRecordServerInit {
  resolve: IpnsResolver
  /** The records' validity, TTL and clock (see `IpnsRecordCache`), or a cache to share. */
  records?: IpnsRecordCache | IpnsRecordCacheInit
}

export interface IpnsRecordServer {
  /**
   * The IPNS part of the Delegated Routing V1 HTTP API, for an admin path (mount prefix removed):
   * `GET/HEAD /routing/v1/ipns/<name>` answers the signed record (200), 404 when the resolver has
   * nothing, 400 for a name that is not an IPNS name, 406 when `Accept` excludes the record type;
   * `PUT` and the API's other paths answer 501 (only this server's own names are served). Every
   * answer allows any origin (CORS). Undefined for paths outside `/routing/v1`.
   */
  route(req: S3Request, path: string): Promise<S3Response | undefined>
  /**
   * The trustless gateway's IPNS record response: `GET/HEAD /ipns/<name>` with
   * `Accept: application/vnd.ipfs.ipns-record` or `?format=ipns-record` (`rest` is what follows
   * `/ipns/`, percent-encoded). Undefined when the request does not ask for a record.
   */
  gatewayRecord(req: S3Request, rest: string): Promise<S3Response | undefined>
}

const ROUTING_PREFIX = '/routing/v1'
const IPNS_PREFIX = `${ROUTING_PREFIX}/ipns`
/** Spec: max-age for a 404, or a record without a TTL. */
const DEFAULT_MAX_AGE_S = 60
const CORS = { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, HEAD, OPTIONS' }

/** Serves signed IPNS records for the names `init.resolve` knows. */
export function ipnsRecordServer (init: IpnsRecordServerInit): IpnsRecordServer {
  const cache = init.records instanceof IpnsRecordCache ? init.records : new IpnsRecordCache(init.records)

  async function recordResponse (req: S3Request, nameText: string, extraHeaders: Record<string, string>): Promise<S3Response> {
    const parsed = parseIpnsName(nameText)
    if (parsed === undefined) return text(400, `${nameText} is not an IPNS name (a libp2p-key CID or a peer id)`)
    req.signal?.throwIfAborted()
    const publication = await init.resolve(parsed.name, { signal: req.signal })
    if (publication === undefined) return text(404, `No record for ${parsed.name}`, { 'cache-control': `public, max-age=${DEFAULT_MAX_AGE_S}` })
    if (publication.key.name !== parsed.name) throw new Error(`The IPNS resolver answered ${parsed.name} with the key of ${publication.key.name}`)
    const record = await cache.record(publication.key, publication.value, publication.sequence)
    const etag = `"${createHash('sha256').update(record.bytes).digest('base64url')}"`
    const maxAgeMs = Math.min(record.ttlMs, record.validUntil - cache.now())
    const headers: Record<string, string> = {
      ...CORS,
      ...extraHeaders,
      'content-type': IPNS_RECORD_CONTENT_TYPE,
      'cache-control': `public, max-age=${maxAgeMs > 0 ? Math.floor(maxAgeMs / 1000) : DEFAULT_MAX_AGE_S}`,
      etag,
      vary: 'Accept',
    }
    if (req.headers['if-none-match']?.split(',').some(tag => tag.trim() === etag || tag.trim() === '*') === true) {
      return { status: 304, headers }
    }
    headers['content-length'] = String(record.bytes.byteLength)
    return { status: 200, headers, body: req.method === 'HEAD' ? undefined : record.bytes }
  }

  return {
    async route (req, path) {
      if (path !== ROUTING_PREFIX && !path.startsWith(`${ROUTING_PREFIX}/`)) return undefined
      if (req.method === 'OPTIONS') return { status: 204, headers: { ...CORS, 'access-control-allow-headers': 'Accept, If-None-Match', 'access-control-max-age': '86400' } }
      const name = path.startsWith(`${IPNS_PREFIX}/`) ? path.slice(IPNS_PREFIX.length + 1) : undefined
      if (name === undefined || name.includes('/') || (req.method !== 'GET' && req.method !== 'HEAD')) {
        return text(501, req.method === 'PUT' ? 'This server publishes only its own IPNS names' : `${req.method} ${path} is not supported`)
      }
      if (!acceptsRecord(req.headers.accept)) return text(406, `Retry with Accept: ${IPNS_RECORD_CONTENT_TYPE}`)
      return await recordResponse(req, decoded(name), {})
    },

    async gatewayRecord (req, rest) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return undefined
      const format = new URLSearchParams(req.query).get('format')
      const asked = format === 'ipns-record' || (format === null && mediaTypes(req.headers.accept).includes(IPNS_RECORD_CONTENT_TYPE))
      if (!asked) return undefined
      const [name = '', ...path] = rest.split('/')
      if (path.some(segment => segment !== '')) return text(400, 'An IPNS record is served for a name alone, without a path')
      const nameText = decoded(name)
      return await recordResponse(req, nameText, {
        'content-disposition': `attachment; filename="${nameText.replace(/[^\w.-]/g, '_')}.bin"`,
        'x-content-type-options': 'nosniff',
      })
    },
  }
}

function decoded (segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/** The media types in an Accept header, lower-case, parameters dropped. */
function mediaTypes (accept: string | undefined): string[] {
  return (accept ?? '').split(',').map(part => part.split(';')[0].trim().toLowerCase()).filter(type => type !== '')
}

/** No Accept, or one that allows the record type (as Boxo does: a browser opening the URL gets the record). */
function acceptsRecord (accept: string | undefined): boolean {
  const types = mediaTypes(accept)
  return types.length === 0 || types.some(type => type === IPNS_RECORD_CONTENT_TYPE || type === 'application/*' || type === '*/*')
}

function text (status: number, message: string, headers: Record<string, string> = {}): S3Response {
  const body = Buffer.from(`${message}\n`)
  return { status, headers: { ...CORS, ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.byteLength) }, body }
}
