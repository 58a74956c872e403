import { createServer as createHttpServer } from 'node:http'
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Server as HttpsServer } from 'node:https'
import type { Gateway, S3Request, S3Response } from '../src/types.js'
import { deferContinue, isUnderBasePath, normalizeBasePath, toS3Request, writeS3Response } from './node-io.js'
import type { TrustProxy } from './node-io.js'

export type { ContinueServer, TrustProxy } from './node-io.js'
export { BodyAlreadyConsumedError, deferContinue, toS3Request, writeS3Response } from './node-io.js'

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
 *
 * Call `deferContinue(server)` on that server too, so that an upload sent with
 * `Expect: 100-continue` (the AWS SDK for JavaScript sends it with bodies of 2 MiB and more) and
 * refused (bad signature, no permission, no such bucket) gets its error before it sends its body.
 */
export function createNodeHandler (gateway: Pick<Gateway, 'handle'>, options: NodeHandlerOptions = {}): NodeHandler {
  return mount(async (request) => await gateway.handle(request), options)
}

/**
 * The gateway's admin endpoints (`/healthy`, `/ready`, `/metrics`, `/dashboard`) under `basePath`
 * (e.g. '/-'), as a `(req, res, next?)` listener; other paths go to `next` or get a 404.
 */
export function createAdminHandler (gateway: Pick<Gateway, 'admin'>, options: NodeHandlerOptions = {}): NodeHandler {
  return mount(async (request) => await gateway.admin.handle(request), options)
}

function mount (answer: (request: S3Request) => Promise<S3Response>, options: NodeHandlerOptions): NodeHandler {
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
    answer(request)
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
  /** Also serve the gateway's admin endpoints under this path (e.g. '/-'), outside `basePath`. */
  adminPath?: string
  /**
   * Serve HTTPS with this certificate chain and private key (PEM). Replace them on the running
   * server with `server.setSecureContext({ cert, key })`. Default: plain HTTP.
   */
  tls?: { cert: string | Buffer, key: string | Buffer }
}

type ServedGateway = Pick<Gateway, 'handle'> & Partial<Pick<Gateway, 'admin'>>

/**
 * An `http.Server` (not yet listening) serving `gateway` under `basePath`, or an `https.Server`
 * with `tls`. `100 Continue` is written only when a request's body is read (`deferContinue`).
 */
export function createServer (gateway: ServedGateway, options: CreateServerOptions & { tls: NonNullable<CreateServerOptions['tls']> }): HttpsServer
export function createServer (gateway: ServedGateway, options?: CreateServerOptions & { tls?: undefined }): Server
export function createServer (gateway: ServedGateway, options?: CreateServerOptions): Server | HttpsServer
export function createServer (gateway: ServedGateway, options: CreateServerOptions = {}): Server | HttpsServer {
  const handler = createNodeHandler(gateway, options)
  const admin = options.adminPath === undefined || gateway.admin === undefined
    ? undefined
    : createAdminHandler({ admin: gateway.admin }, { basePath: options.adminPath, trustProxy: options.trustProxy })
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (admin === undefined) handler(req, res)
    else admin(req, res, () => { handler(req, res) })
  }
  const serverOptions = { requestTimeout: 0, ...options.serverOptions }
  const server = options.tls === undefined
    ? createHttpServer(serverOptions, listener)
    : createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, listener)
  server.keepAliveTimeout = options.serverOptions?.keepAliveTimeout ?? 65_000
  deferContinue(server)
  return server
}
