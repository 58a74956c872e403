import test, { type ExecutionContext } from 'ava'
import { isS3Error, type S3Error } from '../src/errors.js'
import {
  corsResponseHeaders, fromStoredCors, parseCorsConfiguration, preflight, renderCorsConfiguration, toStoredCors,
  type CorsRule,
} from '../src/protocol/cors.js'

const NS = 'http://s3.amazonaws.com/doc/2006-03-01/'
const VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method'
const NOT_ALLOWED = 'CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, ' +
  'request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource\'s CORS spec.'

const doc = (rules: string, root = `<CORSConfiguration xmlns="${NS}">`): Uint8Array =>
  Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>${root}${rules}</CORSConfiguration>`)
const minimal = (inner: string): Uint8Array =>
  doc(`<CORSRule><AllowedOrigin>http://www.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>${inner}</CORSRule>`)

function s3Error (t: ExecutionContext, fn: () => unknown, code: string, status: number, message?: string): S3Error {
  const err = t.throws(fn)
  if (!isS3Error(err)) {
    t.fail(`not an S3Error: ${String(err)}`)
    throw err
  }
  t.is(err.code, code)
  t.is(err.status, status)
  if (message !== undefined) t.is(err.message, message)
  return err
}

const rule = (r: Partial<CorsRule> & Pick<CorsRule, 'allowedOrigins' | 'allowedMethods'>): CorsRule =>
  ({ allowedHeaders: [], exposeHeaders: [], ...r })

// PutBucketCors ------------------------------------------------------------------------------------

test('parses every element of a CORSConfiguration, several rules in order, pretty-printed', t => {
  const rules = parseCorsConfiguration(doc(`
  <CORSRule>
    <ID>first</ID>
    <AllowedOrigin>http://www.example.com</AllowedOrigin>
    <AllowedOrigin>http://*.example.com</AllowedOrigin>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedMethod>POST</AllowedMethod>
    <AllowedMethod>DELETE</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <ExposeHeader>x-amz-server-side-encryption</ExposeHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>3000</MaxAgeSeconds>
  </CORSRule>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod>
  </CORSRule>
`))
  t.deepEqual(rules, [
    {
      id: 'first',
      allowedOrigins: ['http://www.example.com', 'http://*.example.com'],
      allowedMethods: ['PUT', 'POST', 'DELETE'],
      allowedHeaders: ['*'],
      exposeHeaders: ['x-amz-server-side-encryption', 'ETag'],
      maxAgeSeconds: 3000,
    },
    { allowedOrigins: ['*'], allowedMethods: ['GET', 'HEAD'], allowedHeaders: [], exposeHeaders: [] },
  ])
})

test('accepts a document without the namespace, an empty AllowedOrigin, and header names as written', t => {
  const rules = parseCorsConfiguration(doc('<CORSRule><AllowedOrigin></AllowedOrigin><AllowedMethod>GET</AllowedMethod>' +
    '<AllowedHeader>x-AMZ-server-SIDE-encryption</AllowedHeader><MaxAgeSeconds>0</MaxAgeSeconds></CORSRule>', '<CORSConfiguration>'))
  t.deepEqual(rules, [{ allowedOrigins: [''], allowedMethods: ['GET'], allowedHeaders: ['x-AMZ-server-SIDE-encryption'], exposeHeaders: [], maxAgeSeconds: 0 }])
})

test('a body that is not a CORSConfiguration, or breaks its schema, is MalformedXML', t => {
  const bad: Array<[string, Uint8Array]> = [
    ['not XML', Buffer.from('{"CORSRules":[]}')],
    ['empty body', Buffer.from('')],
    ['truncated', Buffer.from('<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</Allowed')],
    ['another root', Buffer.from('<CORSRules><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSRules>')],
    ['no CORSRule', doc('')],
    ['an empty CORSRule', doc('<CORSRule/>')],
    ['no AllowedOrigin', doc('<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader></CORSRule>')],
    ['no AllowedMethod', doc('<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>')],
    ['MaxAgeSeconds not an integer', minimal('<MaxAgeSeconds>ten</MaxAgeSeconds>')],
    ['MaxAgeSeconds fractional', minimal('<MaxAgeSeconds>1.5</MaxAgeSeconds>')],
    ['MaxAgeSeconds past xsd:int', minimal('<MaxAgeSeconds>2147483648</MaxAgeSeconds>')],
    ['two MaxAgeSeconds', minimal('<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>2</MaxAgeSeconds>')],
    ['two IDs', minimal('<ID>a</ID><ID>b</ID>')],
    ['an unknown element in a rule', minimal('<AllowedOrigins>*</AllowedOrigins>')],
    ['an unknown element in the root', doc('<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule><Rule/>')],
    ['text between rules', doc('oops<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>')],
    ['an element inside AllowedOrigin', doc('<CORSRule><AllowedOrigin><a/></AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>')],
  ]
  for (const [what, body] of bad) {
    const err = t.throws(() => parseCorsConfiguration(body), undefined, what)
    t.true(isS3Error(err), what)
    t.is((err as S3Error).code, 'MalformedXML', what)
  }
})

test('an AllowedMethod outside GET PUT POST DELETE HEAD is InvalidRequest naming it', t => {
  for (const method of ['MYMETHOD', 'OPTIONS', 'PATCH', 'get', '']) {
    const body = doc(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>${method}</AllowedMethod></CORSRule>`)
    s3Error(t, () => parseCorsConfiguration(body), 'InvalidRequest', 400, `Found unsupported HTTP method in CORS config. Unsupported method is ${method}`)
  }
})

test('wildcards: one per AllowedOrigin and AllowedHeader, none in ExposeHeader', t => {
  s3Error(t, () => parseCorsConfiguration(doc('<CORSRule><AllowedOrigin>http://a.com</AllowedOrigin><AllowedOrigin>*example*.com</AllowedOrigin>' +
    '<AllowedMethod>GET</AllowedMethod></CORSRule>')), 'InvalidRequest', 400, 'AllowedOrigin "*example*.com" can not have more than one wildcard.')
  s3Error(t, () => parseCorsConfiguration(minimal('<AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>HELLO*WORLD*</AllowedHeader>')),
    'InvalidRequest', 400, 'AllowedHeader "HELLO*WORLD*" can not have more than one wildcard.')
  s3Error(t, () => parseCorsConfiguration(minimal('<ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-meta-*</ExposeHeader>')),
    'InvalidRequest', 400, 'ExposeHeader "x-amz-meta-*" contains wildcard. We currently do not support wildcard for ExposeHeader.')
  t.notThrows(() => parseCorsConfiguration(doc('<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedOrigin>http://*.example.com</AllowedOrigin>' +
    '<AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader></CORSRule>')))
})

test('at most 100 rules; the first invalid rule is the one reported', t => {
  const one = '<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>'
  t.is(parseCorsConfiguration(doc(one.repeat(100))).length, 100)
  s3Error(t, () => parseCorsConfiguration(doc(one.repeat(101))), 'InvalidRequest', 400,
    'The number of CORS rules should not exceed allowed limit of 100 rules.')
  s3Error(t, () => parseCorsConfiguration(doc(
    '<CORSRule><AllowedOrigin>http://*.example.*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod></CORSRule>' +
    '<CORSRule><AllowedOrigin>http://*.other.*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod></CORSRule>')),
  'InvalidRequest', 400, 'AllowedOrigin "http://*.example.*" can not have more than one wildcard.')
})

test('an ID over 255 characters, and a body over 64 KB, are refused', t => {
  t.notThrows(() => parseCorsConfiguration(minimal(`<ID>${'i'.repeat(255)}</ID>`)))
  s3Error(t, () => parseCorsConfiguration(minimal(`<ID>${'i'.repeat(256)}</ID>`)), 'InvalidRequest', 400)
  const padded = minimal(`<ID>x</ID>${' '.repeat(64 * 1024)}`)
  const err = s3Error(t, () => parseCorsConfiguration(padded), 'MaxMessageLengthExceeded', 400)
  t.is(err.detail.MaxMessageLengthBytes, '65536')
})

// GetBucketCors and storage -------------------------------------------------------------------------

const sample: CorsRule[] = [
  {
    id: 'r1 & <co>',
    allowedOrigins: ['http://*.example.com', ''],
    allowedMethods: ['GET', 'HEAD'],
    allowedHeaders: ['x-amz-*', 'Content-Type'],
    exposeHeaders: ['ETag'],
    maxAgeSeconds: 600,
  },
  rule({ allowedOrigins: ['*'], allowedMethods: ['PUT'] }),
]

test('GetBucketCors renders the rules in S3\'s shape', t => {
  t.is(Buffer.from(renderCorsConfiguration(sample)).toString('utf8'),
    `<?xml version="1.0" encoding="UTF-8"?><CORSConfiguration xmlns="${NS}">` +
    '<CORSRule><ID>r1 &amp; &lt;co&gt;</ID><AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader>' +
    '<AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod>' +
    '<AllowedOrigin>http://*.example.com</AllowedOrigin><AllowedOrigin/>' +
    '<ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>' +
    '<CORSRule><AllowedMethod>PUT</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>')
})

test('parse → render → parse, and the stored form, give the same rules back', t => {
  t.deepEqual(parseCorsConfiguration(renderCorsConfiguration(sample)), sample)
  const parsed = parseCorsConfiguration(minimal('<ID>x</ID><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>5</MaxAgeSeconds>'))
  t.deepEqual(parseCorsConfiguration(renderCorsConfiguration(parsed)), parsed)
  t.deepEqual(fromStoredCors(toStoredCors(sample)), sample)
  t.deepEqual(fromStoredCors(toStoredCors(parsed)), parsed)
})

test('no stored configuration is undefined; an unreadable one is an InternalError, not "no CORS"', t => {
  t.is(fromStoredCors(undefined), undefined)
  t.is(fromStoredCors(''), undefined)
  t.deepEqual(fromStoredCors('[]'), [])
  for (const text of ['not json', '{}', '[{"allowedMethods":["GET"]}]', '[{"allowedOrigins":"*","allowedMethods":["GET"]}]']) {
    s3Error(t, () => fromStoredCors(text), 'InternalError', 500)
  }
})

// Preflight ---------------------------------------------------------------------------------------------

test('preflight from a specific origin: origin echoed, credentials allowed, rule methods, requested headers', t => {
  const rules = [rule({ allowedOrigins: ['https://localhost:4200'], allowedMethods: ['GET', 'PUT'], allowedHeaders: ['*'], maxAgeSeconds: 3000 })]
  t.deepEqual(preflight(rules, { origin: 'https://localhost:4200', method: 'PUT' }), {
    'access-control-allow-origin': 'https://localhost:4200',
    'access-control-allow-methods': 'GET, PUT',
    'access-control-max-age': '3000',
    'access-control-allow-credentials': 'true',
    vary: VARY,
  })
  t.deepEqual(preflight(rules, { origin: 'https://localhost:4200', method: 'GET', requestHeaders: 'X-Amz-Request-Payer,x-amz-expected-bucket-owner' }), {
    'access-control-allow-origin': 'https://localhost:4200',
    'access-control-allow-methods': 'GET, PUT',
    'access-control-allow-headers': 'x-amz-request-payer, x-amz-expected-bucket-owner',
    'access-control-max-age': '3000',
    'access-control-allow-credentials': 'true',
    vary: VARY,
  })
})

test('preflight against a "*" origin: "*" answered, no credentials; expose headers listed', t => {
  const rules = [rule({ allowedOrigins: ['*'], allowedMethods: ['GET'], exposeHeaders: ['x-amz-id-2', 'x-amz-request-id'] })]
  t.deepEqual(preflight(rules, { origin: 'http://random:1234', method: 'GET' }), {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET',
    'access-control-expose-headers': 'x-amz-id-2, x-amz-request-id',
    vary: VARY,
  })
  // An origin need not be a URL.
  t.is(preflight(rules, { origin: 'localhost:4566', method: 'GET' })['access-control-allow-origin'], '*')
})

test('a one-wildcard origin matches any run of characters, anchored at both ends, byte for byte', t => {
  const rules = [rule({ allowedOrigins: ['http://*.example.com'], allowedMethods: ['GET'] })]
  for (const origin of ['http://a.example.com', 'http://a.b.example.com', 'http://.example.com']) {
    t.is(preflight(rules, { origin, method: 'GET' })['access-control-allow-origin'], origin, origin)
    t.is(corsResponseHeaders(rules, origin, 'GET')['access-control-allow-origin'], origin, origin)
  }
  for (const origin of ['https://a.example.com', 'http://example.com', 'http://a.example.com/', 'http://a.example.com:8080',
    'http://a.example.com.evil.org', 'xhttp://a.example.com', 'HTTP://A.EXAMPLE.COM']) {
    s3Error(t, () => preflight(rules, { origin, method: 'GET' }), 'AccessForbidden', 403, NOT_ALLOWED)
    t.deepEqual(corsResponseHeaders(rules, origin, 'GET'), {}, origin)
  }
  const exact = [rule({ allowedOrigins: ['https://a.com'], allowedMethods: ['GET'] })]
  t.is(corsResponseHeaders(exact, 'https://a.com', 'GET')['access-control-allow-origin'], 'https://a.com')
  for (const origin of ['https://A.com', 'https://a.com:443', 'http://a.com', 'https://a.co']) {
    t.throws(() => preflight(exact, { origin, method: 'GET' }), undefined, origin)
  }
  const edges = [rule({ allowedOrigins: ['prefix*', 'start*end', '*suffix'], allowedMethods: ['GET'] })]
  for (const origin of ['prefix', 'prefix.suffix', 'startend', 'start12end', 'foo.suffix']) {
    t.is(preflight(edges, { origin, method: 'GET' })['access-control-allow-origin'], origin, origin)
  }
  for (const origin of ['bla.prefix', '0start12end', 'foo.suffix.get', 'foo.bar']) {
    t.throws(() => preflight(edges, { origin, method: 'GET' }), undefined, origin)
  }
})

test('requested headers match AllowedHeader case-insensitively, with a wildcard; every one must match', t => {
  const rules = [rule({ allowedOrigins: ['*'], allowedMethods: ['PUT'], allowedHeaders: ['x-AMZ-*', 'Content-Type'] })]
  t.is(preflight(rules, { origin: 'o', method: 'PUT', requestHeaders: 'content-type, X-Amz-Meta-Foo , x-amz-date' })['access-control-allow-headers'],
    'content-type, x-amz-meta-foo, x-amz-date')
  t.is(preflight(rules, { origin: 'o', method: 'PUT', requestHeaders: 'x-amz-' })['access-control-allow-headers'], 'x-amz-')
  // Empty list elements are ignored; an empty list asks for nothing.
  t.is(preflight(rules, { origin: 'o', method: 'PUT', requestHeaders: ',content-type,,' })['access-control-allow-headers'], 'content-type')
  t.false('access-control-allow-headers' in preflight(rules, { origin: 'o', method: 'PUT', requestHeaders: '' }))
  for (const requestHeaders of ['authorization', 'content-type, authorization', 'amz-date', 'content-type-x']) {
    s3Error(t, () => preflight(rules, { origin: 'o', method: 'PUT', requestHeaders }), 'AccessForbidden', 403, NOT_ALLOWED)
  }
  // A rule without AllowedHeader allows no requested header.
  const bare = [rule({ allowedOrigins: ['*'], allowedMethods: ['GET'] })]
  t.truthy(preflight(bare, { origin: 'o', method: 'GET' }))
  s3Error(t, () => preflight(bare, { origin: 'o', method: 'GET', requestHeaders: 'x-amz-request-payer' }), 'AccessForbidden', 403)
})

test('the first rule that matches origin, method and headers wins', t => {
  const rules = [
    rule({ id: 'a', allowedOrigins: ['http://a.com'], allowedMethods: ['GET'], maxAgeSeconds: 1 }),
    rule({ id: 'b', allowedOrigins: ['*'], allowedMethods: ['GET', 'PUT'], allowedHeaders: ['x-amz-*'], maxAgeSeconds: 2 }),
    rule({ id: 'c', allowedOrigins: ['*'], allowedMethods: ['GET', 'PUT', 'DELETE'], allowedHeaders: ['*'], maxAgeSeconds: 3 }),
  ]
  const age = (request: { origin: string, method: string, requestHeaders?: string }): string =>
    preflight(rules, request)['access-control-max-age']
  t.is(age({ origin: 'http://a.com', method: 'GET' }), '1')
  t.is(preflight(rules, { origin: 'http://a.com', method: 'GET' })['access-control-allow-origin'], 'http://a.com')
  t.is(age({ origin: 'http://b.com', method: 'GET' }), '2', 'origin falls through')
  t.is(age({ origin: 'http://a.com', method: 'PUT' }), '2', 'method falls through')
  t.is(age({ origin: 'http://a.com', method: 'GET', requestHeaders: 'x-amz-date' }), '2', 'headers fall through')
  t.is(age({ origin: 'http://a.com', method: 'PUT', requestHeaders: 'content-type' }), '3')
  t.is(age({ origin: 'http://a.com', method: 'DELETE' }), '3')
  t.is(preflight(rules, { origin: 'http://b.com', method: 'GET' })['access-control-allow-methods'], 'GET, PUT')
  t.is(corsResponseHeaders(rules, 'http://a.com', 'GET')['access-control-max-age'], '1')
  t.is(corsResponseHeaders(rules, 'http://a.com', 'PUT')['access-control-max-age'], '2')
  t.is(corsResponseHeaders(rules, 'http://a.com', 'DELETE')['access-control-max-age'], '3')
})

test('preflight denials: no Origin, no CORS configuration, no method, nothing allowed', t => {
  const rules = [rule({ allowedOrigins: ['https://localhost:4200'], allowedMethods: ['GET'] })]
  for (const r of [undefined, rules]) {
    s3Error(t, () => preflight(r, {}), 'BadRequest', 400, 'Insufficient information. Origin request header needed.')
    s3Error(t, () => preflight(r, { origin: '', method: 'GET' }), 'BadRequest', 400, 'Insufficient information. Origin request header needed.')
  }
  let err = s3Error(t, () => preflight(undefined, { origin: 'whatever', method: 'PUT' }), 'AccessForbidden', 403,
    'CORSResponse: CORS is not enabled for this bucket.')
  t.deepEqual(err.detail, { Method: 'PUT', ResourceType: 'BUCKET' })
  err = s3Error(t, () => preflight(undefined, { origin: 'whatever', key: 'k' }), 'AccessForbidden', 403, 'CORSResponse: CORS is not enabled for this bucket.')
  t.deepEqual(err.detail, { Method: 'OPTIONS', ResourceType: 'BUCKET' })
  s3Error(t, () => preflight(rules, { origin: 'https://localhost:4200' }), 'BadRequest', 400)
  err = s3Error(t, () => preflight(rules, { origin: 'http://localhost:4200', method: 'GET', key: 'photo.jpg' }), 'AccessForbidden', 403, NOT_ALLOWED)
  t.deepEqual(err.detail, { Method: 'GET', ResourceType: 'OBJECT' })
  err = s3Error(t, () => preflight(rules, { origin: 'https://localhost:4200', method: 'PUT' }), 'AccessForbidden', 403, NOT_ALLOWED)
  t.deepEqual(err.detail, { Method: 'PUT', ResourceType: 'BUCKET' })
  s3Error(t, () => preflight([], { origin: 'https://localhost:4200', method: 'GET' }), 'AccessForbidden', 403, NOT_ALLOWED)
  s3Error(t, () => preflight(rules, { origin: 'https://localhost:4200', method: 'get' }), 'AccessForbidden', 403, NOT_ALLOWED)
})

test('HEAD is allowed only where a rule lists it', t => {
  const getOnly = [rule({ allowedOrigins: ['*'], allowedMethods: ['GET'] })]
  s3Error(t, () => preflight(getOnly, { origin: 'http://a.com', method: 'HEAD' }), 'AccessForbidden', 403)
  t.deepEqual(corsResponseHeaders(getOnly, 'http://a.com', 'HEAD'), {})
  const withHead = [rule({ allowedOrigins: ['*'], allowedMethods: ['GET', 'HEAD'] })]
  t.is(preflight(withHead, { origin: 'http://a.com', method: 'HEAD' })['access-control-allow-methods'], 'GET, HEAD')
  t.is(corsResponseHeaders(withHead, 'http://a.com', 'HEAD')['access-control-allow-origin'], '*')
})

// Actual responses --------------------------------------------------------------------------------------

test('an actual request gets the matching rule\'s headers, never Access-Control-Allow-Headers', t => {
  const rules = [
    rule({ allowedOrigins: ['https://localhost:4200'], allowedMethods: ['GET', 'PUT'], allowedHeaders: ['*'], exposeHeaders: ['ETag', 'x-amz-version-id'], maxAgeSeconds: 3000 }),
    rule({ allowedOrigins: ['*'], allowedMethods: ['GET'] }),
  ]
  t.deepEqual(corsResponseHeaders(rules, 'https://localhost:4200', 'GET'), {
    'access-control-allow-origin': 'https://localhost:4200',
    'access-control-allow-methods': 'GET, PUT',
    'access-control-expose-headers': 'ETag, x-amz-version-id',
    'access-control-max-age': '3000',
    'access-control-allow-credentials': 'true',
    vary: VARY,
  })
  t.deepEqual(corsResponseHeaders(rules, 'http://random:1234', 'GET'), {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET',
    vary: VARY,
  })
  for (const name of Object.keys(corsResponseHeaders(rules, 'https://localhost:4200', 'PUT'))) t.is(name, name.toLowerCase())
})

test('an actual request without Origin, without CORS, or matching no rule gets no CORS headers', t => {
  const rules = [rule({ allowedOrigins: ['https://localhost:4200'], allowedMethods: ['GET'] })]
  t.deepEqual(corsResponseHeaders(rules, undefined, 'GET'), {})
  t.deepEqual(corsResponseHeaders(rules, '', 'GET'), {})
  t.deepEqual(corsResponseHeaders(undefined, 'https://localhost:4200', 'GET'), {})
  t.deepEqual(corsResponseHeaders([], 'https://localhost:4200', 'GET'), {})
  t.deepEqual(corsResponseHeaders(rules, 'http://localhost:4200', 'GET'), {})
  t.deepEqual(corsResponseHeaders(rules, 'https://localhost:4200', 'PUT'), {})
  t.deepEqual(corsResponseHeaders(rules, 'https://localhost:4200', 'OPTIONS'), {})
})
