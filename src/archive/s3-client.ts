import { createHash } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import type { IncomingMessage } from 'node:http'
import { HttpRequest } from '@smithy/protocol-http'
import { SignatureV4 } from '@smithy/signature-v4'
import { childText, parseXml } from '../xml/parse.js'
import { NodeSha256 } from '../auth/node-sha256.js'

export interface S3ClientInit {
  /** `http(s)://host[:port][/base/path]`, without credentials. */
  endpoint: string
  region: string
  accessKeyId: string
  secretAccessKey: string
  forcePathStyle: boolean
  /** A request fails after this long without a byte either way. */
  timeoutMs: number
  /** Names the client in error messages (`s3:bucket`). */
  name: string
}

export interface S3Call {
  /** The AWS action name, for error messages. */
  action: string
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE'
  bucket: string
  key: string
  query?: Record<string, string>
  headers?: Record<string, string>
  body?: Uint8Array
  signal?: AbortSignal
}

/** What an S3 endpoint refused, or why it could not be reached. Carries no credentials. */
export class S3ClientError extends Error {
  override readonly name = 'S3ClientError'
  /** The S3 error code (`NoSuchKey`, `SignatureDoesNotMatch`), `ERR_TIMEOUT`, or the socket's (`ECONNREFUSED`). */
  readonly code: string
  /** HTTP status of the answer; undefined when there was none. */
  readonly status: number | undefined
  readonly action: string

  constructor (message: string, init: { code: string, status?: number, action: string, cause?: unknown }) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.code = init.code
    this.status = init.status
    this.action = init.action
  }
}

const EMPTY = new Uint8Array(0)
const MAX_ERROR_BODY = 64 * 1024

/** Status codes S3 answers without a body (HEAD) mapped to the codes it would have named. */
const STATUS_CODES: Record<number, string> = {
  301: 'PermanentRedirect',
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  412: 'PreconditionFailed',
  500: 'InternalError',
  503: 'ServiceUnavailable',
}

/**
 * A minimal S3 client: SigV4 header auth with the real payload SHA-256 (never aws-chunked), over
 * node:http(s) so the path goes on the wire exactly as it was signed.
 */
export class S3Client {
  readonly #init: S3ClientInit
  readonly #url: URL
  readonly #signer: SignatureV4
  readonly #agent: http.Agent

  constructor (init: S3ClientInit) {
    this.#init = init
    this.#url = new URL(init.endpoint)
    this.#signer = new SignatureV4({
      service: 's3',
      region: init.region,
      credentials: { accessKeyId: init.accessKeyId, secretAccessKey: init.secretAccessKey },
      sha256: NodeSha256,
      // S3 signs the path as it goes on the wire; #path encodes it once already.
      uriEscapePath: false,
    })
    const agentOptions = { keepAlive: true, maxSockets: 16 }
    this.#agent = this.#url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions)
  }

  /**
   * Sends one request and resolves with the response once its headers arrive and its status is
   * 2xx (the body is the caller's to read or discard). Any other status rejects with an
   * S3ClientError carrying S3's code. The timeout and `signal` keep watching while the body is read.
   */
  async send (call: S3Call): Promise<IncomingMessage> {
    const { signal } = call
    signal?.throwIfAborted()
    const body = call.body ?? EMPTY
    const url = this.#url
    // Virtual-hosted style connects to <bucket>.<endpoint host>, as S3's DNS expects.
    const hostname = this.#init.forcePathStyle ? url.hostname : `${call.bucket}.${url.hostname}`
    const host = url.port === '' ? hostname : `${hostname}:${url.port}`
    const path = this.#path(call.bucket, call.key)
    const query = call.query ?? {}
    const headers: Record<string, string> = { host, 'x-amz-content-sha256': sha256Hex(body), ...call.headers }
    if (call.method === 'PUT' || call.method === 'POST') headers['content-length'] = String(body.byteLength)
    const signed = await this.#signer.sign(new HttpRequest({
      method: call.method,
      protocol: url.protocol,
      hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path,
      query,
      headers,
    }))
    signal?.throwIfAborted()

    const search = Object.entries(query).map(([k, v]) => `${escapeUri(k)}=${escapeUri(v)}`).join('&')
    const transport = url.protocol === 'https:' ? https : http
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      let res: IncomingMessage | undefined
      const req = transport.request({
        protocol: url.protocol,
        hostname: hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port,
        method: call.method,
        path: search === '' ? path : `${path}?${search}`,
        headers: signed.headers,
        agent: this.#agent,
      })
      const stop = (reason: unknown): void => {
        req.destroy(reason as Error)
        res?.destroy(reason as Error)
      }
      const onAbort = (): void => { stop(signal?.reason) }
      const done = (): void => { signal?.removeEventListener('abort', onAbort) }
      signal?.addEventListener('abort', onAbort, { once: true })
      req.setTimeout(this.#init.timeoutMs, () => {
        stop(new S3ClientError(`${this.#init.name}: ${call.action}: no data for ${this.#init.timeoutMs} ms`, { code: 'ERR_TIMEOUT', action: call.action }))
      })
      req.on('error', (err) => {
        done()
        if (signal?.aborted === true) reject(signal.reason)
        else if (err instanceof S3ClientError) reject(err)
        else {
          const code = (err as { code?: string }).code ?? 'ERR_NETWORK'
          reject(new S3ClientError(`${this.#init.name}: ${call.action}: ${err.message}`, { code, action: call.action, cause: err }))
        }
      })
      req.once('response', (answer) => {
        res = answer
        // A destroyed body reaches its reader through the async iterator; without a listener it
        // would be an uncaught 'error' when nobody is reading.
        answer.on('error', () => {})
        answer.once('close', done)
        resolve(answer)
      })
      req.end(body)
    })

    const status = response.statusCode ?? 0
    if (status >= 200 && status < 300) return response
    throw await this.#error(call, response)
  }

  /** Reads a small response body whole (XML answers). */
  async text (response: IncomingMessage, max = MAX_ERROR_BODY): Promise<Uint8Array> {
    const chunks: Buffer[] = []
    let length = 0
    for await (const chunk of response as AsyncIterable<Buffer>) {
      length += chunk.byteLength
      if (length > max) {
        response.destroy()
        break
      }
      chunks.push(chunk)
    }
    return Buffer.concat(chunks)
  }

  /** Reads and drops a body so the connection can be reused. */
  async discard (response: IncomingMessage): Promise<void> {
    for await (const _ of response) { /* drain */ }
  }

  /** An S3ClientError for an error answer (`<Error>` XML when S3 sent a body, else the status alone). */
  error (call: Pick<S3Call, 'action'>, status: number, bytes: Uint8Array): S3ClientError {
    let code = STATUS_CODES[status] ?? `HTTP${status}`
    let message = ''
    if (bytes.byteLength > 0) {
      try {
        const node = parseXml(bytes, 'Error')
        code = childText(node, 'Code') ?? code
        message = childText(node, 'Message') ?? ''
      } catch {
        // not S3's XML (a proxy's page): the status alone says it
      }
    }
    const detail = message === '' ? '' : `: ${message}`
    return new S3ClientError(`${this.#init.name}: ${call.action} failed with ${code} (HTTP ${status})${detail}`, { code, status, action: call.action })
  }

  close (): void {
    this.#agent.destroy()
  }

  async #error (call: S3Call, response: IncomingMessage): Promise<S3ClientError> {
    const bytes = await this.text(response).catch(() => EMPTY)
    return this.error(call, response.statusCode ?? 0, bytes)
  }

  #path (bucket: string, key: string): string {
    const base = this.#url.pathname.replace(/\/+$/, '')
    const encodedKey = key.split('/').map(escapeUri).join('/')
    return this.#init.forcePathStyle ? `${base}/${escapeUri(bucket)}/${encodedKey}` : `${base}/${encodedKey}`
  }
}

/** RFC 3986 percent-encoding, as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ */
export function escapeUri (text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

export function sha256Hex (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

