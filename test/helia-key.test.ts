/**
 * The embedded node's persistent identity: `loadOrCreateIpfsKey` makes an Ed25519 key once (mode
 * 0600, whole or not at all), reads the same key back, and refuses a file that is not a key;
 * `startIpfsNode` and `startServer` take their peer id from it.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { startServer } from '../bin/server.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { loadOrCreateIpfsKey, startIpfsNode } from '../src/helia/index.js'
import { tempDir } from './helpers/child.js'

const LOOPBACK_ANY_PORT = '/ip4/127.0.0.1/tcp/0'

test('a key is made once (Ed25519, mode 0600, in a new directory) and read back the same', async (t) => {
  const file = join(await tempDir(t, 's3ipfs-key-'), 'nested', 'ipfs.key')
  const made = await loadOrCreateIpfsKey(file)
  t.is(made.type, 'Ed25519')
  t.is((await stat(file)).mode & 0o777, 0o600)
  const bytes = await readFile(file)
  t.is(bytes.length, 68, 'the protobuf PrivateKey: type Ed25519 and 64 bytes of key')

  const again = await loadOrCreateIpfsKey(file)
  t.true(again.equals(made))
  t.is(again.publicKey.toString(), made.publicKey.toString())
  t.true((await readFile(file)).equals(bytes), 'reading never rewrites the file')
  t.deepEqual(await readdir(join(file, '..')), ['ipfs.key'], 'no temporary file left')
})

test('processes making the key at once all get the one written first', async (t) => {
  const file = join(await tempDir(t, 's3ipfs-key-'), 'ipfs.key')
  const keys = await Promise.all(Array.from({ length: 6 }, async () => await loadOrCreateIpfsKey(file)))
  for (const key of keys) t.true(key.equals(keys[0]))
  t.true((await loadOrCreateIpfsKey(file)).equals(keys[0]))
  t.deepEqual(await readdir(join(file, '..')), ['ipfs.key'])
})

test('a file that is not a libp2p private key is refused (ERR_IPFS_KEY) and left as it is', async (t) => {
  const dir = await tempDir(t, 's3ipfs-key-')
  for (const [name, bytes] of [['empty', Buffer.alloc(0)], ['text', Buffer.from('not a key\n')], ['truncated', (await readFile(await made(dir))).subarray(0, 30)]] as const) {
    const file = join(dir, name)
    await writeFile(file, bytes)
    await t.throwsAsync(loadOrCreateIpfsKey(file), { code: 'ERR_IPFS_KEY', message: new RegExp(`${file} is not a libp2p private key`) }, name)
    t.true((await readFile(file)).equals(bytes), name)
  }
  async function made (dir: string): Promise<string> {
    await loadOrCreateIpfsKey(join(dir, 'valid.key'))
    return join(dir, 'valid.key')
  }
})

test('startIpfsNode takes its peer id from privateKey: the same one on every start', async (t) => {
  const key = await loadOrCreateIpfsKey(join(await tempDir(t, 's3ipfs-key-'), 'ipfs.key'))
  const blockstore = new MemoryBlockstore()
  const ids: string[] = []
  for (let i = 0; i < 2; i++) {
    const node = await startIpfsNode({ blockstore, listen: [LOOPBACK_ANY_PORT], privateKey: key })
    ids.push(node.peerId)
    t.true(node.multiaddrs.every(a => a.endsWith(`/p2p/${key.publicKey.toString()}`)))
    await node.stop()
  }
  t.deepEqual(ids, [key.publicKey.toString(), key.publicKey.toString()])
  const keyless = await startIpfsNode({ blockstore, listen: [LOOPBACK_ANY_PORT] })
  t.teardown(async () => { await keyless.stop() })
  t.not(keyless.peerId, ids[0], 'without one: a new peer id')
})

test('startServer: the key is <dataDir>/ipfs.key, or ipfsKeyFile; a corrupt one stops the start', async (t) => {
  const dataDir = await tempDir(t, 's3ipfs-key-serve-')
  const options = { port: 0, dataDir, blockstore: new MemoryBlockstore(), ipfsListen: [LOOPBACK_ANY_PORT], encrypt: true }
  const first = await startServer(options)
  t.teardown(async () => { await first.close() })
  t.is(first.ipfsKeyFile, join(dataDir, 'ipfs.key'))
  t.is(first.ipfs?.peerId, (await loadOrCreateIpfsKey(join(dataDir, 'ipfs.key'))).publicKey.toString())
  await first.close()

  const own = join(await tempDir(t, 's3ipfs-key-own-'), 'node.key')
  const second = await startServer({ ...options, ipfsKeyFile: own })
  t.teardown(async () => { await second.close() })
  t.is(second.ipfsKeyFile, own)
  t.is(second.ipfs?.peerId, (await loadOrCreateIpfsKey(own)).publicKey.toString())
  t.not(second.ipfs?.peerId, first.ipfs?.peerId)
  await second.close()

  await writeFile(own, 'garbage')
  await t.throwsAsync(startServer({ ...options, ipfsKeyFile: own }), { code: 'ERR_IPFS_KEY' })
})
