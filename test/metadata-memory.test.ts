import test from 'ava'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import { compareKeys, lowerBound, prefixSuccessor, seekStart } from '../src/metadata/key-order.js'
import { metadataStoreSuite } from './compliance/metadata-store.suite.js'

metadataStoreSuite('MemoryMetadataStore', async () => ({ store: new MemoryMetadataStore() }))

const byteCompare = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))

test('compareKeys agrees with UTF-8 byte comparison', (t) => {
  const samples = ['', 'a', 'ab', 'b', '\u007F', '\u0080', '\u07FF', '\u0800', '\uD7FF', '\uE000', '\uFFFD', '\uFFFF',
    '\u{10000}', '😀', '😀a', '\u{10FFFF}', 'a\u{10000}', 'a\uFFFF', 'a\0', '日本', 'é']
  for (const a of samples) {
    for (const b of samples) t.is(Math.sign(compareKeys(a, b)), Math.sign(byteCompare(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`)
  }
})

test('prefixSuccessor bounds exactly the strings with that prefix', (t) => {
  t.is(prefixSuccessor(''), undefined)
  t.is(prefixSuccessor('ab'), 'ac')
  t.is(prefixSuccessor('a\uD7FF'), 'a\uE000')
  t.is(prefixSuccessor('a\uFFFF'), 'a\u{10000}')
  t.is(prefixSuccessor('a\u{1F600}'), 'a\u{1F601}')
  t.is(prefixSuccessor('a\u{10FFFF}\u{10FFFF}'), 'b')
  t.is(prefixSuccessor('\u{10FFFF}'), undefined)
})

test('seekStart takes the latest of prefix, from and just-after', (t) => {
  t.is(seekStart({}), undefined)
  t.is(seekStart({ after: 'b' }), 'b\0')
  t.is(seekStart({ prefix: 'c', after: 'b' }), 'c')
  t.is(seekStart({ prefix: 'c', after: 'c' }), 'c\0')
  t.is(seekStart({ from: '\u{10000}', after: '\uFFFF' }), '\u{10000}')
})

test('lowerBound finds the first key not below the probe', (t) => {
  const keys = ['a', 'c', '\uE000', '😀']
  t.is(lowerBound(keys, ''), 0)
  t.is(lowerBound(keys, 'b'), 1)
  t.is(lowerBound(keys, 'c'), 1)
  t.is(lowerBound(keys, '\uFFFD'), 3)
  t.is(lowerBound(keys, '😁'), 4)
})
