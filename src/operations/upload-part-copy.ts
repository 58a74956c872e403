import { createHash } from 'node:crypto'
import { encryptionHeaders, etagOf, readDecrypted, storedDataKey, storedSize, toStored, uploadDataKey } from './encryption.js'
import { S3Error } from '../errors.js'
import { checkCopySourceConditions } from '../protocol/conditional.js'
import { createChecksumHasher, toBase64, type Hasher } from '../protocol/checksums.js'
import type { MultipartUpload, ObjectVersion, UploadedPart } from '../metadata/metadata-store.js'
import type { OperationContext } from './context.js'
import { quoteEtag, requireObject, timestamp, xmlResponse } from './common.js'
import { parseCopySource, parseIpfsCopySource, readCopySource, type IpfsCopySource } from './copy-source.js'
import { checkIpfsSourceConditions, ipfsSourceSize, readIpfsSource, rejectDateConditions } from './ipfs-source.js'
import { partNumberParam, requireUpload } from './multipart.js'
import { storePart, uploadProfile } from './upload-part.js'
import { holdsLocally } from '../metadata/archives.js'

/** `x-amz-copy-source-range: bytes=first-last`, both inclusive and within the source. */
export function parseCopySourceRange (header: string | undefined, size: number): { start: number, end: number } | undefined {
  if (header === undefined) return undefined
  const m = /^bytes=(\d+)-(\d+)$/.exec(header.trim())
  if (m === null || Number(m[1]) > Number(m[2])) {
    throw new S3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: header })
  }
  const start = Number(m[1])
  const end = Number(m[2])
  if (end >= size) throw new S3Error('InvalidRange', undefined, { RangeRequested: header, ActualObjectSize: String(size) })
  return { start, end }
}

/** A plain MD5 ETag: the source's ETag is the MD5 of its bytes (not a multipart ETag). */
function isMd5Etag (etag: string): boolean {
  return /^[0-9a-f]{32}$/.test(etag)
}

/**
 * A part copied from an object. A whole single-part source whose MD5 (and, for an upload with a
 * checksum algorithm, whose full-object checksum of that algorithm) is known is metadata only:
 * the part references the source's CID and no byte is read. A range, or a source whose part-level
 * digests are unknown (a multipart object), is read and re-imported under the upload's profile.
 * A source `/ipfs/<cid>` is IPFS content (see copyPartFromIpfs).
 */
export async function uploadPartCopy (ctx: OperationContext) {
  const partNumber = partNumberParam(ctx)
  const upload = await requireUpload(ctx)
  const ipfs = parseIpfsCopySource(ctx.req.headers['x-amz-copy-source'])
  if (ipfs !== undefined) return await copyPartFromIpfs(ctx, upload, ipfs, partNumber)
  const source = parseCopySource(ctx.req.headers['x-amz-copy-source'])
  const from = await readCopySource(ctx, source)
  checkCopySourceConditions(ctx.req.headers, from)
  const range = parseCopySourceRange(ctx.req.headers['x-amz-copy-source-range'], from.size)
  const length = range === undefined ? from.size : range.end - range.start + 1
  if (length > ctx.maxObjectSize) {
    throw new S3Error('EntityTooLarge', undefined, { ProposedSize: String(length), MaxSizeAllowed: String(ctx.maxObjectSize) })
  }

  const sourceKey = storedDataKey(ctx, from, 'copy-source-')
  const dataKey = uploadDataKey(ctx, upload)
  const algorithm = upload.checksumAlgorithm
  // Encrypted content is re-encrypted under the upload's key (or decrypted): never referenced.
  const reusable = range === undefined && sourceKey === undefined && dataKey === undefined && isMd5Etag(from.etag) &&
    (algorithm === undefined || (from.checksum?.algorithm === algorithm && from.checksum.type === 'FULL_OBJECT'))
  if (reusable) ctx.session.hold(from.cid)
  const part: UploadedPart = reusable
    ? {
        partNumber,
        cid: from.cid,
        size: from.size,
        etag: from.etag,
        lastModified: timestamp(ctx),
        checksum: algorithm === undefined || from.checksum === undefined ? undefined : { algorithm, value: from.checksum.value },
      }
    : await copyBytes(ctx, upload, from, partNumber, range?.start ?? 0, length, sourceKey, dataKey)
  await storePart(ctx, upload, part, reusable && holdsLocally(from) ? from.cid : undefined)

  const headers: Record<string, string> = encryptionHeaders(upload.encryption)
  if (from.versionId !== 'null') headers['x-amz-copy-source-version-id'] = from.versionId
  return xmlResponse('CopyPartResult', {
    ETag: quoteEtag(part.etag),
    LastModified: part.lastModified,
    ...(part.checksum === undefined ? {} : { [`Checksum${part.checksum.algorithm}`]: part.checksum.value }),
  }, 200, headers)
}

/** Streams `length` bytes of the source from `offset` into a new DAG, digesting them on the way. */
async function copyBytes (ctx: OperationContext, upload: MultipartUpload, from: ObjectVersion, partNumber: number,
  offset: number, length: number, sourceKey: Uint8Array | undefined, dataKey: Uint8Array | undefined): Promise<UploadedPart> {
  const md5 = createHash('md5')
  const checksum: Hasher | undefined = upload.checksumAlgorithm === undefined ? undefined : createChecksumHasher(upload.checksumAlgorithm)
  ctx.session.hold(from.cid)
  const bytes = sourceKey === undefined
    ? ctx.content.cat(from.cid, { offset, length, signal: ctx.signal })
    : readDecrypted(ctx, from, sourceKey, offset, length)
  const digested = async function * (): AsyncGenerator<Uint8Array> {
    for await (const chunk of bytes) {
      md5.update(chunk)
      checksum?.update(chunk)
      yield chunk
    }
  }
  const { cid, size } = await ctx.content.add(toStored(digested(), dataKey), { profile: uploadProfile(upload), session: ctx.session, signal: ctx.signal })
  if (size !== storedSize(length, dataKey !== undefined)) throw new S3Error('InternalError', 'The copied range differs in size from the source range.')
  return {
    partNumber,
    cid: cid.toString(),
    size: length,
    etag: etagOf(md5.digest('hex'), cid.toString(), upload.encryption),
    lastModified: timestamp(ctx),
    checksum: checksum === undefined || upload.checksumAlgorithm === undefined
      ? undefined
      : { algorithm: upload.checksumAlgorithm, value: toBase64(await checksum.digest()) },
  }
}

/**
 * A part from IPFS content, read once with every block checked against its CID. The whole file:
 * the part references the source's CID as given (held by the write session until the part is
 * stored), with the MD5 and checksum of its bytes. A range: those bytes re-imported under the
 * upload's profile. Copy-source If-Match / If-None-Match compare the MD5 of the whole file, so
 * they are refused with a range (it reads only the range).
 */
async function copyPartFromIpfs (ctx: OperationContext, upload: MultipartUpload, source: IpfsCopySource, partNumber: number) {
  const headers = ctx.req.headers
  rejectDateConditions(headers)
  const size = await ipfsSourceSize(ctx, source)
  const range = parseCopySourceRange(headers['x-amz-copy-source-range'], size)
  const length = range === undefined ? size : range.end - range.start + 1
  if (length > ctx.maxObjectSize) {
    throw new S3Error('EntityTooLarge', undefined, { ProposedSize: String(length), MaxSizeAllowed: String(ctx.maxObjectSize) })
  }
  if (range !== undefined && (headers['x-amz-copy-source-if-match'] !== undefined || headers['x-amz-copy-source-if-none-match'] !== undefined)) {
    throw new S3Error('InvalidRequest', 'x-amz-copy-source-if-match and -if-none-match compare the MD5 of the whole /ipfs/<cid> source, which a ranged copy does not read.')
  }
  const algorithm = upload.checksumAlgorithm
  const dataKey = uploadDataKey(ctx, upload)
  const reference = range === undefined && dataKey === undefined
  const read = readIpfsSource(ctx, source, { protect: reference, algorithm, offset: range?.start, length: range === undefined ? undefined : length })
  let cid: string
  if (dataKey !== undefined) {
    cid = (await ctx.content.add(toStored(read.bytes, dataKey), { profile: uploadProfile(upload), session: ctx.session, signal: ctx.signal })).cid.toString()
  } else if (range === undefined) {
    for await (const _ of read.bytes) ctx.signal?.throwIfAborted()
    cid = source.cid.toString()
  } else {
    cid = (await ctx.content.add(read.bytes, { profile: uploadProfile(upload), session: ctx.session, signal: ctx.signal })).cid.toString()
  }
  const digests = await read.digests()
  if (digests.size !== length) throw new S3Error('InternalError', 'The IPFS content differs in size from what its root block says.')
  if (range === undefined) checkIpfsSourceConditions(headers, digests.md5)
  const part: UploadedPart = {
    partNumber,
    cid,
    size: length,
    etag: etagOf(digests.md5, cid, upload.encryption),
    lastModified: timestamp(ctx),
    checksum: digests.checksum,
  }
  await storePart(ctx, upload, part)
  return xmlResponse('CopyPartResult', {
    ETag: quoteEtag(part.etag),
    LastModified: part.lastModified,
    ...(part.checksum === undefined ? {} : { [`Checksum${part.checksum.algorithm}`]: part.checksum.value }),
  }, 200, encryptionHeaders(upload.encryption))
}
