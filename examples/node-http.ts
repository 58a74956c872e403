// An S3 endpoint at http://127.0.0.1:3000/s3 on a plain node:http server, objects stored as IPFS blocks.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createGateway, PackBlockstore, SqliteMetadataStore } from 's3-ipfs-gateway'
import { createAdminHandler, createNodeHandler, deferContinue } from 's3-ipfs-gateway/node'

const dataDir = process.env.DATA_DIR ?? './data'
const { S3_ACCESS_KEY, S3_SECRET_KEY } = process.env

const gateway = createGateway({
  blockstore: new PackBlockstore({ path: join(dataDir, 'blocks') }),
  metadata: new SqliteMetadataStore({ path: join(dataDir, 'meta.db') }),
  // unset: the library's example key pair (S3IPFSEXAMPLEKEY / s3ipfs-example-secret)
  credentials: S3_ACCESS_KEY && S3_SECRET_KEY ? { [S3_ACCESS_KEY]: S3_SECRET_KEY } : undefined,
})

const s3 = createNodeHandler(gateway, { basePath: '/s3' })
// /-/healthy, /-/ready, /-/metrics (Prometheus) and /-/dashboard
const admin = createAdminHandler(gateway, { basePath: '/-' })

// node's default requestTimeout (5 minutes) would cut off large uploads
const server = createServer({ requestTimeout: 0 }, (req, res) => {
  // requests outside /-/ and /s3 fall through to the rest of the application
  admin(req, res, () => { s3(req, res, () => { res.end('S3 API at /s3\n') }) })
})
// 100 Continue only once a request's body is read: a refused upload gets its error before its body
deferContinue(server)
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  console.log(`listening on http://127.0.0.1:${port}/s3`)
})

async function shutdown (): Promise<void> {
  // stop accepting connections; in-flight requests finish first
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  await gateway.close()
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void shutdown() })
}
