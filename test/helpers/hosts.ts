import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import express from 'express'
import Fastify from 'fastify'
import { createAdminHandler, createNodeHandler, deferContinue } from '../../adapters/node.js'
import { adminMiddleware, deferContinue as deferExpressContinue, s3Middleware } from '../../adapters/express.js'
import { adminPlugin, s3Plugin } from '../../adapters/fastify.js'
import type { TrustProxy } from '../../adapters/node-io.js'
import type { Gateway } from '../../src/types.js'
import { createServer as createHttpServer } from 'node:http'

export interface HostOptions {
  trustProxy?: TrustProxy
  /** Also mount the gateway's admin endpoints here (e.g. '/-'), as the adapter's docs show. */
  adminPath?: string
}

type Hosted = Pick<Gateway, 'handle'> & Partial<Pick<Gateway, 'admin'>>

function adminOf (gateway: Hosted, options: HostOptions): Pick<Gateway, 'admin'> | undefined {
  if (options.adminPath === undefined) return undefined
  if (gateway.admin === undefined) throw new Error('adminPath needs a gateway with admin endpoints')
  return { admin: gateway.admin }
}

export interface RunningHost {
  /** Endpoint the gateway answers on: origin + base path, e.g. `http://127.0.0.1:41234/s3`. */
  url: string
  /** `http://127.0.0.1:<port>` */
  origin: string
  close(): Promise<void>
}

export interface Host {
  name: 'node' | 'express' | 'fastify'
  /**
   * Serves `gateway` under `basePath` on 127.0.0.1, port 0. Requests outside the base path reach
   * the host's own fallback, which answers 418 with the body `host-fallback`.
   */
  start(gateway: Hosted, basePath: string, options?: HostOptions): Promise<RunningHost>
}

const KEEP_ALIVE_TIMEOUT = 65_000

export const FALLBACK_STATUS = 418
export const FALLBACK_BODY = 'host-fallback'

async function listen (server: Server, basePath: string): Promise<RunningHost> {
  // As the node adapter's createServer does: node's 5 s keep-alive timeout races clients that reuse
  // an idle socket just as the server closes it (ECONNRESET when a test pauses between requests).
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url: origin + basePath,
    origin,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    },
  }
}

export const nodeHost: Host = {
  name: 'node',
  async start (gateway, basePath, options = {}) {
    const handler = createNodeHandler(gateway, { basePath, trustProxy: options.trustProxy })
    const withAdmin = adminOf(gateway, options)
    const admin = withAdmin === undefined ? undefined : createAdminHandler(withAdmin, { basePath: options.adminPath, trustProxy: options.trustProxy })
    const server = createHttpServer({ requestTimeout: 0 }, (req, res) => {
      const s3 = (): void => { handler(req, res, () => { res.writeHead(FALLBACK_STATUS).end(FALLBACK_BODY) }) }
      if (admin === undefined) s3()
      else admin(req, res, s3)
    })
    deferContinue(server)
    return await listen(server, basePath)
  },
}

export const expressHost: Host = {
  name: 'express',
  async start (gateway, basePath, options = {}) {
    const app = express()
    const admin = adminOf(gateway, options)
    if (admin !== undefined) app.use(options.adminPath ?? '/-', adminMiddleware(admin, { trustProxy: options.trustProxy }))
    app.use(basePath === '' ? '/' : basePath, s3Middleware(gateway, { trustProxy: options.trustProxy }))
    app.use((_req, res) => { res.status(FALLBACK_STATUS).send(FALLBACK_BODY) })
    const server = createHttpServer({ requestTimeout: 0 }, app)
    deferExpressContinue(server)
    return await listen(server, basePath)
  },
}

export const fastifyHost: Host = {
  name: 'fastify',
  async start (gateway, basePath, options = {}) {
    const app = Fastify()
    const admin = adminOf(gateway, options)
    if (admin !== undefined) await app.register(adminPlugin, { gateway: admin, trustProxy: options.trustProxy, prefix: options.adminPath })
    await app.register(s3Plugin, { gateway, trustProxy: options.trustProxy, prefix: basePath })
    app.setNotFoundHandler((_request, reply) => { void reply.code(FALLBACK_STATUS).send(FALLBACK_BODY) })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    return {
      url: origin + basePath,
      origin,
      close: async () => {
        app.server.closeAllConnections()
        await app.close()
      },
    }
  },
}

export const hosts: readonly Host[] = [nodeHost, expressHost, fastifyHost]

