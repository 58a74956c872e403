/**
 * boto3 with Signature Version 2, as its users meet it: `Config(signature_version='s3')` header
 * signing, `generate_presigned_url`'s default (SigV2 query strings), `generate_presigned_post`, and a
 * gateway with SigV2 turned off. test/fixtures/boto3/sigv2.py does the driving and reports what it
 * saw; it runs under every Python on this machine that has boto3 (`.ci/run` installs Debian's
 * python3-boto3; a pyenv Python may have a newer one). Without any, the test skips with the reason,
 * except in CI, as the other client tests do.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import test, { type ExecutionContext } from 'ava'
import { createGateway } from '../src/gateway.js'
import type { Gateway } from '../src/types.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { credentials } from './helpers/s3.js'

const run = promisify(execFile)
const SCRIPT = fileURLToPath(new URL('./fixtures/boto3/sigv2.py', import.meta.url))

let gateway: Gateway
let off: Gateway
let host: RunningHost
let offHost: RunningHost

test.before(async () => {
  gateway = createGateway({ baseDomains: ['s3.test'] })
  // Mounted under a prefix: botocore signs the operation's path without it.
  host = await nodeHost.start(gateway, '/s3')
  off = createGateway({ signatureV2: false })
  offHost = await nodeHost.start(off, '')
})

test.after.always(async () => {
  await host?.close()
  await offHost?.close()
  await gateway?.close()
  await off?.close()
})

/** Every distinct Python interpreter on PATH (and Debian's) that can import boto3. */
async function pythonsWithBoto3 (): Promise<Array<{ python: string, executable: string }>> {
  const candidates = new Set<string>()
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(`${dir}/python3`)) candidates.add(`${dir}/python3`)
  }
  candidates.add('/usr/bin/python3')
  const seen = new Set<string>()
  const found: Array<{ python: string, executable: string }> = []
  for (const python of candidates) {
    try {
      const { stdout } = await run(python, ['-c', 'import boto3, os, sys; print(os.path.realpath(sys.executable))'], { timeout: 60_000 })
      const executable = stdout.trim()
      if (!seen.has(executable)) {
        seen.add(executable)
        found.push({ python, executable })
      }
    } catch {
      // no such interpreter, or no boto3 in it
    }
  }
  return found
}

interface Fetched { status: number, body: string }
interface ClientErrorOutcome { error: string, status: number, message?: string }
interface Report {
  botocore: string
  python: string
  authorization: string
  objects: Record<string, { body: string, metadata: Record<string, string>, type: string }>
  listed: string[]
  client_bug?: Record<string, string>
  tags: Array<{ Key: string, Value: string }> | null
  acl_owner: { ID: string } | null
  response_override: string
  location: string | null
  multipart_size?: number
  batch_deleted: string[] | null
  virtual: { body: string, listed: boolean }
  presigned_url: string
  presigned_put: number
  presigned_get: Fetched
  presigned_metadata: string
  presigned_expired: Fetched
  presigned_tampered: number
  post_fields: string[]
  post: number
  post_object: string
  post_too_big: Fetched
  post_bad_signature: Fetched
  emptied: boolean
  off_header: ClientErrorOutcome
  off_presigned: Fetched
}

const KEYS = ['plain.txt', 'with space/and  more.txt', 'ünïcödé/файл €.txt', 'sym&bols=+;,@$.txt']

function check (t: ExecutionContext, r: Report): void {
  t.regex(r.authorization, /^AWS [^:]+:[A-Za-z0-9+/]{27}=$/, 'header signed with SigV2')
  KEYS.forEach((key, i) => {
    t.deepEqual(r.objects[key], { body: `body ${i}`, metadata: { note: `v2 ${i}`, cid: r.objects[key].metadata.cid }, type: 'text/plain' }, key)
  })
  t.deepEqual(r.listed, [...KEYS].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
  t.is(r.response_override, 'attachment; filename="a b.txt"', 'response-content-disposition is a signed sub-resource')
  if (r.client_bug !== undefined) {
    // Older botocore signs `/bucket/key?tagging?tagging`-style resources, which S3 refuses too.
    t.log(`botocore ${r.botocore}: skipped ${Object.keys(r.client_bug).join(', ')} — the client signs the sub-resource twice (${Object.values(r.client_bug)[0]})`)
  }
  if (r.client_bug?.PutObjectTagging === undefined) t.deepEqual(r.tags, [{ Key: 'colour', Value: 'blue' }])
  if (r.client_bug?.GetObjectAcl === undefined) t.is(r.acl_owner?.ID, credentials.accessKeyId)
  if (r.client_bug?.GetBucketLocation === undefined) t.is(r.location, null, 'us-east-1')
  if (r.client_bug?.CreateMultipartUpload === undefined) t.is(r.multipart_size, 5 * 1024 * 1024 + 4)
  if (r.client_bug?.DeleteObjects === undefined) t.deepEqual(r.batch_deleted, [KEYS[0], KEYS[1]].sort())
  t.deepEqual(r.virtual, { body: 'by host', listed: true })

  t.regex(r.presigned_url, /[?&]AWSAccessKeyId=[^&]+&Signature=[^&]+&Expires=\d+$/, 'boto3 presigns with SigV2 by default')
  t.is(r.presigned_put, 200)
  t.deepEqual(r.presigned_get, { status: 200, body: 'presigned body' })
  t.is(r.presigned_metadata, 'query string', 'x-amz-meta-* moved into the URL by the presigner applies')
  t.is(r.presigned_expired.status, 403)
  t.regex(r.presigned_expired.body, /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message><Expires>[^<]+<\/Expires><ServerTime>[^<]+<\/ServerTime>/)
  t.is(r.presigned_tampered, 403)

  t.deepEqual(r.post_fields, ['AWSAccessKeyId', 'Content-Type', 'key', 'policy', 'signature'])
  t.is(r.post, 204)
  t.is(r.post_object, 'form body')
  t.is(r.post_too_big.status, 400)
  t.regex(r.post_too_big.body, /<Code>EntityTooLarge<\/Code>/)
  t.is(r.post_bad_signature.status, 403)
  t.regex(r.post_bad_signature.body, /<Code>SignatureDoesNotMatch<\/Code>/)
  t.true(r.emptied)

  t.like(r.off_header, { error: 'InvalidRequest', status: 400, message: 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.' })
  t.is(r.off_presigned.status, 400)
  t.regex(r.off_presigned.body, /<Code>InvalidRequest<\/Code>/)
}

test('boto3 with Signature Version 2: header auth, presigned URLs and POST forms; refused when SigV2 is off', async t => {
  const pythons = await pythonsWithBoto3()
  if (pythons.length === 0) {
    if (process.env.CI === 'true') throw new Error('no python3 with boto3; .ci/run installs python3-boto3')
    t.log('skipped: no python3 on PATH or /usr/bin/python3 has boto3 (apt-get install python3-boto3, or pip install boto3)')
    t.pass()
    return
  }
  const port = new URL(host.url).port
  for (const [i, { python, executable }] of pythons.entries()) {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      S3IPFS_ENDPOINT: host.url,
      S3IPFS_VHOST_ENDPOINT: `http://s3.test:${port}/s3`,
      S3IPFS_OFF_ENDPOINT: offHost.url,
      S3IPFS_ACCESS_KEY: credentials.accessKeyId,
      S3IPFS_SECRET_KEY: credentials.secretAccessKey,
      S3IPFS_BUCKET: `boto3-sigv2-${i}`,
      // Loopback needs no proxy and no CA bundle.
      NO_PROXY: '*',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    }
    delete env.AWS_CA_BUNDLE
    delete env.AWS_PROFILE
    let stdout: string
    try {
      ({ stdout } = await run(python, [SCRIPT], { env, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }))
    } catch (err) {
      const e = err as { stderr?: string, stdout?: string }
      t.fail(`${executable}: ${e.stderr ?? String(err)}\n${e.stdout ?? ''}`)
      continue
    }
    const report = JSON.parse(stdout) as Report
    t.log(`${executable}: Python ${report.python}, botocore ${report.botocore}`)
    check(t, report)
  }
})
