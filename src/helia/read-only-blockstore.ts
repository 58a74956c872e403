import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { AbortOptions } from '../types.js'

/** What the IPFS node needs of the gateway's blockstore: it only answers peers' wants. */
export type ServedBlocks = Pick<Blockstore, 'get' | 'has'>

/**
 * The full Blockstore shape Helia expects, over `get` and `has` only. Every write, delete and
 * listing throws, so nothing in Helia (its gc included) can change or enumerate the gateway's
 * blocks: what is stored and what is collected stays the gateway's business.
 */
export class ReadOnlyBlockstore implements Blockstore {
  constructor (private readonly inner: ServedBlocks) {}

  has (cid: CID, options?: AbortOptions): boolean | Promise<boolean> {
    return this.inner.has(cid, options)
  }

  get (cid: CID, options?: AbortOptions): Generator<Uint8Array> | AsyncGenerator<Uint8Array> {
    return this.inner.get(cid, options)
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) {
      options?.signal?.throwIfAborted()
      yield { cid, bytes: this.inner.get(cid, options) }
    }
  }

  put (_cid: CID, _bytes: InputPair['bytes']): never {
    throw readOnly('put')
  }

  * putMany (): Generator<CID> {
    throw readOnly('putMany')
  }

  delete (): never {
    throw readOnly('delete')
  }

  * deleteMany (): Generator<CID> {
    throw readOnly('deleteMany')
  }

  * getAll (): Generator<Pair> {
    throw readOnly('getAll')
  }
}

function readOnly (method: string): Error {
  return Object.assign(new Error(`The IPFS node serves the gateway's blocks read-only (${method} refused)`), { name: 'ReadOnlyError' })
}
