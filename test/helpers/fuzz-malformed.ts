import { createHash } from 'node:crypto'
import { brokenPolicy, brokenXml, completeXml, hugeXml, rootOf } from './fuzz-bodies.js'
import { brokenForm } from './fuzz-forms.js'
import { authenticate, buildOp, BUCKET_OPS, pickMode, text, uploadsOf, versionsOf, type AuthMode, type Op, type Target, type World } from './fuzz-ops.js'
import { finish, keysOf, liveCid, objectTarget, withBody, withHeaders, type FuzzCase } from './fuzz-case.js'
import { breakChunked } from './fuzz-tamper.js'
import { md5Base64, setHeader, type WireRequest } from './wire.js'

/**
 * Fuzz family: the bucket owner's requests to the guarded bucket, each definitely malformed (a
 * document, a header, a framing, a form or a path that S3 must refuse), so none may change it.
 */

const XML_OPS_PROTECTED = ['DeleteObjects', 'PutObjectTagging', 'PutObjectAcl', 'PutBucketAcl', 'PutBucketCors', 'PutBucketVersioning',
  'PutBucketEncryption', 'PutPublicAccessBlock', 'CompleteMultipartUpload', 'PutBucketTagging']

function protectedTarget (w: World, name: string): Target {
  if (name in BUCKET_OPS) return { bucket: 'fuzz-ver', key: '' }
  if (name === 'CompleteMultipartUpload' || name === 'UploadPart') return { bucket: 'fuzz-ver', key: 'mp' }
  if (name === 'PutObjectTagging' || name === 'PutObjectAcl') {
    // An existing object, so that the request gets as far as its document.
    const live = versionsOf(w, 'fuzz-ver').filter(v => v.isLatest === true && !v.deleteMarker && Buffer.byteLength(v.key) <= 1024).map(v => v.key)
    return { bucket: 'fuzz-ver', key: live.length > 0 ? w.rand.pick(live) : 'canary' }
  }
  return objectTarget(w, 'fuzz-ver', ['brand-new'])
}

export async function ownerMalformed (w: World): Promise<FuzzCase> {
  const kind = w.rand.weighted([[5, 'xml'], [2, 'policy'], [4, 'chunked'], [3, 'digest'], [2, 'sse'], [3, 'header'], [1, 'condition'], [2, 'multipart'], [2, 'form'], [1, 'path'], [1, 'car']] as const)
  const sign = async (op: Op, mode?: AuthMode): Promise<WireRequest> => (await authenticate(w, op, 'alice', mode ?? pickMode(w.rand, { ...op, payload: false }, 'alice'))).req
  const fail = (label: string, req: WireRequest, mustFail = true): FuzzCase => finish(w, 'owner-malformed', label, req, { mustNotChange: true, mustFail })
  switch (kind) {
    case 'xml': {
      for (;;) {
        const name = w.rand.pick(XML_OPS_PROTECTED)
        const op = buildOp(w, name, protectedTarget(w, name))
        if (op.doc === undefined) continue
        const huge = w.rand.chance(0.08)
        const broken = huge ? { label: 'xml huge', body: hugeXml(op.doc.text), definite: true } : brokenXml(w.rand, op.doc.text)
        const versioningNoop = !broken.definite && rootOf(op.doc.text) === 'VersioningConfiguration'
        if (!broken.definite && !versioningNoop) continue
        return fail(`${name} ${broken.label}`, await sign(withBody(op, broken.body)), broken.definite)
      }
    }
    case 'policy': {
      const broken = brokenPolicy(w.rand, 'fuzz-ver')
      return fail(`PutBucketPolicy ${broken.label}`, await sign(withBody(buildOp(w, 'PutBucketPolicy', { bucket: 'fuzz-ver', key: '' }), broken.body)))
    }
    case 'chunked': {
      const name = w.rand.pick(['PutObject', 'PutObject', 'UploadPart', 'PutObjectTagging', 'PutBucketCors', 'DeleteObjects'])
      let op = buildOp(w, name, protectedTarget(w, name))
      if (op.req.body.length === 0) op = withBody(op, text(w.rand, 1 + w.rand.int(500)))
      const mode = w.rand.pick(['chunked-signed', 'chunked-signed-trailer', 'chunked-unsigned-trailer', 'chunked-unsigned'] as const)
      const authed = await authenticate(w, op, 'alice', mode)
      const broken = breakChunked(w.rand, authed.pieces ?? [], {
        signed: mode === 'chunked-signed' || mode === 'chunked-signed-trailer',
        trailer: mode.endsWith('trailer'),
        decodedLength: op.req.body.length,
      })
      let req: WireRequest = { ...authed.req, body: Buffer.concat(broken.pieces.map(p => p.bytes)) }
      // Unsigned framing headers may change; signed ones must stay as signed (chunk breakage alone).
      for (const [n, v] of broken.headers ?? []) req = setHeader(req, n, v)
      return fail(`${name} [${mode}] ${broken.label}`, req)
    }
    case 'digest': {
      const name = w.rand.pick(['PutObject', 'PutObject', 'UploadPart'])
      const op = buildOp(w, name, protectedTarget(w, name))
      const body = op.req.body.length > 0 ? op.req.body : text(w.rand, 10)
      const other = Buffer.concat([body, Buffer.from('x')])
      const sha = (b: Buffer, alg: string): string => createHash(alg).update(b).digest('base64')
      const choices: Array<[string, Array<[string, string]>]> = [
        ['content-md5 wrong', [['content-md5', md5Base64(other)]]],
        ['content-md5 malformed', [['content-md5', w.rand.pick(['abc', '!!!!', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAA', md5Base64(body).slice(0, 20)])]]],
        ['checksum sha256 wrong', [['x-amz-checksum-sha256', sha(other, 'sha256')]]],
        ['checksum sha1 wrong', [['x-amz-checksum-sha1', sha(other, 'sha1')]]],
        ['checksum crc32 wrong', [['x-amz-checksum-crc32', w.rand.pick(['AAAAAA==', 'AAAAAQ=='])]]],
        ['checksum crc32c malformed', [['x-amz-checksum-crc32c', w.rand.pick(['zz', 'AAAA', 'AAAAAAAA=='])]]],
        ['checksum crc64nvme malformed', [['x-amz-checksum-crc64nvme', 'AAAA']]],
        ['two checksums', [['x-amz-checksum-sha256', sha(body, 'sha256')], ['x-amz-checksum-sha1', sha(body, 'sha1')]]],
        ['sdk algorithm invalid', [['x-amz-sdk-checksum-algorithm', w.rand.pick(['MD5', 'crc33', 'SHA512'])]]],
      ]
      const [label, headers] = w.rand.pick(choices)
      if (w.rand.chance(0.3)) {
        return fail(`${name} payload hash wrong`, await wrongPayloadHash(w, withBody(op, body)))
      }
      return fail(`${name} ${label}`, await sign(withHeaders(withBody(op, body), headers), w.rand.pick(['sha256', 'unsigned'] as const)))
    }
    case 'sse': {
      const name = w.rand.pick(['PutObject', 'CreateMultipartUpload', 'CopyObject', 'UploadPart'])
      const op = buildOp(w, name, protectedTarget(w, name))
      const key = Buffer.from(w.sseC.key, 'base64')
      const md5 = (b: Buffer): string => createHash('md5').update(b).digest('base64')
      const short = key.subarray(0, 16)
      const choices: Array<[string, Array<[string, string]>]> = [
        ['sse-c algorithm', [['x-amz-server-side-encryption-customer-algorithm', w.rand.pick(['AES128', 'aes256', 'AES256GCM'])], ['x-amz-server-side-encryption-customer-key', w.sseC.key], ['x-amz-server-side-encryption-customer-key-md5', w.sseC.md5]]],
        ['sse-c short key', [['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key', short.toString('base64')], ['x-amz-server-side-encryption-customer-key-md5', md5(short)]]],
        ['sse-c md5 mismatch', [['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key', w.sseC.key], ['x-amz-server-side-encryption-customer-key-md5', md5(short)]]],
        ['sse-c key not base64', [['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key', `${w.sseC.key.slice(0, -2)}!!`], ['x-amz-server-side-encryption-customer-key-md5', w.sseC.md5]]],
        ['sse-c no md5', [['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key', w.sseC.key]]],
        ['sse-c no key', [['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key-md5', w.sseC.md5]]],
        ['sse-c and sse-s3', [['x-amz-server-side-encryption', 'AES256'], ['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key', w.sseC.key], ['x-amz-server-side-encryption-customer-key-md5', w.sseC.md5]]],
        ['sse bogus', [['x-amz-server-side-encryption', w.rand.pick(['AES257', 'aes256', 'none'])]]],
        ['sse kms', [['x-amz-server-side-encryption', w.rand.pick(['aws:kms', 'aws:kms:dsse'])]]],
        ['kms key without kms', [['x-amz-server-side-encryption-aws-kms-key-id', 'arn:aws:kms:us-east-1:1:key/x']]],
      ]
      if (name === 'UploadPart') choices.push(['sse-c on a plain upload', [['x-amz-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-server-side-encryption-customer-key', w.sseC.key], ['x-amz-server-side-encryption-customer-key-md5', w.sseC.md5]]])
      if (name === 'CopyObject') {
        choices.push(['copy-source sse-c wrong key', [['x-amz-copy-source', '/fuzz-ver/ssec'], ['x-amz-copy-source-server-side-encryption-customer-algorithm', 'AES256'], ['x-amz-copy-source-server-side-encryption-customer-key', Buffer.alloc(32, 7).toString('base64')], ['x-amz-copy-source-server-side-encryption-customer-key-md5', md5(Buffer.alloc(32, 7))]]])
        choices.push(['copy-source sse-c missing', [['x-amz-copy-source', '/fuzz-ver/ssec']]])
      }
      const [label, headers] = w.rand.pick(choices)
      return fail(`${name} ${label}`, await sign(withHeaders(op, headers)))
    }
    case 'header': {
      const name = w.rand.pick(['PutObject', 'PutObject', 'CopyObject', 'CreateMultipartUpload'])
      const op = buildOp(w, name, protectedTarget(w, name))
      const choices: Array<[string, Array<[string, string]>]> = [
        ['x-amz-acl bogus', [['x-amz-acl', w.rand.pick(['bogus', 'private,public-read', 'log-delivery-write-x'])]]],
        ['x-amz-grant malformed', [['x-amz-grant-read', w.rand.pick(['foo', 'id=', 'id="nobody-at-all"', 'uri="http://example.com/not-a-group"', 'emailAddress="a@example.com"'])]]],
        ['storage class bogus', [['x-amz-storage-class', w.rand.pick(['NOPE', 'GLACIER_X'])]]],
        ['tag key too long', [['x-amz-tagging', `${'k'.repeat(129)}=v`]]],
        ['tag value too long', [['x-amz-tagging', `k=${'v'.repeat(257)}`]]],
        ['too many tags', [['x-amz-tagging', Array.from({ length: 11 }, (_, i) => `k${i}=v`).join('&')]]],
        ['duplicate tag keys', [['x-amz-tagging', 'a=1&a=2']]],
        ['metadata too large', [['x-amz-meta-big', 'm'.repeat(2100)]]],
        ['object lock', [['x-amz-object-lock-mode', 'GOVERNANCE'], ['x-amz-object-lock-retain-until-date', '2099-01-01T00:00:00Z']]],
        ['legal hold', [['x-amz-object-lock-legal-hold', 'ON']]],
      ]
      if (name === 'CopyObject') {
        choices.push(
          ['metadata directive bogus', [['x-amz-metadata-directive', w.rand.pick(['KEEP', 'MERGE', 'COPY-ALL'])]]],
          ['tagging directive bogus', [['x-amz-tagging-directive', 'MERGE']]],
          ['copy source malformed', [['x-amz-copy-source', w.rand.pick(['', '/', 'no-such-bucket/k', '/fuzz-ver', '/fuzz-ver/', '/fuzz-ver/%ZZ', '/fuzz-ver/no-such-key', '/fuzz-ver/a.txt?versionId=nope', '/bob-own/bob.txt'])]]],
          ['ipfs copy source malformed', [['x-amz-copy-source', w.rand.pick(['/ipfs/', 'ipfs/notacid', '/ipfs/bafy', '/ipfs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', `/ipfs/${liveCid(w)}/sub/path`, `/ipfs/${liveCid(w)}?versionId=1`, '/ipfs/bafkqaaa%ZZ', '/ipns/example.com'])]]],
          ['copy source if-match', [['x-amz-copy-source', '/fuzz-ver/canary'], ['x-amz-copy-source-if-match', '"00000000000000000000000000000000"']]],
          ['copy source unmodified-since', [['x-amz-copy-source', '/fuzz-ver/canary'], ['x-amz-copy-source-if-unmodified-since', 'Mon, 01 Jan 2001 00:00:00 GMT']]],
          ['copy onto itself', [['x-amz-copy-source', '/fuzz-ver/canary']]],
        )
      }
      if (name === 'CreateMultipartUpload') choices.push(['checksum algorithm bogus', [['x-amz-checksum-algorithm', w.rand.pick(['MD5', 'crc99'])]]])
      const [label, chosen] = w.rand.pick(choices)
      // A copy takes its source's tags and metadata unless told to replace them (then the headers count).
      const headers: Array<[string, string]> = [...chosen]
      if (name === 'CopyObject' && ['tag key too long', 'tag value too long', 'too many tags', 'duplicate tag keys'].includes(label)) headers.push(['x-amz-tagging-directive', 'REPLACE'])
      if (name === 'CopyObject' && label.startsWith('metadata too large')) headers.push(['x-amz-metadata-directive', 'REPLACE'])
      const target = label === 'copy onto itself' ? { bucket: 'fuzz-ver', key: 'canary' } : undefined
      const base = target === undefined ? op : buildOp(w, 'CopyObject', target)
      return fail(`${name} ${label}`, await sign(withHeaders(base, headers)))
    }
    case 'condition': {
      const existing = keysOf(w, 'fuzz-ver').filter(k => versionsOf(w, 'fuzz-ver', k).some(v => v.isLatest === true && !v.deleteMarker))
      const key = existing.length > 0 ? w.rand.pick(existing) : 'canary'
      const op = buildOp(w, 'PutObject', { bucket: 'fuzz-ver', key })
      const choice = w.rand.pick<[string, Array<[string, string]>]>([
        ['if-none-match *', [['if-none-match', '*']]],
        ['if-match wrong', [['if-match', '"0123456789abcdef0123456789abcdef"']]],
      ])
      return fail(`PutObject ${key} ${choice[0]}`, await sign(withHeaders(op, choice[1])))
    }
    case 'multipart': {
      const mp = uploadsOf(w, 'fuzz-ver', 'mp')[0]
      const uploadId = mp?.upload.uploadId ?? 'missing'
      const etag = mp?.parts[0]?.etag ?? '0'.repeat(32)
      const choices: Array<[string, () => WireRequest]> = [
        ['complete wrong etag', () => xmlReq('POST', `uploadId=${uploadId}`, completeXml([{ partNumber: 1, etag: 'f'.repeat(32) }]))],
        ['complete missing part', () => xmlReq('POST', `uploadId=${uploadId}`, completeXml([{ partNumber: 1, etag }, { partNumber: 2, etag }]))],
        ['complete out of order', () => xmlReq('POST', `uploadId=${uploadId}`, completeXml([{ partNumber: 2, etag }, { partNumber: 1, etag }]))],
        ['complete duplicate part', () => xmlReq('POST', `uploadId=${uploadId}`, completeXml([{ partNumber: 1, etag }, { partNumber: 1, etag }]))],
        ['complete no parts', () => xmlReq('POST', `uploadId=${uploadId}`, completeXml([]))],
        ['complete part number bad', () => xmlReq('POST', `uploadId=${uploadId}`, completeXml([{ partNumber: 1, etag }]).replace('<PartNumber>1<', `<PartNumber>${w.rand.pick(['0', '-1', 'abc', '10001', '1.5', ''])}<`))],
        ['complete unknown upload', () => xmlReq('POST', 'uploadId=NoSuchUpload0000', completeXml([{ partNumber: 1, etag }]))],
        ['upload part number bad', () => ({ method: 'PUT', path: '/fuzz-ver/mp', query: `partNumber=${w.rand.pick(['0', '-1', 'abc', '10001', '', '1e3'])}&uploadId=${uploadId}`, headers: [], body: text(w.rand, 20) })],
        ['upload part unknown upload', () => ({ method: 'PUT', path: '/fuzz-ver/mp', query: 'partNumber=1&uploadId=NoSuchUpload0000', headers: [], body: text(w.rand, 20) })],
        ['upload part other key', () => ({ method: 'PUT', path: '/fuzz-ver/not-mp', query: `partNumber=1&uploadId=${uploadId}`, headers: [], body: text(w.rand, 20) })],
        ['upload part copy bad range', () => ({ method: 'PUT', path: '/fuzz-ver/mp', query: `partNumber=2&uploadId=${uploadId}`, headers: [['x-amz-copy-source', '/fuzz-ver/canary'], ['x-amz-copy-source-range', w.rand.pick(['bytes=5-1', 'bytes=0-99999', 'bytes=-3', 'bytes=a-b', 'items=0-1'])]], body: Buffer.alloc(0) })],
        ['abort unknown upload', () => ({ method: 'DELETE', path: '/fuzz-ver/mp', query: 'uploadId=NoSuchUpload0000', headers: [], body: Buffer.alloc(0) })],
      ]
      const [label, make] = w.rand.pick(choices)
      const req = make()
      return fail(`multipart ${label}`, await sign({ name: label, req, mutating: true, payload: true }, w.rand.pick(['sha256', 'unsigned', 'presign'] as const)))
    }
    case 'form': {
      const broken = brokenForm(w, { user: 'alice', bucket: 'fuzz-ver', key: w.rand.pick(['a.txt', 'canary', 'new-from-form']) })
      return fail(broken.label, broken.req)
    }
    case 'car': {
      // Every block is checked against its CID: one flipped byte, or bytes that are no CAR, cannot import.
      const flipped = Buffer.from(w.car)
      flipped[w.rand.int(flipped.length)] ^= 1 << w.rand.int(8)
      const body = w.rand.chance(0.7) ? flipped : w.rand.bytes(1 + w.rand.int(2000))
      const op = withHeaders(withBody(buildOp(w, 'PutObject', protectedTarget(w, 'PutObject')), body), [['x-amz-meta-import', w.rand.pick(['car', 'CAR'])]])
      return fail(`PutObject car import ${body === flipped ? 'flipped byte' : 'garbage'}`, await sign(op, w.rand.pick(['sha256', 'unsigned', 'chunked-signed'] as const)))
    }
    case 'path': {
      const path = w.rand.pick(['/fuzz-ver/%zz', '/fuzz-ver/a%2', '/fuzz-ver/%E0%A4%A', '/fuzz-ver/%C0%AF', '/fuzz-ver/%ED%A0%80', `/fuzz-ver/${'k'.repeat(1025)}`,
        `/fuzz-ver/${'%C3%A9'.repeat(513)}`, '/FUZZ-VER/x', '/fuzz_ver/x', '/-fuzz/x', '/fu/x', `/${'b'.repeat(64)}/x`, '/192.168.1.1/x'])
      const method = w.rand.pick(['PUT', 'PUT', 'POST', 'DELETE'])
      const query = method === 'POST' ? 'uploads' : ''
      const req: WireRequest = { method, path, query, headers: [], body: method === 'PUT' ? text(w.rand, 10) : Buffer.alloc(0) }
      return fail(`${method} bad path ${path.slice(0, 40)}`, await sign({ name: 'path', req, mutating: true, payload: false }, w.rand.pick(['sha256', 'unsigned'] as const)))
    }
  }
}

function xmlReq (method: string, query: string, xml: string): WireRequest {
  return { method, path: '/fuzz-ver/mp', query, headers: [], body: Buffer.from(xml) }
}

/** A request signed with x-amz-content-sha256 of other bytes than its body. */
async function wrongPayloadHash (w: World, op: Op): Promise<WireRequest> {
  const other = Buffer.concat([op.req.body, Buffer.from('!')])
  const signed = (await authenticate(w, { ...op, req: { ...op.req, body: other } }, 'alice', 'sha256')).req
  return { ...signed, body: op.req.body }
}
