import type { Rand } from './wire.js'

/**
 * Request documents for the fuzzer: valid ones (XML, bucket policies, browser forms) and the ways
 * to break them. A "definite" breakage gives a document S3 must refuse whatever else the request
 * says; a random mutation may or may not still be valid.
 */

function xmlEscape (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

const NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'

export function deleteXml (objects: Array<{ key: string, versionId?: string }>, quiet = false): string {
  const items = objects.map(o => `<Object><Key>${xmlEscape(o.key)}</Key>${o.versionId === undefined ? '' : `<VersionId>${xmlEscape(o.versionId)}</VersionId>`}</Object>`)
  return `<?xml version="1.0" encoding="UTF-8"?><Delete${NS}>${quiet ? '<Quiet>true</Quiet>' : ''}${items.join('')}</Delete>`
}

export function taggingXml (tags: Array<[string, string]>): string {
  return `<Tagging${NS}><TagSet>${tags.map(([k, v]) => `<Tag><Key>${xmlEscape(k)}</Key><Value>${xmlEscape(v)}</Value></Tag>`).join('')}</TagSet></Tagging>`
}

export function versioningXml (status: string): string {
  return `<VersioningConfiguration${NS}><Status>${status}</Status></VersioningConfiguration>`
}

export function corsXml (origins: string[], methods: string[]): string {
  return `<CORSConfiguration${NS}><CORSRule><ID>r1</ID>${origins.map(o => `<AllowedOrigin>${xmlEscape(o)}</AllowedOrigin>`).join('')}` +
    `${methods.map(m => `<AllowedMethod>${m}</AllowedMethod>`).join('')}<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>` +
    '<MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>'
}

export function aclXml (owner: string, grants: Array<{ id?: string, uri?: string, permission: string }>): string {
  const list = grants.map(g => {
    const grantee = g.id !== undefined
      ? `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>${xmlEscape(g.id)}</ID></Grantee>`
      : `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>${xmlEscape(g.uri ?? '')}</URI></Grantee>`
    return `<Grant>${grantee}<Permission>${g.permission}</Permission></Grant>`
  })
  return `<AccessControlPolicy${NS}><Owner><ID>${xmlEscape(owner)}</ID></Owner><AccessControlList>${list.join('')}</AccessControlList></AccessControlPolicy>`
}

export function completeXml (parts: Array<{ partNumber: number, etag: string }>): string {
  return `<CompleteMultipartUpload${NS}>${parts.map(p => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>"${p.etag}"</ETag></Part>`).join('')}</CompleteMultipartUpload>`
}

export function encryptionXml (algorithm = 'AES256'): string {
  return `<ServerSideEncryptionConfiguration${NS}><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>${algorithm}</SSEAlgorithm>` +
    '</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>'
}

export function publicAccessBlockXml (flags: boolean[]): string {
  const names = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets']
  return `<PublicAccessBlockConfiguration${NS}>${names.map((n, i) => `<${n}>${String(flags[i] ?? false)}</${n}>`).join('')}</PublicAccessBlockConfiguration>`
}

export function locationXml (region: string): string {
  return `<CreateBucketConfiguration${NS}><LocationConstraint>${region}</LocationConstraint></CreateBucketConfiguration>`
}

/** The name of a document's root element. */
export function rootOf (xml: string): string {
  return /<([A-Za-z][\w.-]*)[\s>]/.exec(xml.replace(/<\?[^>]*\?>/, ''))?.[1] ?? 'Root'
}

/** Roots where an element holding only unknown children is a valid document (it changes nothing, or sets defaults). */
const EMPTY_ROOT_VALID = new Set(['VersioningConfiguration', 'PublicAccessBlockConfiguration', 'CreateBucketConfiguration'])

/**
 * XML that no parser may accept as the named document: refused whatever the operation, except a
 * deeply nested unknown element under a root that may be empty (`definite` false then).
 */
export function brokenXml (rand: Rand, valid: string): { label: string, body: Buffer, definite: boolean } {
  const broken = breakXml(rand, valid)
  return { ...broken, definite: !(broken.label.startsWith('xml nesting') && EMPTY_ROOT_VALID.has(rootOf(valid))) }
}

function breakXml (rand: Rand, valid: string): { label: string, body: Buffer } {
  const root = rootOf(valid)
  const kind = rand.pick(['truncated', 'doctype', 'entity-bomb', 'external-entity', 'wrong-root', 'deep-nesting', 'unclosed', 'two-roots', 'html-entity', 'garbage'] as const)
  switch (kind) {
    case 'truncated': {
      const end = valid.lastIndexOf('>')
      return { label: 'xml truncated', body: Buffer.from(valid.slice(0, rand.int(end))) }
    }
    case 'doctype':
      return { label: 'xml doctype', body: Buffer.from(`<?xml version="1.0"?><!DOCTYPE ${root} [<!ENTITY x "y">]>${valid.replace(/<\?xml[^>]*\?>/, '')}`) }
    case 'entity-bomb': {
      const entities = ['<!ENTITY a0 "lol">']
      for (let i = 1; i < 10; i++) entities.push(`<!ENTITY a${i} "${`&a${i - 1};`.repeat(10)}">`)
      return { label: 'xml entity bomb', body: Buffer.from(`<?xml version="1.0"?><!DOCTYPE ${root} [${entities.join('')}]><${root}>&a9;</${root}>`) }
    }
    case 'external-entity':
      return { label: 'xml external entity', body: Buffer.from(`<?xml version="1.0"?><!DOCTYPE ${root} [<!ENTITY x SYSTEM "file:///etc/passwd">]><${root}>&x;</${root}>`) }
    case 'wrong-root':
      return { label: 'xml wrong root', body: Buffer.from(valid.split(`<${root}`).join(`<${root}X`).split(`</${root}>`).join(`</${root}X>`)) }
    case 'deep-nesting': {
      const depth = rand.pick([1000, 9000, 100000])
      return { label: `xml nesting ${depth}`, body: Buffer.from(`<${root}${NS}>${'<a>'.repeat(depth)}x${'</a>'.repeat(depth)}</${root}>`) }
    }
    case 'unclosed':
      return { label: 'xml unclosed', body: Buffer.from(valid.replace(new RegExp(`</${root}>\\s*$`), '')) }
    case 'two-roots':
      return { label: 'xml two roots', body: Buffer.from(valid + valid.replace(/<\?xml[^>]*\?>/, '')) }
    case 'html-entity':
      return { label: 'xml html entity', body: Buffer.from(valid.replace(/<\/([A-Za-z]+)>/, '&nbsp;</$1>')) }
    case 'garbage':
      return { label: 'xml garbage', body: rand.bytes(1 + rand.int(300)) }
  }
}

/**
 * A document over the gateway's size limit for it: 8 MiB for DeleteObjects and
 * CompleteMultipartUpload (1000 escaped keys, 10000 parts), 64 KiB for the configurations.
 */
export function hugeXml (valid: string): Buffer {
  const root = rootOf(valid)
  const big = root === 'Delete' || root === 'CompleteMultipartUpload'
  const pad = '<!--' + 'p'.repeat(big ? 8 * 1024 * 1024 + 100 : 300 * 1024) + '-->'
  return Buffer.from(valid.replace(`</${root}>`, `${pad}</${root}>`))
}

/** A few random edits: flips, inserts (XML-ish characters), deletes, duplications. May stay valid. */
export function mutateBytes (rand: Rand, input: Buffer, edits = 1 + rand.int(4)): Buffer {
  let b = Buffer.from(input)
  const alphabet = Buffer.from('<>/&;"\'=?! \t\r\nabcXYZ019-_.:%#[]{}\u00e9', 'utf8')
  for (let i = 0; i < edits; i++) {
    const at = rand.int(b.length + 1)
    switch (rand.int(5)) {
      case 0:
        if (b.length > 0) b[Math.min(at, b.length - 1)] ^= 1 << rand.int(8)
        break
      case 1:
        b = Buffer.concat([b.subarray(0, at), Buffer.from([alphabet[rand.int(alphabet.length)]]), b.subarray(at)])
        break
      case 2:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rand.int(12)))])
        break
      case 3: {
        const len = 1 + rand.int(40)
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)])
        break
      }
      case 4:
        b = Buffer.concat([b.subarray(0, at), rand.bytes(1 + rand.int(4)), b.subarray(at)])
        break
    }
  }
  return b
}

// ---- bucket policies ---------------------------------------------------------------------

export function bucketPolicy (bucket: string, statements: unknown[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements })
}

/** Policy documents S3 refuses (MalformedPolicy or worse), whatever bucket they are for. */
export function brokenPolicy (rand: Rand, bucket: string): { label: string, body: Buffer } {
  const arn = `arn:aws:s3:::${bucket}/*`
  const ok = { Sid: 's', Effect: 'Allow', Principal: { AWS: 'bob' }, Action: 's3:GetObject', Resource: arn }
  const doc = (statement: Record<string, unknown>): string => JSON.stringify({ Version: '2012-10-17', Statement: [statement] })
  const without = (field: string): Record<string, unknown> => Object.fromEntries(Object.entries(ok).filter(([k]) => k !== field))
  const valid = doc(ok)
  const cases: Array<[string, () => string | Buffer]> = [
    ['empty', () => ''],
    ['not an object', () => rand.pick(['null', '[]', '"policy"', '42', 'true'])],
    ['empty object', () => '{}'],
    ['no statement', () => '{"Version":"2012-10-17"}'],
    ['statement not a list or object', () => '{"Version":"2012-10-17","Statement":"Allow"}'],
    ['bad effect', () => doc({ ...ok, Effect: 'Maybe' })],
    ['no action', () => doc(without('Action'))],
    ['no resource', () => doc(without('Resource'))],
    ['no principal', () => doc(without('Principal'))],
    ['no effect', () => doc(without('Effect'))],
    ['other bucket resource', () => doc({ ...ok, Resource: 'arn:aws:s3:::some-other-bucket/*' })],
    ['unknown action', () => doc({ ...ok, Action: 's3:NoSuchAction' })],
    ['non-s3 action', () => doc({ ...ok, Action: 'ec2:RunInstances' })],
    ['bad version', () => JSON.stringify({ Version: '2099-01-01', Statement: [ok] })],
    ['unknown condition operator', () => doc({ ...ok, Condition: { StringEqualz: { 'aws:Referer': 'x' } } })],
    ['condition not an object', () => doc({ ...ok, Condition: 'yes' })],
    ['truncated', () => valid.slice(0, rand.int(valid.length - 1))],
    ['trailing garbage', () => valid + rand.pick(['x', '}', ',{}', ' ]'])],
    ['too large', () => JSON.stringify({ Version: '2012-10-17', Statement: Array.from({ length: 400 }, (_, i) => ({ ...ok, Sid: `s${i}` })) })],
    ['deep arrays', () => doc({ ...ok, Resource: '@' }).replace('"@"', '['.repeat(5000) + ']'.repeat(5000))],
    ['deep text nesting', () => `{"Version":"2012-10-17","Statement":${'['.repeat(200000)}${']'.repeat(200000)}}`],
    ['not utf-8', () => Buffer.concat([Buffer.from(valid.slice(0, 20)), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.from(valid.slice(20))])],
    ['statement list of strings', () => '{"Version":"2012-10-17","Statement":["a","b"]}'],
    ['resource wrong type', () => doc({ ...ok, Resource: 42 })],
    ['action wrong type', () => doc({ ...ok, Action: { a: 1 } })],
    ['principal wrong type', () => doc({ ...ok, Principal: 7 })],
  ]
  const [label, make] = rand.pick(cases)
  const body = make()
  return { label: `policy ${label}`, body: typeof body === 'string' ? Buffer.from(body) : body }
}

/** A structural mutation of a JSON document: a value replaced, a member dropped or added. May stay valid. */
export function mutateJson (rand: Rand, value: unknown): unknown {
  const replacements = (): unknown => rand.pick<() => unknown>([
    () => null, () => 0, () => -1, () => 1e308, () => true, () => '', () => 'x'.repeat(rand.int(3000)), () => [], () => ({}),
    () => ['s3:GetObject', 's3:*'], () => '*', () => 'arn:aws:s3:::*', () => JSON.parse('{"__proto__":{"Effect":"Allow"}}'),
    () => ({ StringLike: { 's3:prefix': ['a*', 7] } }), () => ({ AWS: ['bob', 'nobody', 42] }), () => 'Allow', () => '2012-10-17',
    () => JSON.parse('['.repeat(50) + ']'.repeat(50)),
  ])()
  if (Array.isArray(value)) {
    const copy = [...value]
    if (copy.length > 0 && rand.chance(0.7)) {
      const i = rand.int(copy.length)
      copy[i] = rand.chance(0.5) ? mutateJson(rand, copy[i]) : replacements()
    } else if (copy.length > 0 && rand.chance(0.5)) {
      copy.splice(rand.int(copy.length), 1)
    } else {
      copy.push(replacements())
    }
    return copy
  }
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
    const keys = Object.keys(copy)
    const r = rand.int(10)
    if (keys.length > 0 && r < 6) {
      const k = rand.pick(keys)
      copy[k] = rand.chance(0.6) ? mutateJson(rand, copy[k]) : replacements()
    } else if (keys.length > 0 && r < 8) {
      delete copy[rand.pick(keys)]
    } else {
      copy[rand.pick(['Sid', 'Effect', 'Condition', 'NotAction', 'NotResource', 'NotPrincipal', 'Id', 'Extra', ''])] = replacements()
    }
    return copy
  }
  return replacements()
}

// ---- browser forms -----------------------------------------------------------------------

export const FORM_BOUNDARY = '----s3ipfsFuzzBoundary0123456789'

export interface FormPart { name: string, value: Buffer | string, filename?: string, type?: string }

export function formBody (parts: FormPart[], boundary = FORM_BOUNDARY, close = true): Buffer {
  const out: Buffer[] = []
  for (const p of parts) {
    const filename = p.filename === undefined ? '' : `; filename="${p.filename}"`
    const type = p.type === undefined ? '' : `Content-Type: ${p.type}\r\n`
    out.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${filename}\r\n${type}\r\n`))
    out.push(Buffer.from(p.value))
    out.push(Buffer.from('\r\n'))
  }
  if (close) out.push(Buffer.from(`--${boundary}--\r\n`))
  return Buffer.concat(out)
}
