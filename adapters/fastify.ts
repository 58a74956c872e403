import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Gateway, S3Request, S3Response } from '../src/types.js'
import { deferContinue, toS3Request, writeS3Response } from './node-io.js'
import type { TrustProxy } from './node-io.js'

export type { TrustProxy } from './node-io.js'
export { BodyAlreadyConsumedError } from './node-io.js'

export interface S3PluginOptions {
  gateway: Pick<Gateway, 'handle'>
  /** Peers whose X-Forwarded-Host / -Proto / -For are believed. */
  trustProxy?: TrustProxy
}

const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS'] as const

/**
 * Fastify plugin: `app.register(s3Plugin, { gateway, prefix: '/s3' })`. Encapsulated on purpose:
 * its catch-all content-type parser (which leaves the body stream unread, so uploads stream with no
 * bodyLimit) applies only to the gateway's routes.
 *
 * The gateway answers from the routes' own `onRequest` hook, after the application's `onRequest`
 * hooks and before fastify selects a body parser: fastify rejects Content-Type values it cannot
 * parse with 415, while S3 stores any Content-Type as given.
 *
 * It also makes the server write `100 Continue` only when a request's body is read
 * (`deferContinue` on `fastify.server`, unless the application has a 'checkContinue' listener of
 * its own): an upload sent with `Expect: 100-continue` and refused gets its error before it sends
 * its body; the application's other routes get `100 Continue` when their body parser reads.
 */
export const s3Plugin: FastifyPluginAsync<S3PluginOptions> = async (fastify: FastifyInstance, options: S3PluginOptions) => {
  const { gateway } = options
  deferContinue(fastify.server)
  mountAll(fastify, async (request) => await gateway.handle(request), options.trustProxy)
}

export interface AdminPluginOptions {
  gateway: Pick<Gateway, 'admin'>
  trustProxy?: TrustProxy
}

/**
 * The gateway's admin endpoints: `app.register(adminPlugin, { gateway, prefix: '/-' })` serves
 * `/-/healthy`, `/-/ready`, `/-/metrics` and `/-/dashboard`.
 */
export const adminPlugin: FastifyPluginAsync<AdminPluginOptions> = async (fastify: FastifyInstance, options: AdminPluginOptions) => {
  const { gateway } = options
  mountAll(fastify, async (request) => await gateway.admin.handle(request), options.trustProxy)
}

function mountAll (fastify: FastifyInstance, answer: (request: S3Request) => Promise<S3Response>, trustProxy: TrustProxy | undefined): void {
  const basePath = fastify.prefix

  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

  const serve = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.hijack()
    const req = request.raw
    const res = reply.raw
    const s3Request = toS3Request(req, { basePath, trustProxy, res })
    try {
      const response = await answer(s3Request)
      await writeS3Response(res, response, s3Request.signal)
    } catch (err) {
      request.log.error({ err }, 's3-ipfs-gateway: response failed')
      if (!res.headersSent) res.writeHead(500).end()
      else res.destroy(err as Error)
    }
  }

  for (const url of ['/', '/*']) {
    fastify.route({
      method: [...METHODS],
      url,
      exposeHeadRoute: false,
      onRequest: serve,
      // not reached: the hook above hijacks every request
      handler: serve,
    })
  }
}

Object.defineProperty(s3Plugin, Symbol.for('fastify.display-name'), { value: 's3-ipfs-gateway' })
Object.defineProperty(adminPlugin, Symbol.for('fastify.display-name'), { value: 's3-ipfs-gateway-admin' })
