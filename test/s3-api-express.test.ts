import { createGateway } from '../src/gateway.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import { expressHost } from './helpers/hosts.js'
import { s3ApiSuite } from './compliance/s3-api.suite.js'

// Express middleware under /s3, on the all-in-memory default
s3ApiSuite('express', async () => {
  const metadata = new MemoryMetadataStore()
  const gateway = createGateway({ metadata })
  const host = await expressHost.start(gateway, '/s3')
  return { endpoint: host.url, gateway, metadata, close: async () => { await host.close(); await gateway.close() } }
})
