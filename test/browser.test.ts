/**
 * A real browser against the gateway: headless Chromium opens a page served from another origin
 * (same loopback, another port) and, from that page, uploads with a presigned POST form, reads the
 * object back with a presigned GET, and PUTs through a presigned URL with headers that force a
 * preflight, all cross-origin under the bucket's CORS rules. Then what the rules must stop: a page
 * on an origin they do not list cannot read an answer or pass a preflight, and a form over its
 * content-length-range stores nothing. `.ci/run` installs Debian's chromium; elsewhere a missing
 * browser skips the suite with the reason.
 */
import test, { type ExecutionContext } from 'ava'
import { chromium, type Browser, type Page } from 'playwright-core'
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand,
  ListObjectsV2Command, PutBucketCorsCommand, PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3'
import { createPresignedPost } from '@aws-sdk/s3-presigned-post'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { createGateway } from '../src/gateway.js'
import type { Gateway, S3Request, S3Response } from '../src/types.js'
import { childText, parseXml } from '../src/xml/parse.js'
import { findChromium, servePage, type PageServer } from './helpers/browser.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { credentials, deterministicBytes, ipfsAddCid, md5Hex, s3Error } from './helpers/s3.js'
import { whenServices } from './helpers/services.js'

const BUCKET = 'browser'

/**
 * The page's own script: `s3.post` sends a multipart form built from FormData and a File, `s3.send`
 * any other request. Both answer what the page can see of the response (only CORS-exposed headers)
 * or, when fetch rejects, the error's name. Bodies travel as base64.
 */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>s3-ipfs-gateway browser test</title>
<script>
function bytesOf (base64) { return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)) }
function base64Of (bytes) { let s = ''; for (const b of bytes) s += String.fromCharCode(b); return btoa(s) }
async function settle (request) {
  try {
    const res = await request
    const headers = {}
    res.headers.forEach((value, name) => { headers[name] = value })
    const body = new Uint8Array(await res.arrayBuffer())
    return { status: res.status, headers, body: base64Of(body), text: new TextDecoder().decode(body) }
  } catch (err) {
    return { error: err.name, message: err.message }
  }
}
window.s3 = {
  post (url, fields, file) {
    const form = new FormData()
    for (const [name, value] of Object.entries(fields)) form.append(name, value)
    form.append('file', new File([bytesOf(file.body)], file.name, { type: file.type }))
    return settle(fetch(url, { method: 'POST', body: form }))
  },
  send (url, init) {
    const body = init.body === undefined ? undefined : bytesOf(init.body)
    return settle(fetch(url, { method: init.method, headers: init.headers, body }))
  },
}
</script>
`

/** What the page saw: a response (status, readable headers, body) or the error fetch rejected with. */
interface Seen {
  status?: number
  headers?: Record<string, string>
  body?: string
  text?: string
  error?: string
  message?: string
}

/** What the gateway itself received and answered, whatever the browser let the page see. */
interface Exchange {
  method: string
  path: string
  origin?: string
  requestHeaders?: string
  status: number
  /** The S3 error code of an error answer. */
  code?: string
  headers: Record<string, string>
}

const chromiumFound = findChromium()

whenServices('browser: Chromium against the gateway, cross-origin', chromiumFound.problem, () => {
  let gateway: Gateway
  let host: RunningHost
  let pages: PageServer
  let browser: Browser
  let client: S3Client
  /** Signs URLs only: checksums when required, so a presigned PUT carries no checksum of an empty body. */
  let presigner: S3Client
  /** The page origin the CORS rules allow, and one they do not; both differ from the gateway's. */
  let allowedOrigin: string
  let otherOrigin: string
  const exchanges: Exchange[] = []

  test.before(async () => {
    gateway = createGateway()
    const observed: Gateway = {
      region: gateway.region,
      admin: gateway.admin,
      ready: async () => await gateway.ready(),
      drain: () => { gateway.drain() },
      handle: async (req: S3Request): Promise<S3Response> => {
        const res = await gateway.handle(req)
        exchanges.push({
          method: req.method,
          path: req.path,
          origin: req.headers.origin,
          requestHeaders: req.headers['access-control-request-headers'],
          status: res.status,
          code: res.body instanceof Uint8Array ? /<Code>([^<]*)<\/Code>/.exec(Buffer.from(res.body).toString())?.[1] : undefined,
          headers: { ...res.headers },
        })
        return res
      },
      gc: async (options) => await gateway.gc(options),
      close: async () => { await gateway.close() },
    }
    host = await nodeHost.start(observed, '')
    pages = await servePage(PAGE)
    allowedOrigin = `http://localhost:${pages.port}`
    otherOrigin = `http://127.0.0.1:${pages.port}`
    client = new S3Client({ endpoint: host.url, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1 })
    presigner = new S3Client({
      endpoint: host.url, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1, requestChecksumCalculation: 'WHEN_REQUIRED',
    })
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }))
    await client.send(new PutBucketCorsCommand({
      Bucket: BUCKET,
      CORSConfiguration: {
        CORSRules: [{
          AllowedOrigins: [allowedOrigin],
          AllowedMethods: ['GET', 'PUT', 'POST', 'HEAD'],
          AllowedHeaders: ['*'],
          ExposeHeaders: ['ETag', 'x-amz-meta-cid'],
        }],
      },
    }))
    // No proxy: every request stays on loopback whatever the machine's proxy settings.
    browser = await chromium.launch({ executablePath: chromiumFound.executablePath, headless: true, args: ['--no-proxy-server'] })
  })

  test.after.always(async () => {
    await browser?.close()
    client?.destroy()
    presigner?.destroy()
    await pages?.close()
    await host?.close()
    await gateway?.close()
  })

  /** A fresh page (its own context: no shared preflight cache) opened on `origin`. */
  async function openPage (t: ExecutionContext, origin: string): Promise<Page> {
    const context = await browser.newContext()
    const page = await context.newPage()
    // Chromium says on the console why it withheld a response (the CORS check that failed).
    page.on('console', (message) => { if (message.type() === 'error') t.log(`page console: ${message.text()}`) })
    const response = await page.goto(`${origin}/`)
    if (response?.status() !== 200) throw new Error(`the test page did not load from ${origin}`)
    return page
  }

  // The page's functions are called by expression, so nothing compiled for Node runs in the page.
  async function post (page: Page, url: string, fields: Record<string, string>, file: { name: string, type: string, bytes: Uint8Array }): Promise<Seen> {
    const args = [url, fields, { name: file.name, type: file.type, body: Buffer.from(file.bytes).toString('base64') }]
    return await page.evaluate(`s3.post(...${JSON.stringify(args)})`) as Seen
  }

  async function send (page: Page, url: string, init: { method: string, headers?: Record<string, string>, body?: Uint8Array }): Promise<Seen> {
    const args = [url, { method: init.method, headers: init.headers ?? {}, body: init.body === undefined ? undefined : Buffer.from(init.body).toString('base64') }]
    return await page.evaluate(`s3.send(...${JSON.stringify(args)})`) as Seen
  }

  function exchangesFor (path: string): Exchange[] {
    return exchanges.filter((e) => e.path === path)
  }

  test('a page on an allowed origin uploads with a presigned POST form and reads the object back with a presigned GET', async (t) => {
    const page = await openPage(t, allowedOrigin)
    const bytes = deterministicBytes('browser-post', 3000)
    const { url, fields } = await createPresignedPost(presigner, {
      Bucket: BUCKET,
      Key: 'uploads/${filename}',
      Expires: 300,
      Conditions: [['content-length-range', 1, 64 * 1024], ['starts-with', '$key', 'uploads/'], ['starts-with', '$Content-Type', 'application/']],
      Fields: { success_action_status: '201', 'Content-Type': 'application/octet-stream' },
    })
    t.true(url.startsWith(host.origin), 'the form posts to the gateway, another origin than the page')

    const posted = await post(page, url, fields, { name: 'photo.bin', type: 'application/octet-stream', bytes })
    t.is(posted.error, undefined, `POST rejected in the page: ${posted.message ?? ''}`)
    t.is(posted.status, 201)
    const etag = `"${md5Hex(bytes)}"`
    const answer = parseXml(Buffer.from(posted.text ?? ''), 'PostResponse')
    t.is(childText(answer, 'Bucket'), BUCKET)
    t.is(childText(answer, 'Key'), 'uploads/photo.bin', '${filename} became the file\'s name')
    t.is(childText(answer, 'ETag'), etag)
    t.is(childText(answer, 'Location'), `${host.origin}/${BUCKET}/uploads/photo.bin`)
    t.is(posted.headers?.etag, etag, 'ETag is exposed to the page')

    const cid = await ipfsAddCid(bytes)
    const getUrl = await getSignedUrl(presigner, new GetObjectCommand({ Bucket: BUCKET, Key: 'uploads/photo.bin' }), { expiresIn: 300 })
    const got = await send(page, getUrl, { method: 'GET' })
    t.is(got.error, undefined, `GET rejected in the page: ${got.message ?? ''}`)
    t.is(got.status, 200)
    t.deepEqual(Buffer.from(got.body ?? '', 'base64'), bytes)
    t.is(got.headers?.etag, etag, 'the page reads ETag (exposed)')
    t.is(got.headers?.['x-amz-meta-cid'], cid, 'the page reads x-amz-meta-cid (exposed)')
    t.is(got.headers?.['content-type'], 'application/octet-stream')
    t.is(got.headers?.['x-amz-request-id'], undefined, 'a header the rules do not expose stays hidden from the page')
    t.is(got.headers?.['x-ipfs-path'], undefined, 'a header the rules do not expose stays hidden from the page')

    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'uploads/photo.bin' }))
    t.is(head.ContentLength, bytes.length)
    t.is(head.ETag, etag)
    t.is(head.ContentType, 'application/octet-stream')
    t.is(head.Metadata?.cid, cid, 'the CID header, as the SDK reads it')
    const body = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'uploads/photo.bin' }))
    t.deepEqual(Buffer.from(await body.Body!.transformToByteArray()), bytes)

    // Other tests post to the bucket too: this form's answer is the one naming its key.
    const posts = exchangesFor(`/${BUCKET}`).filter((e) => e.method === 'POST' && e.headers.location?.endsWith('/uploads/photo.bin') === true)
    t.is(posts.length, 1)
    t.is(posts[0]?.origin, allowedOrigin)
    t.is(posts[0]?.headers['access-control-allow-origin'], allowedOrigin)
    await page.context().close()
  })

  test('a presigned PUT with a JSON body and a metadata header passes a real preflight', async (t) => {
    const page = await openPage(t, allowedOrigin)
    const json = Buffer.from(JSON.stringify({ from: 'browser', n: 1 }))
    // x-amz-meta-note stays a signed header instead of a query parameter: the page must send it.
    const putUrl = await getSignedUrl(presigner, new PutObjectCommand({
      Bucket: BUCKET, Key: 'put/doc.json', ContentType: 'application/json', Metadata: { note: 'from-browser' },
    }), { expiresIn: 300, unhoistableHeaders: new Set(['x-amz-meta-note']), signableHeaders: new Set(['content-type']) })
    t.is(new URL(putUrl).searchParams.get('X-Amz-SignedHeaders'), 'content-type;host;x-amz-meta-note')

    const put = await send(page, putUrl, { method: 'PUT', headers: { 'Content-Type': 'application/json', 'x-amz-meta-note': 'from-browser' }, body: json })
    t.is(put.error, undefined, `PUT rejected in the page: ${put.message ?? ''}`)
    t.is(put.status, 200)
    t.is(put.headers?.etag, `"${md5Hex(json)}"`, 'the page reads the PUT\'s ETag')

    const seen = exchangesFor(`/${BUCKET}/put/doc.json`)
    t.deepEqual(seen.map((e) => `${e.method} ${e.status} ${e.code ?? ''}`), ['OPTIONS 200 ', 'PUT 200 '], 'the browser sent a preflight, then the PUT')
    const preflight = seen[0]
    t.is(preflight?.origin, allowedOrigin)
    t.deepEqual(preflight?.requestHeaders?.split(',').map((h) => h.trim()).sort(), ['content-type', 'x-amz-meta-note'])
    t.is(preflight?.headers['access-control-allow-origin'], allowedOrigin)
    t.regex(preflight?.headers['access-control-allow-methods'] ?? '', /\bPUT\b/)
    t.is(seen[1]?.headers['access-control-allow-origin'], allowedOrigin)

    const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'put/doc.json' }))
    t.is(out.ContentType, 'application/json')
    t.is(out.Metadata?.note, 'from-browser')
    t.is(out.Metadata?.cid, await ipfsAddCid(json))
    t.deepEqual(Buffer.from(await out.Body!.transformToByteArray()), json)
    await page.context().close()
  })

  test('a page uploads a multipart part through a presigned UploadPart URL (a preflighted PUT with ?uploadId) and reads its ETag', async (t) => {
    const page = await openPage(t, allowedOrigin)
    const bytes = deterministicBytes('browser-part', 4000)
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'multipart/parts.bin' }))
    const partUrl = await getSignedUrl(presigner, new UploadPartCommand({ Bucket: BUCKET, Key: 'multipart/parts.bin', UploadId, PartNumber: 1 }), { expiresIn: 300 })

    // A cross-origin PUT is never a simple request: the browser preflights it, query string and all.
    const put = await send(page, partUrl, { method: 'PUT', body: bytes })
    t.is(put.error, undefined, `PUT rejected in the page: ${put.message ?? ''}`)
    t.is(put.status, 200)
    t.is(put.headers?.etag, `"${md5Hex(bytes)}"`, 'the page reads the part\'s ETag, as a browser uploader must to complete the upload')
    const seen = exchangesFor(`/${BUCKET}/multipart/parts.bin`).filter((e) => e.origin === allowedOrigin)
    t.deepEqual(seen.map((e) => `${e.method} ${e.status} ${e.code ?? ''}`), ['OPTIONS 200 ', 'PUT 200 '], 'the browser sent a preflight, then the part')

    await client.send(new CompleteMultipartUploadCommand({
      Bucket: BUCKET, Key: 'multipart/parts.bin', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: put.headers?.etag }] },
    }))
    const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'multipart/parts.bin' }))
    t.deepEqual(Buffer.from(await out.Body!.transformToByteArray()), bytes)
    await page.context().close()
  })

  test('a page on an origin outside the CORS rules can neither read an answer nor pass a preflight', async (t) => {
    const bytes = Buffer.from('not for other origins')
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'private/secret.txt', Body: bytes, ContentType: 'text/plain' }))
    const page = await openPage(t, otherOrigin)
    t.not(otherOrigin, allowedOrigin)

    const getUrl = await getSignedUrl(presigner, new GetObjectCommand({ Bucket: BUCKET, Key: 'private/secret.txt' }), { expiresIn: 300 })
    const got = await send(page, getUrl, { method: 'GET' })
    t.is(got.error, 'TypeError', 'fetch rejects: the answer carries no Access-Control-Allow-Origin for this origin')
    t.is(got.status, undefined)
    const gets = exchangesFor('/browser/private/secret.txt').filter((e) => e.origin === otherOrigin)
    t.deepEqual(gets.map((e) => `${e.method} ${e.status}`), ['GET 200'], 'the gateway answered; the browser withheld it')
    t.false('access-control-allow-origin' in (gets[0]?.headers ?? {}))

    const putUrl = await getSignedUrl(presigner, new PutObjectCommand({ Bucket: BUCKET, Key: 'private/put.json', ContentType: 'application/json' }), { expiresIn: 300 })
    const put = await send(page, putUrl, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{}') })
    t.is(put.error, 'TypeError', 'the preflight is refused, so fetch rejects')
    const puts = exchangesFor('/browser/private/put.json')
    t.deepEqual(puts.map((e) => `${e.method} ${e.status} ${e.code ?? ''}`), ['OPTIONS 403 AccessForbidden'], 'only the preflight reached the gateway, refused by the CORS rules')
    t.false('access-control-allow-origin' in (puts[0]?.headers ?? {}))
    t.deepEqual(await s3Error(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'private/put.json' }))), { code: 'NotFound', status: 404 })
    await page.context().close()
  })

  test('a presigned POST outside its content-length-range is refused with 400, readable by the page, and stores nothing', async (t) => {
    const page = await openPage(t, allowedOrigin)
    const { url, fields } = await createPresignedPost(presigner, {
      Bucket: BUCKET,
      Key: 'limited/${filename}',
      Expires: 300,
      Conditions: [['content-length-range', 10, 100], ['starts-with', '$key', 'limited/']],
      Fields: { success_action_status: '201' },
    })
    const cases: Array<[string, Uint8Array, string]> = [
      ['too-big.bin', deterministicBytes('too-big', 101), 'EntityTooLarge'],
      ['too-small.bin', Buffer.from('short'), 'EntityTooSmall'],
    ]
    for (const [name, bytes, code] of cases) {
      const posted = await post(page, url, fields, { name, type: 'application/octet-stream', bytes })
      t.is(posted.error, undefined, `${name}: POST rejected in the page: ${posted.message ?? ''}`)
      t.is(posted.status, 400, name)
      t.regex(posted.text ?? '', new RegExp(`<Code>${code}</Code>`), name)
      t.deepEqual(await s3Error(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `limited/${name}` }))), { code: 'NotFound', status: 404 }, name)
    }
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'limited/' }))
    t.is(listed.KeyCount, 0)

    // Within the range, the same form stores the file: the refusals above were the range's.
    const fits = deterministicBytes('fits', 50)
    const posted = await post(page, url, fields, { name: 'fits.bin', type: 'application/octet-stream', bytes: fits })
    t.is(posted.status, 201)
    const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'limited/fits.bin' }))
    t.deepEqual(Buffer.from(await out.Body!.transformToByteArray()), fits)
    await page.context().close()
  })
})
