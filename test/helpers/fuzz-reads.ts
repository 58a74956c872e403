import { createHash } from 'node:crypto'
import { authenticate, buildOp, BUCKET_OPS, pickMode, type Op, type World } from './fuzz-ops.js'
import { anyTarget, denied, finish, withHeaders, type FuzzCase } from './fuzz-case.js'
import { serialize, type WireRequest } from './wire.js'

/**
 * Fuzz family: reads of every kind from everyone (odd ranges, conditions, SSE-C keys, response
 * overrides, CAR downloads, list parameters, subresources, paths, virtual-hosted hosts, CORS
 * preflights). They cannot change anything; those no policy allows must fail.
 */

const READ_OPS = ['GetObject', 'HeadObject', 'GetObjectTagging', 'GetObjectAcl', 'ListParts']
const BUCKET_READ_OPS = Object.keys(BUCKET_OPS).filter(n => n.startsWith('Get') || n.startsWith('List') || n === 'HeadBucket')

const READ_HEADERS: Array<(w: World) => Array<[string, string]>> = [
  () => [['range', 'bytes=0-0']],
  () => [['range', 'bytes=999999-']],
  () => [['range', 'bytes=-0']],
  () => [['range', 'bytes=5-2']],
  () => [['range', 'bytes=0-1,3-4']],
  () => [['range', 'bytes=']],
  () => [['range', 'items=0-1']],
  () => [['range', 'bytes=-99999999999999999999']],
  () => [['range', `bytes=0-${'9'.repeat(40)}`]],
  () => [['if-modified-since', 'garbage']],
  () => [['if-modified-since', 'Mon, 01 Jan 2001 00:00:00 GMT']],
  () => [['if-modified-since', 'Fri, 01 Jan 2100 00:00:00 GMT']],
  () => [['if-unmodified-since', 'Mon, 01 Jan 2001 00:00:00 GMT']],
  () => [['if-unmodified-since', 'not a date at all']],
  () => [['if-match', '"nope"']],
  () => [['if-match', '*']],
  () => [['if-none-match', '*']],
  () => [['if-none-match', 'W/"x", "y"']],
  () => [['if-match', '']],
  () => [['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key', Buffer.alloc(32, 1).toString('base64')], ['x-amz-server-side-encryption-customer-key-md5', createHash('md5').update(Buffer.alloc(32, 1)).digest('base64')]],
  () => [['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key', 'short']],
  (w) => [['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key', w.sseC.key], ['x-amz-server-side-encryption-customer-key-md5', w.sseC.md5]],
  (w) => [['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key', w.sseC.key], ['x-amz-server-side-encryption-customer-key-md5', w.sseC.md5], ['range', w.rand.pick(['bytes=3-9', 'bytes=-5', 'bytes=0-', 'bytes=100-'])]],
  (w) => [['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key', w.sseC.key], ['x-amz-server-side-encryption-customer-key-md5', w.sseC.key]],
  () => [['x-amz-server-side-encryption', 'AES256']],
  () => [['x-amz-checksum-mode', 'ENABLED']],
  () => [['x-amz-checksum-mode', 'bogus']],
  () => [['x-amz-request-payer', 'requester']],
  () => [['x-amz-expected-bucket-owner', '123']],
  () => [['origin', 'https://app.example']],
  () => [['origin', 'null'], ['access-control-request-method', 'GET']],
  () => [['accept-encoding', 'gzip, br']],
  (w) => [['accept', w.rand.pick(['application/vnd.ipld.car', 'application/vnd.ipld.car;q=0.5, */*;q=0.9', 'application/vnd.ipld.car; version=2', 'application/vnd.ipld.car;q=abc', 'application/vnd.ipld.raw', '*/*;q=0'])]],
  () => [['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD']],
  () => [['x-amz-content-sha256', 'nonsense']],
  () => [['content-type', 'multipart/form-data; boundary=']],
]

export const READ_QUERIES = [
  'format=car', 'format=CAR', 'format=tar', 'format=', 'format=car&partNumber=1', 'versionId=', 'versionId=null', 'versionId=%00', 'versionId=nope', 'partNumber=0', 'partNumber=1', 'partNumber=99999', 'partNumber=abc',
  'response-content-type=text%2Fx', 'response-content-disposition=%0d%0aX-Evil:%201', 'response-expires=garbage', 'response-cache-control=',
  'response-content-type=a%0Ab', 'response-content-language=%7F', 'response-cache-control=%00', 'response-content-encoding=%C3%A9',
  'versionId=%0A', 'versionId=%E2%80%A8', 'versionId=%ff',
  'max-keys=-1', 'max-keys=abc', 'max-keys=99999999999999999999', 'list-type=3', 'list-type=2&continuation-token=garbage',
  'list-type=2&start-after=%FF', 'encoding-type=bogus', 'delimiter=&prefix=', 'versions&key-marker=z&version-id-marker=nope',
  'versions&version-id-marker=x', 'uploads&upload-id-marker=x', 'uploads&max-uploads=-5', 'uploadId=&partNumber=1', 'uploadId=x&max-parts=abc',
  'uploadId=x&part-number-marker=-1', 'attributes', 'torrent', 'logging', 'lifecycle', 'website', 'object-lock', 'select&select-type=2',
  'restore', 'legal-hold', 'retention', 'notification', 'replication', 'accelerate', 'requestPayment', 'analytics', 'inventory&id=x',
  'tagging&acl', 'acl&policy', 'x-id=GetObject', '%', '%zz=1', 'a=%E0%A4%A', '&&&', '=', '==', 'cors&cors', `${'q'.repeat(5000)}=1`,
]

/** Parameters whose values come back as response headers: control characters must not break the answer. */
export const REFLECTED_QUERIES = [
  'response-content-disposition=%0d%0aX-Evil:%201', 'response-content-type=a%0Ab', 'response-content-language=%7F', 'response-cache-control=%00',
  'response-expires=%0D', 'response-content-encoding=%E2%80%A8', 'versionId=%00', 'versionId=%0A', 'versionId=%E2%80%A8', 'versionId=%ff',
]

const READ_PATHS = [
  '/fuzz-ver/./a.txt', '/fuzz-ver/../fuzz-plain', '//fuzz-ver/a.txt', '/fuzz-ver//a.txt', '/./', '/..', '/fuzz-ver/%2e%2e/bob-own/bob.txt',
  '/fuzz-ver/a.txt/', '/fuzz-ver/%zz', '/fuzz-ver/%', '/%', '/fuzz-ver/%00', '/fuzz-ver/%C0%AF', '/fuzz-ver/%ED%A0%80', '/fuzz-ver/%FF%FE',
  `/fuzz-ver/${'k'.repeat(1025)}`, `/fuzz-ver/${'k'.repeat(6000)}`, '/FUZZ-VER', '/fuzz_ver', '/a', `/${'b'.repeat(64)}`, '/xn--abc', '/fuzz-ver%2Fa.txt',
  '/fuzz-ver/a.txt%3FversionId=x', '/fuzz-ver/\u00e9', '/fuzz-ver/%F0%9F%98%80', '/bob-own/bob.txt', '/no-such-bucket/x', '/fuzz-ver/dir%2Ftagged',
]

export async function readFuzz (w: World): Promise<FuzzCase> {
  const user = w.rand.weighted([[4, 'alice'], [3, 'bob'], [3, 'anonymous']] as const)
  const level = w.rand.weighted([[6, 'object'], [4, 'bucket']] as const)
  const t = anyTarget(w, level)
  if (level === 'object' && t.bucket === 'fuzz-ver' && w.rand.chance(0.25)) t.key = w.rand.pick(['ssec', 'enc'])
  const name = w.rand.pick(level === 'object' ? READ_OPS : BUCKET_READ_OPS)
  let op = buildOp(w, name, t)
  let label = `${user} ${name} ${t.bucket}/${t.key}`
  let intact = true
  if ((name === 'GetObject' || name === 'HeadObject') && w.rand.chance(0.15)) {
    const q = w.rand.pick(REFLECTED_QUERIES)
    op = { ...op, req: { ...op.req, query: [op.req.query.replace(/(^|&)versionId=[^&]*/, ''), q].filter(Boolean).join('&') } }
    label += ` ?${q}`
  }
  const twists = w.rand.int(3)
  for (let i = 0; i < twists; i++) {
    switch (w.rand.int(4)) {
      case 0:
        op = withHeaders(op, w.rand.pick(READ_HEADERS)(w))
        label += ' +headers'
        break
      case 1: {
        const q = w.rand.pick(READ_QUERIES)
        op = { ...op, req: { ...op.req, query: [op.req.query, q].filter(Boolean).join('&') } }
        label += ` ?${q.slice(0, 40)}`
        intact = false
        break
      }
      case 2: {
        const path = w.rand.pick(READ_PATHS)
        op = { ...op, req: { ...op.req, path } }
        label += ` path ${path.slice(0, 40)}`
        intact = false
        break
      }
      case 3:
        op = withHeaders(op, [[`x-fuzz-${w.rand.int(1000)}`, w.rand.bytes(1 + w.rand.int(30)).toString('base64')]])
        break
    }
  }
  if (t.bucket !== '' && w.rand.chance(0.12)) {
    // Virtual-hosted style: the bucket in the Host, the key alone in the path (signed that way).
    const port = w.host.split(':')[1]
    const hostBucket = w.rand.chance(0.8) ? t.bucket : w.rand.pick(['', 'UPPER', 'a..b', 'fuzz-ver.fuzz-plain', 'x'.repeat(70)])
    const vhost = `${hostBucket}.${w.baseDomain}:${port}`
    const path = op.req.path.slice(`/${t.bucket}`.length) || '/'
    const vreq: Op = { ...op, req: { ...op.req, path } }
    const mode = pickMode(w.rand, vreq, user)
    const authed = await authenticate({ ...w, host: vhost }, vreq, user, mode)
    const bytes = serialize(authed.req, vhost)
    return { family: 'read', label: `${label} virtual-hosted ${hostBucket.slice(0, 20)} [${authed.mode}]`, method: op.req.method, bytes, mustNotChange: true, mustFail: false }
  }
  if (w.rand.chance(0.1)) {
    const origin = w.rand.pick(['https://app.example', 'https://evil.example', 'null', ''])
    const method = w.rand.pick(['GET', 'PUT', 'DELETE', 'PATCH', '', 'get'])
    const headers: Array<[string, string]> = [['origin', origin], ['access-control-request-method', method]]
    if (w.rand.chance(0.5)) headers.push(['access-control-request-headers', w.rand.pick(['x-amz-date, authorization', 'X-EVIL', '', ',,,'])])
    const req: WireRequest = { ...op.req, method: 'OPTIONS', headers }
    return finish(w, 'read', `preflight ${t.bucket}/${t.key} ${origin} ${method}`, req, { mustNotChange: true, mustFail: false })
  }
  const mode = pickMode(w.rand, op, user)
  const authed = await authenticate(w, op, user, mode)
  return finish(w, 'read', `${label} [${authed.mode}]`, authed.req, { mustNotChange: true, mustFail: intact && denied(user, op, t) })
}
