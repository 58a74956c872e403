import type { Authorizer } from '../auth/authorize.js'
import { parseAnyCid } from '../content/cid-text.js'
import { S3Error } from '../errors.js'
import { json } from '../federation/admin.js'
import type { BucketRecord } from '../metadata/metadata-store.js'
import type { SnapshotRecord } from '../metadata/snapshots.js'
import { fromStoredBucketEncryption } from '../protocol/bucket-encryption.js'
import { MAX_KEY_BYTES } from '../protocol/names.js'
import type { S3Request, S3Response } from '../types.js'
import { mayDeleteSnapshot, mayPublishSnapshot, mayReadSnapshot, mayRestore } from './access.js'
import { takeSnapshot } from './create.js'
import { publishedSnapshot, publishSnapshot, unpublishSnapshot, type SnapshotNames } from './ipns.js'
import { restoreDirectory, type RestoreContext } from './restore.js'

export interface SnapshotHttpContext extends RestoreContext {
  /** GatewayInit.encryptByDefault: a restore would write plaintext CIDs where every object must be encrypted. */
  encryptByDefault: boolean
  /** Each bucket's IPNS name; without it publishing answers 501. */
  ipns?: Pick<SnapshotNames, 'name'>
}

export interface Caller {
  principal?: string
  authorizer: Pick<Authorizer, 'allowed' | 'allowedForAll' | 'bucket'>
}

const MAX_RESULTS = 1000

/** A snapshot as the API shows it. */
export function snapshotJson (record: SnapshotRecord): Record<string, unknown> {
  return {
    id: record.id,
    bucket: record.bucket,
    cid: record.cid,
    path: `/ipfs/${record.cid}`,
    prefix: record.prefix,
    created: record.created.toISOString(),
    owner: record.owner,
    profile: record.profile,
    keys: record.keys,
    bytes: record.bytes,
    skipped: record.skipped,
  }
}

/**
 * `/-/snapshots/<bucket>[/<id>|/restore]` (`rest` is what follows `/snapshots/`, percent-encoded):
 * - POST `<bucket>[?prefix=][&publish=ipns]`: take a snapshot (201, the snapshot); with `publish=ipns`
 *   (the bucket owner) it becomes the one the bucket's IPNS name points to (`ipns: { name, sequence }`);
 * - GET `<bucket>[?max-results=&continuation-token=]`: the snapshots the caller may read, oldest first;
 * - GET `<bucket>/<id>`: one (404 when absent or not readable); the published one shows `ipns: { name }`;
 * - DELETE `<bucket>/<id>`: the bucket owner or its taker (204); the published one is unpublished first;
 * - DELETE `<bucket>/ipns`: the bucket owner unpublishes (204; the snapshot stays);
 * - POST `<bucket>/restore?cid=<directory>[&prefix=]`: objects from a directory (200, the report).
 * Permissions: see access.ts.
 */
export async function handleSnapshots (ctx: SnapshotHttpContext, req: S3Request, rest: string, caller: Caller): Promise<S3Response> {
  const parts = rest.split('/').map((part) => {
    try {
      return decodeURIComponent(part)
    } catch {
      throw new S3Error('InvalidURI')
    }
  })
  const query = new URLSearchParams(req.query)
  const bucket = await caller.authorizer.bucket(parts[0])
  if (parts.length > 2 || parts[0] === '') throw new S3Error('InvalidRequest', 'Expected /-/snapshots/<bucket>[/<id>|/restore].')
  if (bucket === undefined) throw new S3Error('NoSuchBucket', undefined, { BucketName: parts[0] })
  if (parts.length === 1) {
    if (req.method === 'POST') return await create(ctx, bucket, query, caller)
    if (req.method === 'GET' || req.method === 'HEAD') return await list(ctx, bucket, query, caller)
    throw new S3Error('MethodNotAllowed')
  }
  if (parts[1] === 'restore') {
    if (req.method !== 'POST') throw new S3Error('MethodNotAllowed')
    return await restore(ctx, bucket, query, caller)
  }
  if (parts[1] === 'ipns') {
    if (req.method !== 'DELETE') throw new S3Error('MethodNotAllowed')
    if (!mayPublishSnapshot(caller.principal, bucket.owner)) throw new S3Error('AccessDenied')
    await unpublishSnapshot(ctx.metadata, bucket.name, { signal: ctx.signal })
    return { status: 204, headers: { 'cache-control': 'no-store' } }
  }
  const record = await ctx.metadata.getSnapshot(bucket.name, parts[1], { signal: ctx.signal })
  const readable = record !== undefined && await mayReadSnapshot(caller.authorizer, bucket.name, record.prefix)
  if (req.method === 'GET' || req.method === 'HEAD') {
    if (!readable) throw noSuchSnapshot()
    return json(200, shownSnapshot(ctx, bucket, record))
  }
  if (req.method !== 'DELETE') throw new S3Error('MethodNotAllowed')
  if (record === undefined) throw noSuchSnapshot()
  if (!mayDeleteSnapshot(caller.principal, bucket.owner, record.owner)) throw readable ? new S3Error('AccessDenied') : noSuchSnapshot()
  // Before its reference is released: a name never points at content that may be collected.
  if (publishedSnapshot(bucket)?.id === record.id) await unpublishSnapshot(ctx.metadata, bucket.name, { signal: ctx.signal })
  await ctx.metadata.deleteSnapshot(bucket.name, record.id, { signal: ctx.signal })
  return { status: 204, headers: { 'cache-control': 'no-store' } }
}

/** The snapshot as the API shows it, with its bucket's IPNS name when it is the published one. */
function shownSnapshot (ctx: SnapshotHttpContext, bucket: BucketRecord, record: SnapshotRecord): Record<string, unknown> {
  const json = snapshotJson(record)
  if (ctx.ipns !== undefined && publishedSnapshot(bucket)?.id === record.id) json.ipns = { name: ctx.ipns.name(bucket.name) }
  return json
}

function noSuchSnapshot (): S3Error {
  return new S3Error('NoSuchKey', 'The specified snapshot does not exist.')
}

function prefixOf (query: URLSearchParams): string {
  const prefix = query.get('prefix') ?? ''
  if (Buffer.byteLength(prefix) > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError', 'The prefix is longer than a key may be.')
  return prefix
}

async function create (ctx: SnapshotHttpContext, bucket: BucketRecord, query: URLSearchParams, caller: Caller): Promise<S3Response> {
  const prefix = prefixOf(query)
  const publish = query.get('publish')
  if (publish !== null && publish !== 'ipns') throw new S3Error('InvalidArgument', 'publish may only be ipns', { ArgumentName: 'publish' })
  if (caller.principal === undefined || !await mayReadSnapshot(caller.authorizer, bucket.name, prefix)) throw new S3Error('AccessDenied')
  if (publish === null) return json(201, snapshotJson(await takeSnapshot(ctx, bucket, prefix, caller.principal)))
  if (ctx.ipns === undefined) throw new S3Error('NotImplemented', 'Publishing under an IPNS name needs the node\'s key (GatewayInit.ipnsKey).')
  if (!mayPublishSnapshot(caller.principal, bucket.owner)) throw new S3Error('AccessDenied')
  const record = await takeSnapshot(ctx, bucket, prefix, caller.principal)
  const published = await publishSnapshot(ctx.metadata, bucket, record, { signal: ctx.signal })
  if (published === undefined) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  return json(201, { ...snapshotJson(record), ipns: { name: ctx.ipns.name(bucket.name), sequence: String(published.sequence) } })
}

async function list (ctx: SnapshotHttpContext, bucket: BucketRecord, query: URLSearchParams, caller: Caller): Promise<S3Response> {
  if (!await caller.authorizer.allowed('s3:ListBucket', bucket.name, undefined)) throw new S3Error('AccessDenied')
  const maxText = query.get('max-results')
  const max = maxText === null ? MAX_RESULTS : /^\d{1,7}$/.test(maxText) && Number(maxText) >= 1 ? Math.min(Number(maxText), MAX_RESULTS) : NaN
  if (Number.isNaN(max)) throw new S3Error('InvalidArgument', 'max-results must be an integer from 1 to 1000', { ArgumentName: 'max-results' })
  const token = query.get('continuation-token')
  let after = token === null ? undefined : Buffer.from(token, 'base64url').toString('utf8')
  const shown: Array<Record<string, unknown>> = []
  const readable = new Map<string, boolean>()
  // Pages of the store until `max` readable ones (or the end); snapshots of prefixes the caller may not read are left out.
  while (shown.length < max) {
    const page = await ctx.metadata.listSnapshots(bucket.name, { after, limit: max - shown.length + 1, signal: ctx.signal })
    for (const record of page) {
      if (shown.length === max) return json(200, { bucket: bucket.name, snapshots: shown, nextContinuationToken: Buffer.from(after as string).toString('base64url') })
      after = record.id
      let allowed = readable.get(record.prefix)
      if (allowed === undefined) readable.set(record.prefix, allowed = await mayReadSnapshot(caller.authorizer, bucket.name, record.prefix))
      if (allowed) shown.push(shownSnapshot(ctx, bucket, record))
    }
    if (page.length < max - shown.length + 1) break
  }
  return json(200, { bucket: bucket.name, snapshots: shown })
}

async function restore (ctx: SnapshotHttpContext, bucket: BucketRecord, query: URLSearchParams, caller: Caller): Promise<S3Response> {
  const prefix = prefixOf(query)
  const text = query.get('cid')
  if (text === null) throw new S3Error('InvalidArgument', 'cid names the directory to restore.', { ArgumentName: 'cid' })
  let cid
  try {
    cid = parseAnyCid(text)
  } catch {
    throw new S3Error('InvalidArgument', `Not a CID: ${JSON.stringify(text.slice(0, 100))}`, { ArgumentName: 'cid' })
  }
  if (caller.principal === undefined || !await mayRestore(caller.authorizer, bucket.name, prefix)) throw new S3Error('AccessDenied')
  if (ctx.encryptByDefault || fromStoredBucketEncryption(bucket.config?.encryption) !== undefined) {
    throw new S3Error('InvalidRequest', 'This bucket encrypts new objects: a restore, which references the files\' CIDs as they are, cannot write into it.')
  }
  return json(200, await restoreDirectory(ctx, bucket, cid, prefix, caller.principal))
}
