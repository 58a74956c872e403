import type { AbortOptions } from '../types.js'
import { checkStringMap, formatPinListQuery, LIST_LIMIT, parseDateTime, PIN_STATUSES, validatePin } from './pinning-api.js'
import type { Pin, PinListQuery, PinResults, PinStatus } from './pinning-api.js'

/**
 * One remote pinning service, spoken to over the IPFS Pinning Service API v1.0.0. Every method
 * checks `options.signal` before any I/O and rejects with its reason when the caller aborts; every
 * other failure is a {@link PinningServiceError}. Each request times out on its own (see
 * {@link PinningServiceClientInit.timeoutMs}).
 */
export interface PinningService {
  /**
   * Asks the service to pin `pin.cid` (`POST /pins`). Resolves with the request's first status,
   * usually `queued`; poll {@link get} to follow it.
   *
   * @example
   * const { requestid } = await service.add({ cid: root.toString(), name: 'bucket/key', origins })
   */
  add(pin: Pin, options?: AbortOptions): Promise<PinStatus>

  /** The current status of a request (`GET /pins/{requestid}`); an unknown id rejects with status 404. */
  get(requestid: string, options?: AbortOptions): Promise<PinStatus>

  /**
   * One page of pin requests matching `query` (`GET /pins`). Without `status` the service lists
   * only `pinned` requests (per the spec; some services list all); without `limit` it returns 10.
   */
  list(query?: PinListQuery, options?: AbortOptions): Promise<PinResults>

  /**
   * Every request matching `query`, page after page (`query.limit` is the page size, default 1000),
   * each yielded once even where pages overlap. Pages follow the spec: the next page is the one
   * `before` the oldest `created` of the last (a service that lists oldest first is walked forwards
   * with `after` instead). Stops at a short page, or at a page with nothing new.
   *
   * @example
   * for await (const status of service.listAll({ status: ['failed'] })) await service.delete(status.requestid)
   */
  listAll(query?: PinListQuery, options?: AbortOptions): AsyncGenerator<PinStatus, void, undefined>

  /**
   * Replaces request `requestid` with `pin` in one step (`POST /pins/{requestid}`), so blocks both
   * share are never unpinned in between. Resolves with the new request, which has a new requestid.
   */
  replace(requestid: string, pin: Pin, options?: AbortOptions): Promise<PinStatus>

  /**
   * Removes request `requestid` (`DELETE /pins/{requestid}`). Resolves true when removed, false
   * when the service does not know it (404: already gone), so deleting twice is harmless.
   */
  delete(requestid: string, options?: AbortOptions): Promise<boolean>
}

export interface PinningServiceClientInit {
  /** What this service is called here; appears in errors (`service`) instead of any secret. */
  name: string
  /** API endpoint, path prefix included (`https://api.example.com/psa`); a trailing slash is ignored. */
  endpoint: string
  /** Access token, sent as `Authorization: Bearer <token>` and never put in an error. */
  token: string
  /** Limit on each request, response body included; default 30 000 ms. */
  timeoutMs?: number
  /** The fetch to use; default the global one. */
  fetch?: typeof fetch
}

/** `reason` of failures that have no HTTP answer to quote. */
export type PinningClientReason = 'TIMEOUT' | 'UNREACHABLE' | 'BAD_RESPONSE'

export interface PinningServiceErrorInit {
  service: string
  /** HTTP status of the answer; undefined when there was none (timeout, unreachable). */
  status?: number
  /** The service's `error.reason`, or one of {@link PinningClientReason}. */
  reason: string
  details?: string
  retryable: boolean
  /** What was being done, for the message (`GET /pins/abc`). */
  action: string
}

/**
 * The one error a {@link PinningServiceClient} throws (besides a caller's abort). `reason` is the
 * service's own `error.reason` when it sent one (services and the reference mock do not all use
 * the spec's `NOT_FOUND`/`UNAUTHORIZED` spellings, so branch on `status` for those), otherwise a
 * name for the HTTP status (`BAD_REQUEST`, `UNAUTHORIZED`, `NOT_FOUND`, `INSUFFICIENT_FUNDS`,
 * `INTERNAL_SERVER_ERROR`, `HTTP_<status>`) or a {@link PinningClientReason}. `retryable` says
 * whether the same request may succeed later: true for 5xx, 408, 429, timeouts and connection
 * failures. Check with {@link isPinningServiceError}, not `instanceof`.
 */
export class PinningServiceError extends Error {
  override name = 'PinningServiceError'
  readonly code = 'ERR_PINNING_SERVICE'
  readonly service: string
  readonly status: number | undefined
  readonly reason: string
  readonly details: string | undefined
  readonly retryable: boolean

  constructor (init: PinningServiceErrorInit) {
    const head = init.details?.split('\n', 1)[0]?.slice(0, 200)
    const what = [init.status, init.reason].filter(x => x !== undefined).join(' ')
    super(`pinning service "${init.service}": ${init.action}: ${what}${head ? `: ${head}` : ''}`)
    this.service = init.service
    this.status = init.status
    this.reason = init.reason
    this.details = init.details
    this.retryable = init.retryable
  }
}

/** True for a {@link PinningServiceError}, from any copy of this module (duck-typed on `code`). */
export function isPinningServiceError (err: unknown): err is PinningServiceError {
  return (err as { code?: unknown } | null)?.code === 'ERR_PINNING_SERVICE'
}

const STATUS_REASONS: Record<number, string> = { 400: 'BAD_REQUEST', 401: 'UNAUTHORIZED', 404: 'NOT_FOUND', 409: 'INSUFFICIENT_FUNDS' }

const retryableStatus = (status: number): boolean => status >= 500 || status === 408 || status === 429

const MAX_DETAILS = 2000

/** A message for a failed fetch: undici hides the socket error in `cause` (an AggregateError for several addresses). */
function networkDetails (err: unknown): string {
  const cause = (err as { cause?: unknown }).cause ?? err
  const parts = cause instanceof AggregateError ? cause.errors : [cause]
  return parts.map(e => (e instanceof Error ? e.message : String(e))).filter(m => m !== '').join('; ') || String(err)
}

function checkPinStatus (value: unknown): PinStatus | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'a pin status must be an object'
  const { requestid, status, created, pin, delegates, info } = value as Record<string, unknown>
  if (typeof requestid !== 'string' || requestid === '') return 'requestid must be a non-empty string'
  if (!(PIN_STATUSES as readonly unknown[]).includes(status)) return `status ${JSON.stringify(status)} is not one of ${PIN_STATUSES.join(', ')}`
  if (typeof created !== 'string' || parseDateTime(created) === undefined) return `created ${JSON.stringify(created)} is not an RFC 3339 date-time`
  const checked = validatePin(pin)
  if (checked.error !== undefined) return `pin: ${checked.error.details ?? ''}`
  // The spec asks for 1 to 20 delegates; an empty list is tolerated, a wrong type is not.
  if (!Array.isArray(delegates) || delegates.some(d => typeof d !== 'string')) return 'delegates must be an array of strings'
  const result: PinStatus = { requestid, status: status as PinStatus['status'], created, pin: checked.pin, delegates: [...delegates] as string[] }
  if (info !== undefined) {
    const problem = checkStringMap(info, 'info')
    if (problem !== undefined) return problem
    result.info = { ...info as Record<string, string> }
  }
  return result
}

function checkPinResults (value: unknown): PinResults | string {
  if (typeof value !== 'object' || value === null) return 'the list must be an object'
  const { count, results } = value as Record<string, unknown>
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) return 'count must be a non-negative integer'
  if (!Array.isArray(results)) return 'results must be an array'
  const statuses: PinStatus[] = []
  for (const [i, item] of results.entries()) {
    const checked = checkPinStatus(item)
    if (typeof checked === 'string') return `results[${i}]: ${checked}`
    statuses.push(checked)
  }
  return { count, results: statuses }
}

interface Answer { status: number, body: string, action: string }

export class PinningServiceClient implements PinningService {
  readonly name: string
  readonly #base: string
  readonly #token: string
  readonly #timeoutMs: number
  readonly #fetch: typeof fetch

  constructor (init: PinningServiceClientInit) {
    this.name = init.name
    this.#base = new URL(init.endpoint).href.replace(/\/+$/, '')
    this.#token = init.token
    this.#timeoutMs = init.timeoutMs ?? 30_000
    this.#fetch = init.fetch ?? globalThis.fetch
  }

  async add (pin: Pin, options: AbortOptions = {}): Promise<PinStatus> {
    return this.#parse(await this.#request('POST', '/pins', pin, options), checkPinStatus)
  }

  async get (requestid: string, options: AbortOptions = {}): Promise<PinStatus> {
    return this.#parse(await this.#request('GET', `/pins/${encodeURIComponent(requestid)}`, undefined, options), checkPinStatus)
  }

  async list (query: PinListQuery = {}, options: AbortOptions = {}): Promise<PinResults> {
    const search = formatPinListQuery(query).toString()
    return this.#parse(await this.#request('GET', search === '' ? '/pins' : `/pins?${search}`, undefined, options), checkPinResults)
  }

  async * listAll (query: PinListQuery = {}, options: AbortOptions = {}): AsyncGenerator<PinStatus, void, undefined> {
    const limit = query.limit ?? LIST_LIMIT.max
    const seen = new Set<string>()
    let bounds = { before: query.before, after: query.after }
    while (true) {
      const page = await this.list({ ...query, ...bounds, limit }, options)
      let fresh = 0
      for (const status of page.results) {
        if (seen.has(status.requestid)) continue
        seen.add(status.requestid)
        fresh++
        yield status
      }
      if (fresh === 0 || (page.results.length < limit && page.count <= page.results.length)) return
      // Bounds are moved 1 ms past the edge of the page, so that pins sharing the edge millisecond
      // (or created within it, from a service with finer timestamps) are not skipped; the overlap
      // is filtered out above. A page listed oldest first (the reference mock's order, against
      // the spec) is continued forwards with `after`.
      const times = page.results.map(s => Date.parse(s.created))
      bounds = times[0] < times[times.length - 1]
        ? { ...bounds, after: new Date(Math.max(...times) - 1) }
        : { ...bounds, before: new Date(Math.min(...times) + 1) }
    }
  }

  async replace (requestid: string, pin: Pin, options: AbortOptions = {}): Promise<PinStatus> {
    return this.#parse(await this.#request('POST', `/pins/${encodeURIComponent(requestid)}`, pin, options), checkPinStatus)
  }

  async delete (requestid: string, options: AbortOptions = {}): Promise<boolean> {
    const answer = await this.#request('DELETE', `/pins/${encodeURIComponent(requestid)}`, undefined, options, [404])
    return answer.status !== 404
  }

  /** Sends one request; resolves with any 2xx answer (or one of `accept`), rejects otherwise. */
  async #request (method: string, path: string, body: unknown, options: AbortOptions, accept: number[] = []): Promise<Answer> {
    options.signal?.throwIfAborted()
    const action = `${method} ${path}`
    const timeout = AbortSignal.timeout(this.#timeoutMs)
    const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${this.#token}` }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const fetchFn = this.#fetch
    let status: number
    let text: string
    try {
      const response = await fetchFn(this.#base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal })
      status = response.status
      text = await response.text()
    } catch (err) {
      if (options.signal?.aborted === true) throw options.signal.reason
      if (timeout.aborted) throw this.#error({ action, reason: 'TIMEOUT', retryable: true, details: `no complete answer within ${this.#timeoutMs} ms` })
      throw this.#error({ action, reason: 'UNREACHABLE', retryable: true, details: networkDetails(err) })
    }
    if ((status >= 200 && status < 300) || accept.includes(status)) return { status, body: text, action }

    let failure: { reason?: unknown, details?: unknown } | undefined
    try { failure = (JSON.parse(text) as { error?: typeof failure })?.error } catch {}
    const reason = typeof failure?.reason === 'string' && failure.reason !== ''
      ? failure.reason
      : STATUS_REASONS[status] ?? (status >= 500 ? 'INTERNAL_SERVER_ERROR' : `HTTP_${status}`)
    const details = typeof failure?.details === 'string' ? failure.details : (failure === undefined && text !== '' ? text : undefined)
    throw this.#error({ action, status, reason, details: details === '' ? undefined : details, retryable: retryableStatus(status) })
  }

  #parse<T> (answer: Answer, check: (value: unknown) => T | string): T {
    let value: unknown
    try {
      value = JSON.parse(answer.body)
    } catch {
      throw this.#error({ action: answer.action, status: answer.status, reason: 'BAD_RESPONSE', retryable: false, details: `the body is not JSON: ${answer.body.slice(0, 200)}` })
    }
    const checked = check(value)
    if (typeof checked === 'string') throw this.#error({ action: answer.action, status: answer.status, reason: 'BAD_RESPONSE', retryable: false, details: checked })
    return checked
  }

  /** Builds an error with the token scrubbed from everything a service or the network put in it. */
  #error (init: Omit<PinningServiceErrorInit, 'service'>): PinningServiceError {
    const token = this.#token
    const scrub = (s: string): string => (token === '' ? s : s.split(token).join('[REDACTED]'))
    return new PinningServiceError({
      ...init,
      service: this.name,
      action: scrub(init.action),
      reason: scrub(init.reason),
      details: init.details === undefined ? undefined : scrub(init.details).slice(0, MAX_DETAILS),
    })
  }
}
