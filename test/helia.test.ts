/**
 * s3-ipfs-gateway/helia: objects uploaded through S3 are fetched by CID, over bitswap, by a second
 * and independent Helia peer (its own blockstore) that knows nothing but the node's address.
 */
import { once, setMaxListeners } from 'node:events'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { createServer } from '../adapters/node.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { createGateway } from '../src/gateway.js'
import { startIpfsNode } from '../src/helia/index.js'
import { installPromiseWithResolvers } from '../src/helia/polyfill.js'
import { REPO_ROOT, spawnChild, tempDir, type Child } from './helpers/child.js'
import { deterministicBytes, ipfsAddCid, s3Client } from './helpers/s3.js'

const MIB = 1024 * 1024
const LOOPBACK_ANY_PORT = '/ip4/127.0.0.1/tcp/0'

/** Fetches UnixFS files from a node it dials: a Helia peer with its own empty memory blockstore, dial-only. */
interface Peer {
  cat(address: string, cid: string, timeoutMs?: number): Promise<Buffer>
}

async function startPeer (t: ExecutionContext): Promise<Peer> {
  installPromiseWithResolvers() // helia needs it on Node 20; imported dynamically below for that reason
  const [{ createHeliaLight }, { withLibp2pLight }, { withBitswap }, { tcp }, { identify }, { noise }, { yamux }, { unixfs }, { multiaddr }, { CID }, { MemoryBlockstore: HeliaMemoryBlockstore }] = await Promise.all([
    import('helia'), import('@helia/libp2p'), import('@helia/bitswap'), import('@libp2p/tcp'), import('@libp2p/identify'),
    import('@chainsafe/libp2p-noise'), import('@chainsafe/libp2p-yamux'), import('@helia/unixfs'), import('@multiformats/multiaddr'),
    import('multiformats/cid'), import('blockstore-core/memory'),
  ])
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: new HeliaMemoryBlockstore() }), {
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  }))
  await helia.start()
  t.teardown(async () => { await helia.stop() })
  const fs = unixfs(helia)
  return {
    async cat (address, cid, timeoutMs = 30_000) {
      await helia.libp2p.dial(multiaddr(address))
      const signal = AbortSignal.timeout(timeoutMs)
      setMaxListeners(Infinity, signal) // helia listens once per block in flight
      const chunks: Uint8Array[] = []
      for await (const chunk of fs.cat(CID.parse(cid), { signal })) chunks.push(chunk)
      return Buffer.concat(chunks)
    },
  }
}

/** Bucket `shared` with `objects` uploaded by the SDK; resolves to each key's `x-amz-meta-cid` from HeadObject. */
async function upload (s3: S3Client, objects: Record<string, Buffer>): Promise<Record<string, string>> {
  await s3.send(new CreateBucketCommand({ Bucket: 'shared' }))
  const cids: Record<string, string> = {}
  for (const [key, body] of Object.entries(objects)) {
    await s3.send(new PutObjectCommand({ Bucket: 'shared', Key: key, Body: body }))
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'shared', Key: key }))
    cids[key] = head.Metadata?.cid ?? ''
  }
  return cids
}

test('the core never imports helia or libp2p: only src/helia does, and only when a node starts', async (t) => {
  const src = join(REPO_ROOT, 'src')
  const files = (await readdir(src, { recursive: true })).filter(f => f.endsWith('.ts') && !f.startsWith('helia/'))
  t.true(files.length > 20)
  for (const file of files) {
    const text = await readFile(join(src, file), 'utf8')
    t.notRegex(text, /(from\s+|import\(\s*)'(helia['/]|@helia\/|libp2p['/]|@libp2p\/|@chainsafe\/)|from\s+'\.+\/(\.\.\/)*helia\//, file)
  }
  const entry = await readFile(join(src, 'helia', 'index.ts'), 'utf8')
  t.notRegex(entry, /^import (?!type )[^\n]*'(helia['/]|@helia\/|@libp2p\/|@chainsafe\/)/m, 'no static import of the optional peers')
})

test('a second peer fetches a 1-block and a 20 MiB object by their x-amz-meta-cid over bitswap, byte for byte', async (t) => {
  t.timeout(60_000)
  const blockstore = new MemoryBlockstore()
  const gateway = createGateway({ blockstore })
  const server = createServer(gateway)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const node = await startIpfsNode({ blockstore, listen: [LOOPBACK_ANY_PORT] })
  t.teardown(async () => {
    await node.stop()
    server.closeAllConnections()
    await new Promise(resolve => { server.close(resolve) })
    await gateway.close()
  })
  t.regex(node.peerId, /^12D3KooW/)
  t.is(node.multiaddrs.length, 1)
  t.regex(node.multiaddrs[0], new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/[1-9]\\d*/p2p/${node.peerId}$`), 'port 0 is reported as the port it got')

  const objects = { small: deterministicBytes('helia-small', 1000), big: deterministicBytes('helia-big', 20 * MIB) }
  const s3 = s3Client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  t.teardown(() => { s3.destroy() })
  const cids = await upload(s3, objects)
  t.is(cids.small, await ipfsAddCid(objects.small))
  t.is(cids.big, await ipfsAddCid(objects.big))
  t.regex(cids.small, /^bafkrei/, 'one raw block')
  t.regex(cids.big, /^bafybei/, 'a dag-pb root over 20 leaves')

  const peer = await startPeer(t)
  const [small, big] = await Promise.all([peer.cat(node.multiaddrs[0], cids.small), peer.cat(node.multiaddrs[0], cids.big)])
  t.is(small.length, objects.small.length)
  t.true(small.equals(objects.small))
  t.is(big.length, objects.big.length)
  t.true(big.equals(objects.big))

  // Content the gateway does not hold is not found (the peer has nowhere else to get anything from).
  const absent = await ipfsAddCid(deterministicBytes('helia-never-uploaded', 1000))
  const error = await t.throwsAsync(peer.cat(node.multiaddrs[0], absent, 1_500))
  t.regex(error?.name ?? '', /LoadBlockFailed|Abort|Timeout/)

  await node.stop()
  t.deepEqual(node.multiaddrs, [], 'stopped: listens nowhere')
  await node.stop() // repeated: a no-op
})

test('listen addresses: anything but TCP is refused up front, a port in use fails the start', async (t) => {
  const blockstore = new MemoryBlockstore()
  await t.throwsAsync(startIpfsNode({ blockstore, listen: ['/ip4/127.0.0.1/udp/4001/quic-v1'] }), { code: 'ERR_IPFS_LISTEN_ADDRESS', message: /quic-v1/ })
  await t.throwsAsync(startIpfsNode({ blockstore, listen: [] }), { code: 'ERR_IPFS_LISTEN_ADDRESS' })
  const node = await startIpfsNode({ blockstore, listen: [LOOPBACK_ANY_PORT] })
  t.teardown(async () => { await node.stop() })
  const taken = node.multiaddrs[0].replace(/\/p2p\/.*$/, '')
  await t.throwsAsync(startIpfsNode({ blockstore, listen: [taken] }), { code: 'ERR_IPFS_LISTEN', message: /EADDRINUSE/ })
})

test('CLI: serve --ipfs-listen prints the node in its banner and serves what the SDK PUTs', async (t) => {
  t.timeout(60_000)
  const dataDir = await tempDir(t, 's3ipfs-helia-')
  const child = spawnChild(t, process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'serve', '--port', '0', '--data-dir', dataDir, '--ipfs-listen', LOOPBACK_ANY_PORT], {
    cwd: REPO_ROOT,
    dropEnv: /^S3IPFS_/,
    timeouts: { start: 30_000, exit: 15_000 },
  })
  await child.waitFor('stdout', /aws --endpoint-url \S+/)
  const out = child.stdout()
  const endpoint = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)\s*$/m)?.[1]
  const accessKeyId = out.match(/access key:\s+(\S+)/)?.[1]
  const secretAccessKey = out.match(/secret key:\s+(\S+)/)?.[1]
  const peerId = out.match(/ipfs peer id:\s+(\S+)/)?.[1]
  const addresses = [...out.matchAll(/ipfs address:\s+(\S+)/g)].map(m => m[1])
  if (endpoint === undefined || accessKeyId === undefined || secretAccessKey === undefined || peerId === undefined) throw new Error(`unexpected banner:\n${out}`)
  t.is(addresses.length, 1, out)
  t.regex(addresses[0], new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/[1-9]\\d*/p2p/${peerId}$`))

  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 })
  t.teardown(() => { s3.destroy() })
  const body = deterministicBytes('helia-cli', 3 * MIB + 5)
  const { file: cid } = await upload(s3, { file: body })
  t.is(cid, await ipfsAddCid(body))

  const peer = await startPeer(t)
  const got = await peer.cat(addresses[0], cid)
  t.true(got.equals(body))

  child.proc.kill('SIGTERM')
  t.deepEqual(await child.exited(), { code: 0, signal: null }, child.output())
})

test('CLI: serve keeps its peer id in <data-dir>/ipfs.key: after a restart a peer fetches by the old multiaddr', async (t) => {
  t.timeout(90_000)
  const dataDir = await tempDir(t, 's3ipfs-helia-')
  const start = async (listen: string): Promise<{ child: Child, peerId: string, address: string, out: string }> => {
    const child = spawnChild(t, process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'serve', '--port', '0', '--data-dir', dataDir, '--ipfs-listen', listen, '--log-level', 'warn'], {
      cwd: REPO_ROOT,
      dropEnv: /^S3IPFS_/,
      timeouts: { start: 30_000, exit: 15_000 },
    })
    await child.waitFor('stdout', /aws --endpoint-url \S+/)
    const out = child.stdout()
    const peerId = out.match(/ipfs peer id:\s+(\S+)/)?.[1]
    const address = out.match(/ipfs address:\s+(\S+)/)?.[1]
    if (peerId === undefined || address === undefined) throw new Error(`unexpected banner:\n${out}`)
    t.regex(out, new RegExp(`ipfs key:\\s+${join(dataDir, 'ipfs.key')}$`, 'm'))
    return { child, peerId, address, out }
  }
  const stop = async (child: Child): Promise<void> => {
    child.proc.kill('SIGTERM')
    t.deepEqual(await child.exited(), { code: 0, signal: null }, child.output())
  }

  const first = await start(LOOPBACK_ANY_PORT)
  t.is((await stat(join(dataDir, 'ipfs.key'))).mode & 0o777, 0o600)
  const endpoint = first.out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)\s*$/m)?.[1] ?? ''
  const [accessKeyId, secretAccessKey] = [first.out.match(/access key:\s+(\S+)/)?.[1] ?? '', first.out.match(/secret key:\s+(\S+)/)?.[1] ?? '']
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 })
  const body = deterministicBytes('helia-restart', 1000)
  const { file: cid } = await upload(s3, { file: body })
  s3.destroy()
  await stop(first.child)

  // The same port again: the address a peer kept from the first run, /p2p/ part included, still works.
  const again = await start(first.address.replace(/\/p2p\/.*$/, ''))
  t.is(again.peerId, first.peerId)
  t.is(again.address, first.address)
  const peer = await startPeer(t)
  t.true((await peer.cat(first.address, cid)).equals(body))
  await stop(again.child)
})

test('CLI: a listen address that is not TCP is a usage error (exit 2)', async (t) => {
  const dataDir = await tempDir(t, 's3ipfs-helia-')
  const child = spawnChild(t, process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'serve', '--port', '0', '--data-dir', dataDir], {
    cwd: REPO_ROOT,
    env: { S3IPFS_IPFS_LISTEN: `${LOOPBACK_ANY_PORT}, /ip4/127.0.0.1/udp/4001/quic-v1` },
    dropEnv: /^S3IPFS_/,
    timeouts: { start: 30_000, exit: 30_000 },
  })
  t.deepEqual(await child.exited(), { code: 2, signal: null }, child.output())
  t.regex(child.stderr(), /Unsupported IPFS listen address "\/ip4\/127\.0\.0\.1\/udp\/4001\/quic-v1"/)
  t.regex(child.stderr(), /--ipfs-listen MA/, 'followed by the usage')
})
