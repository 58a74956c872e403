import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createGateway } from '../src/gateway.js'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { nodeHost } from './helpers/hosts.js'
import { s3ApiSuite } from './compliance/s3-api.suite.js'

// node:http, on the standalone server's storage: FsBlockstore + SQLite
s3ApiSuite('node', async () => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-node-'))
  const metadata = new SqliteMetadataStore({ path: join(dir, 'meta.db') })
  const gateway = createGateway({ blockstore: new FsBlockstore({ path: join(dir, 'blocks') }), metadata })
  const host = await nodeHost.start(gateway, '/s3')
  return {
    endpoint: host.url,
    gateway,
    metadata,
    close: async () => { await host.close(); await gateway.close(); await rm(dir, { recursive: true, force: true }) },
  }
})
