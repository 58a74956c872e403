import type { AuditEntry, AuditSink } from '../audit.js'
import type { AuthContext } from '../auth/sigv4.js'
import { RELEASE_CHUNKS } from '../content/export.js'
import { toS3Error } from '../errors.js'
import type { S3Request, S3Response } from '../types.js'
import type { RequestHistory } from './history.js'
import type { GatewayLogger } from './logger.js'
import type { GatewayMetrics } from './metrics.js'
import { observeIteration } from './iteration.js'
import { bodyBytesRead } from '../protocol/read-buffers.js'

/** What a request got to before it was answered. */
export interface RequestState {
  bucket?: string
  key?: string
  operation?: string
  auth?: AuthContext
  /** The S3 error code the request was answered with. */
  error?: string
}

/** One request from its arrival to the last byte of its answer. */
export interface Exchange {
  readonly id: string
  /** The request as operations see it: its body counts the bytes read. */
  readonly request: S3Request
  readonly state: RequestState
}

interface OpenExchange extends Exchange {
  readonly start: number
  received: number
  sent: number
  status: number
  ended: boolean
  ttfb: number
  headers: Record<string, string>
  removeAbortListener?: () => void
}

interface OperationSeries {
  requests: (code: string) => { inc: () => void }
  duration: { observe: (value: number) => void }
  ttfb: { observe: (value: number) => void }
  received: { inc: (value: number) => void }
  sent: { inc: (value: number) => void }
}

export interface RequestObserverInit {
  metrics?: GatewayMetrics
  history?: RequestHistory
  logger: GatewayLogger
  audit?: AuditSink
  now: () => Date
  /** Running totals of block cache hits and misses, for the dashboard's history. */
  cacheCounts?: () => { hits: number, misses: number }
}

/**
 * Where every request starts and ends: request metrics, the dashboard's history, the request log
 * line and the audit entry are all fed from here, once per request, when its answer is complete —
 * after the last body byte, so bytes sent, a stream cut after the headers and a client that went
 * away are known. Operations never count or log themselves.
 */
export class RequestObserver {
  private inFlight = 0
  private readonly logRequests: boolean
  private lastCache = { hits: 0, misses: 0 }
  private readonly series = new Map<string, OperationSeries>()

  constructor (private readonly init: RequestObserverInit) {
    this.logRequests = init.logger.isLevelEnabled?.('info') ?? true
    if (init.metrics !== undefined) init.metrics.inFlightNow = () => this.inFlight
  }

  begin (req: S3Request, id: string): Exchange {
    this.inFlight++
    this.init.history?.noteInFlight(this.inFlight)
    const body = observeIteration(req.body, (chunk) => {
      exchange.received += chunk.byteLength
      bodyBytesRead(chunk.byteLength)
    }, () => {})
    const exchange: OpenExchange = {
      id,
      request: { ...req, body },
      state: {},
      start: performance.now(),
      received: 0,
      sent: 0,
      status: 0,
      ended: false,
      ttfb: 0,
      headers: {},
    }
    return exchange
  }

  /** The answer's headers are ready: the request ends now, or when its streamed body does. */
  answered (exchange: Exchange, response: S3Response): S3Response {
    const open = exchange as OpenExchange
    open.status = response.status
    open.headers = response.headers
    open.ttfb = (performance.now() - open.start) / 1000
    const body = response.body
    if (body === undefined || body instanceof Uint8Array) {
      open.sent = body?.byteLength ?? 0
      this.end(open, undefined)
      return response
    }
    const signal = open.request.signal
    if (signal !== undefined) {
      // A client gone before the adapter pulled the body: nothing else would end the request.
      const onAbort = (): void => { this.end(open, 'canceled') }
      signal.addEventListener('abort', onAbort, { once: true })
      open.removeAbortListener = () => { signal.removeEventListener('abort', onAbort) }
    }
    const observed = observeIteration(body, (chunk) => { open.sent += chunk.byteLength }, (end) => {
      // A failure because the client went away is a cancel, not a broken answer.
      this.end(open, end === 'stopped' || (end !== undefined && signal?.aborted === true) ? 'canceled' : end)
    })
    // The observed chunks are the body's own: its opt-in to pooled read buffers (export.ts) carries
    // over, or every block of a GET would be read into a fresh buffer left for the GC.
    const lend = (body as { [RELEASE_CHUNKS]?: unknown })[RELEASE_CHUNKS]
    if (typeof lend === 'function') Object.defineProperty(observed, RELEASE_CHUNKS, { value: () => lend.call(body) })
    return { ...response, body: observed }
  }

  private end (exchange: OpenExchange, outcome: 'canceled' | { failure: unknown } | undefined): void {
    if (exchange.ended) return
    exchange.ended = true
    exchange.removeAbortListener?.()
    this.inFlight--
    const { metrics, history, logger } = this.init
    const { state, id } = exchange
    const operation = state.operation ?? 'unknown'
    const durationSeconds = (performance.now() - exchange.start) / 1000
    const code = String(exchange.status)
    // A stream cut after its headers: the status stays what was sent; the error is the failure's.
    const streamError = typeof outcome === 'object' ? toS3Error(outcome.failure)?.code ?? 'InternalError' : undefined
    const error = streamError ?? state.error
    if (metrics !== undefined) {
      const series = this.seriesOf(metrics, operation)
      series.requests(code).inc()
      if (error !== undefined) metrics.requestErrors.inc({ operation, error })
      if (outcome === 'canceled') metrics.canceled.inc({})
      series.duration.observe(durationSeconds)
      series.ttfb.observe(exchange.ttfb)
      if (exchange.received > 0) series.received.inc(exchange.received)
      if (exchange.sent > 0) series.sent.inc(exchange.sent)
      const bucket = metrics.bucketLabel(state.bucket)
      if (bucket !== undefined) {
        metrics.bucketRequests.inc({ bucket, code })
        if (exchange.received > 0) metrics.bucketReceivedBytes.inc({ bucket }, exchange.received)
        if (exchange.sent > 0) metrics.bucketSentBytes.inc({ bucket }, exchange.sent)
      }
    }
    if (history !== undefined) {
      history.recordRequest({ operation, status: exchange.status, durationSeconds, receivedBytes: exchange.received, sentBytes: exchange.sent })
      history.noteInFlight(this.inFlight)
      this.recordCache(history)
    }
    const principal = state.auth === undefined || state.auth.anonymous ? null : state.auth.principal ?? null
    const req = exchange.request
    if (streamError !== undefined) {
      logger.error({
        requestId: id, operation, bucket: state.bucket, key: state.key, status: exchange.status, error: streamError, bytesOut: exchange.sent,
        err: (outcome as { failure: unknown }).failure,
      }, 'response failed after its headers were sent')
    }
    if (this.logRequests) {
      logger.info({
        requestId: id,
        method: req.method,
        operation,
        bucket: nonEmpty(state.bucket),
        key: nonEmpty(state.key),
        status: exchange.status,
        error,
        canceled: outcome === 'canceled' ? true : undefined,
        bytesIn: exchange.received,
        bytesOut: exchange.sent,
        durationMs: Math.round(durationSeconds * 1e6) / 1000,
        principal,
        remoteAddress: req.remoteAddress,
      }, 'request')
    }
    if (this.init.audit !== undefined) this.record(this.init.audit, exchange, principal, error)
  }

  /** An operation's series, bound to their labels once: prom-client hashes labels on every unbound call. */
  private seriesOf (metrics: GatewayMetrics, operation: string): OperationSeries {
    let series = this.series.get(operation)
    if (series === undefined) {
      const byCode = new Map<string, { inc: () => void }>()
      series = {
        requests: (code) => {
          let counter = byCode.get(code)
          if (counter === undefined) byCode.set(code, counter = metrics.requests.labels({ operation, code }))
          return counter
        },
        duration: metrics.requestDuration.labels({ operation }),
        ttfb: metrics.requestTtfb.labels({ operation }),
        received: metrics.receivedBytes.labels({ operation }),
        sent: metrics.sentBytes.labels({ operation }),
      }
      this.series.set(operation, series)
    }
    return series
  }

  private recordCache (history: RequestHistory): void {
    const counts = this.init.cacheCounts?.()
    if (counts === undefined) return
    if (counts.hits > this.lastCache.hits) history.recordCache(true, counts.hits - this.lastCache.hits)
    if (counts.misses > this.lastCache.misses) history.recordCache(false, counts.misses - this.lastCache.misses)
    this.lastCache = { hits: counts.hits, misses: counts.misses }
  }

  private record (sink: AuditSink, exchange: OpenExchange, principal: string | null, error: string | undefined): void {
    const { state, request: req, id } = exchange
    const headers = exchange.headers
    const entry: AuditEntry = {
      time: this.init.now().toISOString(),
      requestId: id,
      principal,
      accessKeyId: state.auth?.accessKeyId,
      operation: state.operation,
      method: req.method,
      bucket: nonEmpty(state.bucket),
      key: nonEmpty(state.key),
      versionId: headers['x-amz-version-id'],
      cid: headers['x-ipfs-path']?.replace(/^\/ipfs\//, ''),
      status: exchange.status,
      error,
      sourceIp: req.remoteAddress,
      userAgent: req.headers['user-agent'],
    }
    try {
      const pending = sink(entry)
      if (pending instanceof Promise) pending.catch((err: unknown) => { this.init.logger.error({ requestId: id, err }, 'the audit sink failed') })
    } catch (err) {
      this.init.logger.error({ requestId: id, err }, 'the audit sink failed')
    }
  }
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === '' ? undefined : value
}
