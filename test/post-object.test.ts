/**
 * Browser form uploads (S3 "POST Object") as real users send them: forms signed with
 * @aws-sdk/s3-presigned-post, sent with Node's fetch + FormData (the file last, as browsers do), and
 * hand-built multipart bodies for what a browser cannot send, over loopback HTTP.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import {
  CreateBucketCommand, GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, ListObjectsV2Command,
  PutBucketPolicyCommand, PutObjectCommand, PutPublicAccessBlockCommand, S3Client,
} from '@aws-sdk/client-s3'
import { createPresignedPost } from '@aws-sdk/s3-presigned-post'
import { fileCredentials } from '../src/auth/user-file.js'
import { createGateway } from '../src/gateway.js'
import type { Gateway } from '../src/types.js'
import { expressHost, fastifyHost, nodeHost, type RunningHost } from './helpers/hosts.js'
import { deterministicBytes, ipfsAddCid, md5Hex, s3Error } from './helpers/s3.js'

const USERS = {
  users: [
    { name: 'alice', displayName: 'Alice', accessKeys: [{ accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' }] },
    { name: 'bob', accessKeys: [{ accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' }] },
  ],
}
const SECRETS: Record<string, [string, string]> = { alice: ['ALICEKEY', 'alice-secret'], bob: ['BOBKEY', 'bob-secret'] }

const BUCKET = 'alice-uploads'
const OPEN_BUCKET = 'alice-dropbox'

let dir: string
let gateway: Gateway
let host: RunningHost
const clients = new Map<string, S3Client>()

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3ipfs-post-'))
  const usersPath = join(dir, 'users.json')
  await writeFile(usersPath, JSON.stringify(USERS))
  gateway = createGateway({ credentials: fileCredentials({ path: usersPath, reloadIntervalMs: 0 }), baseDomains: ['s3.example.test'] })
  // Loopback is a trusted proxy, so a test can claim the public host and TLS with X-Forwarded-*.
  host = await nodeHost.start(gateway, '', { trustProxy: ['127.0.0.1', '::1'] })
  await as('alice').send(new CreateBucketCommand({ Bucket: BUCKET }))
  await as('alice').send(new CreateBucketCommand({ Bucket: OPEN_BUCKET }))
  await as('alice').send(new PutBucketPolicyCommand({
    Bucket: OPEN_BUCKET,
    Policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${OPEN_BUCKET}/*` }],
    }),
  }))
})

test.after.always(async () => {
  for (const c of clients.values()) c.destroy()
  await host.close()
  await gateway.close()
  await rm(dir, { recursive: true, force: true })
})

/** An SDK client for a user; an unknown name signs with a key the gateway does not know. */
function as (user: string, secret?: string): S3Client {
  const cacheKey = `${user} ${secret ?? ''}`
  let client = clients.get(cacheKey)
  if (client === undefined) {
    const [accessKeyId, secretAccessKey] = SECRETS[user] ?? ['NOBODYKEY', 'nobody-secret']
    client = new S3Client({
      endpoint: host.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey: secret ?? secretAccessKey },
      maxAttempts: 1,
    })
    clients.set(cacheKey, client)
  }
  return client
}

type Conditions = NonNullable<Parameters<typeof createPresignedPost>[1]['Conditions']>

interface PresignOptions {
  user?: string
  secret?: string
  bucket?: string
  fields?: Record<string, string>
  conditions?: Conditions
  expires?: number
}

/** What a web app hands a browser: the form's URL and its hidden fields. */
async function presign (key: string, opts: PresignOptions = {}): Promise<{ url: string, fields: Record<string, string> }> {
  return await createPresignedPost(as(opts.user ?? 'alice', opts.secret), {
    Bucket: opts.bucket ?? BUCKET,
    Key: key,
    Fields: opts.fields,
    Conditions: opts.conditions,
    Expires: opts.expires,
  })
}

interface FileSpec { data: string | Uint8Array, filename?: string, type?: string }

/** Sends a form the way a browser does: the fields in order, then the file. */
async function postForm (url: string, fields: Record<string, string>, file?: FileSpec, headers: Record<string, string> = {}): Promise<Response> {
  const form = new FormData()
  for (const [name, value] of Object.entries(fields)) form.append(name, value)
  if (file !== undefined) {
    form.append('file', new Blob([file.data], file.type === undefined ? {} : { type: file.type }), file.filename ?? 'upload.bin')
  }
  return await fetch(url, { method: 'POST', body: form, headers, redirect: 'manual' })
}

/** A presigned form for `key`, posted with `file` (and extra form fields after the signed ones). */
async function upload (key: string, file: FileSpec, opts: PresignOptions & { extra?: Record<string, string>, headers?: Record<string, string> } = {}): Promise<Response> {
  const { url, fields } = await presign(key, opts)
  return await postForm(url, { ...fields, ...opts.extra }, file, opts.headers)
}

interface ErrorReply { status: number, code?: string, message?: string, body: string }

async function errorOf (res: Response): Promise<ErrorReply> {
  const body = await res.text()
  return {
    status: res.status,
    code: /<Code>([^<]*)<\/Code>/.exec(body)?.[1],
    message: /<Message>([^<]*)<\/Message>/.exec(body)?.[1],
    body,
  }
}

async function expectError (t: ExecutionContext, res: Response, status: number, code: string, what: string): Promise<ErrorReply> {
  const e = await errorOf(res)
  t.is(e.status, status, `${what}: ${e.body}`)
  t.is(e.code, code, what)
  return e
}

async function bytesOf (bucket: string, key: string, user = 'alice'): Promise<Buffer> {
  const out = await as(user).send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return Buffer.from(await out.Body!.transformToByteArray())
}

async function keys (bucket: string, prefix = ''): Promise<string[]> {
  const out = await as('alice').send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))
  return (out.Contents ?? []).map((o) => o.Key ?? '')
}

async function absent (t: ExecutionContext, bucket: string, key: string): Promise<void> {
  t.deepEqual(await s3Error(as('alice').send(new HeadObjectCommand({ Bucket: bucket, Key: key }))), { code: 'NotFound', status: 404 }, `${key} was not stored`)
}

const BOUNDARY = '----s3ipfsFormBoundary7MA4YWxkTrZu0gW'

interface RawPart { name: string, value: string | Uint8Array, filename?: string, type?: string }

/** A multipart/form-data body framed by hand (for what FormData cannot express). */
function rawForm (parts: RawPart[], close = `--${BOUNDARY}--\r\n`): Buffer {
  const out: Buffer[] = []
  for (const p of parts) {
    const filename = p.filename === undefined ? '' : `; filename="${p.filename}"`
    const type = p.type === undefined ? '' : `Content-Type: ${p.type}\r\n`
    out.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${p.name}"${filename}\r\n${type}\r\n`))
    out.push(Buffer.from(p.value))
    out.push(Buffer.from('\r\n'))
  }
  out.push(Buffer.from(close))
  return Buffer.concat(out)
}

async function postRaw (path: string, body: string | Uint8Array | ReadableStream<Uint8Array>, contentType = `multipart/form-data; boundary=${BOUNDARY}`, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(`${host.url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': contentType, ...headers },
    redirect: 'manual',
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit)
}

// ---- success -----------------------------------------------------------------------------------

test.serial('a presigned form uploads the file: 204 with ETag, Location, the CID headers; the object reads back', async (t) => {
  const data = 'hello from a browser form\n'
  const res = await upload('docs/hello.txt', { data, type: 'text/plain' })
  t.is(res.status, 204)
  t.is(await res.text(), '')
  const etag = `"${md5Hex(data)}"`
  t.is(res.headers.get('etag'), etag)
  t.is(res.headers.get('location'), `${host.url}/${BUCKET}/docs/hello.txt`)
  const cid = await ipfsAddCid(Buffer.from(data))
  t.is(res.headers.get('x-amz-meta-cid'), cid)
  t.is(res.headers.get('x-ipfs-path'), `/ipfs/${cid}`)
  t.truthy(res.headers.get('x-amz-request-id'))

  const head = await as('alice').send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'docs/hello.txt' }))
  t.is(head.ETag, etag)
  t.is(head.ContentLength, Buffer.byteLength(data))
  t.is(head.ContentType, 'text/plain', 'the file part\'s Content-Type when the form names none')
  t.is((await bytesOf(BUCKET, 'docs/hello.txt')).toString(), data)
})

test.serial('Location names the public URL a trusted proxy forwards (host and scheme), with the key URL-encoded', async (t) => {
  const res = await upload('a dir/ü & more.txt', { data: 'x' }, { headers: { 'x-forwarded-host': 'uploads.example.com', 'x-forwarded-proto': 'https' } })
  t.is(res.status, 204, await res.text())
  t.is(res.headers.get('location'), `https://uploads.example.com/${BUCKET}/a%20dir/%C3%BC%20%26%20more.txt`)
})

test.serial('on a virtual-hosted request, Location names the bucket in the host, not again in the path', async (t) => {
  const { fields } = await presign('vhost.txt')
  const res = await postForm(`${host.origin}/`, fields, { data: 'v' }, { 'x-forwarded-host': `${BUCKET}.s3.example.test` })
  t.is(res.status, 204, await res.text())
  t.is(res.headers.get('location'), `http://${BUCKET}.s3.example.test/vhost.txt`)
  t.is((await bytesOf(BUCKET, 'vhost.txt')).toString(), 'v')
})

test.serial('success_action_status 200 answers an empty 200; 201 answers a PostResponse document', async (t) => {
  const ok = await upload('status/200.txt', { data: 'two hundred' }, { fields: { success_action_status: '200' } })
  t.is(ok.status, 200)
  t.is(await ok.text(), '')
  t.is(ok.headers.get('etag'), `"${md5Hex('two hundred')}"`)

  const created = await upload('status/201 file.txt', { data: 'two hundred one' }, { fields: { success_action_status: '201' } })
  t.is(created.status, 201)
  t.regex(created.headers.get('content-type') ?? '', /xml/)
  const xml = await created.text()
  const etag = `"${md5Hex('two hundred one')}"`
  const element = (name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1]
  t.regex(xml, /<PostResponse[ >]/)
  t.is(element('Location'), `${host.url}/${BUCKET}/status/201%20file.txt`)
  t.is(element('Bucket'), BUCKET)
  t.is(element('Key'), 'status/201 file.txt')
  t.is(element('ETag')?.replace(/&quot;/g, '"'), etag)
  t.is(created.headers.get('etag'), etag)
  t.is((await bytesOf(BUCKET, 'status/201 file.txt')).toString(), 'two hundred one')

  const other = await upload('status/other.txt', { data: 'x' }, { fields: { success_action_status: '302' } })
  t.is(other.status, 204, 'any other value is the default')
})

test.serial('success_action_redirect answers 303 to the URL with bucket, key and etag added to its query', async (t) => {
  const res = await upload('redirect/r.txt', { data: 'redirected' }, { fields: { success_action_redirect: 'https://app.example/done?from=form' } })
  t.is(res.status, 303)
  const location = new URL(res.headers.get('location') ?? '')
  t.is(location.origin + location.pathname, 'https://app.example/done')
  t.is(location.searchParams.get('from'), 'form')
  t.is(location.searchParams.get('bucket'), BUCKET)
  t.is(location.searchParams.get('key'), 'redirect/r.txt')
  t.is(location.searchParams.get('etag'), `"${md5Hex('redirected')}"`)
  t.is((await bytesOf(BUCKET, 'redirect/r.txt')).toString(), 'redirected')

  // A URL S3 cannot interpret is as if the field were not there.
  const broken = await upload('redirect/broken.txt', { data: 'b' }, { fields: { success_action_redirect: 'http://[not a host/', success_action_status: '201' } })
  t.is(broken.status, 201, await broken.text())
  t.is((await bytesOf(BUCKET, 'redirect/broken.txt')).toString(), 'b')
})

test.serial('${filename} in the key is the uploaded file\'s name, without any path a browser sent', async (t) => {
  const res = await upload('user/eric/${filename}', { data: 'photo bytes', filename: 'holiday photo.jpg', type: 'image/jpeg' })
  t.is(res.status, 204, await res.text())
  t.is(res.headers.get('location'), `${host.url}/${BUCKET}/user/eric/holiday%20photo.jpg`)
  t.is((await bytesOf(BUCKET, 'user/eric/holiday photo.jpg')).toString(), 'photo bytes')
  const unicode = await upload('user/eric/${filename}', { data: 'cv', filename: 'naïve résumé 履歴書.pdf' })
  t.is(unicode.status, 204, await unicode.text())
  t.is((await bytesOf(BUCKET, 'user/eric/naïve résumé 履歴書.pdf')).toString(), 'cv')

  // Old browsers sent the whole client path; only its last segment counts.
  const { url, fields } = await presign('user/eric/${filename}')
  const body = rawForm([...Object.entries(fields).map(([name, value]) => ({ name, value })), { name: 'file', value: 'windows', filename: 'C:\\Users\\eric\\notes.txt' }])
  const raw = await postRaw(new URL(url).pathname, body)
  t.is(raw.status, 204, await raw.text())
  t.is((await bytesOf(BUCKET, 'user/eric/notes.txt')).toString(), 'windows')
})

test.serial('Content-Type, Cache-Control, Content-Disposition and x-amz-meta-* fields are stored with the object', async (t) => {
  const res = await upload('meta/report.csv', { data: 'a,b\n1,2\n', type: 'application/octet-stream' }, {
    fields: {
      'Content-Type': 'text/csv',
      'Cache-Control': 'max-age=60',
      'Content-Disposition': 'attachment; filename="report.csv"',
      'x-amz-meta-color': 'blue',
      'X-Amz-Meta-Uploaded-By': 'form',
    },
  })
  t.is(res.status, 204, await res.text())
  const head = await as('alice').send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'meta/report.csv' }))
  t.is(head.ContentType, 'text/csv', 'the form field beats the file part\'s type')
  t.is(head.CacheControl, 'max-age=60')
  t.is(head.ContentDisposition, 'attachment; filename="report.csv"')
  t.is(head.Metadata?.color, 'blue')
  t.is(head.Metadata?.['uploaded-by'], 'form')
  const got = await as('alice').send(new GetObjectCommand({ Bucket: BUCKET, Key: 'meta/report.csv' }))
  t.is(got.ContentType, 'text/csv')
  t.is(got.Metadata?.color, 'blue')
  t.is(await got.Body!.transformToString(), 'a,b\n1,2\n')
})

test.serial('a tagging field (Tagging XML) tags the object', async (t) => {
  const tagging = '<Tagging><TagSet><Tag><Key>project</Key><Value>apollo</Value></Tag><Tag><Key>tier</Key><Value>gold &amp; silver</Value></Tag></TagSet></Tagging>'
  const res = await upload('tagged/t.txt', { data: 't' }, { fields: { tagging } })
  t.is(res.status, 204, await res.text())
  const tags = await as('alice').send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: 'tagged/t.txt' }))
  t.deepEqual(tags.TagSet, [{ Key: 'project', Value: 'apollo' }, { Key: 'tier', Value: 'gold & silver' }])

  const bad = await upload('tagged/bad.txt', { data: 'b' }, { fields: { tagging: '<Tagging><NotATagSet/></Tagging>' } })
  await expectError(t, bad, 400, 'MalformedXML', 'a tagging field that is not a Tagging document')
  await absent(t, BUCKET, 'tagged/bad.txt')
})

test.serial('acl=public-read (allowed by the policy) lets anyone read the object; without it the object stays private', async (t) => {
  const res = await upload('public/logo.svg', { data: '<svg/>', type: 'image/svg+xml' }, { fields: { acl: 'public-read' } })
  t.is(res.status, 204, await res.text())
  const anonymous = await fetch(`${host.url}/${BUCKET}/public/logo.svg`)
  t.is(anonymous.status, 200)
  t.is(await anonymous.text(), '<svg/>')
  t.is(anonymous.headers.get('content-type'), 'image/svg+xml')

  t.is((await upload('private/logo.svg', { data: '<svg/>' })).status, 204)
  t.is((await fetch(`${host.url}/${BUCKET}/private/logo.svg`)).status, 403)

  // The acl field outside the policy is an extra field: refused, nothing stored.
  const sneaky = await upload('private/sneaky.svg', { data: '<svg/>' }, { extra: { acl: 'public-read' } })
  await expectError(t, sneaky, 403, 'AccessDenied', 'acl not in the policy')
  await absent(t, BUCKET, 'private/sneaky.svg')
})

test.serial('a public acl field is refused where the bucket\'s public access block has BlockPublicAcls', async (t) => {
  const B = 'alice-blocked'
  await as('alice').send(new CreateBucketCommand({ Bucket: B }))
  await as('alice').send(new PutPublicAccessBlockCommand({ Bucket: B, PublicAccessBlockConfiguration: { BlockPublicAcls: true } }))
  const res = await upload('open.txt', { data: 'x' }, { bucket: B, fields: { acl: 'public-read' } })
  await expectError(t, res, 403, 'AccessDenied', 'BlockPublicAcls')
  await absent(t, B, 'open.txt')
  t.is((await upload('closed.txt', { data: 'x' }, { bucket: B, fields: { acl: 'private' } })).status, 204)
})

test.serial('a 20 MiB file streams in and is stored byte for byte: MD5 ETag, and the CID a PutObject of the same bytes gets', async (t) => {
  const size = 20 * 1024 * 1024
  const data = deterministicBytes('post-object-large', size)
  const { url, fields } = await presign('large/blob.bin', { conditions: [['content-length-range', 1, 32 * 1024 * 1024]] })
  const head = rawForm(Object.entries(fields).map(([name, value]) => ({ name, value })), '')
  const opening = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="blob.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`)
  const closing = Buffer.from(`\r\n--${BOUNDARY}--\r\n`)
  // Streamed in odd-sized pieces, so boundaries of the delimiter search fall anywhere.
  let offset = 0
  const stream = new ReadableStream<Uint8Array>({
    start (controller) {
      controller.enqueue(head)
      controller.enqueue(opening)
    },
    pull (controller) {
      if (offset >= size) {
        controller.enqueue(closing)
        controller.close()
        return
      }
      const n = 65_521 + (offset % 7) * 1013
      controller.enqueue(data.subarray(offset, offset + n))
      offset += n
    },
  })
  const res = await postRaw(new URL(url).pathname, stream)
  t.is(res.status, 204, await res.text())
  const etag = `"${md5Hex(data)}"`
  t.is(res.headers.get('etag'), etag)
  const stored = await bytesOf(BUCKET, 'large/blob.bin')
  t.is(stored.length, size)
  t.true(stored.equals(data), 'byte-identical')

  const put = await as('alice').send(new PutObjectCommand({ Bucket: BUCKET, Key: 'large/blob-put.bin', Body: data }))
  t.is(put.ETag, etag)
  const viaPut = await as('alice').send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'large/blob-put.bin' }))
  t.is(res.headers.get('x-amz-meta-cid') ?? undefined, viaPut.Metadata?.cid, 'the same bytes get the same CID by form and by PUT')
  t.is(res.headers.get('x-amz-meta-cid'), await ipfsAddCid(data))
})

test.serial('a bucket whose policy lets anyone PutObject takes an anonymous form (no policy, no signature)', async (t) => {
  const res = await postForm(`${host.url}/${OPEN_BUCKET}`, { key: 'anon/${filename}', 'Content-Type': 'text/plain' }, { data: 'from anyone', filename: 'note.txt' })
  t.is(res.status, 204, await res.text())
  const head = await as('alice').send(new HeadObjectCommand({ Bucket: OPEN_BUCKET, Key: 'anon/note.txt' }))
  t.is(head.ContentType, 'text/plain')
  t.is((await bytesOf(OPEN_BUCKET, 'anon/note.txt')).toString(), 'from anyone')
})

// ---- refusals ------------------------------------------------------------------------------------

test.serial('content-length-range: too large is EntityTooLarge, too small EntityTooSmall; nothing is stored', async (t) => {
  const before = await keys(BUCKET)
  const range = { conditions: [['content-length-range', 10, 100]] as Conditions }
  const large = await upload('range/large.bin', { data: Buffer.alloc(101, 1) }, range)
  const e = await expectError(t, large, 400, 'EntityTooLarge', 'one byte over')
  t.regex(e.body, /<MaxSizeAllowed>100<\/MaxSizeAllowed>/)
  const small = await upload('range/small.bin', { data: Buffer.alloc(9, 1) }, range)
  const s = await expectError(t, small, 400, 'EntityTooSmall', 'one byte under')
  t.regex(s.body, /<MinSizeAllowed>10<\/MinSizeAllowed>/)
  // Much too large: refused while the body is still arriving.
  const huge = await upload('range/huge.bin', { data: Buffer.alloc(8 * 1024 * 1024, 2) }, range)
  await expectError(t, huge, 400, 'EntityTooLarge', 'megabytes over')
  await absent(t, BUCKET, 'range/large.bin')
  await absent(t, BUCKET, 'range/small.bin')
  await absent(t, BUCKET, 'range/huge.bin')
  t.deepEqual(await keys(BUCKET), before, 'the listing is unchanged')

  const edge = await upload('range/edge.bin', { data: Buffer.alloc(100, 3) }, range)
  t.is(edge.status, 204, 'the bounds are inclusive')
  const low = await upload('range/low.bin', { data: Buffer.alloc(10, 3) }, range)
  t.is(low.status, 204, 'the bounds are inclusive')
})

test.serial('an expired policy is AccessDenied', async (t) => {
  const res = await upload('expired.txt', { data: 'late' }, { expires: -60 })
  const e = await expectError(t, res, 403, 'AccessDenied', 'expired')
  t.regex(e.message ?? '', /Policy expired/)
  await absent(t, BUCKET, 'expired.txt')
})

test.serial('a policy signed with the wrong secret is SignatureDoesNotMatch; an unknown key is InvalidAccessKeyId', async (t) => {
  await expectError(t, await upload('wrong.txt', { data: 'x' }, { secret: 'not-alice-secret' }), 403, 'SignatureDoesNotMatch', 'wrong secret')
  await expectError(t, await upload('unknown.txt', { data: 'x' }, { user: 'nobody' }), 403, 'InvalidAccessKeyId', 'unknown key')

  // A field changed after signing (here the policy itself) breaks the signature too.
  const { url, fields } = await presign('tampered.txt')
  const policy = JSON.parse(Buffer.from(fields.Policy, 'base64').toString())
  policy.expiration = '2099-01-01T00:00:00Z'
  const res = await postForm(url, { ...fields, Policy: Buffer.from(JSON.stringify(policy)).toString('base64') }, { data: 'x' })
  await expectError(t, res, 403, 'SignatureDoesNotMatch', 'tampered policy')

  const partial = await presign('partial.txt')
  const { 'X-Amz-Signature': _signature, ...unsigned } = partial.fields
  const missing = await expectError(t, await postForm(partial.url, unsigned, { data: 'x' }), 400, 'InvalidArgument', 'a signature field missing')
  t.regex(missing.body, /<ArgumentName>x-amz-signature<\/ArgumentName>/)
  const v2 = await postForm(partial.url, { key: 'v2.txt', AWSAccessKeyId: 'ALICEKEY', policy: partial.fields.Policy, signature: 'c2lnbmF0dXJl' }, { data: 'x' })
  await expectError(t, v2, 403, 'SignatureDoesNotMatch', 'a SigV2 form with a wrong signature')
  for (const key of ['wrong.txt', 'unknown.txt', 'tampered.txt', 'partial.txt', 'v2.txt']) await absent(t, BUCKET, key)
})

test.serial('a field the policy does not name, or a condition that fails, is AccessDenied', async (t) => {
  const extra = await upload('extra.txt', { data: 'x' }, { extra: { 'x-amz-meta-sneaky': 'yes' } })
  const e = await expectError(t, extra, 403, 'AccessDenied', 'extra field')
  t.regex(e.message ?? '', /Extra input fields: x-amz-meta-sneaky/)

  const ignored = await upload('ignored.txt', { data: 'x' }, { extra: { 'x-ignore-tracking': '1' } })
  t.is(ignored.status, 204, 'x-ignore-* fields need no condition')

  // The app signed uploads/${filename}; the browser asks for another key.
  const { url, fields } = await presign('uploads/${filename}')
  const moved = await postForm(url, { ...fields, key: 'elsewhere/${filename}' }, { data: 'x', filename: 'x.txt' })
  const m = await expectError(t, moved, 403, 'AccessDenied', 'key outside starts-with')
  t.regex(m.message ?? '', /Policy Condition failed/)

  const typed = await upload('typed.txt', { data: 'x' }, { conditions: [['starts-with', '$Content-Type', 'image/']], extra: { 'Content-Type': 'text/html' } })
  await expectError(t, typed, 403, 'AccessDenied', 'Content-Type outside starts-with')
  for (const key of ['extra.txt', 'elsewhere/x.txt', 'typed.txt']) await absent(t, BUCKET, key)
})

test.serial('a form without a file, or without a key, is InvalidArgument', async (t) => {
  const { url, fields } = await presign('nofile.txt')
  const nofile = await postForm(url, fields)
  const e = await expectError(t, nofile, 400, 'InvalidArgument', 'no file')
  t.regex(e.message ?? '', /exactly one file/)

  const { key: _key, ...withoutKey } = fields
  const nokey = await postForm(url, withoutKey, { data: 'x' })
  const k = await expectError(t, nokey, 400, 'InvalidArgument', 'no key')
  t.regex(e.body + k.body, /<ArgumentName>key<\/ArgumentName>/)
  await absent(t, BUCKET, 'nofile.txt')
})

test.serial('an empty key, or one that ${filename} leaves empty, is InvalidArgument: nothing stored under ""', async (t) => {
  const empty = await upload('', { data: 'x' })
  await expectError(t, empty, 400, 'InvalidArgument', 'empty key')
  const { url, fields } = await presign('${filename}')
  const body = rawForm([...Object.entries(fields).map(([name, value]) => ({ name, value })), { name: 'file', value: 'x' }])
  await expectError(t, await postRaw(new URL(url).pathname, body), 400, 'InvalidArgument', '${filename} without a file name')
  t.false((await keys(BUCKET)).includes(''))
})

test.serial('request headers do not stand in for form fields: only the signed form sets the ACL, metadata and tags', async (t) => {
  const res = await upload('headers/h.txt', { data: 'h' }, {
    headers: { 'x-amz-acl': 'public-read', 'x-amz-grant-read': 'uri="http://acs.amazonaws.com/groups/global/AllUsers"', 'x-amz-meta-injected': 'yes', 'x-amz-tagging': 'a=b' },
  })
  t.is(res.status, 204, await res.text())
  t.is((await fetch(`${host.url}/${BUCKET}/headers/h.txt`)).status, 403, 'still private')
  const head = await as('alice').send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'headers/h.txt' }))
  t.is(head.Metadata?.injected, undefined)
  t.deepEqual((await as('alice').send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: 'headers/h.txt' }))).TagSet, [])
})

test.serial('bucket policy conditions see the form\'s fields: s3:x-amz-acl and s3:RequestObjectTag', async (t) => {
  const B = 'alice-conditional'
  await as('alice').send(new CreateBucketCommand({ Bucket: B }))
  await as('alice').send(new PutBucketPolicyCommand({
    Bucket: B,
    Policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${B}/*`, Condition: { StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' } } },
        { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${B}/*`, Condition: { StringEquals: { 's3:RequestObjectTag/class': 'secret' } } },
      ],
    }),
  }))
  const ok = await upload('granted.txt', { data: 'g' }, { user: 'bob', bucket: B, fields: { acl: 'bucket-owner-full-control' } })
  t.is(ok.status, 204, await ok.text())
  const noAcl = await upload('no-acl.txt', { data: 'n' }, { user: 'bob', bucket: B })
  await expectError(t, noAcl, 403, 'AccessDenied', 'without the acl the condition does not hold')
  const tag = '<Tagging><TagSet><Tag><Key>class</Key><Value>secret</Value></Tag></TagSet></Tagging>'
  const denied = await upload('secret.txt', { data: 's' }, { user: 'bob', bucket: B, fields: { acl: 'bucket-owner-full-control', tagging: tag } })
  await expectError(t, denied, 403, 'AccessDenied', 'the explicit Deny on the form\'s tag')
  const owner = await upload('owner-secret.txt', { data: 's' }, { bucket: B, fields: { tagging: tag } })
  await expectError(t, owner, 403, 'AccessDenied', 'the explicit Deny binds the owner too')
  t.deepEqual(await keys(B), ['granted.txt'])
})

test.serial('a POST that is not multipart/form-data is 412 PreconditionFailed', async (t) => {
  const urlencoded = await postRaw(`/${BUCKET}`, 'key=x&file=y', 'application/x-www-form-urlencoded')
  const e = await expectError(t, urlencoded, 412, 'PreconditionFailed', 'urlencoded')
  t.regex(e.body, /<Condition>Bucket POST must be of the enclosure-type multipart\/form-data<\/Condition>/)
  await expectError(t, await postRaw(`/${BUCKET}`, '{}', 'application/json'), 412, 'PreconditionFailed', 'json')
})

test.serial('an anonymous form to a private bucket is AccessDenied; a form signed by a user who may not write it is too', async (t) => {
  const anon = await postForm(`${host.url}/${BUCKET}`, { key: 'anon.txt' }, { data: 'x' })
  await expectError(t, anon, 403, 'AccessDenied', 'anonymous to a private bucket')
  await absent(t, BUCKET, 'anon.txt')

  const bob = await upload('from-bob.txt', { data: 'x' }, { user: 'bob' })
  await expectError(t, bob, 403, 'AccessDenied', 'bob signs for alice\'s bucket')
  await absent(t, BUCKET, 'from-bob.txt')

  // Bob may write where the bucket policy lets anyone write; the object is his.
  const ok = await upload('bob/${filename}', { data: 'by bob', filename: 'b.txt' }, { user: 'bob', bucket: OPEN_BUCKET })
  t.is(ok.status, 204, await ok.text())
  t.is((await bytesOf(OPEN_BUCKET, 'bob/b.txt', 'bob')).toString(), 'by bob', 'the signer owns what it uploaded')

  const missing = await upload('x.txt', { data: 'x' }, { bucket: 'no-such-bucket' })
  await expectError(t, missing, 404, 'NoSuchBucket', 'a missing bucket')
})

test.serial('the gateway keeps serving after truncated and garbled forms', async (t) => {
  const { url, fields } = await presign('garbled/${filename}')
  const path = new URL(url).pathname
  const signed = Object.entries(fields).map(([name, value]) => ({ name, value }))
  const good = rawForm([...signed, { name: 'file', value: 'complete', filename: 'ok.txt' }])

  const truncatedInFile = good.subarray(0, good.length - 20)
  await expectError(t, await postRaw(path, truncatedInFile), 400, 'MalformedPOSTRequest', 'body ends inside the file')
  const truncatedInFields = good.subarray(0, 200)
  await expectError(t, await postRaw(path, truncatedInFields), 400, 'MalformedPOSTRequest', 'body ends inside the fields')
  await expectError(t, await postRaw(path, good, 'multipart/form-data'), 400, 'MalformedPOSTRequest', 'no boundary')
  await expectError(t, await postRaw(path, good, 'multipart/form-data; boundary=another'), 400, 'MalformedPOSTRequest', 'another boundary')
  const noDisposition = Buffer.from(`--${BOUNDARY}\r\nX-Nonsense: 1\r\n\r\nvalue\r\n--${BOUNDARY}--\r\n`)
  await expectError(t, await postRaw(path, noDisposition), 400, 'MalformedPOSTRequest', 'a part without Content-Disposition')
  await expectError(t, await postRaw(path, Buffer.from('\x00\xff garbage \r\n\r\n--')), 400, 'MalformedPOSTRequest', 'garbage')
  await expectError(t, await postRaw(path, ''), 400, 'MalformedPOSTRequest', 'empty body')
  const huge = rawForm([{ name: 'x-ignore-padding', value: 'p'.repeat(30 * 1024) }, ...signed, { name: 'file', value: 'x' }])
  await expectError(t, await postRaw(path, huge), 400, 'MaxPostPreDataLengthExceededError', 'over 20 KB before the file')

  // A body whose sender stops mid-file and goes away.
  const hangup = new ReadableStream<Uint8Array>({
    start (controller) {
      controller.enqueue(good.subarray(0, good.length - 30))
      controller.error(new Error('client went away'))
    },
  })
  await t.throwsAsync(postRaw(path, hangup))

  const res = await postRaw(path, good)
  t.is(res.status, 204, await res.text())
  t.is((await bytesOf(BUCKET, 'garbled/ok.txt')).toString(), 'complete')
  t.deepEqual(await keys(BUCKET, 'garbled/'), ['garbled/ok.txt'], 'only the good form stored anything')
  const ordinary = await as('alice').send(new PutObjectCommand({ Bucket: BUCKET, Key: 'garbled/after.txt', Body: 'after' }))
  t.truthy(ordinary.ETag)
})

test.serial('forms work the same through the express and fastify hosts, garbled ones included', async (t) => {
  for (const start of [expressHost, fastifyHost]) {
    const other = await start.start(gateway, '/s3', { trustProxy: ['127.0.0.1', '::1'] })
    try {
      const { url, fields } = await presign(`hosts/${start.name}/\${filename}`)
      const target = url.replace(host.url, other.url)
      const res = await postForm(target, { ...fields, success_action_status: '201' }, { data: `via ${start.name}`, filename: 'f.txt' })
      // success_action_status is not in the policy: an extra field.
      await expectError(t, res, 403, 'AccessDenied', `${start.name}: extra field`)
      const good = await postForm(target, fields, { data: `via ${start.name}`, filename: 'f.txt' })
      t.is(good.status, 204, `${start.name}: ${await good.text()}`)
      t.is(good.headers.get('location'), `${other.url}/${BUCKET}/hosts/${start.name}/f.txt`, `${start.name}: the mount path is in Location`)
      const body = rawForm([...Object.entries(fields).map(([name, value]) => ({ name, value })), { name: 'file', value: 'cut short', filename: 'g.txt' }])
      const cut = await fetch(target, { method: 'POST', body: body.subarray(0, body.length - 10), headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` } })
      await expectError(t, cut, 400, 'MalformedPOSTRequest', `${start.name}: truncated`)
      const limited = await presign(`hosts/${start.name}/large.bin`, { conditions: [['content-length-range', 0, 1024]] })
      const large = await postForm(limited.url.replace(host.url, other.url), limited.fields, { data: Buffer.alloc(4 * 1024 * 1024, 7) })
      await expectError(t, large, 400, 'EntityTooLarge', `${start.name}: refused mid-body`)
      t.is((await bytesOf(BUCKET, `hosts/${start.name}/f.txt`)).toString(), `via ${start.name}`)
      t.deepEqual(await keys(BUCKET, `hosts/${start.name}/`), [`hosts/${start.name}/f.txt`])
    } finally {
      await other.close()
    }
  }
})
