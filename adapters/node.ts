import { createServer as createHttpServer } from 'node:http'
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http'
import type { Gateway } from '../src/types.js'
import { isUnderBasePath, normalizeBasePath, toS3Request, writeS3Response } from './node-io.js'
import type { TrustProxy } from './node-io.js'

export type { TrustProxy } from './node-io.js'
export { BodyAlreadyConsumedError, toS3Request, writeS3Response } from './node-io.js'

export interface NodeHandlerOptions {
  /** Mount prefix in the raw path, e.g. '/s3'. Requests outside it go to `next` (or get a 404). */
  basePath?: string
  /** Peers whose X-Forwarded-Host / -Proto / -For are believed. */
  trustProxy?: TrustProxy
}

export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void

/**
 * A `(req, res, next?)` listener for `http.createServer`. Paths outside `basePath` are passed to
 * `next` when given, otherwise answered with a plain-text 404.
 */
export function createNodeHandler (gateway: Gateway, options: NodeHandlerOptions = {}): NodeHandler {
  const basePath = normalizeBasePath(options.basePath)
  return (req, res, next) => {
    const request = toS3Request(req, { basePath, trustProxy: options.trustProxy, res })
    if (!isUnderBasePath(request.path, basePath)) {
      if (next !== undefined) {
        next()
      } else {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not Found\n')
      }
      return
    }
    gateway.handle(request)
      .then(async (response) => { await writeS3Response(res, response, request.signal) })
      .catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500).end()
        else res.destroy(err as Error)
      })
  }
}

export interface CreateServerOptions extends NodeHandlerOptions {
  /**
   * Passed to `http.createServer`. `requestTimeout` defaults to 0 here (node's default of 5 minutes
   * would cut off large uploads); `keepAliveTimeout` to 65 s (node's 5 s closes idle sockets that
   * clients such as the AWS SDK keep and reuse, so a request sent as the server closes one fails
   * with ECONNRESET; clients and load balancers commonly idle out at 60 s); `headersTimeout` keeps
   * node's default.
   */
  serverOptions?: ServerOptions
}

/** An `http.Server` (not yet listening) serving `gateway` under `basePath`. */
export function createServer (gateway: Gateway, options: CreateServerOptions = {}): Server {
  const handler = createNodeHandler(gateway, options)
  const server = createHttpServer({ requestTimeout: 0, ...options.serverOptions }, (req, res) => { handler(req, res) })
  server.keepAliveTimeout = options.serverOptions?.keepAliveTimeout ?? 65_000
  return server
}
