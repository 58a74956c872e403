/**
 * The IPFS Pinning Service API v1.0.0 (https://ipfs.github.io/pinning-services-api-spec/): the wire
 * types a client and a server share, and the pure checks both sides need. Routes, relative to a
 * service endpoint that may carry a path prefix (`https://host/psa` → `https://host/psa/pins`):
 *
 * - `GET /pins` with a {@link PinListQuery} → 200 {@link PinResults}
 * - `POST /pins` with a {@link Pin} → 202 {@link PinStatus}
 * - `GET /pins/{requestid}` → 200 {@link PinStatus}
 * - `POST /pins/{requestid}` with a {@link Pin} → 202 {@link PinStatus} with a new requestid (replace)
 * - `DELETE /pins/{requestid}` → 202
 *
 * Every request carries `Authorization: Bearer <token>`; every error is a {@link PinningFailure}.
 */

/** The states of a pin request, in lifecycle order. */
export const PIN_STATUSES = ['queued', 'pinning', 'pinned', 'failed'] as const

/** A state of a pin request: `queued` and `pinning` are pending, `pinned` and `failed` final. */
export type PinStatusName = typeof PIN_STATUSES[number]

/** How `GET /pins?name=` compares names: exact or substring, case-sensitive or not (`i…`). */
export const TEXT_MATCHING = ['exact', 'iexact', 'partial', 'ipartial'] as const

/** One of {@link TEXT_MATCHING}. */
export type TextMatchingStrategy = typeof TEXT_MATCHING[number]

/** Most CIDs one `GET /pins?cid=` may name. */
export const MAX_QUERY_CIDS = 10
/** Bounds and default of `GET /pins?limit=`. */
export const LIST_LIMIT = { min: 1, max: 1000, default: 10 } as const
/** Longest `Pin.name`, in characters (code points). */
export const MAX_NAME_LENGTH = 255
/** Most multiaddrs in `Pin.origins`. */
export const MAX_ORIGINS = 20
/** Most keys in `Pin.meta`. */
export const MAX_META_KEYS = 1000

/** A pin request: what to pin, with optional hints and user metadata. */
export interface Pin {
  /** CID of the DAG root to pin recursively. */
  cid: string
  /** Free-form name for lookups (at most 255 characters). */
  name?: string
  /** Multiaddrs of peers known to provide the data (at most 20, distinct). */
  origins?: string[]
  /** String key/values stored with the pin (e.g. `app_id`), filterable with `?meta=`. */
  meta?: Record<string, string>
}

/** The state of one pin request, as every route that returns a pin answers. */
export interface PinStatus {
  /** Opaque, globally unique id of this request; replacing a pin issues a new one. */
  requestid: string
  status: PinStatusName
  /** When the request entered the service: an RFC 3339 date-time, unique, used for pagination. */
  created: string
  /** The request as the service stores it. */
  pin: Pin
  /** Multiaddrs of the service's peers to connect to for transfers (the spec says 1 to 20). */
  delegates: string[]
  /** Vendor-specific string key/values (`status_details`, `dag_size`, …). */
  info?: Record<string, string>
}

/** The answer to `GET /pins`. */
export interface PinResults {
  /** Total number of matching pins (may exceed `results.length`; some services give the page size). */
  count: number
  /** One page, newest first per the spec. */
  results: PinStatus[]
}

/** Filters of `GET /pins`, typed. Absent fields are not sent; the service applies its defaults. */
export interface PinListQuery {
  /** Pins of any of these CIDs (1 to 10). */
  cid?: string[]
  /** Pins whose name matches, per `match`. */
  name?: string
  /** How `name` compares; default `exact`. */
  match?: TextMatchingStrategy
  /** Pins in any of these states; the service default is `['pinned']`. */
  status?: PinStatusName[]
  /** Pins created strictly before this instant. */
  before?: Date
  /** Pins created strictly after this instant. */
  after?: Date
  /** Page size, 1 to 1000; the service default is 10. */
  limit?: number
  /** Pins whose `meta` holds all of these key/values. */
  meta?: Record<string, string>
}

/** A {@link PinListQuery} as a server should apply it: the spec's defaults filled in. */
export type ParsedPinListQuery = PinListQuery & Required<Pick<PinListQuery, 'match' | 'status' | 'limit'>>

/** The `error` member of every error response body. */
export interface PinningFailureDetail {
  /** Machine-readable type: `BAD_REQUEST`, `UNAUTHORIZED`, `NOT_FOUND`, `INSUFFICIENT_FUNDS`, … */
  reason: string
  /** Explanation for humans. */
  details?: string
}

/** Body of every error response (400, 401, 404, 409, other 4xx, 5xx). */
export interface PinningFailure {
  error: PinningFailureDetail
}

/** Outcome of a check: the value, or a `BAD_REQUEST` failure a server can send as is. */
export type Checked<K extends string, T> = ({ [P in K]: T } & { error?: undefined }) | ({ [P in K]?: undefined } & { error: PinningFailureDetail })

const badRequest = (details: string): { error: PinningFailureDetail } => ({ error: { reason: 'BAD_REQUEST', details } })

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

/**
 * Parses an RFC 3339 date-time as the spec's `before`/`after`/`created` require, or returns
 * undefined. Accepts a space for the `+` of an offset, which an unencoded query string turns into one.
 */
export function parseDateTime (value: string): Date | undefined {
  const fixed = value.replace(/ (\d{2}:\d{2})$/, '+$1')
  if (!RFC3339.test(fixed)) return undefined
  const ms = Date.parse(fixed)
  return Number.isNaN(ms) ? undefined : new Date(ms)
}

/** True for a plain object (not null, not an array). */
function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Checks a string-to-string map (`Pin.meta`, `PinStatus.info`); returns a message on failure. */
export function checkStringMap (value: unknown, field: string, maxKeys = MAX_META_KEYS): string | undefined {
  if (!isRecord(value)) return `${field} must be an object of string values`
  const entries = Object.entries(value)
  if (entries.length > maxKeys) return `${field} has ${entries.length} keys, at most ${maxKeys} allowed`
  const bad = entries.find(([, v]) => typeof v !== 'string')
  return bad === undefined ? undefined : `${field}.${bad[0]} must be a string`
}

/** A comma-separated list parameter, repeated occurrences joined; undefined when absent. */
function listParam (params: URLSearchParams, name: string): string[] | undefined {
  const all = params.getAll(name)
  return all.length === 0 ? undefined : all.join(',').split(',').map(s => s.trim())
}

/**
 * Reads the query string of `GET /pins` as the spec defines it, filling in the defaults (`match`
 * exact, `status` pinned, `limit` 10). Unknown parameters are ignored. Any invalid value (an
 * unknown status or match mode, a limit outside 1..1000, a date that is not RFC 3339, no or more
 * than 10 CIDs, a name over 255 characters, meta that is not a JSON object of strings) gives a
 * `BAD_REQUEST` failure whose details name the parameter.
 *
 * @example
 * const parsed = parsePinListQuery(new URL(req.url, 'http://x').searchParams)
 * if (parsed.error !== undefined) return json(400, { error: parsed.error })
 * const { status, limit } = parsed.query
 */
export function parsePinListQuery (params: URLSearchParams): Checked<'query', ParsedPinListQuery> {
  const query: ParsedPinListQuery = { match: 'exact', status: ['pinned'], limit: LIST_LIMIT.default }

  const cid = listParam(params, 'cid')
  if (cid !== undefined) {
    const cids = [...new Set(cid.filter(c => c !== ''))]
    if (cids.length === 0 || cids.length > MAX_QUERY_CIDS) return badRequest(`cid must list 1 to ${MAX_QUERY_CIDS} CIDs, got ${cids.length}`)
    query.cid = cids
  }

  const name = params.get('name')
  if (name !== null) {
    if ([...name].length > MAX_NAME_LENGTH) return badRequest(`name must be at most ${MAX_NAME_LENGTH} characters`)
    query.name = name
  }

  const match = params.get('match')
  if (match !== null) {
    if (!(TEXT_MATCHING as readonly string[]).includes(match)) return badRequest(`match "${match}" is not one of ${TEXT_MATCHING.join(', ')}`)
    query.match = match as TextMatchingStrategy
  }

  const status = listParam(params, 'status')
  if (status !== undefined) {
    const bad = status.find(s => !(PIN_STATUSES as readonly string[]).includes(s))
    if (bad !== undefined) return badRequest(`status "${bad}" is not one of ${PIN_STATUSES.join(', ')}`)
    query.status = [...new Set(status as PinStatusName[])]
  }

  for (const field of ['before', 'after'] as const) {
    const value = params.get(field)
    if (value === null) continue
    const date = parseDateTime(value)
    if (date === undefined) return badRequest(`${field} "${value}" is not an RFC 3339 date-time`)
    query[field] = date
  }

  const limit = params.get('limit')
  if (limit !== null) {
    const n = /^\d{1,7}$/.test(limit) ? Number(limit) : NaN
    if (!(n >= LIST_LIMIT.min && n <= LIST_LIMIT.max)) return badRequest(`limit "${limit}" is not an integer from ${LIST_LIMIT.min} to ${LIST_LIMIT.max}`)
    query.limit = n
  }

  const meta = params.get('meta')
  if (meta !== null) {
    let parsed: unknown
    try { parsed = JSON.parse(meta) } catch { return badRequest('meta is not valid JSON') }
    const problem = checkStringMap(parsed, 'meta')
    if (problem !== undefined) return badRequest(problem)
    query.meta = parsed as Record<string, string>
  }

  return { query }
}

/**
 * Writes a {@link PinListQuery} as `GET /pins` expects it: lists comma-separated, dates as ISO
 * strings, meta as JSON. Absent fields are left out. The inverse of {@link parsePinListQuery}
 * (which adds the defaults).
 */
export function formatPinListQuery (query: PinListQuery = {}): URLSearchParams {
  const params = new URLSearchParams()
  if (query.cid !== undefined) params.set('cid', query.cid.join(','))
  if (query.name !== undefined) params.set('name', query.name)
  if (query.match !== undefined) params.set('match', query.match)
  if (query.status !== undefined) params.set('status', query.status.join(','))
  if (query.before !== undefined) params.set('before', query.before.toISOString())
  if (query.after !== undefined) params.set('after', query.after.toISOString())
  if (query.limit !== undefined) params.set('limit', String(query.limit))
  if (query.meta !== undefined) params.set('meta', JSON.stringify(query.meta))
  return params
}

/**
 * Checks a request body as a {@link Pin}: an object with a non-empty string `cid`, an optional
 * string `name` of at most 255 characters, optional `origins` of at most 20 distinct strings and
 * optional `meta` of string values. Returns a copy holding only those fields, or a `BAD_REQUEST`
 * failure naming the field.
 *
 * @example
 * const checked = validatePin(JSON.parse(body))
 * if (checked.error !== undefined) return json(400, { error: checked.error })
 * await queue(checked.pin)
 */
export function validatePin (value: unknown): Checked<'pin', Pin> {
  if (!isRecord(value)) return badRequest('the pin must be a JSON object')
  const { cid, name, origins, meta } = value
  if (typeof cid !== 'string' || cid === '') return badRequest('cid is required and must be a non-empty string')
  const pin: Pin = { cid }
  if (name !== undefined) {
    if (typeof name !== 'string') return badRequest('name must be a string')
    if ([...name].length > MAX_NAME_LENGTH) return badRequest(`name must be at most ${MAX_NAME_LENGTH} characters`)
    pin.name = name
  }
  if (origins !== undefined) {
    if (!Array.isArray(origins) || origins.some(o => typeof o !== 'string')) return badRequest('origins must be an array of multiaddr strings')
    if (origins.length > MAX_ORIGINS) return badRequest(`origins has ${origins.length} entries, at most ${MAX_ORIGINS} allowed`)
    if (new Set(origins).size !== origins.length) return badRequest('origins must not repeat an address')
    pin.origins = [...origins] as string[]
  }
  if (meta !== undefined) {
    const problem = checkStringMap(meta, 'meta')
    if (problem !== undefined) return badRequest(problem)
    pin.meta = { ...meta as Record<string, string> }
  }
  return { pin }
}

/**
 * Whether a pin's `name` matches the `name` filter of `GET /pins` under `mode`: `exact` and
 * `partial` (substring) compare case-sensitively, `iexact` and `ipartial` ignore case. A pin
 * without a name matches no filter.
 */
export function nameMatches (name: string | undefined, pattern: string, mode: TextMatchingStrategy = 'exact'): boolean {
  if (name === undefined) return false
  const fold = mode === 'iexact' || mode === 'ipartial'
  const a = fold ? name.toLowerCase() : name
  const b = fold ? pattern.toLowerCase() : pattern
  return mode === 'exact' || mode === 'iexact' ? a === b : a.includes(b)
}
