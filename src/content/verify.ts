import { createHash } from 'node:crypto'
import { identity } from 'multiformats/hashes/identity'
import { sha256, sha512 } from 'multiformats/hashes/sha2'
import { collectBytes } from './bytes.js'
import { UnsupportedContentError } from './export.js'
import type { ReadTarget } from './export.js'
import type { ImportTarget } from './import.js'
import type { AbortOptions } from '../types.js'
import type { CID } from 'multiformats/cid'

/** A block whose bytes do not hash to its CID: the blockstore holds corrupt data. */
export class BlockMismatchError extends Error {
  static readonly NAME = 'BlockMismatchError'
  override name = BlockMismatchError.NAME
  constructor (readonly cid: string) {
    super(`Block ${cid} does not match its CID`)
  }
}

/** A block that did not arrive in time (say, a networked node that cannot find it). */
export class BlockTimeoutError extends Error {
  static readonly NAME = 'BlockTimeoutError'
  override name = BlockTimeoutError.NAME
  constructor (readonly cid: string, readonly timeoutMs: number) {
    super(`Block ${cid} could not be read within ${timeoutMs} ms`)
  }
}

/** node:crypto names of the multihashes a block can be verified against. */
const HASHES = new Map<number, string>([[sha256.code, 'sha256'], [sha512.code, 'sha512']])

/**
 * Checks `bytes` against the multihash of `cid`. Throws BlockMismatchError when they differ, and
 * UnsupportedContentError for a hash function other than sha2-256, sha2-512 or identity.
 */
export function verifyBlock (cid: CID, bytes: Uint8Array): void {
  const { code, digest } = cid.multihash
  let actual: Uint8Array
  if (code === identity.code) {
    actual = bytes
  } else {
    const algorithm = HASHES.get(code)
    if (algorithm === undefined) {
      throw new UnsupportedContentError(`${cid} is hashed with multihash 0x${code.toString(16)}, which this gateway cannot verify`)
    }
    actual = createHash(algorithm).update(bytes).digest()
  }
  if (Buffer.compare(Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength), Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)) !== 0) {
    throw new BlockMismatchError(cid.toString())
  }
}

export interface VerifyingInit {
  /** Each block must have arrived within this many milliseconds, or its read throws BlockTimeoutError. */
  blockTimeoutMs: number
  /** Where every verified block is put again before it is returned (see ContentStore.catVerified). */
  refresh?: Pick<ImportTarget, 'put'>
}

export interface VerifyingReadTarget extends ReadTarget {
  /** Blocks put again to `refresh` so far, in read order. */
  readonly refreshed: CID[]
}

/**
 * `source` with every `get` checked against the block's CID, bounded in time, and optionally put
 * again to `refresh`. A block is returned only once it is verified (and put).
 */
export function verifying (source: ReadTarget, init: VerifyingInit): VerifyingReadTarget {
  const refreshed: CID[] = []
  return {
    refreshed,
    async * get (cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
      const bytes = await withinTime(cid, init.blockTimeoutMs, options?.signal,
        async (signal) => await collectBytes(source.get(cid, { signal }), { signal }))
      verifyBlock(cid, bytes)
      if (init.refresh !== undefined) {
        await init.refresh.put(cid, bytes, { signal: options?.signal })
        refreshed.push(cid)
      }
      yield bytes
    }
  }
}

/**
 * `read` given a signal that aborts when `outer` does or when `ms` have passed. Settles by then
 * even if `read` ignores its signal: with `outer`'s reason, or with a BlockTimeoutError.
 */
async function withinTime<T> (cid: CID, ms: number, outer: AbortSignal | undefined, read: (signal: AbortSignal) => Promise<T>): Promise<T> {
  outer?.throwIfAborted()
  const controller = new AbortController()
  const signal = outer === undefined ? controller.signal : AbortSignal.any([outer, controller.signal])
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  const stopped = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const error = new BlockTimeoutError(cid.toString(), ms)
      controller.abort(error)
      reject(error)
    }, ms)
    onAbort = () => { reject(outer?.reason) }
    outer?.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([read(signal), stopped])
  } finally {
    clearTimeout(timer)
    if (onAbort !== undefined) outer?.removeEventListener('abort', onAbort)
  }
}
