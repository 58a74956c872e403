import * as dagPb from '@ipld/dag-pb'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { collectBytes } from '../content/bytes.js'
import type { AbortOptions } from '../types.js'

/**
 * The cumulative size of the DAG under a file's root (the Tsize a directory link to it carries),
 * reading at most the root block, never the file's bytes: a raw block's size is `size` (the
 * object's); a dag-pb root's is its block's length plus its links' Tsize.
 */
export async function fileTsize (blocks: Pick<Blockstore, 'get'>, cid: CID, size: number, options?: AbortOptions): Promise<number> {
  if (cid.multihash.code === identity.code) return cid.multihash.digest.byteLength
  if (cid.code === raw.code) return size
  const block = await collectBytes(blocks.get(cid, options), options)
  if (cid.code !== dagPb.code) return block.byteLength
  return dagPb.decode(block).Links.reduce((sum, link) => sum + (link.Tsize ?? 0), block.byteLength)
}
