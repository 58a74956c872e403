import type { NextFunction, Request, Response } from 'express'
import type { Gateway, S3Request, S3Response } from '../src/types.js'
import { toS3Request, writeS3Response } from './node-io.js'
import type { TrustProxy } from './node-io.js'

export type { ContinueServer, TrustProxy } from './node-io.js'
export { BodyAlreadyConsumedError, deferContinue } from './node-io.js'

export interface S3MiddlewareOptions {
  /** Peers whose X-Forwarded-Host / -Proto / -For are believed. */
  trustProxy?: TrustProxy
}

/**
 * The gateway's admin endpoints as Express middleware: `app.use('/-', adminMiddleware(gateway))`
 * serves `/-/healthy`, `/-/ready`, `/-/metrics` and `/-/dashboard`.
 */
export function adminMiddleware (gateway: Pick<Gateway, 'admin'>, options: S3MiddlewareOptions = {}): Middleware {
  return mount(async (request) => await gateway.admin.handle(request), options)
}

/**
 * Express middleware: `app.use('/s3', s3Middleware(gateway))`. The mount path (`req.baseUrl`) is the
 * base path; the raw path comes from `req.originalUrl`, so signatures cover what the client sent.
 * Mount it before any body parser that could match S3 requests.
 *
 * Call `deferContinue(server)` on the server the app listens on (`app.listen()` returns it), so
 * that an upload sent with `Expect: 100-continue` and refused (bad signature, no permission, no
 * such bucket) gets its error before it sends its body; the app's other routes get their
 * `100 Continue` when they read the body, as before.
 */
export function s3Middleware (gateway: Pick<Gateway, 'handle'>, options: S3MiddlewareOptions = {}): Middleware {
  return mount(async (request) => await gateway.handle(request), options)
}

type Middleware = (req: Request, res: Response, next: NextFunction) => void

function mount (answer: (request: S3Request) => Promise<S3Response>, options: S3MiddlewareOptions): Middleware {
  return (req, res, next) => {
    const request = toS3Request(req, { basePath: req.baseUrl, path: req.originalUrl, trustProxy: options.trustProxy, res })
    answer(request)
      .then(async (response) => { await writeS3Response(res, response, request.signal) })
      .catch((err: unknown) => {
        if (!res.headersSent) next(err)
        else res.destroy(err as Error)
      })
  }
}
