import { createGateway } from '../src/gateway.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { fastifyHost } from './helpers/hosts.js'
import { s3ApiSuite } from './compliance/s3-api.suite.js'

// Fastify plugin under /s3, memory blocks with an in-memory SQLite metadata store
s3ApiSuite('fastify', async () => {
  const metadata = new SqliteMetadataStore({ path: ':memory:' })
  const gateway = createGateway({ metadata })
  const host = await fastifyHost.start(gateway, '/s3')
  return { endpoint: host.url, gateway, metadata, close: async () => { await host.close(); await gateway.close() } }
})
