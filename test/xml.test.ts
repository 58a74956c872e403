import test from 'ava'
import { XMLParser } from 'fast-xml-parser'
import { renderXml } from '../src/xml/render.js'
import { childText, children, parseXml } from '../src/xml/parse.js'

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8')

test('renders nested elements, repeated arrays, dates and the S3 namespace', t => {
  const xml = text(renderXml('ListAllMyBucketsResult', {
    Owner: { ID: 'id', DisplayName: undefined },
    Buckets: { Bucket: [{ Name: 'a', CreationDate: new Date(0) }, { Name: 'b' }] },
    Empty: '',
    Count: 0,
    Flag: false,
  }))
  t.is(xml, '<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    '<Owner><ID>id</ID></Owner><Buckets><Bucket><Name>a</Name><CreationDate>1970-01-01T00:00:00.000Z</CreationDate></Bucket>' +
    '<Bucket><Name>b</Name></Bucket></Buckets><Empty/><Count>0</Count><Flag>false</Flag></ListAllMyBucketsResult>')
})

test('escapes markup and characters XML 1.0 cannot carry, and round-trips through a parser', t => {
  const keys = ['a&b<c>d"e\'f', 'tab\there', 'ctrl\u0001\u001F', 'lone\uD800surrogate', 'emoji 😀', 'cr\rlf\n']
  const xml = renderXml('Delete', { Object: keys.map(Key => ({ Key })) })
  const s = text(xml)
  t.false(s.includes('\u0001'))
  t.true(s.includes('&#x1;'))
  t.true(s.includes('&#xD800;'))
  t.true(s.includes('😀'))
  const parsed = new XMLParser({ processEntities: true, htmlEntities: true, trimValues: false, isArray: () => true }).parse(s)
  t.is(parsed.Delete[0].Object[0].Key[0], 'a&b<c>d"e\'f')
  t.is(parsed.Delete[0].Object[5].Key[0], 'cr\rlf\n', 'a CR survives the parser\'s line-end normalisation')
  const ours = parseXml(renderXml('Delete', { Object: [{ Key: 'x & y' }] }), 'Delete')
  t.is(childText(children(ours, 'Object')[0], 'Key'), 'x & y')
})

test('error documents have no namespace; a text body becomes the root text', t => {
  t.is(text(renderXml('Error', { Code: 'NoSuchKey' }, { namespace: false })), '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code></Error>')
  t.is(text(renderXml('LocationConstraint', 'eu-west-1')), '<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>')
})

test('parse rejects DOCTYPE, entities and malformed documents', t => {
  for (const doc of ['<!DOCTYPE x [<!ENTITY a "b">]><Delete>&a;</Delete>', '<Delete><a></Delete>', '', '<Other/>']) {
    t.throws(() => parseXml(Buffer.from(doc), 'Delete'), { message: /not well-formed|MalformedXML/ })
  }
})

test('parse decodes numeric character references once, as Go clients (rclone) write quotes', t => {
  const doc = parseXml(Buffer.from('<CompleteMultipartUpload><Part><ETag>&#34;abc&#34;</ETag><Key>a&amp;#34;b&#x1F600;&#13;&lt;&apos;<![CDATA[&amp;]]></Key></Part></CompleteMultipartUpload>'), 'CompleteMultipartUpload')
  const part = children(doc, 'Part')[0]
  t.is(childText(part, 'ETag'), '"abc"')
  t.is(childText(part, 'Key'), 'a&#34;b😀\r<\'&amp;')
  for (const bad of ['<Delete><Key>a&nbsp;b</Key></Delete>', '<Delete><Key>a & b</Key></Delete>', '<Delete><Key>&copy;</Key></Delete>']) {
    t.throws(() => parseXml(Buffer.from(bad), 'Delete'), { message: /not well-formed|MalformedXML/ }, bad)
  }
})
