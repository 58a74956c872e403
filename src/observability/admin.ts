import { createHash, timingSafeEqual } from 'node:crypto'
import type { S3Request, S3Response } from '../types.js'
import { DASHBOARD_CONTENT_SECURITY_POLICY, dashboardPage } from './dashboard/page.js'
import type { DashboardData } from './history.js'
import type { GatewayMetrics } from './metrics.js'
import type { Readiness } from './readiness.js'

export interface AdminHandlerInit {
  metrics?: GatewayMetrics
  readiness: Readiness
  /** A bearer token `/metrics` requires (`Authorization: Bearer <token>`). Default: none. */
  metricsToken?: string
  dashboardData: () => Promise<DashboardData>
}

/** The admin endpoints, answered relative to `req.basePath`. */
export type AdminHandler = (req: S3Request) => Promise<S3Response>

const NO_STORE = { 'cache-control': 'no-store' }

function json (status: number, value: unknown, extra: Record<string, string> = {}): S3Response {
  const body = Buffer.from(JSON.stringify(value) + '\n')
  return { status, headers: { ...NO_STORE, 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.byteLength), ...extra }, body }
}

function text (status: number, contentType: string, value: string, extra: Record<string, string> = {}): S3Response {
  const body = Buffer.from(value)
  return { status, headers: { ...NO_STORE, 'content-type': contentType, 'content-length': String(body.byteLength), ...extra }, body }
}

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

/**
 * Health, readiness, metrics and the dashboard, for load balancers, orchestrators, Prometheus and
 * people. Liveness never touches a dependency (a database blip must not restart the process);
 * readiness asks each one under a short timeout and never shows credentials.
 */
export function createAdminHandler (init: AdminHandlerInit): AdminHandler {
  const token = init.metricsToken === undefined || init.metricsToken === '' ? undefined : digest(init.metricsToken)
  let page: string | undefined
  return async (req) => {
    const path = (req.path.slice(req.basePath.length) || '/').replace(/\/+$/, '') || '/'
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return json(405, { error: 'MethodNotAllowed', message: 'Admin endpoints answer GET and HEAD' }, { allow: 'GET, HEAD' })
    }
    const answer = await route(path, req)
    if (req.method === 'HEAD') delete answer.body
    return answer
  }

  async function route (path: string, req: S3Request): Promise<S3Response> {
    switch (path) {
      case '/healthy':
        return json(200, { status: 'ok' })
      case '/ready': {
        const report = await init.readiness.report()
        return json(report.status === 'unready' || report.status === 'draining' ? 503 : 200, report)
      }
      case '/metrics': {
        if (init.metrics === undefined) return json(404, { error: 'NotFound', message: 'Metrics are disabled in this gateway' })
        if (token !== undefined && !authorized(req.headers.authorization)) {
          return json(401, { error: 'Unauthorized', message: 'Metrics need Authorization: Bearer <token>' }, { 'www-authenticate': 'Bearer realm="metrics"' })
        }
        const registry = init.metrics.registry
        return text(200, registry.contentType, await registry.metrics())
      }
      case '/dashboard':
        page ??= dashboardPage()
        return text(200, 'text/html; charset=utf-8', page, { 'content-security-policy': DASHBOARD_CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff' })
      case '/dashboard/data':
        return json(200, await init.dashboardData())
      default:
        return json(404, { error: 'NotFound', message: 'Admin endpoints: /healthy, /ready, /metrics, /dashboard' })
    }
  }

  function authorized (header: string | undefined): boolean {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
    return match !== null && token !== undefined && timingSafeEqual(digest(match[1]), token)
  }
}
