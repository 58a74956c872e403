import { collectBytes } from '../content/bytes.js'
import { NotFoundError } from 'interface-store'
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import type { ListedBlock, SweepableBlockstore } from '../content/gc.js'
import type { AbortOptions } from '../types.js'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'

type BlockInput = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

export interface MemoryBlockstoreInit {
  /** Clock for the `written` time of blocks, in ms since the epoch (default Date.now). */
  now?: () => number
}

interface Entry {
  block: Uint8Array
  written: number
}

/**
 * Blocks in a Map, keyed by multihash as Kubo keys them: the same bytes under two codecs are one
 * entry, and `getAll` yields CIDv1 raw CIDs. Stored bytes are not copied: callers must not mutate
 * a block after putting it.
 */
export class MemoryBlockstore implements Blockstore, SweepableBlockstore {
  private readonly blocks = new Map<string, Entry>()
  private readonly now: () => number

  constructor (init: MemoryBlockstoreInit = {}) {
    this.now = init.now ?? Date.now
  }

  async put (cid: CID, bytes: BlockInput, options?: AbortOptions): Promise<CID> {
    options?.signal?.throwIfAborted()
    const block = bytes instanceof Uint8Array ? bytes : await collectBytes(bytes, options)
    options?.signal?.throwIfAborted()
    const key = keyOf(cid)
    const entry = this.blocks.get(key)
    if (entry === undefined) this.blocks.set(key, { block, written: this.now() })
    else entry.written = this.now()
    return cid
  }

  * get (cid: CID, options?: AbortOptions): Generator<Uint8Array> {
    options?.signal?.throwIfAborted()
    const entry = this.blocks.get(keyOf(cid))
    if (entry === undefined) throw new NotFoundError(`Block ${cid} not found`)
    yield entry.block
  }

  has (cid: CID, options?: AbortOptions): boolean {
    options?.signal?.throwIfAborted()
    return this.blocks.has(keyOf(cid))
  }

  delete (cid: CID, options?: AbortOptions): void {
    options?.signal?.throwIfAborted()
    this.blocks.delete(keyOf(cid))
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) {
      yield await this.put(cid, bytes, options)
    }
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) {
      options?.signal?.throwIfAborted()
      const entry = this.blocks.get(keyOf(cid))
      if (entry === undefined) throw new NotFoundError(`Block ${cid} not found`)
      yield { cid, bytes: once(entry.block) }
    }
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const cid of source) {
      this.delete(cid, options)
      yield cid
    }
  }

  * getAll (options?: AbortOptions): Generator<Pair> {
    for (const [key, entry] of this.blocks) {
      options?.signal?.throwIfAborted()
      yield { cid: cidOf(key), bytes: once(entry.block) }
    }
  }

  async * listBlocks (options?: AbortOptions): AsyncGenerator<ListedBlock> {
    options?.signal?.throwIfAborted()
    for (const [key, entry] of this.blocks) {
      options?.signal?.throwIfAborted()
      yield { cid: cidOf(key), size: entry.block.byteLength, written: entry.written }
    }
  }

  async deleteIfOlder (cid: CID, cutoff: number, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    const key = keyOf(cid)
    const entry = this.blocks.get(key)
    if (entry === undefined || entry.written >= cutoff) return false
    this.blocks.delete(key)
    return true
  }
}

function keyOf (cid: CID): string {
  return base32.baseEncode(cid.multihash.bytes)
}

function cidOf (key: string): CID {
  return CID.createV1(raw.code, Digest.decode(base32.baseDecode(key)))
}

function * once (block: Uint8Array): Generator<Uint8Array> {
  yield block
}

