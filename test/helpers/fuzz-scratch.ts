import { FORM_BOUNDARY, brokenXml, formBody, mutateBytes, mutateJson } from './fuzz-bodies.js'
import { formParts, formRequest } from './fuzz-forms.js'
import { authenticate, buildOp, BUCKET_OPS, OBJECT_OPS, pickMode, text, versionsOf, type Target, type User, type World } from './fuzz-ops.js'
import { finish, fromWire, liveCid, objectTarget, parseBack, withBody, withHeaders, type FuzzCase } from './fuzz-case.js'
import { READ_QUERIES, REFLECTED_QUERIES } from './fuzz-reads.js'
import { httpTwist } from './fuzz-tamper.js'
import { serialize } from './wire.js'

/**
 * Fuzz family: requests that may change things, valid or randomly damaged: the owner's to the
 * scratch bucket and new buckets, bob's to drop/ in the guarded bucket, anyone's forms. An error
 * answer must still have changed nothing.
 */

const SCRATCH_KEYS = ['s1', 's2', 'dir/s3', 'ünï cödé', 'a b+c', 'x%y', '../dots', 'tab\tkey', 'nul\u0000key', '~!@$&*()=:;,?', 'k'.repeat(1024), ' lead', 'dir/']
const SCRATCH_SAFE_SUCCESS = ['PutObject', 'ListObjectsV2', 'HeadBucket', 'PutBucketVersioning', 'PutBucketCors', 'PutBucketPolicy', 'DeleteObjects']

const RANDOM_HEADERS: Array<(w: World) => Array<[string, string]>> = [
  () => [['content-type', 'application/x-' + 'y'.repeat(3)]],
  () => [['x-amz-meta-r', 'value with spaces']],
  () => [['x-amz-meta-ünï', 'x']],
  () => [['x-amz-acl', 'public-read']],
  () => [['x-amz-acl', 'bucket-owner-full-control']],
  () => [['x-amz-grant-read', 'id="bob"']],
  () => [['x-amz-grant-full-control', 'uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"']],
  () => [['x-amz-tagging', 'a=%20b&c']],
  () => [['x-amz-tagging', '%ZZ=1']],
  () => [['x-amz-storage-class', 'REDUCED_REDUNDANCY']],
  () => [['cache-control', 'no-cache']],
  () => [['expires', 'Thu, 01 Dec 1994 16:00:00 GMT']],
  () => [['content-encoding', 'gzip']],
  () => [['content-encoding', 'aws-chunked']],
  () => [['content-disposition', 'attachment; filename="x.txt"']],
  () => [['x-amz-server-side-encryption', 'AES256']],
  () => [['x-amz-meta-cid-profile', 'unixfs-v0-2015']],
  () => [['x-amz-meta-import', 'car']],
  () => [['x-amz-website-redirect-location', '/other']],
  () => [['x-amz-checksum-algorithm', 'SHA256']],
  () => [['if-none-match', '*']],
  () => [['x-amz-copy-source', '/fuzz-ver/canary']],
  () => [['x-amz-metadata-directive', 'REPLACE']],
  () => [['x-amz-tagging-directive', 'REPLACE']],
  () => [['x-amz-bypass-governance-retention', 'true']],
  () => [['x-amz-mfa', '123 456']],
  () => [['x-amz-decoded-content-length', 'abc']],
  () => [['content-md5', 'AAAAAAAAAAAAAAAAAAAAAA==']],
  (w) => [['x-amz-copy-source', w.rand.pick([`/ipfs/${liveCid(w)}`, `ipfs/${liveCid(w)}`, `%2Fipfs%2F${liveCid(w)}`, '/ipfs/bafkqaaa'])]],
  (w) => [['x-amz-copy-source', w.rand.pick([`/ipfs/${liveCid(w)}`, `ipfs/${liveCid(w)}`, `%2Fipfs%2F${liveCid(w)}`, '/ipfs/bafkqaaa'])]],
  () => [['origin', 'https://app.example']],
  () => [['origin', 'https://other.example'], ['access-control-request-method', 'PUT']],
  (w) => sseC(w, ''),
  (w) => [['x-amz-copy-source', '/fuzz-ver/ssec'], ...sseC(w, 'copy-source-')],
  (w) => [['x-amz-copy-source', '/fuzz-ver/ssec'], ...sseC(w, 'copy-source-'), ...sseC(w, '')],
  (w) => [['x-amz-copy-source', w.rand.pick(['/fuzz-ver/enc', '/fuzz-ver/a.txt', '/fuzz-plain/x'])], ['x-amz-copy-source-range', w.rand.pick(['bytes=0-3', 'bytes=2-', 'bytes=0-0', 'bytes=1-100000'])]],
  (w) => [['x-amz-copy-source', `/fuzz-ver/a.txt?versionId=${encodeURIComponent(versionsOf(w, 'fuzz-ver', 'a.txt')[0]?.versionId ?? 'x')}`]],
  (w) => [['x-amz-checksum-crc32', w.rand.pick(['AAAAAA==', 'bad'])]],
  (w) => [['x-amz-tagging', Array.from({ length: 1 + w.rand.int(10) }, (_, i) => `k${i}=${'v'.repeat(w.rand.int(300))}`).join('&')]],
  (w) => [['x-amz-meta-' + 'n'.repeat(1 + w.rand.int(200)), 'v'.repeat(w.rand.int(2100))]],
]

function sseC (w: World, prefix: '' | 'copy-source-'): Array<[string, string]> {
  const name = `x-amz-${prefix}server-side-encryption-customer`
  return [[`${name}-algorithm`, 'AES256'], [`${name}-key`, w.sseC.key], [`${name}-key-md5`, w.sseC.md5]]
}


export async function scratch (w: World): Promise<FuzzCase> {
  const user = w.rand.weighted([[7, 'alice'], [2, 'bob'], [1, 'anonymous']] as const)
  if (w.rand.chance(0.08)) return await scratchForm(w, user)
  let t: Target
  let name: string
  const level = w.rand.weighted([[6, 'object'], [4, 'bucket']] as const)
  if (user === 'bob' && level === 'object' && w.rand.chance(0.6)) {
    t = { bucket: 'fuzz-ver', key: `drop/${w.rand.pick(['a', 'b', 'c/d'])}` }
    name = w.rand.pick(['PutObject', 'PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'AbortMultipartUpload', 'ListParts', 'CopyObject', 'GetObject'])
  } else if (level === 'object') {
    t = objectTarget(w, 'fuzz-plain', SCRATCH_KEYS)
    name = w.rand.pick(Object.keys(OBJECT_OPS))
  } else {
    const bucket = w.rand.weighted([[8, 'fuzz-plain'], [2, `fz-${user === 'bob' ? 'b' : 'a'}${w.rand.int(3)}`], [1, w.rand.pick(['UPPER', 'a', 'x'.repeat(64), 'fz-..', 'fz-1.2.3.4', '192.168.0.1', 'fz_a'])]] as const)
    t = { bucket, key: '' }
    name = w.rand.pick(bucket.startsWith('fz-') || bucket !== 'fuzz-plain' ? ['CreateBucket', 'CreateBucket', 'DeleteBucket', 'PutBucketVersioning', 'ListObjects'] : Object.keys(BUCKET_OPS))
  }
  let op = buildOp(w, name, t)
  let label = `${user} ${name} ${t.bucket}/${t.key.slice(0, 30)}`
  let pristine = true
  if ((name === 'PutObject' || name === 'UploadPart') && w.rand.chance(0.1)) {
    // A CAR import: the stored canary's CAR, or a damaged one (blocks already stored may be left out).
    const car = w.rand.weighted([[3, () => w.car], [2, () => mutateBytes(w.rand, w.car)], [2, () => w.car.subarray(0, w.rand.int(w.car.length))]] as const)()
    op = withBody(op, car)
    if (name === 'PutObject') op = withHeaders(op, [['x-amz-meta-import', 'car']])
    label += ' (car)'
    pristine = false
  } else if ((name === 'PutObject' || name === 'UploadPart') && w.rand.chance(0.03)) {
    // Over the gateway's 4 MiB object limit (set in the test): EntityTooLarge, however framed.
    op = withBody(op, text(w.rand, 4 * 1024 * 1024 + 1 + w.rand.int(100)))
    label += ' (over the size limit)'
    pristine = false
  }
  if ((name === 'DeleteObject' || name === 'GetObject' || name === 'DeleteObjectTagging') && w.rand.chance(0.3)) {
    const q = w.rand.pick(REFLECTED_QUERIES)
    op = { ...op, req: { ...op.req, query: [op.req.query.replace(/(^|&)versionId=[^&]*/, ''), q].filter(Boolean).join('&') } }
    label += ` ?${q}`
    pristine = false
  } else if (w.rand.chance(0.6)) {
    pristine = false
    const r = w.rand.int(4)
    if (r === 0 && op.doc?.kind === 'xml') {
      op = withBody(op, mutateBytes(w.rand, op.req.body))
      label += ' (mutated xml)'
    } else if (r === 0 && op.doc?.kind === 'json') {
      const doc = JSON.parse(op.doc.text) as unknown
      let mutated = doc
      for (let i = 0, n = 1 + w.rand.int(3); i < n; i++) mutated = mutateJson(w.rand, mutated)
      op = withBody(op, Buffer.from(w.rand.chance(0.8) ? JSON.stringify(mutated) : mutateBytes(w.rand, op.req.body).toString('latin1'), w.rand.chance(0.9) ? 'utf8' : 'latin1'))
      label += ' (mutated policy)'
    } else if (r === 1) {
      for (let i = 0, n = 1 + w.rand.int(3); i < n; i++) op = withHeaders(op, w.rand.pick(RANDOM_HEADERS)(w))
      label += ' +headers'
    } else if (r === 2) {
      const q = w.rand.pick(READ_QUERIES)
      op = { ...op, req: { ...op.req, query: [op.req.query, q].filter(Boolean).join('&') } }
      label += ` ?${q.slice(0, 30)}`
    } else if (op.doc?.kind === 'xml') {
      const broken = brokenXml(w.rand, op.doc.text)
      op = withBody(op, broken.body)
      label += ` (${broken.label})`
    } else {
      op = withHeaders(op, w.rand.pick(RANDOM_HEADERS)(w))
      label += ' +header'
    }
  }
  const mode = pickMode(w.rand, op, user)
  const authed = await authenticate(w, op, user, mode)
  label += ` [${authed.mode}]`
  const plainExists = w.state.buckets.some(b => b.name === 'fuzz-plain')
  const mustSucceed = pristine && user === 'alice' && t.bucket === 'fuzz-plain' && plainExists && SCRATCH_SAFE_SUCCESS.includes(name) &&
    !t.key.includes('\u0000')
  if (w.rand.chance(0.15)) {
    const twist = httpTwist(w.rand, parseBack(serialize(authed.req, w.host)), w.host)
    return { ...fromWire(w, 'scratch', { ...twist, label: `${label} | ${twist.label}` }, { mustNotChange: false, mustFail: twist.fails === true }) }
  }
  return finish(w, 'scratch', label, authed.req, { mustNotChange: false, mustFail: false, mustSucceed })
}

async function scratchForm (w: World, user: User): Promise<FuzzCase> {
  const bucket = user === 'bob' ? 'fuzz-ver' : 'fuzz-plain'
  const key = user === 'bob' ? `drop/${w.rand.pick(['f1', 'f2', '${filename}'])}` : w.rand.pick(['form-1', 'form/${filename}', 'form-2'])
  const fields: Array<[string, string]> = w.rand.chance(0.5) ? [['success_action_status', w.rand.pick(['200', '201', '204', '999'])]] : []
  if (w.rand.chance(0.3)) fields.push(['x-amz-meta-form', 'yes'])
  if (w.rand.chance(0.2)) fields.push(['acl', w.rand.pick(['public-read', 'private', 'bogus'])])
  if (w.rand.chance(0.2)) fields.push(['x-amz-server-side-encryption', w.rand.pick(['AES256', 'aws:kms', 'nope'])])
  if (w.rand.chance(0.2)) fields.push(['Content-Type', w.rand.pick(['text/plain', 'image/png, text/html', ''])])
  if (w.rand.chance(0.1)) fields.push(['success_action_redirect', w.rand.pick(['https://app.example/done?x=1', 'javascript:alert(1)', 'http://[::1', ''])])
  if (w.rand.chance(0.2)) fields.push(['tagging', w.rand.pick(['<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>', '<Tagging><TagSet>', '<!DOCTYPE x><x/>'])])
  let body = formBody(formParts(w, { user, bucket, key, fields }))
  if (w.rand.chance(0.4)) body = mutateBytes(w.rand, body)
  const req = formRequest(bucket, body, w.rand.chance(0.9) ? undefined : `multipart/form-data; boundary="${FORM_BOUNDARY}"`)
  return finish(w, 'scratch', `${user} form ${bucket}/${key}`, req, { mustNotChange: false, mustFail: false })
}
