import { exporter, type UnixFSDirectoryEntry } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import { verifying } from '../content/verify.js'
import { S3Error, toS3Error } from '../errors.js'
import type { BucketRecord, ObjectVersion } from '../metadata/metadata-store.js'
import { IPFS_BLOCK_TIMEOUT_MS, ipfsSourceError, ipfsSourceSize, readIpfsSource } from '../operations/ipfs-source.js'
import { MAX_MULTIPART_OBJECT_SIZE } from '../operations/multipart.js'
import { newVersionId } from '../operations/versioning.js'
import { MAX_KEY_BYTES } from '../protocol/names.js'
import type { SnapshotContext } from './create.js'
import { pathToKey } from './key-path.js'

export interface RestoreContext extends SnapshotContext {
  newId: (kind: 'upload' | 'version') => string
}

/** What a restore did. */
export interface RestoreReport {
  bucket: string
  /** The directory restored (canonical string). */
  cid: string
  prefix: string
  /** Files that became new versions, and their bytes. */
  restored: number
  bytes: number
  /** Files whose key's current version already has their CID (a re-run, or a restore over its own snapshot). */
  unchanged: number
  /** Entries left out, the first REPORTED of them with why (a key too long, not a file, content not available, ...). */
  skipped: number
  problems: Array<{ path: string, error: string, message: string }>
}

const REPORTED = 100

/**
 * Makes every file under the UnixFS directory `root` (basic or HAMT-sharded, nested, from anywhere:
 * `ipfs add -r`, another gateway's snapshot) an object of `bucket`: key = `prefix` + the path read
 * back by the key rule (key-path.ts), content = the file's CID as it is (never re-chunked). Blocks
 * not held here are fetched through the gateway's blockstore (its IPFS node, when it has one) and
 * every block is verified against its CID before an object becomes visible; each file's bytes are
 * read once, for its ETag (their MD5) and size, as a CopyObject from `/ipfs/<cid>` reads them.
 * Each object is its own atomic write, and a key whose current version already has the file's CID
 * is left as it is, so running a restore again finishes one that was interrupted.
 */
export async function restoreDirectory (ctx: RestoreContext, bucket: BucketRecord, root: CID, prefix: string, owner: string): Promise<RestoreReport> {
  const report: RestoreReport = { bucket: bucket.name, cid: root.toString(), prefix, restored: 0, bytes: 0, unchanged: 0, skipped: 0, problems: [] }
  const blocks = verifying(ctx.blockstore, { blockTimeoutMs: IPFS_BLOCK_TIMEOUT_MS })
  const source = { cid: root, path: `/ipfs/${root.toString()}` }
  let top
  try {
    top = await exporter(root, blocks, { signal: ctx.signal })
  } catch (err) {
    throw ipfsSourceError(source, err)
  }
  if (top.type !== 'directory') throw new S3Error('InvalidRequest', `${source.path} is not a UnixFS directory.`)
  const skip = (path: string[], error: string, message: string): void => {
    report.skipped++
    if (report.problems.length < REPORTED) report.problems.push({ path: path.join('/'), error, message })
  }
  // Depth-first, one directory listing open per level: memory follows the depth, not the entry count.
  const stack: Array<{ path: string[], entries: AsyncIterator<UnixFSDirectoryEntry> }> = [{ path: [], entries: top.entries({ signal: ctx.signal })[Symbol.asyncIterator]() }]
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]
    let next
    try {
      next = await frame.entries.next()
    } catch (err) {
      throw ipfsSourceError({ cid: root, path: `${source.path}/${frame.path.join('/')}` }, err)
    }
    if (next.done === true) {
      stack.pop()
      continue
    }
    const path = [...frame.path, next.value.name]
    let entry
    try {
      entry = await exporter(next.value.cid, blocks, { signal: ctx.signal })
    } catch (err) {
      const s3 = toS3Error(ipfsSourceError({ cid: next.value.cid, path: `${source.path}/${path.join('/')}` }, err))
      if (s3 === undefined) throw err
      skip(path, s3.code, s3.message)
      continue
    }
    if (entry.type === 'directory') stack.push({ path, entries: entry.entries({ signal: ctx.signal })[Symbol.asyncIterator]() })
    else if (entry.type === 'file' || entry.type === 'raw' || entry.type === 'identity') await restoreFile(ctx, bucket, entry.cid, prefix, path, owner, report, skip)
    else skip(path, 'InvalidRequest', `Not a UnixFS file or directory (${entry.type}).`)
  }
  return report
}

async function restoreFile (ctx: RestoreContext, bucket: BucketRecord, cid: CID, prefix: string, path: string[], owner: string,
  report: RestoreReport, skip: (path: string[], error: string, message: string) => void): Promise<void> {
  const key = prefix + pathToKey(path)
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return skip(path, 'KeyTooLongError', `The key would be ${Buffer.byteLength(key)} bytes (at most ${MAX_KEY_BYTES}).`)
  const current = await ctx.metadata.getObject(bucket.name, key, undefined, { signal: ctx.signal })
  if (current !== undefined && !current.deleteMarker && current.cid === cid.toString() && current.encryption === undefined) {
    report.unchanged++
    return
  }
  const session = ctx.content.session()
  try {
    const source = { cid, path: `/ipfs/${report.cid}/${path.join('/')}` }
    const read = { content: ctx.content, session, signal: ctx.signal }
    const size = await ipfsSourceSize(read, source)
    if (size > MAX_MULTIPART_OBJECT_SIZE) return skip(path, 'EntityTooLarge', `${size} bytes (at most ${MAX_MULTIPART_OBJECT_SIZE}).`)
    const bytes = readIpfsSource(read, source, { protect: true })
    for await (const _ of bytes.bytes) ctx.signal?.throwIfAborted()
    const digests = await bytes.digests()
    if (digests.size !== size) throw new S3Error('InternalError', `${source.path} differs in size from what its root block says.`)
    const version: ObjectVersion = {
      bucket: bucket.name,
      key,
      versionId: newVersionId(ctx, bucket),
      deleteMarker: false,
      cid: cid.toString(),
      size,
      etag: digests.md5,
      lastModified: ctx.now(),
      owner,
      headers: { 'content-type': 'application/octet-stream' },
      metadata: {},
      tags: [],
    }
    await ctx.metadata.putObject(version, { signal: ctx.signal })
    report.restored++
    report.bytes += size
  } catch (err) {
    const s3 = toS3Error(err)
    // Content that is not available or not a file is reported; anything else (an abort, a store failure) ends the restore.
    if (s3 === undefined || !['NoSuchKey', 'InvalidRequest'].includes(s3.code)) throw err
    skip(path, s3.code, s3.message)
  } finally {
    session.close()
  }
}
