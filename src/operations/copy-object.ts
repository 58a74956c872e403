import { S3Error } from '../errors.js'
import { parseChecksumAlgorithm } from '../protocol/checksums.js'
import { checkCopySourceConditions } from '../protocol/conditional.js'
import { parseTaggingHeader } from '../protocol/headers.js'
import { assertValidKey } from '../protocol/names.js'
import type { BucketRecord, ObjectVersion } from '../metadata/metadata-store.js'
import type { OperationContext } from './context.js'
import { newObjectOwnership } from './acl-common.js'
import { createHash } from 'node:crypto'
import { bucketProfile } from './bucket-profile.js'
import { cidHeaders, quoteEtag, requireBucket, xmlResponse, timestamp } from './common.js'
import { encryptionHeaders, etagOf, newEncryption, readDecrypted, storedDataKey, storedSize, toStored, type WriteEncryption } from './encryption.js'
import { parseCopySource, parseIpfsCopySource, readCopySource, type IpfsCopySource } from './copy-source.js'
import { checkIpfsSourceConditions, ipfsSourceSize, readIpfsSource, rejectDateConditions } from './ipfs-source.js'
import { MAX_MULTIPART_OBJECT_SIZE } from './multipart.js'
import { rejectUnsupportedWriteHeaders, writeAttributes } from './object-attributes.js'
import { newVersionId, versionIdHeader } from './versioning.js'
import { bucketExpirationHeader } from '../lifecycle/rules.js'
import { checkWriteConditions } from './write-conditions.js'
import { holdsLocally } from '../metadata/archives.js'

function directive (ctx: OperationContext, header: string): 'COPY' | 'REPLACE' {
  const value = ctx.req.headers[header]
  if (value === undefined) return 'COPY'
  const upper = value.toUpperCase()
  if (upper !== 'COPY' && upper !== 'REPLACE') {
    throw new S3Error('InvalidArgument', `Unknown ${header === 'x-amz-metadata-directive' ? 'metadata' : 'tagging'} directive.`, { ArgumentName: header, ArgumentValue: value })
  }
  return upper
}

/**
 * A copy of whole content is metadata only: the new version references the source's CID, so no
 * byte is read or written. A source `/ipfs/<cid>` adopts IPFS content (see copyFromIpfs).
 */
export async function copyObject (ctx: OperationContext) {
  assertValidKey(ctx.key)
  const target = await requireBucket(ctx)
  const ipfs = parseIpfsCopySource(ctx.req.headers['x-amz-copy-source'])
  if (ipfs !== undefined) return await copyFromIpfs(ctx, target, ipfs)
  const source = parseCopySource(ctx.req.headers['x-amz-copy-source'])
  const from = await readCopySource(ctx, source)
  checkCopySourceConditions(ctx.req.headers, from)

  const metadataDirective = directive(ctx, 'x-amz-metadata-directive')
  const taggingDirective = directive(ctx, 'x-amz-tagging-directive')
  const requestHeaders = ctx.req.headers
  rejectUnsupportedWriteHeaders(requestHeaders)
  // The copy's ACL is the request's (default private), never the source's, as in S3.
  const { owner, acl } = newObjectOwnership(ctx, target)
  const sourceKey = storedDataKey(ctx, from, 'copy-source-')
  const encryption = newEncryption(ctx, target)
  const storageClassChange = ctx.req.headers['x-amz-storage-class'] !== undefined
  const encryptionChange = encryption !== undefined || sourceKey !== undefined
  if (source.bucket === ctx.bucket && source.key === ctx.key && source.versionId === undefined &&
    metadataDirective === 'COPY' && !storageClassChange && !encryptionChange) {
    throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.')
  }
  const archiving = ctx.archive !== undefined
  const replaced = metadataDirective === 'REPLACE' ? writeAttributes(requestHeaders, archiving) : undefined
  // As in S3, a copy is STANDARD unless the request names a class (the source's is not carried).
  const storageClass = ctx.req.headers['x-amz-storage-class'] !== undefined
    ? writeAttributes({ 'x-amz-storage-class': ctx.req.headers['x-amz-storage-class'] }, archiving).storageClass
    : undefined
  const tags = taggingDirective === 'REPLACE' ? parseTaggingHeader(ctx.req.headers['x-amz-tagging']) : from.tags

  const condition = await checkWriteConditions(ctx)
  ctx.session.hold(from.cid)
  // Encrypted content (source or copy) is re-encrypted under the copy's own key, or decrypted;
  // otherwise the copy references the source's content.
  const content = encryptionChange ? await reencrypt(ctx, target, from, sourceKey, encryption) : undefined
  const version: ObjectVersion = {
    bucket: target.name,
    key: ctx.key,
    versionId: newVersionId(ctx, target),
    deleteMarker: false,
    cid: content?.cid ?? from.cid,
    size: from.size,
    etag: content?.etag ?? from.etag,
    lastModified: timestamp(ctx),
    owner,
    headers: replaced?.headers ?? from.headers,
    metadata: replaced?.metadata ?? from.metadata,
    tags,
    storageClass,
    checksum: content === undefined || from.checksum?.type === 'FULL_OBJECT' ? from.checksum : undefined,
    partsCount: content === undefined ? from.partsCount : undefined,
    partSizes: content === undefined ? from.partSizes : undefined,
    partChecksums: content === undefined && from.checksum?.type !== undefined ? from.partChecksums : undefined,
    acl,
    encryption: encryption?.record,
  }
  // The source may have been deleted (and its blocks collected elsewhere) since it was read.
  // (Archived content read through was imported under this request's session: no reference to check.)
  await ctx.metadata.putObject(version, { signal: ctx.signal, sourceCid: content === undefined && holdsLocally(from) ? from.cid : undefined, condition })
  const headers: Record<string, string> = { ...cidHeaders(version.cid), ...versionIdHeader(target, version.versionId), ...encryptionHeaders(version.encryption), ...bucketExpirationHeader(target, version, ctx.lifecycleDayMs) }
  if (from.versionId !== 'null') headers['x-amz-copy-source-version-id'] = from.versionId
  return xmlResponse('CopyObjectResult', {
    ETag: quoteEtag(version.etag),
    LastModified: version.lastModified,
    ...(version.checksum === undefined ? {} : { [`Checksum${version.checksum.algorithm}`]: version.checksum.value }),
  }, 200, headers)
}

/**
 * The copy's content when it is encrypted or its source is: the source's plaintext (decrypted when
 * it is encrypted, every segment authenticated), stored as is or encrypted under a new data key.
 */
async function reencrypt (ctx: OperationContext, target: BucketRecord, from: ObjectVersion, sourceKey: Uint8Array | undefined,
  encryption: WriteEncryption | undefined): Promise<{ cid: string, etag: string }> {
  const md5 = createHash('md5')
  const plaintext = sourceKey === undefined
    ? ctx.content.cat(from.cid, { signal: ctx.signal })
    : readDecrypted(ctx, from, sourceKey, 0, from.size)
  const digested = async function * (): AsyncGenerator<Uint8Array> {
    for await (const chunk of plaintext) {
      md5.update(chunk)
      yield chunk
    }
  }
  const { cid, size } = await ctx.content.add(toStored(digested(), encryption?.dataKey), { profile: bucketProfile(ctx, target), session: ctx.session, signal: ctx.signal })
  if (size !== storedSize(from.size, encryption !== undefined)) throw new S3Error('InternalError', 'The copy differs in size from its source.')
  return { cid: cid.toString(), etag: etagOf(md5.digest('hex'), cid.toString(), encryption?.record) }
}

/**
 * A new object whose content is the UnixFS file `source` names, as the blockstore has it (or, on
 * a networked node, fetches it). The version references that CID as given, not re-chunked under
 * the bucket's profile. Its bytes are read once, every block checked against its CID, to learn the
 * ETag (their MD5) and size; the write session holds the DAG from the first read to the commit.
 *
 * There is no source metadata to copy: the object has the request's content headers
 * (Content-Type defaulting to application/octet-stream) and storage class, user metadata only with
 * `x-amz-metadata-directive: REPLACE`, tags only with `x-amz-tagging-directive: REPLACE`, and a
 * full-object checksum when `x-amz-checksum-algorithm` asks for one.
 */
async function copyFromIpfs (ctx: OperationContext, target: BucketRecord, source: IpfsCopySource) {
  const headers = ctx.req.headers
  rejectDateConditions(headers)
  const metadataDirective = directive(ctx, 'x-amz-metadata-directive')
  const taggingDirective = directive(ctx, 'x-amz-tagging-directive')
  const requested = writeAttributes(headers, ctx.archive !== undefined)
  const { owner, acl } = newObjectOwnership(ctx, target)
  const encryption = newEncryption(ctx, target)
  let algorithm
  if (headers['x-amz-checksum-algorithm'] !== undefined) {
    algorithm = parseChecksumAlgorithm(headers['x-amz-checksum-algorithm'])
    if (algorithm === undefined) throw new S3Error('InvalidRequest', 'Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]')
  }
  const condition = await checkWriteConditions(ctx)

  const size = await ipfsSourceSize(ctx, source)
  if (size > MAX_MULTIPART_OBJECT_SIZE) {
    throw new S3Error('EntityTooLarge', undefined, { ProposedSize: String(size), MaxSizeAllowed: String(MAX_MULTIPART_OBJECT_SIZE) })
  }
  // Referenced as given, unless the copy is to be encrypted: then its ciphertext is stored.
  const read = readIpfsSource(ctx, source, { protect: encryption === undefined, algorithm })
  let cid = source.cid.toString()
  if (encryption !== undefined) {
    cid = (await ctx.content.add(toStored(read.bytes, encryption.dataKey), { profile: bucketProfile(ctx, target), session: ctx.session, signal: ctx.signal })).cid.toString()
  } else {
    for await (const _ of read.bytes) ctx.signal?.throwIfAborted()
  }
  const digests = await read.digests()
  if (digests.size !== size) throw new S3Error('InternalError', 'The IPFS content differs in size from what its root block says.')
  checkIpfsSourceConditions(headers, digests.md5)

  const version: ObjectVersion = {
    bucket: target.name,
    key: ctx.key,
    versionId: newVersionId(ctx, target),
    deleteMarker: false,
    cid,
    size,
    etag: etagOf(digests.md5, cid, encryption?.record),
    lastModified: timestamp(ctx),
    owner,
    headers: { 'content-type': 'application/octet-stream', ...requested.headers },
    metadata: metadataDirective === 'REPLACE' ? requested.metadata : {},
    tags: taggingDirective === 'REPLACE' ? requested.tags : [],
    storageClass: requested.storageClass,
    checksum: digests.checksum === undefined ? undefined : { ...digests.checksum, type: 'FULL_OBJECT' },
    acl,
    encryption: encryption?.record,
  }
  await ctx.metadata.putObject(version, { signal: ctx.signal, condition })
  return xmlResponse('CopyObjectResult', {
    ETag: quoteEtag(version.etag),
    LastModified: version.lastModified,
    ...(version.checksum === undefined ? {} : { [`Checksum${version.checksum.algorithm}`]: version.checksum.value }),
  }, 200, { ...cidHeaders(version.cid), ...versionIdHeader(target, version.versionId), ...encryptionHeaders(version.encryption), ...bucketExpirationHeader(target, version, ctx.lifecycleDayMs) })
}
