import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import type { ContentStore } from '../content/content-store.js'
import { isCidProfileName } from '../content/profiles.js'
import { S3Error } from '../errors.js'
import { holdsLocally } from '../metadata/archives.js'
import type { BucketRecord, MetadataStore } from '../metadata/metadata-store.js'
import type { SnapshotRecord } from '../metadata/snapshots.js'
import { directoryLayout } from './directory.js'
import { newSnapshotId } from './ids.js'
import { TreeBuilder } from './tree.js'
import { fileTsize } from './tsize.js'

export interface SnapshotContext {
  metadata: MetadataStore
  /** Where directory blocks go (the gateway's blockstore) and file root blocks are read from. */
  blockstore: Pick<Blockstore, 'get' | 'put'>
  content: Pick<ContentStore, 'session' | 'profile' | 'statVerified' | 'catVerified'>
  now: () => Date
  signal?: AbortSignal
}

/** Versions read per listing page. */
const PAGE = 500

/**
 * Takes a snapshot of `bucket`'s keys under `prefix`: a UnixFS directory of their latest versions'
 * CIDs (see tree.ts and key-path.ts), recorded with one reference on its root. No object byte is
 * read: a dag-pb file's root block is read for its link size. Left out and counted: delete markers
 * (not keys), encrypted versions (their CID is of ciphertext, useless as a file) and archived ones
 * (their blocks are on the archive target, not here: gc could not walk them). The keys are those
 * the listing passes, page by page; a key changed meanwhile is in it as the listing saw it, or left
 * out if its version is gone by the time it is read.
 */
export async function takeSnapshot (ctx: SnapshotContext, bucket: BucketRecord, prefix: string, owner: string): Promise<SnapshotRecord> {
  const profile = bucket.cidProfile !== undefined && isCidProfileName(bucket.cidProfile) ? bucket.cidProfile : ctx.content.profile
  const tree = new TreeBuilder({
    layout: directoryLayout(profile),
    put: async (cid, bytes, options) => { await ctx.blockstore.put(cid, bytes, options) },
    holder: () => ctx.content.session(),
    signal: ctx.signal,
  })
  let keys = 0
  let bytes = 0
  const skipped = { encrypted: 0, archived: 0 }
  let after: string | undefined
  try {
    while (true) {
      const page = await ctx.metadata.listObjects(bucket.name, { prefix, after, limit: PAGE, signal: ctx.signal })
      // Holds the page's roots from before they are checked until the tree holds them.
      const session = ctx.content.session()
      try {
        for (const listed of page) {
          const version = await ctx.metadata.getObject(bucket.name, listed.key, listed.versionId, { signal: ctx.signal })
          if (version === undefined || version.deleteMarker || version.cid === '') continue
          if (version.encryption !== undefined) { skipped.encrypted++; continue }
          if (!holdsLocally(version)) { skipped.archived++; continue }
          session.hold(version.cid)
          // Released since it was read (deleted or overwritten): its blocks may be gone.
          if (await ctx.metadata.refCount(version.cid, { signal: ctx.signal }) === 0) continue
          const cid = CID.parse(version.cid)
          await tree.add(listed.key.slice(prefix.length), cid, await fileTsize(ctx.blockstore, cid, version.size, { signal: ctx.signal }))
          keys++
          bytes += version.size
        }
      } finally {
        session.close()
      }
      if (page.length < PAGE) break
      after = page[page.length - 1].key
    }
    const root = await tree.finish({ signal: ctx.signal })
    try {
      const record: SnapshotRecord = {
        bucket: bucket.name, id: newSnapshotId(ctx.now()), cid: root.cid.toString(), prefix, created: ctx.now(), owner, profile, keys, bytes, skipped,
      }
      const outcome = await ctx.metadata.createSnapshot(record, { signal: ctx.signal })
      if (outcome === 'no-bucket') throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
      if (outcome === 'exists') throw new S3Error('InternalError', 'A snapshot id was given twice.')
      return record
    } finally {
      root.holder.close()
    }
  } finally {
    tree.abandon()
  }
}
