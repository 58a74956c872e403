import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { createGateway } from '../src/gateway.js'
import { KuboBlockstore } from '../src/blockstores/kubo.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { nodeHost } from './helpers/hosts.js'
import { jsIpfsProblem, startJsIpfs } from './helpers/js-ipfs.js'
import type { JsIpfsDaemon } from './helpers/js-ipfs.js'
import { whenServices } from './helpers/services.js'
import { s3ApiSuite } from './compliance/s3-api.suite.js'

// The whole S3 suite with content on an IPFS node over the Kubo RPC API (js-ipfs 0.66.1 here):
// every block put, read (and verified) and pinned through /api/v0, metadata in SQLite.
whenServices('S3 API on KuboBlockstore (js-ipfs)', jsIpfsProblem(), () => {
  let daemon: Promise<JsIpfsDaemon> | undefined
  test.after.always(async () => { await (await daemon)?.close() })

  s3ApiSuite('kubo', async () => {
    daemon ??= startJsIpfs(15020)
    const { apiUrl } = await daemon
    const dir = await mkdtemp(join(tmpdir(), 's3ipfs-kubo-'))
    const metadata = new SqliteMetadataStore({ path: join(dir, 'meta.db') })
    const gateway = createGateway({ blockstore: new KuboBlockstore({ url: apiUrl }), metadata })
    const host = await nodeHost.start(gateway, '/s3')
    return {
      endpoint: host.url,
      gateway,
      metadata,
      close: async () => { await host.close(); await gateway.close(); await rm(dir, { recursive: true, force: true }) },
    }
  })
})
