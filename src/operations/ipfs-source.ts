import { createHash } from 'node:crypto'
import { S3Error } from '../errors.js'
import { createChecksumHasher, toBase64, type Hasher } from '../protocol/checksums.js'
import { checkConditions } from '../protocol/conditional.js'
import type { ChecksumAlgorithm } from '../metadata/metadata-store.js'
import type { ContentStore, WriteSession } from '../content/content-store.js'
import type { IpfsCopySource } from './copy-source.js'

/** How long each block of an /ipfs/ source may take to arrive (a networked node searching for it). */
export const IPFS_BLOCK_TIMEOUT_MS = 30_000

export interface IpfsSourceRead {
  /** The bytes read, verified block by block against the source's CIDs. */
  bytes: AsyncGenerator<Uint8Array>
  /** Once `bytes` is consumed: how many bytes, their hex MD5 and their checksum when one was asked for. */
  digests: () => Promise<{ size: number, md5: string, checksum?: { algorithm: ChecksumAlgorithm, value: string } }>
}

/**
 * S3's copy-source conditions for content that has no modification time and whose ETag (the MD5
 * of its bytes) is known only once it has been read: the date conditions are refused before
 * anything is read (InvalidRequest).
 */
export function rejectDateConditions (headers: Record<string, string>): void {
  for (const name of ['x-amz-copy-source-if-modified-since', 'x-amz-copy-source-if-unmodified-since']) {
    if (headers[name] !== undefined) {
      throw new S3Error('InvalidRequest', `${name} does not apply to an /ipfs/<cid> copy source: IPFS content has no modification time (x-amz-copy-source-if-match and -if-none-match compare the MD5 of its bytes).`)
    }
  }
}

/** `x-amz-copy-source-if-match` / `-if-none-match` against the MD5 of the source's bytes (412 on failure). */
export function checkIpfsSourceConditions (headers: Record<string, string>, md5: string): void {
  checkConditions({
    ifMatch: headers['x-amz-copy-source-if-match'],
    ifNoneMatch: headers['x-amz-copy-source-if-none-match'],
  }, { etag: md5, lastModified: new Date(0) }, { notModified: false })
}

/** Size in bytes of the UnixFS file an /ipfs/ source names, from its (verified) root block. */
export async function ipfsSourceSize (ctx: { content: Pick<ContentStore, 'statVerified'>, signal?: AbortSignal }, source: IpfsCopySource): Promise<number> {
  try {
    return (await ctx.content.statVerified(source.cid, { blockTimeoutMs: IPFS_BLOCK_TIMEOUT_MS, signal: ctx.signal })).size
  } catch (err) {
    throw ipfsSourceError(source, err)
  }
}

/**
 * Streams the source's bytes (all of them, or `length` from `offset`), each block verified against
 * its CID, while digesting them. With `protect`, the request's write session holds the source
 * (see ContentStore.catVerified) until the operation commits the reference to it.
 */
export function readIpfsSource (ctx: { content: Pick<ContentStore, 'catVerified'>, session: WriteSession, signal?: AbortSignal }, source: IpfsCopySource,
  options: { protect: boolean, algorithm?: ChecksumAlgorithm, offset?: number, length?: number }): IpfsSourceRead {
  const md5 = createHash('md5')
  const checksum: Hasher | undefined = options.algorithm === undefined ? undefined : createChecksumHasher(options.algorithm)
  let size = 0
  const bytes = async function * (): AsyncGenerator<Uint8Array> {
    const chunks = ctx.content.catVerified(source.cid, {
      offset: options.offset,
      length: options.length,
      session: options.protect ? ctx.session : undefined,
      blockTimeoutMs: IPFS_BLOCK_TIMEOUT_MS,
      signal: ctx.signal,
    })
    try {
      for await (const chunk of chunks) {
        md5.update(chunk)
        checksum?.update(chunk)
        size += chunk.byteLength
        yield chunk
      }
    } catch (err) {
      throw ipfsSourceError(source, err)
    }
  }
  return {
    bytes: bytes(),
    digests: async () => ({
      size,
      md5: md5.digest('hex'),
      checksum: checksum === undefined || options.algorithm === undefined
        ? undefined
        : { algorithm: options.algorithm, value: toBase64(await checksum.digest()) },
    }),
  }
}

/**
 * What a failure to read IPFS content means to the client. A block the blockstore does not have
 * (or a networked node could not find in time) means the content is not available here: NoSuchKey.
 * Content that is not a UnixFS file, or contradicts itself, is the client's choice: InvalidRequest.
 * A block that does not hash to its CID is corrupt data in our blockstore: InternalError. Other
 * errors (aborts, S3 errors) are returned unchanged.
 */
export function ipfsSourceError (source: IpfsCopySource, err: unknown): unknown {
  const name = (err as { name?: unknown } | null)?.name
  const code = (err as { code?: unknown } | null)?.code
  const message = (err as { message?: unknown } | null)?.message
  // A networked node (KuboBlockstore) that searched for a block until its call timed out, or
  // refused it as absent (an offline node); an unreachable node stays ServiceUnavailable.
  if (code === 'ERR_IPFS_TIMEOUT' || (code === 'ERR_IPFS_RPC' && /not found|could not find/i.test(String(message)))) {
    return new S3Error('NoSuchKey', `The IPFS content ${source.path} could not be fetched: ${String(message)}`, { Key: source.path })
  }
  if (code === 'ERR_BLOCK_CORRUPT') {
    return new S3Error('InternalError', `${String(message)}: the blockstore gave corrupt data for ${source.path}. Nothing was copied.`)
  }
  switch (name) {
    case 'NotFoundError':
      return new S3Error('NoSuchKey', `The IPFS content ${source.path} is not available from this gateway's blockstore: ${String(message)}`, { Key: source.path })
    case 'BlockTimeoutError':
      return new S3Error('NoSuchKey', `The IPFS content ${source.path} could not be fetched: ${String(message)}`, { Key: source.path })
    case 'UnsupportedContentError':
      return new S3Error('InvalidRequest', `The copy source ${source.path} is not a UnixFS file (a file node or raw block): ${String(message)}`)
    case 'CorruptContentError':
      return new S3Error('InvalidRequest', `The copy source ${source.path} is not a valid UnixFS file: ${String(message)}`)
    case 'BlockMismatchError':
      return new S3Error('InternalError', `${String(message)}: this gateway's blockstore holds corrupt data for ${source.path}. Nothing was copied.`)
    default:
      return err
  }
}
