import { basename, join } from 'node:path'
import { KuboBlockstore } from '../../src/blockstores/kubo.js'
import { PackBlockstore } from '../../src/blockstores/pack.js'
import type { Blockstore } from 'interface-blockstore'

/**
 * The blockstore the S3 behaviour suites (multipart, versioning, CAR, /ipfs sources) run on:
 * PackBlockstore (the standalone server's) under `dir`, or, when S3IPFS_TEST_IPFS_API names a Kubo RPC API, a KuboBlockstore
 * there (test/kubo-suites.test.ts runs those suites again that way against js-ipfs).
 */
export function blockstoreUnderTest (dir: string): Blockstore {
  const api = process.env.S3IPFS_TEST_IPFS_API
  // Each test gateway has its own metadata, so its own pin name: a gateway reconciles only its pins.
  if (api !== undefined && api !== '') return new KuboBlockstore({ url: api, pinName: `test-${basename(dir)}` })
  return new PackBlockstore({ path: join(dir, 'blocks') })
}

/** Whether the suites run on an IPFS node (some checks look at files under `dir/blocks`). */
export const onIpfsNode = (process.env.S3IPFS_TEST_IPFS_API ?? '') !== ''
