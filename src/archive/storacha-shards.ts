import { createHash } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { CarBlockIterator } from '@ipld/car'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { carHeader, sectionPrefix } from '../content/car-export.js'

export interface CutOptions {
  /** Bytes a shard may hold, header included; a block that alone exceeds it gets a shard of its own. */
  shardSize: number
  /** The file each shard is written to, in turn (overwritten). */
  file: string
  signal?: AbortSignal
}

/**
 * Cuts `car` (a CAR v1 whose only root is `root`) into shard CARs, blocks in order, each with the
 * header `roots: [root]`, and calls `store` once each shard is complete in `options.file`, before
 * reading on: memory holds one block, disk one shard. As every shard names the root, shards of two
 * archived CARs never coincide, so removing one archive's shards cannot take another's.
 */
export async function cutShards (root: CID, car: AsyncIterable<Uint8Array>, options: CutOptions, store: () => Promise<void>): Promise<void> {
  const blocks = await CarBlockIterator.fromIterable(car)
  const roots = await blocks.getRoots()
  if (roots.length !== 1 || !roots[0].equals(root)) {
    throw new TypeError(`The CAR to archive has roots [${roots.join(', ')}], not [${root.toString()}]`)
  }
  const header = carHeader(root)
  let out: FileHandle | undefined
  let length = 0
  try {
    for await (const { cid, bytes } of blocks) {
      options.signal?.throwIfAborted()
      const prefix = sectionPrefix(cid, bytes.byteLength)
      const size = prefix.byteLength + bytes.byteLength
      if (out !== undefined && length + size > options.shardSize) {
        await out.close()
        out = undefined
        await store()
      }
      if (out === undefined) {
        out = await open(options.file, 'w')
        await out.write(header)
        length = header.byteLength
      }
      await out.writev([prefix, bytes])
      length += size
    }
    if (out === undefined) throw new TypeError(`The CAR to archive for ${root.toString()} holds no blocks`)
    await out.close()
    out = undefined
    await store()
  } finally {
    await out?.close()
  }
}

/**
 * The blocks of one shard CAR read from `body`, as CAR sections (its header dropped). Once the body
 * ends its bytes are checked against `shard`, the shard's CAR CID (sha2-256 of the whole shard).
 */
export async function * shardSections (body: AsyncIterable<Uint8Array>, shard: string): AsyncGenerator<Uint8Array> {
  const expected = CID.parse(shard).multihash
  const hash = createHash('sha256')
  async function * hashing (): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      hash.update(chunk)
      yield chunk
    }
  }
  for await (const { cid, bytes } of await CarBlockIterator.fromIterable(hashing())) {
    yield sectionPrefix(cid, bytes.byteLength)
    yield bytes
  }
  if (expected.code !== sha256.code || !Buffer.from(expected.digest).equals(hash.digest())) {
    throw new Error(`Shard ${shard} as read does not match its CID`)
  }
}
