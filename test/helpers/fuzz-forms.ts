import { createHmac } from 'node:crypto'
import { FORM_BOUNDARY, formBody, type FormPart } from './fuzz-bodies.js'
import type { User, World } from './fuzz-ops.js'
import { text } from './fuzz-ops.js'
import { signingKey } from './sign.js'
import { replaceChar } from './fuzz-tamper.js'
import type { WireRequest } from './wire.js'

/**
 * Browser form uploads (POST Object): a form signed as a browser app would sign it, and the ways to
 * make one that S3 must refuse.
 */

export interface FormSpec {
  user: User
  bucket: string
  key: string
  /** Extra fields, listed in the policy's conditions. */
  fields?: Array<[string, string]>
  file?: Buffer
  expiration?: Date
  /** Overrides of the policy's conditions on bucket and key. */
  policyBucket?: string
  keyPrefix?: string
  maxLength?: number
  /** Sign with this secret instead of the user's. */
  secret?: string
  accessKeyId?: string
  region?: string
}

function amzDateOf (d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
}

/** The form's parts, signed unless the user is anonymous. The file comes last, as browsers send it. */
export function formParts (w: World, s: FormSpec): FormPart[] {
  const file = s.file ?? text(w.rand, w.rand.int(800))
  const extra = s.fields ?? []
  const parts: FormPart[] = [{ name: 'key', value: s.key }]
  if (s.user !== 'anonymous') {
    const user = w.users[s.user]
    const now = new Date()
    const amzDate = amzDateOf(now)
    const credential = `${s.accessKeyId ?? user.accessKeyId}/${amzDate.slice(0, 8)}/${s.region ?? 'us-east-1'}/s3/aws4_request`
    const policy = Buffer.from(JSON.stringify({
      expiration: (s.expiration ?? new Date(now.getTime() + 3600_000)).toISOString(),
      conditions: [
        { bucket: s.policyBucket ?? s.bucket },
        ['starts-with', '$key', s.keyPrefix ?? ''],
        ['content-length-range', 0, s.maxLength ?? 100_000],
        { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
        { 'x-amz-credential': credential },
        { 'x-amz-date': amzDate },
        ...extra.map(([n, v]) => ({ [n]: v })),
      ],
    })).toString('base64')
    const signature = createHmac('sha256', signingKey(s.secret ?? user.secretAccessKey, amzDate.slice(0, 8), s.region)).update(policy).digest('hex')
    parts.push(
      { name: 'policy', value: policy },
      { name: 'x-amz-algorithm', value: 'AWS4-HMAC-SHA256' },
      { name: 'x-amz-credential', value: credential },
      { name: 'x-amz-date', value: amzDate },
      { name: 'x-amz-signature', value: signature },
    )
  }
  for (const [name, value] of extra) parts.push({ name, value })
  parts.push({ name: 'file', value: file, filename: 'upload.txt', type: 'text/plain' })
  return parts
}

export function formRequest (bucket: string, body: Buffer, contentType = `multipart/form-data; boundary=${FORM_BOUNDARY}`): WireRequest {
  return { method: 'POST', path: `/${bucket}`, query: '', headers: [['content-type', contentType], ['origin', 'https://app.example']], body }
}

/** A form S3 must refuse: each breakage is definite. */
export function brokenForm (w: World, spec: FormSpec): { label: string, req: WireRequest } {
  const kind = w.rand.pick(['signature', 'expired', 'other-bucket', 'key-prefix', 'too-long', 'no-file', 'truncated', 'wrong-boundary',
    'no-boundary', 'not-multipart', 'pre-data', 'no-key', 'unlisted-field', 'policy-not-base64', 'algorithm', 'region', 'date', 'unknown-key', 'wrong-secret'] as const)
  const field = (parts: FormPart[], name: string, change: (v: string) => string): FormPart[] =>
    parts.map(p => p.name === name ? { ...p, value: change(String(p.value)) } : p)
  const signed = spec.user === 'anonymous' ? { ...spec, user: 'alice' as const } : spec
  let parts = formParts(w, signed)
  let contentType: string | undefined
  let body: Buffer | undefined
  switch (kind) {
    case 'signature':
      parts = field(parts, 'x-amz-signature', v => replaceChar(w.rand, v, '0123456789abcdef'))
      break
    case 'expired':
      parts = formParts(w, { ...signed, expiration: new Date(Date.now() - 60_000) })
      break
    case 'other-bucket':
      parts = formParts(w, { ...signed, policyBucket: 'some-other-bucket' })
      break
    case 'key-prefix':
      parts = formParts(w, { ...signed, keyPrefix: 'uploads/only/' })
      break
    case 'too-long':
      parts = formParts(w, { ...signed, maxLength: 10, file: text(w.rand, 11 + w.rand.int(2000)) })
      break
    case 'no-file':
      parts = parts.filter(p => p.name !== 'file')
      break
    case 'truncated': {
      const full = formBody(parts)
      const fileStart = full.lastIndexOf(Buffer.from('\r\n\r\n')) + 4
      body = full.subarray(0, fileStart + w.rand.int(full.length - fileStart - `--${FORM_BOUNDARY}--\r\n`.length - 2))
      break
    }
    case 'wrong-boundary':
      contentType = 'multipart/form-data; boundary=not-the-boundary'
      break
    case 'no-boundary':
      contentType = 'multipart/form-data'
      break
    case 'not-multipart':
      contentType = w.rand.pick(['application/x-www-form-urlencoded', 'text/plain', 'application/json'])
      break
    case 'pre-data':
      parts = [{ name: 'x-ignore-padding', value: 'p'.repeat(21 * 1024) }, ...parts]
      break
    case 'no-key':
      parts = parts.filter(p => p.name !== 'key')
      break
    case 'unlisted-field':
      parts = [...parts.slice(0, -1), { name: 'x-amz-meta-unlisted', value: 'evil' }, parts[parts.length - 1]]
      break
    case 'policy-not-base64':
      parts = field(parts, 'policy', () => w.rand.pick(['!!!', '{"expiration":"2099-01-01T00:00:00Z","conditions":[]}', 'e30']))
      break
    case 'algorithm':
      parts = field(parts, 'x-amz-algorithm', () => w.rand.pick(['AWS4-HMAC-SHA1', 'HMAC', 'aws4-hmac-sha256']))
      break
    case 'region':
      parts = formParts(w, { ...signed, region: 'eu-west-1' })
      break
    case 'date':
      parts = field(parts, 'x-amz-date', v => replaceChar(w.rand, v, '0123456789TZ', true))
      break
    case 'unknown-key':
      parts = formParts(w, { ...signed, accessKeyId: 'NOBODYKEY' })
      break
    case 'wrong-secret':
      parts = formParts(w, { ...signed, secret: 'not-the-secret' })
      break
  }
  return { label: `form: ${kind}`, req: formRequest(spec.bucket, body ?? formBody(parts), contentType) }
}
