import {
  GetBucketAclCommand, GetBucketCorsCommand, GetBucketPolicyCommand, GetBucketVersioningCommand, GetObjectAclCommand,
  GetObjectCommand, GetObjectTaggingCommand, ListBucketsCommand, ListMultipartUploadsCommand, ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import { createHash } from 'node:crypto'
import type { MetadataStore, MultipartUpload, ObjectVersion, UploadedPart } from '../../src/metadata/metadata-store.js'

/**
 * What a gateway stores, read two ways: straight from its metadata store (cheap enough to compare
 * around every request) and through the owners' SDK clients (bytes, ETags, tags and ACLs as a
 * client sees them, compared around batches).
 */
export interface StoreState {
  buckets: Array<{
    name: string
    owner: string
    versioning: string
    config: unknown
    versions: ObjectVersion[]
    uploads: Array<{ upload: MultipartUpload, parts: UploadedPart[] }>
  }>
}

const ALL = 1_000_000

export async function storeState (metadata: MetadataStore): Promise<StoreState> {
  const buckets: StoreState['buckets'] = []
  for (const b of await metadata.listBuckets()) {
    const versions: ObjectVersion[] = []
    for (const listed of await metadata.listVersions(b.name, { limit: ALL })) {
      const full = await metadata.getObject(b.name, listed.key, listed.versionId)
      if (full !== undefined) versions.push({ ...full, isLatest: listed.isLatest })
    }
    const uploads: StoreState['buckets'][number]['uploads'] = []
    for (const upload of await metadata.listUploads(b.name, { limit: ALL })) {
      uploads.push({ upload, parts: await metadata.listParts(b.name, upload.key, upload.uploadId, { limit: ALL }) ?? [] })
    }
    buckets.push({ name: b.name, owner: b.owner, versioning: b.versioning, config: b.config ?? {}, versions, uploads })
  }
  return { buckets }
}

/** Paths (bucket/key#version or bucket:what) whose records differ between two states. */
export function stateDiff (before: StoreState, after: StoreState): string[] {
  const flat = (s: StoreState): Map<string, string> => {
    const out = new Map<string, string>()
    for (const b of s.buckets) {
      out.set(`${b.name}:bucket`, JSON.stringify({ owner: b.owner, versioning: b.versioning, config: b.config }))
      for (const v of b.versions) out.set(`${b.name}/${v.key}#${v.versionId}`, JSON.stringify(v))
      for (const u of b.uploads) out.set(`${b.name}/${u.upload.key}?uploadId=${u.upload.uploadId}`, JSON.stringify(u))
    }
    return out
  }
  const a = flat(before)
  const b = flat(after)
  const diff: string[] = []
  for (const [k, v] of a) {
    if (!b.has(k)) diff.push(`removed ${k}`)
    else if (b.get(k) !== v) diff.push(`changed ${k}: ${v.slice(0, 300)} -> ${(b.get(k) ?? '').slice(0, 300)}`)
  }
  for (const k of b.keys()) if (!a.has(k)) diff.push(`added ${k}: ${(b.get(k) ?? '').slice(0, 300)}`)
  return diff
}

export interface SdkModelOptions {
  /** The owner's client for each owner principal. */
  clients: Record<string, S3Client>
  /** SSE-C key (base64) to read versions stored under a customer key. */
  sseCustomerKey?: string
}

/** Everything a bucket owner can read back, per bucket, as plain data for deepEqual. */
export async function sdkModel (opts: SdkModelOptions): Promise<Record<string, unknown>> {
  const model: Record<string, unknown> = {}
  await Promise.all(Object.entries(opts.clients).map(async ([owner, client]) => {
    const { Buckets = [] } = await client.send(new ListBucketsCommand({}))
    await Promise.all(Buckets.map(async ({ Name }) => {
      const Bucket = Name as string
      const versions: unknown[] = []
      let KeyMarker: string | undefined
      let VersionIdMarker: string | undefined
      do {
        const page = await client.send(new ListObjectVersionsCommand({ Bucket, KeyMarker, VersionIdMarker }))
        const entries = [
          ...(page.Versions ?? []).map(v => ({ ...v, marker: false })),
          ...(page.DeleteMarkers ?? []).map(v => ({ ...v, marker: true })),
        ]
        versions.push(...await Promise.all(entries.map(async (v) => {
          const base = { key: v.Key, versionId: v.VersionId, latest: v.IsLatest, marker: v.marker, owner: v.Owner?.ID }
          if (v.marker) return base
          return { ...base, ...await readVersion(client, Bucket, v.Key as string, v.VersionId as string, opts.sseCustomerKey) }
        })))
        KeyMarker = page.IsTruncated === true ? page.NextKeyMarker : undefined
        VersionIdMarker = page.IsTruncated === true ? page.NextVersionIdMarker : undefined
      } while (KeyMarker !== undefined)
      const [policy, cors, acl, versioning, uploads] = await Promise.all([
        client.send(new GetBucketPolicyCommand({ Bucket })).then(r => r.Policy, errorName),
        client.send(new GetBucketCorsCommand({ Bucket })).then(r => r.CORSRules, errorName),
        client.send(new GetBucketAclCommand({ Bucket })).then(r => ({ owner: r.Owner, grants: r.Grants }), errorName),
        client.send(new GetBucketVersioningCommand({ Bucket })).then(r => r.Status ?? 'Unversioned', errorName),
        client.send(new ListMultipartUploadsCommand({ Bucket })).then(r => (r.Uploads ?? []).map(u => `${u.Key}?${u.UploadId}`), errorName),
      ])
      const byId = Object.fromEntries((versions as Array<{ key: string, versionId: string }>).map(v => [`${v.key}#${v.versionId}`, v]).sort(([a], [b]) => a < b ? -1 : 1))
      model[Bucket] = { owner, policy, cors, acl, versioning, uploads, versions: byId }
    }))
  }))
  return Object.fromEntries(Object.entries(model).sort(([a], [b]) => a < b ? -1 : 1))
}

async function readVersion (client: S3Client, Bucket: string, Key: string, VersionId: string, sseKey?: string): Promise<Record<string, unknown>> {
  const get = async (customer: boolean): Promise<Record<string, unknown>> => {
    const out = await client.send(new GetObjectCommand({
      Bucket,
      Key,
      VersionId,
      ...(customer && sseKey !== undefined ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: sseKey } : {}),
    }))
    const bytes = await out.Body?.transformToByteArray() ?? new Uint8Array()
    return { etag: out.ETag, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), sse: out.ServerSideEncryption ?? out.SSECustomerAlgorithm }
  }
  const content = await get(false).catch(async (err: { name?: string }) => {
    // A version stored under a customer key (SSE-C) is readable only with that key.
    if (err.name === 'InvalidRequest' || err.name === 'BadRequest') return await get(true).catch(errorName)
    return errorName(err)
  })
  const [tags, acl] = await Promise.all([
    client.send(new GetObjectTaggingCommand({ Bucket, Key, VersionId })).then(r => r.TagSet, errorName),
    client.send(new GetObjectAclCommand({ Bucket, Key, VersionId })).then(r => ({ owner: r.Owner, grants: r.Grants }), errorName),
  ])
  return { content, tags, acl }
}

function errorName (err: { name?: string }): { error: string } {
  return { error: err.name ?? String(err) }
}
