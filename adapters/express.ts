import type { NextFunction, Request, Response } from 'express'
import type { Gateway } from '../src/types.js'
import { toS3Request, writeS3Response } from './node-io.js'
import type { TrustProxy } from './node-io.js'

export type { TrustProxy } from './node-io.js'
export { BodyAlreadyConsumedError } from './node-io.js'

export interface S3MiddlewareOptions {
  /** Peers whose X-Forwarded-Host / -Proto / -For are believed. */
  trustProxy?: TrustProxy
}

/**
 * Express middleware: `app.use('/s3', s3Middleware(gateway))`. The mount path (`req.baseUrl`) is the
 * base path; the raw path comes from `req.originalUrl`, so signatures cover what the client sent.
 * Mount it before any body parser that could match S3 requests.
 */
export function s3Middleware (gateway: Gateway, options: S3MiddlewareOptions = {}): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    const request = toS3Request(req, { basePath: req.baseUrl, path: req.originalUrl, trustProxy: options.trustProxy, res })
    gateway.handle(request)
      .then(async (response) => { await writeS3Response(res, response, request.signal) })
      .catch((err: unknown) => {
        if (!res.headersSent) next(err)
        else res.destroy(err as Error)
      })
  }
}
