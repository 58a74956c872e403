import { createHash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import type { StoreState } from './store-model.js'
import {
  aclXml, bucketPolicy, completeXml, corsXml, deleteXml, encryptionXml, publicAccessBlockXml, taggingXml, versioningXml,
} from './fuzz-bodies.js'
import { awsChunked, keyPath, md5Base64, presign, setHeader, signHeader, type ChunkedPiece, type Rand, type Signer, type WireRequest } from './wire.js'

/**
 * Valid S3 requests, one builder per action, and the ways to authenticate them. The fuzzer starts
 * from these and breaks them.
 */

export type User = 'alice' | 'bob' | 'anonymous'

export interface World {
  rand: Rand
  /** `127.0.0.1:<port>` */
  host: string
  users: Record<'alice' | 'bob', Signer>
  /** The SSE-C key the seeded `ssec` object is stored under (base64) and its MD5 (base64). */
  sseC: { key: string, md5: string }
  /** What the store holds now. */
  state: StoreState
  /** A valid CAR of a stored object (the canary), for CAR imports. */
  car: Buffer
  /** The base domain of virtual-hosted-style requests (`<bucket>.<baseDomain>`). */
  baseDomain: string
}

export interface Target {
  bucket: string
  /** '' for a bucket-level action. */
  key: string
}

export interface Op {
  name: string
  req: WireRequest
  /** Can change stored data when it succeeds. */
  mutating: boolean
  /** The request document, when there is one (XML or a bucket policy). */
  doc?: { kind: 'xml' | 'json', text: string }
  /** The body goes through the payload decoder (so aws-chunked framing is possible). */
  payload: boolean
}

type Builder = (w: World, t: Target) => Op

export function versionsOf (w: World, bucket: string, key?: string): StoreState['buckets'][number]['versions'] {
  const b = w.state.buckets.find(x => x.name === bucket)
  return (b?.versions ?? []).filter(v => key === undefined || v.key === key)
}

export function uploadsOf (w: World, bucket: string, key?: string): StoreState['buckets'][number]['uploads'] {
  const b = w.state.buckets.find(x => x.name === bucket)
  return (b?.uploads ?? []).filter(u => key === undefined || u.upload.key === key)
}

/** Letters only: chunk data that can never be mistaken for a CRLF. */
export function text (rand: Rand, n: number): Buffer {
  const out = Buffer.alloc(n)
  for (let i = 0; i < n; i++) out[i] = 97 + rand.int(26)
  return out
}

function request (method: string, t: Target, query = '', headers: Array<[string, string]> = [], body: Buffer = Buffer.alloc(0)): WireRequest {
  const path = t.bucket === '' ? '/' : t.key === '' ? `/${t.bucket}` : `/${t.bucket}/${keyPath(t.key)}`
  return { method, path, query, headers, body }
}

function xmlOp (name: string, method: string, t: Target, query: string, xml: string, md5 = false): Op {
  const body = Buffer.from(xml)
  const req = request(method, t, query, md5 ? [['content-md5', md5Base64(body)]] : [], body)
  return { name, req, mutating: true, doc: { kind: 'xml', text: xml }, payload: true }
}

function versionQuery (w: World, t: Target): string {
  const versions = versionsOf(w, t.bucket, t.key)
  if (versions.length === 0 || w.rand.chance(0.6)) return ''
  return `versionId=${encodeURIComponent(w.rand.pick(versions).versionId)}`
}

function uploadId (w: World, t: Target): string {
  const uploads = uploadsOf(w, t.bucket, t.key)
  return uploads.length > 0 && w.rand.chance(0.85) ? w.rand.pick(uploads).upload.uploadId : 'NoSuchUpload0000'
}

function randomTags (rand: Rand): Array<[string, string]> {
  return Array.from({ length: rand.int(4) }, (_, i) => [`k${i}`, rand.pick(['', 'v', 'a b', 'ü', '+=.:/@_-'])])
}

/** An object the requester can normally read, as an `x-amz-copy-source` value. */
function copySource (w: World): string {
  const candidates = [...versionsOf(w, 'fuzz-ver'), ...versionsOf(w, 'fuzz-plain')].filter(v => !v.deleteMarker && v.encryption?.customerKey !== true)
  if (candidates.length === 0) return '/fuzz-ver/canary'
  const v = w.rand.pick(candidates)
  return `/${v.bucket}/${keyPath(v.key)}${w.rand.chance(0.3) ? `?versionId=${encodeURIComponent(v.versionId)}` : ''}`
}

export const OBJECT_OPS: Record<string, Builder> = {
  GetObject: (w, t) => {
    const headers: Array<[string, string]> = w.rand.chance(0.3) ? [['range', w.rand.pick(['bytes=0-3', 'bytes=-2', 'bytes=1-'])]] : []
    return { name: 'GetObject', req: request('GET', t, versionQuery(w, t), headers), mutating: false, payload: false }
  },
  HeadObject: (w, t) => ({ name: 'HeadObject', req: request('HEAD', t, versionQuery(w, t)), mutating: false, payload: false }),
  PutObject: (w, t) => {
    const headers: Array<[string, string]> = []
    if (w.rand.chance(0.3)) headers.push(['content-type', 'text/plain'])
    if (w.rand.chance(0.3)) headers.push(['x-amz-meta-fuzz', 'yes'])
    if (w.rand.chance(0.2)) headers.push(['x-amz-tagging', 'a=1&b=2'])
    if (w.rand.chance(0.1)) headers.push(['x-amz-server-side-encryption', 'AES256'])
    return { name: 'PutObject', req: request('PUT', t, '', headers, text(w.rand, w.rand.int(3000))), mutating: true, payload: true }
  },
  CopyObject: (w, t) => ({ name: 'CopyObject', req: request('PUT', t, '', [['x-amz-copy-source', copySource(w)]]), mutating: true, payload: false }),
  DeleteObject: (w, t) => ({ name: 'DeleteObject', req: request('DELETE', t, versionQuery(w, t)), mutating: true, payload: false }),
  GetObjectTagging: (w, t) => ({ name: 'GetObjectTagging', req: request('GET', t, ['tagging', versionQuery(w, t)].filter(Boolean).join('&')), mutating: false, payload: false }),
  PutObjectTagging: (w, t) => xmlOp('PutObjectTagging', 'PUT', t, ['tagging', versionQuery(w, t)].filter(Boolean).join('&'), taggingXml(randomTags(w.rand))),
  DeleteObjectTagging: (w, t) => ({ name: 'DeleteObjectTagging', req: request('DELETE', t, ['tagging', versionQuery(w, t)].filter(Boolean).join('&')), mutating: true, payload: false }),
  GetObjectAcl: (w, t) => ({ name: 'GetObjectAcl', req: request('GET', t, 'acl'), mutating: false, payload: false }),
  PutObjectAcl: (w, t) => {
    if (w.rand.chance(0.4)) {
      return { name: 'PutObjectAcl', req: request('PUT', t, 'acl', [['x-amz-acl', w.rand.pick(['private', 'public-read', 'authenticated-read', 'bucket-owner-read'])]]), mutating: true, payload: true }
    }
    const owner = versionsOf(w, t.bucket, t.key).find(v => v.isLatest === true)?.owner ?? 'alice'
    return xmlOp('PutObjectAcl', 'PUT', t, 'acl', aclXml(owner, [{ id: owner, permission: 'FULL_CONTROL' }, { id: 'bob', permission: w.rand.pick(['READ', 'READ_ACP']) }]))
  },
  CreateMultipartUpload: (w, t) => ({ name: 'CreateMultipartUpload', req: request('POST', t, 'uploads'), mutating: true, payload: false }),
  UploadPart: (w, t) => ({
    name: 'UploadPart',
    req: request('PUT', t, `partNumber=${1 + w.rand.int(3)}&uploadId=${uploadId(w, t)}`, [], text(w.rand, w.rand.int(2000))),
    mutating: true,
    payload: true,
  }),
  UploadPartCopy: (w, t) => ({
    name: 'UploadPartCopy',
    req: request('PUT', t, `partNumber=${1 + w.rand.int(3)}&uploadId=${uploadId(w, t)}`, [['x-amz-copy-source', copySource(w)]]),
    mutating: true,
    payload: false,
  }),
  CompleteMultipartUpload: (w, t) => {
    const uploads = uploadsOf(w, t.bucket, t.key)
    const chosen = uploads.length > 0 ? w.rand.pick(uploads) : undefined
    const parts = chosen?.parts.map(p => ({ partNumber: p.partNumber, etag: p.etag })) ?? [{ partNumber: 1, etag: '0'.repeat(32) }]
    return xmlOp('CompleteMultipartUpload', 'POST', t, `uploadId=${chosen?.upload.uploadId ?? 'NoSuchUpload0000'}`, completeXml(parts))
  },
  AbortMultipartUpload: (w, t) => ({ name: 'AbortMultipartUpload', req: request('DELETE', t, `uploadId=${uploadId(w, t)}`), mutating: true, payload: false }),
  ListParts: (w, t) => ({ name: 'ListParts', req: request('GET', t, `uploadId=${uploadId(w, t)}`), mutating: false, payload: false }),
}

function listQuery (rand: Rand, base: string): string {
  const params = base === '' ? [] : [base]
  if (rand.chance(0.3)) params.push(`prefix=${rand.pick(['', 'dir%2F', 'a', 'drop%2F'])}`)
  if (rand.chance(0.3)) params.push('delimiter=%2F')
  if (rand.chance(0.3)) params.push(`max-keys=${rand.pick(['0', '1', '2', '1000'])}`)
  if (rand.chance(0.2)) params.push('encoding-type=url')
  return params.join('&')
}

export const BUCKET_OPS: Record<string, Builder> = {
  ListObjects: (w, t) => ({ name: 'ListObjects', req: request('GET', t, listQuery(w.rand, '')), mutating: false, payload: false }),
  ListObjectsV2: (w, t) => ({ name: 'ListObjectsV2', req: request('GET', t, listQuery(w.rand, 'list-type=2')), mutating: false, payload: false }),
  ListObjectVersions: (w, t) => ({ name: 'ListObjectVersions', req: request('GET', t, listQuery(w.rand, 'versions')), mutating: false, payload: false }),
  ListMultipartUploads: (w, t) => ({ name: 'ListMultipartUploads', req: request('GET', t, 'uploads'), mutating: false, payload: false }),
  HeadBucket: (w, t) => ({ name: 'HeadBucket', req: request('HEAD', t), mutating: false, payload: false }),
  GetBucketLocation: (w, t) => ({ name: 'GetBucketLocation', req: request('GET', t, 'location'), mutating: false, payload: false }),
  GetBucketVersioning: (w, t) => ({ name: 'GetBucketVersioning', req: request('GET', t, 'versioning'), mutating: false, payload: false }),
  GetBucketPolicy: (w, t) => ({ name: 'GetBucketPolicy', req: request('GET', t, 'policy'), mutating: false, payload: false }),
  GetBucketPolicyStatus: (w, t) => ({ name: 'GetBucketPolicyStatus', req: request('GET', t, 'policyStatus'), mutating: false, payload: false }),
  GetBucketAcl: (w, t) => ({ name: 'GetBucketAcl', req: request('GET', t, 'acl'), mutating: false, payload: false }),
  GetBucketCors: (w, t) => ({ name: 'GetBucketCors', req: request('GET', t, 'cors'), mutating: false, payload: false }),
  GetBucketEncryption: (w, t) => ({ name: 'GetBucketEncryption', req: request('GET', t, 'encryption'), mutating: false, payload: false }),
  GetPublicAccessBlock: (w, t) => ({ name: 'GetPublicAccessBlock', req: request('GET', t, 'publicAccessBlock'), mutating: false, payload: false }),
  GetBucketTagging: (w, t) => ({ name: 'GetBucketTagging', req: request('GET', t, 'tagging'), mutating: false, payload: false }),
  CreateBucket: (w, t) => ({ name: 'CreateBucket', req: request('PUT', t), mutating: true, payload: true }),
  DeleteBucket: (w, t) => ({ name: 'DeleteBucket', req: request('DELETE', t), mutating: true, payload: false }),
  PutBucketPolicy: (w, t) => {
    const json = bucketPolicy(t.bucket, [
      { Sid: 'BobReads', Effect: 'Allow', Principal: { AWS: 'bob' }, Action: ['s3:GetObject'], Resource: `arn:aws:s3:::${t.bucket}/shared/*` },
      { Sid: 'Listing', Effect: 'Allow', Principal: { AWS: ['bob'] }, Action: 's3:ListBucket', Resource: `arn:aws:s3:::${t.bucket}`, Condition: { StringLike: { 's3:prefix': ['shared/*'] } } },
      { Sid: 'Tagged', Effect: 'Allow', Principal: { AWS: 'bob' }, Action: ['s3:GetObject', 's3:PutObjectTagging'], Resource: `arn:aws:s3:::${t.bucket}/*`, Condition: { StringEquals: { 's3:ExistingObjectTag/share': 'yes' }, IpAddress: { 'aws:SourceIp': ['127.0.0.0/8', '::1/128'] } } },
      { Sid: 'Writes', Effect: 'Allow', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${t.bucket}/inbox/*`, Condition: { StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' }, NumericLessThan: { 's3:max-keys': '10' }, DateGreaterThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' }, Bool: { 'aws:SecureTransport': 'false' } } },
    ])
    const body = Buffer.from(json)
    return { name: 'PutBucketPolicy', req: request('PUT', t, 'policy', [], body), mutating: true, doc: { kind: 'json', text: json }, payload: true }
  },
  DeleteBucketPolicy: (w, t) => ({ name: 'DeleteBucketPolicy', req: request('DELETE', t, 'policy'), mutating: true, payload: false }),
  PutBucketCors: (w, t) => xmlOp('PutBucketCors', 'PUT', t, 'cors', corsXml([w.rand.pick(['https://app.example', '*', 'http://*.example'])], ['GET', 'PUT']), true),
  DeleteBucketCors: (w, t) => ({ name: 'DeleteBucketCors', req: request('DELETE', t, 'cors'), mutating: true, payload: false }),
  PutBucketAcl: (w, t) => {
    if (w.rand.chance(0.4)) {
      return { name: 'PutBucketAcl', req: request('PUT', t, 'acl', [['x-amz-acl', w.rand.pick(['private', 'public-read', 'authenticated-read'])]]), mutating: true, payload: true }
    }
    const owner = w.state.buckets.find(b => b.name === t.bucket)?.owner ?? 'alice'
    return xmlOp('PutBucketAcl', 'PUT', t, 'acl', aclXml(owner, [{ id: owner, permission: 'FULL_CONTROL' }, { id: 'bob', permission: w.rand.pick(['READ', 'WRITE', 'READ_ACP']) }]))
  },
  PutBucketVersioning: (w, t) => xmlOp('PutBucketVersioning', 'PUT', t, 'versioning', versioningXml(w.rand.pick(['Enabled', 'Suspended']))),
  PutBucketEncryption: (w, t) => xmlOp('PutBucketEncryption', 'PUT', t, 'encryption', encryptionXml(), true),
  DeleteBucketEncryption: (w, t) => ({ name: 'DeleteBucketEncryption', req: request('DELETE', t, 'encryption'), mutating: true, payload: false }),
  PutPublicAccessBlock: (w, t) => xmlOp('PutPublicAccessBlock', 'PUT', t, 'publicAccessBlock', publicAccessBlockXml([w.rand.chance(0.5), w.rand.chance(0.5), false, false])),
  DeletePublicAccessBlock: (w, t) => ({ name: 'DeletePublicAccessBlock', req: request('DELETE', t, 'publicAccessBlock'), mutating: true, payload: false }),
  PutBucketTagging: (w, t) => xmlOp('PutBucketTagging', 'PUT', t, 'tagging', taggingXml([['team', 'x']]), true),
  DeleteObjects: (w, t) => {
    const keys = versionsOf(w, t.bucket).map(v => ({ key: v.key, versionId: w.rand.chance(0.3) ? v.versionId : undefined }))
    const chosen = keys.length === 0 ? [{ key: 'nothing-here' }] : Array.from({ length: 1 + w.rand.int(3) }, () => w.rand.pick(keys))
    return xmlOp('DeleteObjects', 'POST', t, 'delete', deleteXml(chosen, w.rand.chance(0.3)), true)
  },
}

export const SERVICE_OPS: Record<string, Builder> = {
  ListBuckets: (w, t) => ({ name: 'ListBuckets', req: request('GET', { bucket: '', key: '' }), mutating: false, payload: false }),
}

export function buildOp (w: World, name: string, t: Target): Op {
  const builder = OBJECT_OPS[name] ?? BUCKET_OPS[name] ?? SERVICE_OPS[name]
  return builder(w, t)
}

// ---- authentication -------------------------------------------------------------------------

export type AuthMode = 'anonymous' | 'sha256' | 'unsigned' | 'presign' | 'chunked-signed' | 'chunked-signed-trailer' | 'chunked-unsigned-trailer' | 'chunked-unsigned'

export interface Authed {
  req: WireRequest
  mode: AuthMode
  /** The body's aws-chunked pieces, for the chunked modes. */
  pieces?: ChunkedPiece[]
}

export interface AuthOptions {
  date?: Date
  /** Sign as this key and secret instead of the user's own. */
  signer?: Partial<Signer>
}

/** A mode that fits the op: chunked modes only for bodies that go through the payload decoder. */
export function pickMode (rand: Rand, op: Op, user: User): AuthMode {
  if (user === 'anonymous') return 'anonymous'
  const modes: Array<[number, AuthMode]> = [[5, 'sha256'], [3, 'unsigned'], [2, 'presign']]
  if (op.payload && op.req.body.length > 0) modes.push([2, 'chunked-signed'], [1, 'chunked-signed-trailer'], [1, 'chunked-unsigned-trailer'], [1, 'chunked-unsigned'])
  return rand.weighted(modes)
}

function checksumOf (algorithm: 'crc32' | 'sha256', body: Buffer): string {
  if (algorithm === 'sha256') return createHash('sha256').update(body).digest('base64')
  const b = Buffer.alloc(4)
  b.writeUInt32BE(crc32(body) >>> 0)
  return b.toString('base64')
}

function split (rand: Rand, body: Buffer): Buffer[] {
  const chunks: Buffer[] = []
  let at = 0
  while (at < body.length) {
    const n = 1 + rand.int(Math.max(1, Math.min(body.length - at, 1500)))
    chunks.push(body.subarray(at, at + n))
    at += n
  }
  return chunks
}

export async function authenticate (w: World, op: Op, user: User, mode: AuthMode, opts: AuthOptions = {}): Promise<Authed> {
  if (user === 'anonymous' || mode === 'anonymous') return { req: op.req, mode: 'anonymous' }
  const s: Signer = { ...w.users[user], ...opts.signer, date: opts.date }
  const req = op.req
  switch (mode) {
    case 'sha256':
      return { req: await signHeader(req, w.host, s), mode }
    case 'unsigned':
      return { req: await signHeader(req, w.host, s, 'UNSIGNED-PAYLOAD'), mode }
    case 'presign':
      return { req: await presign(req, w.host, s, 60 + w.rand.int(3600)), mode }
    default:
      return await chunked(w, req, s, mode)
  }
}

async function chunked (w: World, req: WireRequest, s: Signer, mode: AuthMode): Promise<Authed> {
  const data = req.body
  const chunks = split(w.rand, data)
  const algorithm = w.rand.pick(['crc32', 'sha256'] as const)
  const trailerName = `x-amz-checksum-${algorithm}`
  const trailer = mode === 'chunked-signed-trailer' || mode === 'chunked-unsigned-trailer'
  let r = setHeader(req, 'content-encoding', 'aws-chunked')
  r = setHeader(r, 'x-amz-decoded-content-length', String(data.length))
  if (trailer) r = setHeader(r, 'x-amz-trailer', trailerName)
  const payload = {
    'chunked-signed': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    'chunked-signed-trailer': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
    'chunked-unsigned-trailer': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    'chunked-unsigned': 'UNSIGNED-PAYLOAD',
  }[mode as 'chunked-signed'] ?? 'UNSIGNED-PAYLOAD'
  const signed = await signHeader({ ...r, body: Buffer.alloc(0) }, w.host, s, payload)
  const auth = signed.headers.find(([n]) => n === 'authorization')?.[1] ?? ''
  const amzDate = signed.headers.find(([n]) => n === 'x-amz-date')?.[1] ?? ''
  const seedSignature = /Signature=([0-9a-f]{64})/.exec(auth)?.[1] ?? ''
  const signing = mode === 'chunked-signed' || mode === 'chunked-signed-trailer'
    ? { seedSignature, amzDate, secretAccessKey: s.secretAccessKey, region: s.region }
    : undefined
  const pieces = awsChunked(chunks, signing, trailer ? [[trailerName, checksumOf(algorithm, data)]] : undefined)
  return { req: { ...signed, body: Buffer.concat(pieces.map(p => p.bytes)) }, mode, pieces }
}
