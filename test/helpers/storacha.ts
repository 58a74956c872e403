import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import * as Ed25519 from '@storacha/client/principal/ed25519'
import { Absentee } from '@storacha/client/principal'
import { delegate } from '@storacha/client/delegation'
import { invoke, Message, Receipt } from '@ucanto/core'
import { CAR } from '@ucanto/transport'
import { base64 } from 'multiformats/bases/base64'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import type { ExecutionContext } from 'ava'
import type { StorachaArchiveConfig } from '../../src/archive/storacha-target.js'

/**
 * A Storacha service on loopback for the archive target's tests. What is real and what stands in:
 *
 * - Real Storacha service code: `@storacha/upload-api`'s in-memory service (`./test/context`): the
 *   upload service's UCAN handlers (space/blob/add and its allocate / http/put / accept flow,
 *   space/index/add, upload/*, filecoin/offer and filecoin/info), its in-memory tables, and three
 *   storage nodes that take the blob PUTs over HTTP, issue location claims and serve blobs by GET.
 *   The space is provisioned with a real provider/add invocation.
 * - Served here over HTTP, as Storacha's deployment does: the upload service at `POST /`, and the
 *   receipts the service recorded (its agent store) at `GET /receipt/<task CID>`, in the agent
 *   message format the client reads.
 * - A stand-in for Storacha's gateway (w3s.link): `GET /ipfs/<shard CAR CID>` answers with the blob,
 *   found the way the service's own blob retriever finds it (indexing service and location claims,
 *   then a GET from the storage node); 404 when it finds none.
 * - No Filecoin pipeline runs: `seedDeal` writes what the storefront would hold once a piece is in
 *   an aggregate with a deal (the piece record and the filecoin/accept receipt); the deal itself
 *   comes from the test context's mock deal tracker (deal 111 with provider f11111).
 */
/**
 * The parts of the upload service's test context used here. (Its own types reach TypeScript sources
 * of a dependency that do not compile under this project's settings, so the module is imported
 * untyped.)
 */
export interface ServiceContext {
  id: Parameters<typeof Receipt.issue>[0]['issuer'] & { did: () => `did:web:${string}` }
  service: ServiceContext['id']
  connection: { channel: unknown }
  agentStore: { receipts: { get: (task: CID) => Promise<{ ok?: Parameters<typeof Message.build>[0]['receipts'] extends Iterable<infer R> | undefined ? R : never }> } }
  blobRetriever: { stream: (digest: CID['multihash']) => Promise<{ ok?: ReadableStream<Uint8Array> }> }
  uploadTable: {
    exists: (space: string, root: CID) => Promise<{ ok?: boolean }>
    get: (space: string, root: CID) => Promise<{ ok?: { shards?: CID[] } }>
  }
  registry: { find: (space: string, digest: CID['multihash']) => Promise<{ ok?: unknown, error?: { name: string } }> }
  pieceStore: { put: (record: Record<string, unknown>) => Promise<{ error?: Error }> }
  receiptStore: { put: (receipt: unknown) => Promise<{ error?: Error }> }
}

interface UploadApiTestModules {
  context: {
    createContext: (options: { http: typeof http, requirePaymentPlan: boolean }) => Promise<ServiceContext>
    cleanupContext: (context: ServiceContext) => Promise<unknown>
  }
  utils: {
    provisionProvider: (input: { service: ServiceContext['service'], agent: Ed25519.EdSigner, space: Ed25519.EdSigner, account: unknown, connection: unknown }) => Promise<{ out: { error?: unknown } }>
  }
}

async function uploadApiTest (): Promise<UploadApiTestModules> {
  const [context, utils] = await Promise.all(['@storacha/upload-api/test/context', '@storacha/upload-api/test/utils'].map(async (name: string) => await import(name)))
  return { context, utils } as UploadApiTestModules
}

export interface StorachaFixture {
  /** The configuration of an archive target on this service, agent and space. */
  config: StorachaArchiveConfig
  space: string
  /** The upload service's context (its tables, stores, storage nodes). */
  context: ServiceContext
  /** The stand-in gateway's base URL. */
  gatewayUrl: string
  /** A delegation of `space`'s abilities to `audience`, issued by `issuer` (default the space), in the CLI's --base64 form. */
  proofFor: (audience: string, issuer?: Ed25519.EdSigner) => Promise<string>
  /** Makes filecoin/info report a deal for `piece`, whose shard is `shard`. */
  seedDeal: (piece: string, shard: string) => Promise<void>
}

/** The abilities the target documents as needed. */
export const ABILITIES = [
  'space/blob/add', 'space/index/add', 'filecoin/offer', 'upload/add',
  'upload/get', 'upload/remove', 'space/blob/remove', 'filecoin/info',
] as const

export async function startStoracha (t: ExecutionContext): Promise<StorachaFixture> {
  const { context: { createContext, cleanupContext }, utils: { provisionProvider } } = await uploadApiTest()
  const context = await createContext({ http, requirePaymentPlan: false })
  const servers: http.Server[] = []
  t.teardown(async () => {
    for (const server of servers) {
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
    }
    await cleanupContext(context)
  })
  const listen = async (handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): Promise<string> => {
    const server = http.createServer((req, res) => {
      handle(req, res).catch(err => {
        t.log('storacha fixture:', err)
        if (!res.headersSent) res.writeHead(500)
        res.end()
      })
    })
    servers.push(server)
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  const serviceUrl = await listen(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    if (req.method === 'POST' && path === '/') {
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]))
      const channel = context.connection.channel as unknown as { request: (r: { headers: Record<string, string>, body: Uint8Array }) => Promise<{ status?: number, headers: Record<string, string>, body: Uint8Array }> }
      const out = await channel.request({ headers, body: new Uint8Array(Buffer.concat(chunks)) })
      res.writeHead(out.status ?? 200, out.headers)
      res.end(out.body)
      return
    }
    const receipt = /^\/receipt\/([^/]+)$/.exec(path)
    if (req.method === 'GET' && receipt !== null) {
      const found = await context.agentStore.receipts.get(CID.parse(receipt[1]))
      if (found.ok === undefined) {
        res.writeHead(404)
        res.end()
        return
      }
      const message = await Message.build({ receipts: [found.ok] })
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' })
      res.end(CAR.request.encode(message).body)
      return
    }
    res.writeHead(404)
    res.end()
  })

  const gatewayUrl = await listen(async (req, res) => {
    const match = /^\/ipfs\/([^/?]+)$/.exec(new URL(req.url ?? '/', 'http://localhost').pathname)
    let cid: CID | undefined
    try {
      cid = match === null ? undefined : CID.parse(match[1])
    } catch {}
    if (req.method !== 'GET' || cid === undefined || cid.code !== 0x0202) {
      res.writeHead(400)
      res.end()
      return
    }
    const found = await context.blobRetriever.stream(cid.multihash)
    if (found.ok === undefined) {
      res.writeHead(404)
      res.end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.car; version=1' })
    Readable.fromWeb(found.ok as import('node:stream/web').ReadableStream<Uint8Array>).pipe(res)
  })

  const space = await Ed25519.generate()
  const agent = await Ed25519.generate()
  const account = Absentee.from({ id: 'did:mailto:example.com:archive' })
  const provisioned = await provisionProvider({ service: context.service, agent, space, account, connection: context.connection })
  if (provisioned.out.error !== undefined) throw new Error('provider/add failed', { cause: provisioned.out.error })

  const proofFor = async (audience: string, issuer: Ed25519.EdSigner = space): Promise<string> => {
    const delegation = await delegate({
      issuer,
      audience: { did: () => audience as `did:key:${string}` },
      capabilities: ABILITIES.map(can => ({ can, with: space.did() })) as never,
      expiration: Infinity,
    })
    const archive = await delegation.archive()
    if (archive.ok === undefined) throw new Error('delegation archive failed')
    return CID.create(1, 0x0202, identity.digest(archive.ok)).toString(base64)
  }

  const seedDeal = async (piece: string, shard: string): Promise<void> => {
    const pieceLink = CID.parse(piece)
    const content = CID.createV1(raw.code, CID.parse(shard).multihash)
    const now = new Date().toISOString()
    const stored = await context.pieceStore.put({ piece: pieceLink, content, group: context.id.did(), status: 'accepted', insertedAt: now, updatedAt: now })
    if (stored.error !== undefined) throw stored.error
    // The storefront finds the aggregate through the receipt of the filecoin/accept task it forked on offer.
    const accept = await invoke({
      issuer: context.id,
      audience: context.id,
      capability: { can: 'filecoin/accept', with: context.id.did(), nb: { piece: pieceLink, content } },
      expiration: Infinity,
    }).delegate()
    const receipt = await Receipt.issue({
      issuer: context.id,
      ran: accept,
      result: { ok: { piece: pieceLink, aggregate: pieceLink, inclusion: { subtree: [0n, []], index: [0n, []] } } },
    })
    const written = await context.receiptStore.put(receipt)
    if (written.error !== undefined) throw written.error
  }

  return {
    config: {
      type: 'storacha',
      key: Ed25519.format(agent),
      proof: await proofFor(agent.did()),
      serviceUrl,
      serviceDid: context.id.did(),
      gatewayUrl,
      retries: 0,
    },
    space: space.did(),
    context,
    gatewayUrl,
    proofFor,
    seedDeal,
  }
}
