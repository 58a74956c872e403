import { S3Error } from '../errors.js'
import { checkConditions } from '../protocol/conditional.js'
import { CONTENT_HEADERS, overrideValue, RESPONSE_OVERRIDES } from '../protocol/headers.js'
import type { S3Response } from '../types.js'
import type { OperationContext } from './context.js'
import { requireObject, versionIdParam } from './common.js'
import { encryptionHeaders, storedDataKey } from './encryption.js'
import { versionHeaders } from './object-attributes.js'
import { readable } from '../archive/read-through.js'

export const CAR_MEDIA_TYPE = 'application/vnd.ipld.car'

/** What a GET or HEAD asked for when it asked for the object's DAG as a CAR. */
export interface CarRequest {
  /** `dups=y`: a block is sent every time the walk reaches it. */
  duplicates: boolean
  /** `dag-scope=block`: the root block alone. */
  scope: 'all' | 'block'
}

interface MediaRange {
  type: string
  params: Record<string, string>
  q: number
}

/** An Accept header's media ranges, lower-case, parameters unquoted. */
function parseAccept (header: string | undefined): MediaRange[] {
  if (header === undefined) return []
  const ranges: MediaRange[] = []
  for (const item of header.split(',')) {
    const [type, ...rest] = item.split(';').map(s => s.trim())
    if (type === '') continue
    const params: Record<string, string> = {}
    for (const p of rest) {
      const eq = p.indexOf('=')
      if (eq < 0) continue
      params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase()
    }
    const q = params.q === undefined ? 1 : Number(params.q)
    delete params.q
    ranges.push({ type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0 })
  }
  return ranges
}

const SUPPORTED = {
  version: ['1'],
  order: ['dfs', 'unk'],
  dups: ['n', 'y'],
} as const

/**
 * Whether a GetObject / HeadObject asks for a CAR, following the trustless gateway spec:
 * `?format=car`, or an Accept header naming `application/vnd.ipld.car` at least as high as any
 * other media range. `car-version` / `car-order` / `car-dups` query parameters take precedence over
 * the Accept header's parameters. Undefined when the request wants the object's bytes.
 */
export function carRequest (ctx: OperationContext): CarRequest | undefined {
  const format = ctx.query.get('format')
  const accept = parseAccept(ctx.req.headers.accept)
  const cars = accept.filter(r => r.type === CAR_MEDIA_TYPE && r.q > 0).sort((a, b) => b.q - a.q)
  if (format !== null) {
    if (format.toLowerCase() !== 'car') {
      throw new S3Error('NotImplemented', `format=${format} is not implemented by this gateway; format=car (${CAR_MEDIA_TYPE}) is.`)
    }
  } else {
    if (cars.length === 0) return undefined
    const other = Math.max(0, ...accept.filter(r => r.type !== CAR_MEDIA_TYPE).map(r => r.q))
    if (other > cars[0].q) return undefined
  }

  const fromQuery = {
    version: ctx.query.get('car-version') ?? undefined,
    order: ctx.query.get('car-order') ?? undefined,
    dups: ctx.query.get('car-dups') ?? undefined,
  }
  const variants = cars.length > 0 ? cars.map(r => r.params) : [{}]
  let chosen: { dups?: string } | undefined
  for (const params of variants) {
    const wanted = {
      version: fromQuery.version ?? params.version,
      order: fromQuery.order ?? params.order,
      dups: fromQuery.dups ?? params.dups,
    }
    const ok = (Object.keys(SUPPORTED) as Array<keyof typeof SUPPORTED>)
      .every(name => wanted[name] === undefined || (SUPPORTED[name] as readonly string[]).includes(wanted[name].toLowerCase()))
    if (ok) {
      chosen = wanted
      break
    }
  }
  if (chosen === undefined) {
    throw new S3Error('InvalidArgument', `This gateway serves ${CAR_MEDIA_TYPE} with version=1, order=dfs and dups=n or dups=y only.`,
      { ArgumentName: 'Accept', ArgumentValue: ctx.req.headers.accept ?? '' })
  }

  if (ctx.query.has('entity-bytes')) {
    throw new S3Error('NotImplemented', 'The entity-bytes parameter is not implemented by this gateway; a CAR holds the whole object.')
  }
  const scope = ctx.query.get('dag-scope') ?? 'all'
  if (scope !== 'all' && scope !== 'entity' && scope !== 'block') {
    throw new S3Error('InvalidArgument', 'dag-scope must be block, entity or all.', { ArgumentName: 'dag-scope', ArgumentValue: scope })
  }
  return { duplicates: chosen.dups?.toLowerCase() === 'y', scope: scope === 'block' ? 'block' : 'all' }
}

/** Response overrides that still describe a CAR; content type and encoding would not. */
const CAR_OVERRIDES = Object.entries(RESPONSE_OVERRIDES).filter(([, header]) => header !== 'content-type' && header !== 'content-encoding')

/**
 * GetObject / HeadObject of one version as a CAR v1 of its DAG (see ContentStore.exportCar): the
 * same version lookup, errors and S3 headers as a plain GET, with the CAR's own Content-Type,
 * Content-Disposition and ETag. The length is not known in advance, so there is no
 * Content-Length. Range is ignored (RFC 9110 lets a server send the whole representation);
 * partNumber is refused, as a part of an object is not a DAG of its own.
 */
export async function readObjectAsCar (ctx: OperationContext, car: CarRequest, withBody: boolean): Promise<S3Response> {
  if (ctx.query.has('partNumber')) {
    throw new S3Error('InvalidRequest', `A part of an object cannot be downloaded as a CAR (${CAR_MEDIA_TYPE}).`)
  }
  const versionId = versionIdParam(ctx)
  const version = await requireObject(ctx, ctx.bucket, ctx.key, versionId)
  // The CAR holds ciphertext, but an SSE-C object answers only to its key, as a plain GET does.
  storedDataKey(ctx, version)
  const dups = car.duplicates ? 'y' : 'n'
  const etag = `${version.cid}.car${car.scope === 'block' ? '.block' : ''}.dfs.${dups}`
  const h = ctx.req.headers
  // If-Match asks for this version: either ETag names it. If-None-Match asks whether the client
  // holds this representation: only the CAR's ETag can say so.
  const ifMatch = h['if-match']?.split(',').some(t => t.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1') === etag) === true ? '*' : h['if-match']
  checkConditions({ ifMatch, ifUnmodifiedSince: h['if-unmodified-since'] }, version)
  checkConditions({ ifNoneMatch: h['if-none-match'], ifModifiedSince: h['if-modified-since'] }, { etag, lastModified: version.lastModified })

  const headers = { ...versionHeaders(version), ...encryptionHeaders(version.encryption) }
  // The stored content headers describe the object's bytes, not the CAR.
  for (const name of CONTENT_HEADERS) {
    if (name !== 'cache-control' && name !== 'expires') delete headers[name]
  }
  if (versionId === 'null') headers['x-amz-version-id'] = 'null'
  headers.etag = `"${etag}"`
  headers['content-type'] = `${CAR_MEDIA_TYPE}; version=1; order=dfs; dups=${dups}`
  headers['content-disposition'] = `attachment; filename="${version.cid}.car"`
  headers['x-content-type-options'] = 'nosniff'
  headers['accept-ranges'] = 'none'
  headers.vary = 'Accept'
  if (ctx.req.query !== '') {
    for (const [param, header] of CAR_OVERRIDES) {
      const value = ctx.query.get(param)
      if (value !== null) headers[header] = overrideValue(param, value)
    }
  }
  if (!withBody) return { status: 200, headers }
  await readable(ctx, version)
  return {
    status: 200,
    headers,
    body: await ctx.content.exportCar(version.cid, { duplicates: car.duplicates, scope: car.scope, signal: ctx.signal }),
  }
}
