import { once } from 'node:events'
import { createServer as createHttpServer, type Server } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
// The standalone server is a host like any other, so it mounts the gateway through the node adapter.
import { createAdminHandler, createServer } from '../adapters/node.js'
import type { TrustProxy } from '../adapters/node-io.js'
import type { CidProfileName } from '../src/content/profiles.js'
import { auditLogFile, type AuditSink } from '../src/audit.js'
import { fileCredentials, type UserDirectory } from '../src/auth/user-file.js'
import { createGateway } from '../src/gateway.js'
import { loadOrCreateIpfsKey, startIpfsNode, type IpfsNode, type PrivateKey } from '../src/helia/index.js'
import type { PinningServiceConfig } from '../src/federation/index.js'
import { parseReplicasOption } from '../src/federation/replication.js'
import type { ScrubOptions } from '../src/federation/scrub.js'
import type { Gateway, GatewayInit } from '../src/types.js'
import { jsonLogger, type GatewayLogger, type LogLevel } from '../src/observability/logger.js'
import { createArchiveTarget } from '../src/archive/config.js'
import { loadOrCreateCredentials, loadOrCreateMasterKey, type ServerCredentials } from './key-files.js'
import { closeStores, openStores, type DataDirStores, type StoreChoices } from './stores.js'
import { readTlsPair, reloadTlsOnChange, type TlsFiles } from './tls-files.js'

export type { ServerCredentials } from './key-files.js'
export { kuboStore, openStores, postgresStore, type DataDirStores, type OpenStoresOptions, type StoreChoices } from './stores.js'

export const DEFAULT_PORT = 9090
export const DEFAULT_HOST = '127.0.0.1'
export const DEFAULT_DATA_DIR = './.s3-ipfs'
export const DEFAULT_SHUTDOWN_TIMEOUT = 10_000
/** Where the admin endpoints are: no bucket name can start with '-'. */
export const ADMIN_PATH = '/-'

export interface ServerOptions extends StoreChoices {
  /** TCP port; 0 picks a free one. Default 9090. */
  port?: number
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string
  /** Holds `blocks/`, `meta.db` and `credentials.json`. Default ./.s3-ipfs */
  dataDir?: string
  /** Default 'us-east-1'. */
  region?: string
  /** Default 'unixfs-v1-2025'. */
  cidProfile?: CidProfileName
  /**
   * The access key pair. When either is missing, the pair in `<dataDir>/credentials.json` is used,
   * or generated and saved there (mode 0600) on first start.
   */
  accessKeyId?: string
  secretAccessKey?: string
  /**
   * A users file (see `fileCredentials`): more users, each with access keys and optional identity
   * policies, besides the key pair above (which stays an account of its own). Re-read on change.
   */
  usersFile?: string
  /**
   * The SSE-S3 master key (32 bytes as base64 or hex). Default: `<dataDir>/master.key`, generated
   * on first start (mode 0600) — except with `metadataUrl`, where processes share objects and must
   * share the key: there SSE-S3 needs this option.
   */
  masterKey?: string
  /** Encrypt every new object with SSE-S3 (unless the request uses SSE-C). */
  encrypt?: boolean
  /** Append a JSON-lines audit log of every request to this file. */
  auditLog?: string
  /** Accept SSE-C keys over plain HTTP (S3 refuses them; for a TLS-terminating proxy in front). */
  allowInsecureSseC?: boolean
  /**
   * Serve HTTPS with this certificate and key (PEM files), re-read when they change (a renewal
   * needs no restart). Requests over it count as secure, so SSE-C works without
   * `allowInsecureSseC`. The admin listener (`adminListen`) stays plain HTTP. Default: plain HTTP.
   */
  tls?: TlsFiles
  /** GatewayInit.ipfsGateway: who `/ipfs/<cid>` serves ('authorized' by default, or 'open'). */
  ipfsGateway?: 'open' | 'authorized'
  /** GatewayInit.cidMetadata. */
  cidMetadata?: boolean
  /** GatewayInit.lifecycleDaySeconds. */
  lifecycleDaySeconds?: number
  /** Accept AWS Signature Version 2 (GatewayInit.signatureV2). Default true. */
  signatureV2?: boolean
  /** Mount prefix, e.g. '/s3'. Default: the root. */
  basePath?: string
  trustProxy?: TrustProxy
  /** Further gateway settings (baseDomains, maxObjectSize, logger, ...). */
  gateway?: Omit<GatewayInit, 'blockstore' | 'metadata' | 'credentials' | 'region' | 'cidProfile'>
  /**
   * How long `close()` keeps serving after turning unready, in ms, before it stops accepting
   * connections: the time a load balancer's health checks (or Kubernetes' endpoint updates) take to
   * notice. Meanwhile every response closes its connection, so clients reconnect through the
   * balancer to another gateway. Default 0.
   */
  shutdownDelay?: number
  /** How long `close()` then lets in-flight requests run before cutting their connections, in ms. Default 10 s. */
  shutdownTimeout?: number
  /**
   * TCP multiaddrs (e.g. `/ip4/0.0.0.0/tcp/4001`) for an embedded IPFS node serving the blockstore
   * over bitswap (`s3-ipfs-gateway/helia`; needs its optional peer packages). Default: no node.
   */
  ipfsListen?: string[]
  /**
   * The file that keeps the embedded node's private key, so its peer id (and the `/p2p/` part of
   * its addresses) stays the same across restarts: made on the first start (Ed25519, mode 0600).
   * Default `<dataDir>/ipfs.key`; with `metadataUrl`, none (the processes sharing the metadata
   * usually share the data directory too, and must not share a peer id): a new peer id on every
   * start, unless each process is given its own file.
   */
  ipfsKeyFile?: string
  /**
   * Also serve the admin endpoints (`/-/healthy`, `/-/ready`, `/-/metrics`, `/-/dashboard`) on this
   * address, e.g. `{ host: '0.0.0.0', port: 9091 }` (port 0 picks one). They are always on the S3
   * port under `/-/` too.
   */
  adminListen?: { host: string, port: number }
  /** A bearer token `/-/metrics` requires. Default: none. */
  metricsToken?: string
  /** Remote pinning services that keep replicas of every object version (see GatewayInit.replication). */
  pinningServices?: PinningServiceConfig[]
  /** The default replica policy, `MIN[:MAX]` copies. Default 1 when there are services. */
  replicas?: string
  /** Serve the Pinning Service API at `/-/pins` to holders of this bearer token (federation, `ipfs pin remote`). Default: off. */
  pinsToken?: string
  /**
   * The archive target's configuration (`--archive FILE`): the parsed JSON object that
   * `createArchiveTarget` reads. Default: none (GatewayInit.archive).
   */
  archive?: unknown
  /** Bearer token for admin calls that change things (a bucket's replica policy). Default: none. */
  adminToken?: string
  /** Run background jobs (replication, pins, scrubbing) in this process. Default true. */
  workers?: boolean
  /** How long a claimed job is this process's before another may take it over, ms. Default 60 s. */
  jobLeaseMs?: number
  /** Scrub stored blocks at this pace (see GatewayInit.scrub). Default: off. */
  scrub?: ScrubOptions
  /**
   * Level of the JSON log lines on stderr (one `info` line per request). Default 'warn' (the `serve`
   * command's default is 'info'). Ignored when `gateway.logger` is given.
   */
  logLevel?: LogLevel
}

export interface RunningServer {
  /** `http(s)://host:port` plus the base path, for `--endpoint-url` / the SDK's `endpoint`. */
  url: string
  port: number
  host: string
  gateway: Gateway
  credentials: ServerCredentials
  /** An `https.Server` with `tls`. */
  server: Server | HttpsServer
  /** The embedded IPFS node, when `ipfsListen` was given. */
  ipfs?: IpfsNode
  /** The file the embedded node's key is kept in; undefined when it has a new peer id on every start. */
  ipfsKeyFile?: string
  /** `http://host:port` of the admin listener, when `adminListen` was given. */
  adminUrl?: string
  /**
   * A graceful shutdown: turns unready at once (`/-/ready` answers 503, status 'draining'), keeps
   * serving for `shutdownDelay`, then stops accepting connections, lets in-flight requests finish
   * (for at most `shutdownTimeout`, then destroys their sockets) and closes the gateway.
   * Repeated calls return the same promise.
   */
  close(): Promise<void>
}

/** Starts the standalone gateway on node:http with PackBlockstore + SQLite under `dataDir`. */
export async function startServer (options: ServerOptions = {}): Promise<RunningServer> {
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR)
  const host = options.host ?? DEFAULT_HOST
  const port = options.port ?? DEFAULT_PORT
  const region = options.region ?? 'us-east-1'
  const shutdownTimeout = options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT
  const shutdownDelay = options.shutdownDelay ?? 0

  if ((options.accessKeyId === undefined) !== (options.secretAccessKey === undefined)) {
    throw new TypeError('Set both the access key and the secret key, or neither (then a pair is generated and kept in the data directory)')
  }
  // Before anything is opened or made: unusable TLS files stop the start (code ERR_TLS_FILES).
  const tlsPair = options.tls === undefined ? undefined : readTlsPair(options.tls)
  const credentials = options.accessKeyId !== undefined && options.secretAccessKey !== undefined
    ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
    : await loadOrCreateCredentials(dataDir)

  // Opened first: a log path that cannot be written stops the start before anything else is opened.
  const audit = options.auditLog === undefined ? undefined : auditLogFile(resolve(options.auditLog))
  const ownLogger = options.gateway?.logger === undefined ? jsonLogger({ level: options.logLevel ?? 'warn' }) : undefined
  const logger = options.gateway?.logger ?? ownLogger as GatewayLogger
  let stores: DataDirStores | undefined
  let gateway: Gateway
  let ipfs: IpfsNode | undefined
  let ipnsKey: PrivateKey | undefined
  const ipfsKeyFile = options.ipfsListen === undefined || options.ipfsListen.length === 0
    ? undefined
    : options.ipfsKeyFile === undefined ? (options.metadataUrl === undefined ? join(dataDir, 'ipfs.key') : undefined) : resolve(options.ipfsKeyFile)
  try {
    stores = await openStores(dataDir, {
      blockstore: options.blockstore,
      metadata: options.metadata,
      metadataUrl: options.metadataUrl,
      redisUrl: options.redisUrl,
      ipfsApi: options.ipfsApi,
      ipfsApiHeaders: options.ipfsApiHeaders,
      logger,
    })
    if (options.ipfsListen !== undefined && options.ipfsListen.length > 0) {
      // Before the gateway: its replicas' requests name this node as their origin, and reads and
      // pin requests fetch through it.
      // A kept key also names the buckets' published snapshots (IPNS); a key new on every start would move the names.
      ipnsKey = ipfsKeyFile === undefined ? undefined : await loadOrCreateIpfsKey(ipfsKeyFile)
      ipfs = await startIpfsNode({ blockstore: stores.blockstore, listen: options.ipfsListen, privateKey: ipnsKey })
    }
    const archive = options.archive === undefined ? options.gateway?.archive : createArchiveTarget(options.archive, { ipfs })
    const masterKey = options.masterKey ?? (options.metadataUrl === undefined ? await loadOrCreateMasterKey(dataDir) : undefined)
    if (options.encrypt === true && masterKey === undefined) {
      throw new TypeError('Encrypting every object needs a master key: with shared (PostgreSQL) metadata, give it (S3IPFS_MASTER_KEY)')
    }
    gateway = createGateway({
      ...options.gateway,
      ...stores,
      credentials: serverCredentials(credentials, options.usersFile),
      region,
      cidProfile: options.cidProfile,
      masterKey,
      encryptByDefault: options.encrypt === true,
      allowInsecureSseC: options.allowInsecureSseC,
      cidMetadata: options.cidMetadata,
      ipfsGateway: options.ipfsGateway ?? options.gateway?.ipfsGateway,
      lifecycleDaySeconds: options.lifecycleDaySeconds,
      archive,
      signatureV2: options.signatureV2 ?? options.gateway?.signatureV2,
      audit: bothSinks(audit?.sink, options.gateway?.audit),
      logger,
      metricsToken: options.metricsToken ?? options.gateway?.metricsToken,
      ipfs: ipfs ?? options.gateway?.ipfs,
      ipnsKey: ipnsKey ?? options.gateway?.ipnsKey,
      replication: options.pinningServices === undefined || options.pinningServices.length === 0
        ? options.gateway?.replication
        : { ...options.gateway?.replication, services: options.pinningServices, replicas: options.replicas === undefined ? options.gateway?.replication?.replicas : parseReplicasOption(options.replicas) },
      pinsToken: options.pinsToken ?? options.gateway?.pinsToken,
      adminToken: options.adminToken ?? options.gateway?.adminToken,
      jobs: { ...options.gateway?.jobs, ...(options.workers === undefined ? {} : { workers: options.workers }), ...(options.jobLeaseMs === undefined ? {} : { leaseMs: options.jobLeaseMs }) },
      scrub: options.scrub ?? options.gateway?.scrub,
    })
  } catch (err) {
    await ipfs?.stop().catch(() => {})
    await closeStores(stores)
    await audit?.close()
    throw err
  }
  if (options.ipfsListen !== undefined && options.ipfsListen.length > 0 && options.encrypt !== true) {
    process.emitWarning('the embedded IPFS node serves every stored block to any peer that asks for its CID: content that is not ' +
      'encrypted (SSE-S3 / SSE-C, or --encrypt for all of it) is public to anyone who learns an object\'s CID.', { code: 'S3IPFS_PUBLIC_CONTENT' })
  }

  const server = createServer(gateway, { basePath: options.basePath, trustProxy: options.trustProxy, adminPath: ADMIN_PATH, tls: tlsPair })
  let draining = false
  // Once draining, no connection is kept alive: the client's next request opens a new one, which
  // the balancer sends to a gateway that is still ready.
  server.prependListener('request', (_req, res) => { if (draining) res.setHeader('connection', 'close') })
  if (options.tls !== undefined) reloadTlsOnChange(server as HttpsServer, options.tls, logger)
  let adminServer: Server | undefined
  try {
    await listen(server, port, host)
    if (options.adminListen !== undefined) {
      const admin = createAdminHandler(gateway, { basePath: ADMIN_PATH, trustProxy: options.trustProxy })
      adminServer = createHttpServer((req, res) => { admin(req, res) })
      await listen(adminServer, options.adminListen.port, options.adminListen.host)
    }
  } catch (err) {
    if (server.listening) await new Promise((resolve) => { server.close(resolve) })
    await gateway.close()
    await ipfs?.stop()
    await audit?.close()
    throw err
  }

  const address = server.address() as AddressInfo
  const adminAddress = adminServer?.address() as AddressInfo | undefined
  const basePath = normalize(options.basePath)
  let closing: Promise<void> | undefined
  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://${urlHost(address.address)}:${address.port}${basePath}`,
    port: address.port,
    host: address.address,
    gateway,
    credentials,
    server,
    ipfs,
    ipfsKeyFile,
    adminUrl: adminAddress === undefined ? undefined : `http://${urlHost(adminAddress.address)}:${adminAddress.port}`,
    close: () => (closing ??= (async () => {
      draining = true
      gateway.drain()
      try {
        if (shutdownDelay > 0) await new Promise((resolve) => setTimeout(resolve, shutdownDelay))
        await ipfs?.stop()
      } finally {
        try {
          if (adminServer !== undefined) {
            adminServer.closeAllConnections()
            await new Promise((resolve) => { adminServer?.close(resolve) })
          }
          await shutdown(server, gateway, shutdownTimeout)
        } finally {
          await audit?.close()
          ownLogger?.flush()
        }
      }
    })()),
  }
}

async function listen (server: Server | HttpsServer, port: number, host: string): Promise<void> {
  server.listen(port, host)
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => { throw err }),
  ])
}

async function shutdown (server: Server | HttpsServer, gateway: Gateway, timeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  server.closeIdleConnections()
  // keep-alive connections that become idle after their last reply
  const idle = setInterval(() => { server.closeIdleConnections() }, 100)
  const timer = setTimeout(() => { server.closeAllConnections() }, timeoutMs)
  try {
    await closed
  } finally {
    clearInterval(idle)
    clearTimeout(timer)
  }
  await gateway.close()
}

/** Each entry to both sinks (the audit log file and `gateway.audit`), when both are given. */
function bothSinks (a: AuditSink | undefined, b: AuditSink | undefined): AuditSink | undefined {
  if (a === undefined || b === undefined) return a ?? b
  // One failing (even synchronously) must not keep the entry from the other.
  return async (entry) => { await Promise.all([(async () => { await a(entry) })(), (async () => { await b(entry) })()]) }
}

/** The server's key pair (an account named by its access key id), and the users file's users. */
function serverCredentials (pair: ServerCredentials, usersFile: string | undefined): GatewayInit['credentials'] {
  const own = { secretAccessKey: pair.secretAccessKey, principal: pair.accessKeyId, displayName: pair.accessKeyId }
  if (usersFile === undefined) return { [pair.accessKeyId]: pair.secretAccessKey }
  const users = fileCredentials({ path: resolve(usersFile) })
  const provider = ((accessKeyId: string) => accessKeyId === pair.accessKeyId ? own : users(accessKeyId)) as UserDirectory
  provider.knownPrincipal = (id: string) => id === pair.accessKeyId || users.knownPrincipal(id)
  return provider
}

function normalize (basePath: string | undefined): string {
  if (basePath === undefined || basePath === '' || basePath === '/') return ''
  const b = basePath.startsWith('/') ? basePath : '/' + basePath
  return b.replace(/\/+$/, '')
}

function urlHost (address: string): string {
  if (address === '0.0.0.0' || address === '::') return '127.0.0.1'
  return address.includes(':') ? `[${address}]` : address
}
