// An S3 endpoint at http://127.0.0.1:3000/s3 inside a Fastify app, objects stored as IPFS blocks.
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import Fastify from 'fastify'
import { createGateway, PackBlockstore, SqliteMetadataStore } from 's3-ipfs-gateway'
import { adminPlugin, s3Plugin } from 's3-ipfs-gateway/fastify'

const dataDir = process.env.DATA_DIR ?? './data'
const { S3_ACCESS_KEY, S3_SECRET_KEY } = process.env

const gateway = createGateway({
  blockstore: new PackBlockstore({ path: join(dataDir, 'blocks') }),
  metadata: new SqliteMetadataStore({ path: join(dataDir, 'meta.db') }),
  // unset: the library's example key pair (S3IPFSEXAMPLEKEY / s3ipfs-example-secret)
  credentials: S3_ACCESS_KEY && S3_SECRET_KEY ? { [S3_ACCESS_KEY]: S3_SECRET_KEY } : undefined,
})

const app = Fastify()
// the plugin reads request bodies as streams itself, so bodyLimit does not cap uploads
await app.register(s3Plugin, { gateway, prefix: '/s3' })
// /-/healthy, /-/ready, /-/metrics (Prometheus) and /-/dashboard
await app.register(adminPlugin, { gateway, prefix: '/-' })
app.get('/', async () => 'S3 API at /s3\n')
app.addHook('onClose', async () => { await gateway.close() })

await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
const { port } = app.server.address() as AddressInfo
console.log(`listening on http://127.0.0.1:${port}/s3`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // app.close() lets in-flight requests finish, then runs the onClose hook above
  process.once(signal, () => { void app.close() })
}
