import { CID } from 'multiformats/cid'
import { parseAnyCid } from '../content/cid-text.js'

/** An answer the gateway gives with its status and a short text body (see the path gateway spec's status codes). */
export class IpfsGatewayError extends Error {
  static readonly NAME = 'IpfsGatewayError'
  override name = IpfsGatewayError.NAME
  constructor (readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message)
  }
}

export type ResponseFormat = 'raw' | 'car' | 'path'

/** What `GET /ipfs/<cid>[/<path>]` asks for. */
export interface IpfsRequest {
  cid: CID
  /** Decoded path segments after the CID (empty for the CID itself). */
  segments: string[]
  /** The request path ended with '/'. */
  trailingSlash: boolean
  format: ResponseFormat
  /** CAR only: blocks sent every time the walk reaches them (`dups=y`). */
  duplicates: boolean
  /** CAR only. */
  scope: 'all' | 'entity' | 'block'
  /** CAR only: `entity-bytes=from:to` as given. */
  entityBytes?: string
  /** `format` was in the query (no Content-Location is due). */
  explicitFormat: boolean
}


const RAW = 'application/vnd.ipld.raw'
const CAR = 'application/vnd.ipld.car'

/**
 * Reads the address after `/ipfs/` (still percent-encoded), the query and the Accept header.
 * Throws IpfsGatewayError 400 for a bad CID, a bad path or bad CAR parameters, 406 for a format
 * this gateway does not produce (`format` query values other than raw and car).
 */
export function parseIpfsRequest (rest: string, query: URLSearchParams, accept: string | undefined): IpfsRequest {
  const [first, ...others] = rest.split('/')
  let cid: CID
  try {
    cid = parseAnyCid(decodeURIComponent(first))
  } catch {
    throw new IpfsGatewayError(400, `invalid CID: ${JSON.stringify(first.slice(0, 100))}`)
  }
  const trailingSlash = others.length > 0 && others[others.length - 1] === ''
  let segments: string[]
  try {
    segments = others.filter((s) => s !== '').map((s) => decodeURIComponent(s))
  } catch {
    throw new IpfsGatewayError(400, 'invalid path: bad percent-encoding')
  }
  if (segments.some((s) => s === '.' || s === '..')) throw new IpfsGatewayError(400, 'invalid path: "." and ".." are not path segments here')

  const fromQuery = query.get('format')
  let format: ResponseFormat = 'path'
  let params = new Map<string, string>()
  if (fromQuery !== null) {
    if (fromQuery === 'raw') format = 'raw'
    else if (fromQuery === 'car') format = 'car'
    else throw new IpfsGatewayError(406, `format ${JSON.stringify(fromQuery.slice(0, 40))} is not served here (raw, car, or none for the content itself)`)
  }
  if (accept !== undefined) {
    // The first raw or CAR media range named wins (the trustless types are listed on purpose).
    for (const item of accept.split(',')) {
      const [type, ...rawParams] = item.split(';').map((p) => p.trim())
      const media = type.toLowerCase()
      if (media !== RAW && media !== CAR) continue
      if (fromQuery === null) format = media === RAW ? 'raw' : 'car'
      if (media === CAR) params = new Map(rawParams.map((p) => p.split('=').map((s) => s.trim().toLowerCase()) as [string, string]))
      break
    }
  }
  const request: IpfsRequest = { cid, segments, trailingSlash, format, duplicates: false, scope: 'all', explicitFormat: fromQuery !== null }
  if (format === 'raw' && segments.length > 0) throw new IpfsGatewayError(400, 'a raw block is served for /ipfs/<cid> only, without a path')
  if (format !== 'car') return request

  const version = query.get('car-version') ?? params.get('version')
  if (version !== undefined && version !== null && version !== '1') throw new IpfsGatewayError(400, `CAR version ${JSON.stringify(version)} is not served (only version=1)`)
  const order = query.get('car-order') ?? params.get('order')
  if (order !== undefined && order !== null && order !== 'dfs' && order !== 'unk') throw new IpfsGatewayError(400, `CAR order ${JSON.stringify(order)} is not served (dfs)`)
  const dups = query.get('car-dups') ?? params.get('dups')
  if (dups !== undefined && dups !== null && dups !== 'y' && dups !== 'n') throw new IpfsGatewayError(400, `CAR dups must be y or n, not ${JSON.stringify(dups)}`)
  request.duplicates = dups === 'y'
  const scope = query.get('dag-scope')
  if (scope !== null) {
    if (scope !== 'all' && scope !== 'entity' && scope !== 'block') throw new IpfsGatewayError(400, `dag-scope must be block, entity or all, not ${JSON.stringify(scope.slice(0, 40))}`)
    request.scope = scope
  }
  const entityBytes = query.get('entity-bytes')
  if (entityBytes !== null) {
    if (!/^-?\d{1,16}:(-?\d{1,16}|\*)$/.test(entityBytes)) throw new IpfsGatewayError(400, `entity-bytes must be from:to (integers, to may be *), not ${JSON.stringify(entityBytes.slice(0, 40))}`)
    const [from, to] = entityBytes.split(':')
    if (!from.startsWith('-') && to !== '*' && !to.startsWith('-') && Number(to) < Number(from)) throw new IpfsGatewayError(400, `entity-bytes ${entityBytes} ends before it starts`)
    request.entityBytes = entityBytes
    request.scope = 'entity'
  }
  return request
}
