import { once } from 'node:events'
import { accessSync, constants } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { delimiter, join } from 'node:path'

/**
 * The Chromium to drive: S3IPFS_CHROMIUM if set, else Debian's /usr/bin/chromium, else `chromium`
 * (or `chromium-browser`) on PATH. `problem` says why there is none, for `whenServices`.
 */
export function findChromium (): { executablePath?: string, problem?: string } {
  const configured = process.env.S3IPFS_CHROMIUM
  if (configured !== undefined && configured !== '') {
    return executable(configured) ? { executablePath: configured } : { problem: `S3IPFS_CHROMIUM=${configured} is not an executable file` }
  }
  const candidates = ['/usr/bin/chromium']
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '') candidates.push(join(dir, 'chromium'), join(dir, 'chromium-browser'))
  }
  const found = candidates.find(executable)
  return found !== undefined
    ? { executablePath: found }
    : { problem: 'no Chromium found (set S3IPFS_CHROMIUM, or apt-get install chromium)' }
}

function executable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export interface PageServer {
  /** Port of the page server; it answers on every loopback name, so each name is its own origin. */
  port: number
  close(): Promise<void>
}

/**
 * A node:http server on 127.0.0.1 that answers every GET with `html`: the page a test opens in the
 * browser, whose origin differs from the gateway's by port (and by host name when opened as
 * `localhost`).
 */
export async function servePage (html: string): Promise<PageServer> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET') {
      res.writeHead(405).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    },
  }
}
