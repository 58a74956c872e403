import { connect } from 'node:net'

/** One HTTP response as it came off the wire. */
export interface RawResponse {
  status: number
  /** Header names lower-case; repeats joined with ', '. */
  headers: Record<string, string>
  body: Buffer
  /** False when the connection closed before the body announced by the headers was complete. */
  complete: boolean
}

export interface RawResult {
  /** The first final (non-1xx) response, when one arrived. */
  response?: RawResponse
  /** A socket error seen before the connection closed (ECONNRESET, EPIPE). */
  error?: string
  /** True when no answer came within `timeoutMs`: the socket was destroyed. */
  timedOut: boolean
}

export interface RawOptions {
  /** Method of the request (a HEAD response has no body whatever its headers say). */
  method: string
  /** Half-close the socket once everything is written (for bodies shorter than announced). */
  halfClose?: boolean
  /** Destroy the socket once everything is written: the client vanishes mid-request. */
  destroy?: boolean
  /** A liveness bound, not a performance expectation: generous. */
  timeoutMs: number
}

/**
 * Sends bytes exactly as given on a fresh loopback connection and reads until the server closes it.
 * The request should carry `Connection: close`; whatever it carries, the first final response is
 * parsed from the bytes received.
 */
export async function rawRequest (port: number, data: Buffer, opts: RawOptions): Promise<RawResult> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const received: Buffer[] = []
    let error: string | undefined
    let timedOut = false
    let settled = false
    const timer = setTimeout(() => {
      timedOut = true
      socket.destroy()
    }, opts.timeoutMs)
    const finish = (): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      const response = parseResponse(Buffer.concat(received), opts.method)
      resolve({ response, error, timedOut })
    }
    socket.on('connect', () => {
      socket.write(data, () => {
        if (opts.destroy === true) socket.destroy()
        else if (opts.halfClose === true) socket.end()
      })
    })
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk)
      // Stop as soon as a complete final response is in (the server may keep reading a body).
      const parsed = parseResponse(Buffer.concat(received), opts.method)
      if (parsed?.complete === true && parsed.headers['content-length'] !== undefined) socket.destroy()
    })
    socket.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message })
    socket.on('close', finish)
  })
}

/** The first final response in `bytes`; undefined when not even its header section is complete. */
export function parseResponse (bytes: Buffer, method: string): RawResponse | undefined {
  let offset = 0
  while (true) {
    const end = bytes.indexOf('\r\n\r\n', offset)
    if (end < 0) return undefined
    const lines = bytes.toString('latin1', offset, end).split('\r\n')
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0])
    if (m === null) return undefined
    const status = Number(m[1])
    const headers: Record<string, string> = {}
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':')
      if (colon <= 0) continue
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
    }
    const start = end + 4
    if (status >= 100 && status < 200) {
      offset = start
      continue
    }
    if (method === 'HEAD' || status === 204 || status === 304) {
      return { status, headers, body: Buffer.alloc(0), complete: true }
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const decoded = decodeChunked(bytes.subarray(start))
      return { status, headers, body: decoded.body, complete: decoded.complete }
    }
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length'])
      const body = bytes.subarray(start, start + length)
      return { status, headers, body, complete: body.length === length }
    }
    // Delimited by the end of the connection.
    return { status, headers, body: bytes.subarray(start), complete: true }
  }
}

function decodeChunked (bytes: Buffer): { body: Buffer, complete: boolean } {
  const parts: Buffer[] = []
  let at = 0
  while (true) {
    const eol = bytes.indexOf('\r\n', at)
    if (eol < 0) return { body: Buffer.concat(parts), complete: false }
    const size = parseInt(bytes.toString('latin1', at, eol).split(';')[0], 16)
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), complete: false }
    if (size === 0) return { body: Buffer.concat(parts), complete: true }
    const data = bytes.subarray(eol + 2, eol + 2 + size)
    parts.push(data)
    if (data.length < size) return { body: Buffer.concat(parts), complete: false }
    at = eol + 2 + size + 2
  }
}
