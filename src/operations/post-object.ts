import { ANONYMOUS_PRINCIPAL, identityPolicies } from '../auth/authorize.js'
import { checkPostPolicy, limitContentLength, missingPostField, verifyPostSignature } from '../auth/post-policy.js'
import { S3Error } from '../errors.js'
import type { ObjectVersion } from '../metadata/metadata-store.js'
import { expandFilename, readPostForm } from '../protocol/form-data.js'
import { assertValidKey } from '../protocol/names.js'
import { openPayload } from '../protocol/payload.js'
import type { S3Request } from '../types.js'
import { childText, children, parseXml } from '../xml/parse.js'
import type { OperationContext } from './context.js'
import { newObjectOwnership } from './acl-common.js'
import { bucketProfile } from './bucket-profile.js'
import { cidHeaders, emptyResponse, quoteEtag, requireBucket, timestamp, xmlResponse } from './common.js'
import { writeAttributes } from './object-attributes.js'
import { encryptionHeaders, etagOf, newEncryption, storedSize, toStored } from './encryption.js'
import { newVersionId, versionIdHeader } from './versioning.js'

/** Form fields that carry object attributes, under the request header names they stand for. */
const ATTRIBUTE_FIELDS = ['content-type', 'cache-control', 'content-disposition', 'content-encoding', 'expires', 'x-amz-storage-class',
  'x-amz-acl', 'x-amz-grant-read', 'x-amz-grant-read-acp', 'x-amz-grant-write-acp', 'x-amz-grant-full-control',
  'x-amz-server-side-encryption', 'x-amz-server-side-encryption-customer-algorithm', 'x-amz-server-side-encryption-customer-key',
  'x-amz-server-side-encryption-customer-key-md5']

/**
 * S3 "POST Object": a browser form upload (multipart/form-data) to the bucket URL. The form names
 * the key, carries a policy signed with SigV4 or SigV2 (or nothing, for buckets that let anyone write), the
 * object's attributes, and the file, which streams into the blockstore like a PUT body. The policy's
 * content-length-range is enforced while the file streams; nothing is committed unless the whole
 * file arrived within it. Answers 204 (default), 200, 201 with a PostResponse document, or a 303
 * redirect to `success_action_redirect`.
 */
export async function postObject (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const form = await readPostForm(ctx.req.body, ctx.req.headers['content-type'])
  const fields = form.fields
  const rawKey = fields.get('key')
  // An empty field is no field, as for the signature fields.
  if (rawKey === undefined || rawKey === '') throw missingPostField('key')
  if (form.file === undefined) throw new S3Error('InvalidArgument', 'POST requires exactly one file upload per request.', { ArgumentName: 'file', ArgumentValue: '0' })
  const file = form.file
  const key = expandFilename(rawKey, file.filename)
  if (key === '') throw new S3Error('InvalidArgument', 'User key must have a length greater than 0.', { ArgumentName: 'key', ArgumentValue: '' })
  fields.set('key', key)
  assertValidKey(key)

  const signer = await verifyPostSignature(fields, { credentials: ctx.credentials, region: ctx.region, now: ctx.signatureClock(), signatureV2: ctx.signatureV2 })
  const policyField = fields.get('policy')
  const { contentLengthRange } = policyField === undefined ? {} : checkPostPolicy(policyField, fields, { bucket: bucket.name, now: ctx.now(), signatureVersion: signer.signatureVersion })

  // The form's headers: what an equivalent PUT would have sent.
  const headers: Record<string, string> = {}
  for (const [name, value] of fields) {
    if (ATTRIBUTE_FIELDS.includes(name) || name.startsWith('x-amz-meta-')) headers[name] = value
  }
  if (headers['x-amz-acl'] === undefined && fields.get('acl') !== undefined) headers['x-amz-acl'] = fields.get('acl') as string
  if (headers['content-type'] === undefined && file.contentType !== undefined) headers['content-type'] = file.contentType
  const tagging = fields.get('tagging')
  if (tagging !== undefined) headers['x-amz-tagging'] = taggingQuery(tagging)
  for (const name of ['x-amz-server-side-encryption-aws-kms-key-id', 'x-amz-website-redirect-location', 'x-amz-object-lock-mode']) {
    if (fields.has(name)) throw new S3Error('NotImplemented', `The form field ${name} is not implemented by this gateway for POST uploads.`)
  }

  // The request as an equivalent PUT would have made it: the signed form alone sets the object's
  // attributes and ACL (headers the browser added cannot), and policy conditions (s3:x-amz-acl,
  // s3:RequestObjectTag/...) read the form's values.
  const formReq: S3Request = { ...ctx.req, headers: { ...requestOnlyHeaders(ctx.req.headers), ...headers } }
  const principal = signer.anonymous ? undefined : signer.principal
  const authorizer = ctx.authorizer.as({ principal, policies: identityPolicies(signer.policies) }, 'POST', formReq, signer.signatureVersion)
  const formCtx: OperationContext = {
    ...ctx,
    key,
    req: formReq,
    principal: principal ?? ANONYMOUS_PRINCIPAL,
    displayName: principal === undefined ? 'anonymous' : signer.displayName ?? principal,
    authorizer,
  }
  await authorizer.require('s3:PutObject', bucket.name, key)
  const attributes = { ...writeAttributes(headers, ctx.archive !== undefined), ...newObjectOwnership(formCtx, bucket) }
  const encryption = newEncryption(formCtx, bucket)

  const stream = contentLengthRange === undefined ? file.stream : limitContentLength(file.stream, contentLengthRange)
  const payload = openPayload({ ...ctx.req, headers: {}, body: stream }, { anonymous: true, payloadMode: 'NONE' }, { maxSize: ctx.maxObjectSize })
  const { cid, size } = await ctx.content.add(toStored(payload, encryption?.dataKey), { profile: bucketProfile(ctx, bucket), session: ctx.session, signal: ctx.signal })
  const digests = payload.digests()
  if (size !== storedSize(digests.size, encryption !== undefined)) throw new S3Error('InternalError', 'Stored size differs from the received size.')
  const version: ObjectVersion = {
    bucket: bucket.name,
    key,
    versionId: newVersionId(ctx, bucket),
    deleteMarker: false,
    cid: cid.toString(),
    size: digests.size,
    etag: etagOf(digests.md5, cid.toString(), encryption?.record),
    lastModified: timestamp(ctx),
    ...attributes,
    encryption: encryption?.record,
  }
  await ctx.metadata.putObject(version, { signal: ctx.signal })

  const etag = quoteEtag(version.etag)
  const location = objectUrl(ctx.req, bucket.name, key)
  const resultHeaders = { etag, location, ...cidHeaders(version.cid), ...versionIdHeader(bucket, version.versionId), ...encryptionHeaders(version.encryption) }
  const target = redirectTarget(fields.get('success_action_redirect') ?? fields.get('redirect'))
  if (target !== undefined) {
    target.searchParams.set('bucket', bucket.name)
    target.searchParams.set('key', key)
    target.searchParams.set('etag', etag)
    return emptyResponse(303, { ...resultHeaders, location: target.toString() })
  }
  const status = fields.get('success_action_status')
  if (status === '201') {
    return xmlResponse('PostResponse', { Location: location, Bucket: bucket.name, Key: key, ETag: etag }, 201, resultHeaders)
  }
  return emptyResponse(status === '200' ? 200 : 204, resultHeaders)
}

/** Request headers that are not the object's: what the browser added cannot set attributes or ACLs. */
function requestOnlyHeaders (headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-') || name.startsWith('content-') || name === 'cache-control' || name === 'expires') continue
    out[name] = value
  }
  return out
}

/**
 * The object's URL as the client addressed the gateway: the public host (a trusted proxy's
 * X-Forwarded-Host, which the host adapter already took `hostname` from), the bucket in the path
 * unless it was in the host name (virtual-hosted style: the form was posted to `/`).
 */
function objectUrl (req: S3Request, bucket: string, key: string): string {
  const relative = req.path.slice(req.basePath.length)
  const virtualHosted = relative === '' || relative === '/'
  const path = `${virtualHosted ? '' : `/${encodeURIComponent(bucket)}`}/${key.split('/').map(encodeURIComponent).join('/')}`
  return `${req.secure === true ? 'https' : 'http'}://${publicHost(req)}${req.basePath}${path}`
}

function publicHost (req: S3Request): string {
  const host = req.headers.host ?? req.hostname ?? 'localhost'
  const forwarded = req.headers['x-forwarded-host']?.split(',')[0].trim()
  if (forwarded !== undefined && forwarded !== '' && req.hostname !== undefined &&
    hostnameOf(forwarded) === req.hostname && hostnameOf(host) !== req.hostname) return forwarded
  return host
}

function hostnameOf (host: string): string {
  const h = host.trim().toLowerCase()
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1)
  const colon = h.indexOf(':')
  return colon === -1 || h.indexOf(':', colon + 1) !== -1 ? h : h.slice(0, colon)
}

/** success_action_redirect as a URL; one S3 cannot interpret is as if the field were not there. */
function redirectTarget (value: string | undefined): URL | undefined {
  if (value === undefined || !/^https?:\/\//i.test(value)) return undefined
  try {
    return new URL(value)
  } catch {
    return undefined
  }
}

/** The form's `tagging` field (a Tagging XML document) as an `x-amz-tagging` query string. */
function taggingQuery (xml: string): string {
  const doc = parseXml(Buffer.from(xml, 'utf8'), 'Tagging', 64 * 1024)
  const set = children(doc, 'TagSet')
  if (set.length !== 1) throw new S3Error('MalformedXML')
  const query = new URLSearchParams()
  for (const tag of children(set[0], 'Tag')) {
    const k = childText(tag, 'Key')
    const v = childText(tag, 'Value')
    if (k === undefined || v === undefined) throw new S3Error('MalformedXML')
    query.append(k, v)
  }
  return query.toString()
}
