// An S3 endpoint at http://127.0.0.1:3000/s3 inside an Express app, objects stored as IPFS blocks.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import express from 'express'
import { createGateway, PackBlockstore, SqliteMetadataStore } from 's3-ipfs-gateway'
import { adminMiddleware, deferContinue, s3Middleware } from 's3-ipfs-gateway/express'

const dataDir = process.env.DATA_DIR ?? './data'
const { S3_ACCESS_KEY, S3_SECRET_KEY } = process.env

const gateway = createGateway({
  blockstore: new PackBlockstore({ path: join(dataDir, 'blocks') }),
  metadata: new SqliteMetadataStore({ path: join(dataDir, 'meta.db') }),
  // unset: the library's example key pair (S3IPFSEXAMPLEKEY / s3ipfs-example-secret)
  credentials: S3_ACCESS_KEY && S3_SECRET_KEY ? { [S3_ACCESS_KEY]: S3_SECRET_KEY } : undefined,
})

const app = express()
// before any body parser, so uploads reach the gateway as a stream
app.use('/s3', s3Middleware(gateway))
// /-/healthy, /-/ready, /-/metrics (Prometheus) and /-/dashboard
app.use('/-', adminMiddleware(gateway))
app.get('/', (_req, res) => { res.send('S3 API at /s3\n') })

// node's default requestTimeout (5 minutes) would cut off large uploads
const server = createServer({ requestTimeout: 0 }, app)
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
