import * as dagPb from '@ipld/dag-pb'
import test from 'ava'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { UnixFS } from 'ipfs-unixfs'
import { linkHashes } from '../src/content/link-hashes.js'

async function leaf (i: number): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`leaf ${i}`)))
}

function hex (hashes: Uint8Array[] | undefined): string[] | undefined {
  return hashes?.map(h => Buffer.from(h).toString('hex'))
}

/** What the dag-pb codec itself decodes as the node's link hashes. */
function decoded (bytes: Uint8Array): string[] {
  return dagPb.decode(bytes).Links.map(l => Buffer.from(l.Hash.bytes).toString('hex'))
}

test('linkHashes reads the same hashes the dag-pb codec decodes, in order', async t => {
  const v0 = CID.createV0(await sha256.digest(new TextEncoder().encode('v0 node')))
  const inline = CID.createV1(raw.code, identity.digest(new Uint8Array([1, 2, 3])))
  const nodes: dagPb.PBNode[] = [
    { Links: [] },
    { Data: new UnixFS({ type: 'file', data: new Uint8Array([1, 2, 3]) }).marshal(), Links: [] },
    // A file node as the importer builds it: named-less links with sizes, then Data.
    { Data: new UnixFS({ type: 'file', blockSizes: [1048576n, 1048576n, 3n] }).marshal(), Links: await Promise.all([0, 1, 2].map(async i => ({ Hash: await leaf(i), Tsize: i === 2 ? 3 : 1048576 }))) },
    // Names, a v0 link, an identity CID, the largest Tsize the codec encodes, a link with no Tsize.
    { Links: [{ Hash: v0, Name: 'a.txt', Tsize: Number.MAX_SAFE_INTEGER }, { Hash: inline, Name: '' }, { Hash: await leaf(9), Name: 'dir/ü' }] }
  ]
  // 1,024 links: the widest node of the default profile.
  nodes.push({ Data: new UnixFS({ type: 'file' }).marshal(), Links: await Promise.all(Array.from({ length: 1024 }, async (_, i) => ({ Hash: await leaf(i), Tsize: 1048576 }))) })
  for (const node of nodes) {
    const bytes = dagPb.encode(dagPb.prepare(node))
    t.deepEqual(hex(linkHashes(bytes)), decoded(bytes))
  }
})

test('linkHashes: hashes are views into the node bytes, not copies', async t => {
  const bytes = dagPb.encode(dagPb.prepare({ Links: [{ Hash: await leaf(1), Tsize: 1 }] }))
  const [hash] = linkHashes(bytes) ?? []
  t.is(hash.buffer, bytes.buffer)
})

test('linkHashes: bytes that are not a dag-pb node give undefined, not a wrong hash', async t => {
  const good = dagPb.encode(dagPb.prepare({ Data: new Uint8Array([8, 2]), Links: [{ Hash: await leaf(1), Tsize: 5 }, { Hash: await leaf(2), Tsize: 6 }] }))
  const full = hex(linkHashes(good)) ?? []
  t.is(full.length, 2)
  // Every truncation: a field cut short is malformed (undefined); a cut between top-level fields
  // is a well-formed shorter node. Either way, never a hash that is not a complete link's.
  let malformed = 0
  for (let end = 0; end < good.byteLength; end++) {
    const got = hex(linkHashes(good.subarray(0, end)))
    if (got === undefined) malformed++
    else t.deepEqual(got, full.slice(0, got.length), `cut at ${end}`)
  }
  t.true(malformed > good.byteLength - 4, 'nearly every cut falls inside a field')
  t.is(linkHashes(new Uint8Array([0x12, 0x05, 0x0a])), undefined, 'a link longer than the node')
  t.is(linkHashes(new Uint8Array([0x08, 0x01])), undefined, 'a varint field at the top level')
  t.is(linkHashes(new Uint8Array([0x1a, 0x00])), undefined, 'a field dag-pb does not have')
  t.is(linkHashes(new Uint8Array([0x12, 0x02, 0x1d, 0x00])), undefined, 'a fixed32 field inside a link')
  t.is(linkHashes(new Uint8Array([0x12, 0x0b, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), undefined, 'a Tsize varint longer than ten bytes')
  t.is(linkHashes(new Uint8Array([0x92])), undefined, 'a tag cut short')
  // 2^32 + 0x12: read as 32 bits it would be field 2, length-delimited.
  t.is(linkHashes(new Uint8Array([0x92, 0x80, 0x80, 0x80, 0x10, 0x00])), undefined, 'a tag past 32 bits')
  t.deepEqual(linkHashes(new Uint8Array([0x12, 0x00])), [], 'a link without a hash links to nothing')
})
