import { randomBytes } from 'node:crypto'
import { authenticate, type AuthContext } from './auth/sigv4.js'
import { withQueryAmzHeaders } from './auth/sigv2.js'
import { toCredentialProvider } from './auth/credentials.js'
import { ANONYMOUS_PRINCIPAL, Authorizer, identityPolicies } from './auth/authorize.js'
import { authorizeOperation } from './auth/authorize-operation.js'
import { checkExpectedOwner } from './auth/expected-owner.js'
import { FailoverBlockstore } from './blockstores/failover.js'
import { MemoryBlockstore } from './blockstores/memory.js'
import { ContentStore } from './content/content-store.js'
import { collectGarbage, isSweepable } from './content/gc.js'
import { isPinner, reconcilePins, type ReconcileReport } from './content/pins.js'
import { isAbortError, S3Error, toS3Error } from './errors.js'
import { corsResponseHeaders, fromStoredCors } from './protocol/cors.js'
import { headerText } from './protocol/headers.js'
import { MemoryMetadataStore } from './metadata/memory.js'
import { PinnedMetadataStore } from './metadata/pinned.js'
import { OPERATIONS } from './operations/index.js'
import type { OperationContext } from './operations/context.js'
import type { EncryptionSettings } from './operations/encryption.js'
import { address, route } from './router.js'
import { renderXml } from './xml/render.js'
import { Observability } from './observability/index.js'
import { Federation } from './federation/index.js'
import { DEFAULT_DAY_MS, LIFECYCLE, lifecycleHandler } from './lifecycle/pass.js'
import { ARCHIVE, ARCHIVE_DELETE, archiveDeleteHandler, archiveHandler } from './archive/jobs.js'
import { withArchiveJobs } from './archive/wrap.js'
import { archiveAdmin } from './archive/admin.js'
import { findByCid } from './discovery/find-by-cid.js'
import { serveIpfs } from './ipfs-gateway/index.js'
import { searchBucket } from './discovery/search.js'
import { handleSnapshots } from './snapshots/http.js'
import { SnapshotNames } from './snapshots/ipns.js'
import { ipnsRecordServer } from './ipns/server.js'
import { json } from './federation/admin.js'
import type { JobHandler } from './jobs/handler.js'
import { reconcileLifecycle } from './lifecycle/reconcile.js'
import { defaultLogger } from './observability/logger.js'
import type { Exchange, RequestState as ObservedState } from './observability/request-observer.js'
import type { Gateway, GatewayGcOptions, GatewayGcReport, GatewayInit, S3Request, S3Response } from './types.js'

const FIVE_GIB = 5 * 1024 * 1024 * 1024

/** A master key given as 32 bytes, or as base64 or hex of 32 bytes. */
function parseMasterKey (key: Uint8Array | string): Uint8Array {
  const bytes = typeof key !== 'string'
    ? key
    : /^[0-9a-fA-F]{64}$/.test(key) ? Buffer.from(key, 'hex') : Buffer.from(key, 'base64')
  if (bytes.byteLength !== 32) throw new TypeError('masterKey must be 32 bytes (or their base64 or hex)')
  return new Uint8Array(bytes)
}

/** What a request got to before it was answered: its bucket and authorizer, for CORS headers. */
interface RequestState extends ObservedState {
  authorizer?: Authorizer
}

/** S3's limit on a request's header section ("The PUT request header is limited to 8 KB"). */
const MAX_HEADER_BYTES = 8 * 1024

function headerBytes (headers: Record<string, string>): number {
  let total = 0
  for (const name in headers) total += name.length + headers[name].length + 4
  return total
}

/** Request ids: a random per-process prefix and a counter (unique without a syscall per request). */
const ID_PREFIX = randomBytes(4).toString('hex').toUpperCase()
let idCounter = 0
function defaultId (): string {
  idCounter = (idCounter + 1) % 0x100000000
  return ID_PREFIX + idCounter.toString(16).toUpperCase().padStart(8, '0')
}

/** 36^9 - 1 ms, past the year 3500: the time prefix keeps 9 characters until then. */
const TIME_PREFIX_LIMIT = 36 ** 9 - 1

/**
 * Unique, URL-safe ids with a time prefix: counting up for upload ids (uploads list in initiation
 * order), counting down for version ids (a key's version ids sort newest first, as listed).
 */
function defaultNewId (kind: 'upload' | 'version'): string {
  const ms = Date.now()
  const prefix = (kind === 'upload' ? ms : TIME_PREFIX_LIMIT - ms).toString(36).padStart(9, '0')
  return prefix + randomBytes(kind === 'upload' ? 12 : 15).toString('base64url')
}

/**
 * Builds a gateway. With no options everything lives in memory (for unit tests of users' apps).
 */
export function createGateway (init: GatewayInit = {}): Gateway {
  const logger = init.logger ?? defaultLogger()
  const baseStore = init.metadata ?? new MemoryMetadataStore()
  const baseBlockstore = init.blockstore ?? new MemoryBlockstore()
  const observability = new Observability({
    metrics: init.metrics,
    metricsToken: init.metricsToken,
    readinessTimeoutMs: init.readinessTimeoutMs,
    logger,
    audit: init.audit,
    now: init.now ?? (() => new Date()),
  }, { blockstore: baseBlockstore, metadata: baseStore })
  // With an IPFS node, a block missing or corrupt here is fetched from the replicas' nodes and written back.
  const ipfs = init.ipfs
  const fetchBlock = ipfs?.fetchBlock?.bind(ipfs)
  const failover = fetchBlock === undefined ? undefined : new FailoverBlockstore(baseBlockstore, {
    fetchBlock: async (cid, options) => {
      // No peer to ask (no replica is confirmed, none reachable): fail now rather than after the fetch timeout.
      if (ipfs?.peers?.length === 0) throw Object.assign(new Error(`No IPFS peer is connected to fetch ${cid} from`), { code: 'ERR_BLOCK_UNAVAILABLE' })
      return await fetchBlock(cid, options)
    },
    onRepair: (event) => { observability.blockRepaired(event.reason, event.writeError) },
    onMiss: (event) => { observability.blockLost(event.reason, event.error) },
  })
  const blockstore = observability.blockstore(failover ?? baseBlockstore)
  const lifecycleDayMs = init.lifecycleDaySeconds === undefined ? DEFAULT_DAY_MS : init.lifecycleDaySeconds * 1000
  if (!(lifecycleDayMs >= 1000)) throw new TypeError('lifecycleDaySeconds must be at least 1')
  // Lifecycle passes and archive jobs work through the same stores as requests (built below, with their jobs).
  const late: Partial<Record<string, JobHandler>> = {}
  const forward = (kind: string): JobHandler => async (job, context) =>
    await late[kind]?.(job, context) ?? { state: 'retry', runAt: new Date(context.now().getTime() + 1000) }
  const federation = new Federation({
    handlers: { [LIFECYCLE]: forward(LIFECYCLE), [ARCHIVE]: forward(ARCHIVE), [ARCHIVE_DELETE]: forward(ARCHIVE_DELETE) },
    metadata: baseStore,
    replication: init.replication,
    ipfs,
    adminToken: init.adminToken,
    pinsToken: init.pinsToken,
    jobs: init.jobs,
    scrub: init.scrub,
    blocks: { stored: baseBlockstore, repairing: failover },
    onScrubFinding: (finding) => { observability.scrubFinding(finding.reason, finding.result) },
    logger,
    now: init.now ?? (() => new Date()),
    onJobFinished: (job, outcome, ms) => { observability.jobFinished(job.kind, outcome.state, ms) },
  })
  observability.watchJobs(async () => await baseStore.countJobs())
  // On a store that pins (a networked node), every reference change is mirrored as a pin.
  const pinner = isPinner(blockstore) ? blockstore : undefined
  const queued = withArchiveJobs(federation.wrap(baseStore), init.archive !== undefined)
  const metadata = observability.metadata(pinner === undefined ? queued : new PinnedMetadataStore(queued, pinner, logger), baseStore)
  late[LIFECYCLE] = lifecycleHandler({ metadata, dayMs: lifecycleDayMs, newVersionId: () => newId('version'), archiving: init.archive !== undefined, logger })
  const credentials = toCredentialProvider(init.credentials)
  const region = init.region ?? 'us-east-1'
  const content = new ContentStore({ blockstore, profile: init.cidProfile ?? 'unixfs-v1-2025' })
  late[ARCHIVE] = archiveHandler({ metadata, content, target: init.archive, dayMs: lifecycleDayMs, logger })
  late[ARCHIVE_DELETE] = archiveDeleteHandler({ metadata, target: init.archive })
  const archiveView = archiveAdmin({ metadata, target: init.archive, adminToken: init.adminToken })
  // Buckets' IPNS names and their signed records: public, like any IPNS record.
  const snapshotNames = init.ipnsKey === undefined ? undefined : new SnapshotNames({ nodeKey: init.ipnsKey, metadata })
  const ipnsRecords = snapshotNames === undefined ? undefined : ipnsRecordServer({ resolve: snapshotNames.resolve })
  const now = init.now ?? (() => new Date())
  const signatureClock = init.signatureClock ?? now
  const signatureV2 = init.signatureV2 ?? true
  const newId = init.newId ?? defaultNewId
  const requestId = init.requestId ?? defaultId
  const baseDomains = (init.baseDomains ?? []).map(d => d.toLowerCase())
  const maxObjectSize = init.maxObjectSize ?? FIVE_GIB
  const maxHeaderBytes = init.maxHeaderBytes ?? MAX_HEADER_BYTES
  const cidMetadata = init.cidMetadata ?? true
  const ipfsGatewayMode = init.ipfsGateway ?? 'authorized'
  if (ipfsGatewayMode !== 'open' && ipfsGatewayMode !== 'authorized') throw new TypeError('ipfsGateway must be \'open\' or \'authorized\'')
  const encryption: EncryptionSettings = {
    masterKey: init.masterKey === undefined ? undefined : parseMasterKey(init.masterKey),
    encryptByDefault: init.encryptByDefault ?? false,
    allowInsecureSseC: init.allowInsecureSseC ?? false,
  }
  if (encryption.encryptByDefault && encryption.masterKey === undefined) {
    throw new TypeError('encryptByDefault needs a masterKey')
  }
  if (pinner !== undefined && !encryption.encryptByDefault) {
    logger.warn({}, 'content is stored on a networked IPFS node without encryption: anyone who learns an object\'s CID can ' +
      'fetch its bytes from the IPFS network, whatever the bucket\'s policy says. Set encryptByDefault (with a masterKey) to store ' +
      'only ciphertext, or use SSE-S3 / SSE-C per object or bucket.')
  }
  let closed = false

  /** Pinned set = referenced set, after a crash between a commit and its pin or unpin. */
  const reconcile = async (signal?: AbortSignal): Promise<ReconcileReport | undefined> => {
    if (pinner === undefined) return undefined
    try {
      const report = await reconcilePins(metadata, pinner, { held: () => content.protectedRoots(), signal })
      observability.reconciled(report)
      return report
    } catch (error) {
      observability.reconciled(undefined, error)
      throw error
    }
  }
  const startup = reconcile().catch((err: unknown) => {
    logger.error({ err }, 'reconciling pins at start-up failed; gc() retries it')
  }).then(async () => {
    if (closed) return
    await reconcileLifecycle(baseStore)
    await federation.start()
  }).catch((err: unknown) => {
    logger.error({ err }, 'starting the job worker failed')
  })

  /** The request with its headers as text, refused when they are too large. */
  function withTextHeaders (received: S3Request): S3Request {
    const text = headerText(received.headers)
    const req = text === received.headers ? received : { ...received, headers: text }
    if (headerBytes(req.headers) > maxHeaderBytes) throw new S3Error('RequestHeaderSectionTooLarge', undefined, { MaxSizeAllowed: String(maxHeaderBytes) })
    return req
  }

  /**
   * Who sent the request (SigV4 header or presigned, SigV2 when enabled; anonymous when unsigned),
   * and the authorizer that decides its accesses: for S3 requests and for the admin views that
   * answer S3 principals (find-by-CID) alike.
   */
  async function authenticated (received: S3Request, query: URLSearchParams, state: RequestState, hostBucket?: string): Promise<{ req: S3Request, auth: AuthContext, principal?: string, authorizer: Authorizer }> {
    let req = received
    // A CORS preflight is never authenticated (as in S3): it may be sent to a presigned URL whose
    // signature is for the request that follows it.
    const auth: AuthContext = req.method === 'OPTIONS'
      ? { anonymous: true, payloadMode: 'NONE' }
      : await authenticate(req, { credentials, region, now: signatureClock(), signatureV2, hostBucket })
    state.auth = auth
    if (auth.signatureVersion === 2 && auth.presigned === true) req = withQueryAmzHeaders(req)
    const principal = auth.anonymous ? undefined : auth.principal
    const authorizer = new Authorizer({
      metadata,
      requester: { principal, policies: identityPolicies(auth.policies) },
      req,
      query,
      now,
      signal: req.signal,
      authType: auth.anonymous ? undefined : auth.presigned === true ? 'REST-QUERY-STRING' : 'REST-HEADER',
      signatureVersion: auth.signatureVersion,
    })
    state.authorizer = authorizer
    return { req, auth, principal, authorizer }
  }

  async function dispatch (received: S3Request, id: string, state: RequestState): Promise<S3Response> {
    const relative = received.path.slice(received.basePath.length) || '/'
    const query = new URLSearchParams(received.query)
    const target = address({ path: relative, hostname: received.hostname, baseDomains })
    // The bucket name `ipfs` is reserved: path-style GET/HEAD /ipfs/<cid>[/<path>] is the IPFS gateway.
    if (target.virtualHosted !== true && relative.startsWith('/ipfs/') && (received.method === 'GET' || received.method === 'HEAD')) {
      return await ipfsGateway(received, relative.slice('/ipfs/'.length), state)
    }
    // `/ipns/<name>` asking for the signed record (else the bucket `ipns`, as before).
    if (ipnsRecords !== undefined && target.virtualHosted !== true && relative.startsWith('/ipns/')) {
      const record = await ipnsRecords.gatewayRecord(received, relative.slice('/ipns/'.length))
      if (record !== undefined) { state.operation = 'IpnsRecord'; return record }
    }
    state.bucket = target.bucket
    state.key = target.key
    const { req, auth, principal, authorizer } = await authenticated(withTextHeaders(received), query, state, target.virtualHosted === true ? target.bucket : undefined)
    const match = route(req.method, target, query, req.headers)
    state.operation = match.operation
    await authorizeOperation(authorizer, match, query)
    if (match.operation !== 'CreateBucket') await checkExpectedOwner(authorizer, match.bucket, req.headers['x-amz-expected-bucket-owner'])
    const ctx: OperationContext = {
      req,
      operation: match.operation,
      bucket: match.bucket,
      key: match.key,
      query,
      auth,
      principal: principal ?? ANONYMOUS_PRINCIPAL,
      displayName: principal === undefined ? 'anonymous' : auth.displayName ?? principal,
      knownPrincipal: credentials.knownPrincipal,
      authorizer,
      metadata,
      credentials,
      signatureClock,
      signatureV2,
      content,
      session: content.session(),
      region,
      encryption,
      replication: federation.replicating ? federation : undefined,
      maxObjectSize,
      now,
      newId,
      requestId: id,
      signal: req.signal,
      lifecycleDayMs,
      archive: init.archive,
      wakeJobs: () => { federation.wake() },
    }
    const operation = OPERATIONS[match.operation]
    if (operation === undefined) throw new S3Error('NotImplemented')
    if (init.beforeOperation !== undefined) {
      await init.beforeOperation({ operation: match.operation, bucket: match.bucket, key: match.key, request: req })
    }
    try {
      return await operation(ctx)
    } finally {
      ctx.session.close()
    }
  }

  /** `GET/HEAD /ipfs/<cid>[/<path>]`, authenticated as S3 requests are (see serveIpfs). */
  async function ipfsGateway (received: S3Request, rest: string, state: RequestState): Promise<S3Response> {
    state.operation = 'IpfsGateway'
    const { req, authorizer } = await authenticated(withTextHeaders(received), new URLSearchParams(received.query), state)
    return await serveIpfs({ content, blockstore, metadata, mode: ipfsGatewayMode }, req, rest, authorizer)
  }

  /** The bucket's CORS headers for a request from a browser origin, on success and error alike. */
  async function addCorsHeaders (req: S3Request, state: RequestState, response: S3Response): Promise<void> {
    if (state.bucket === undefined || state.bucket === '') return
    try {
      const bucket = state.authorizer !== undefined
        ? await state.authorizer.bucket(state.bucket)
        : await metadata.getBucket(state.bucket)
      Object.assign(response.headers, corsResponseHeaders(fromStoredCors(bucket?.config?.cors), req.headers.origin, req.method))
    } catch (err) {
      // A client that went away needs no headers; anything else is worth knowing.
      if (!isAbortError(err)) logger.error({ bucket: state.bucket, err }, 'reading the bucket\'s CORS rules failed')
    }
  }

  /**
   * Where a request to an S3 principal's endpoint begins and ends (see RequestObserver): `run`
   * answers it, `renderError` turns what it throws into the answer.
   */
  async function observed (incoming: S3Request, run: (req: S3Request, id: string, state: RequestState) => Promise<S3Response>,
    renderError: (req: S3Request, id: string, err: S3Error) => S3Response, cors: boolean): Promise<S3Response> {
    const exchange: Exchange = observability.observer.begin(incoming, requestId())
    const { id, request: req } = exchange
    const state: RequestState = exchange.state
    let response: S3Response
    try {
      if (closed) throw new S3Error('ServiceUnavailable')
      response = await run(req, id, state)
      response.headers['x-amz-request-id'] = id
      response.headers['x-amz-id-2'] = id
      if (req.method === 'HEAD') delete response.body
      if (!cidMetadata) delete response.headers['x-amz-meta-cid']
    } catch (err) {
      const s3 = toS3Error(err)
      if (s3 === undefined) logger.error({ requestId: id, method: req.method, path: req.path, err }, 'unexpected error')
      else if (s3.code === 'ServiceUnavailable' || s3.code === 'SlowDown') logger.warn({ requestId: id, method: req.method, path: req.path, err }, 'a dependency failed')
      else if ((err as { code?: unknown }).code === 'ERR_DECRYPT') {
        // Stored ciphertext that fails authentication was altered beneath the gateway: the operator must know.
        logger.error({ requestId: id, method: req.method, path: req.path, err }, 'encrypted content failed authentication')
      }
      const error = s3 ?? new S3Error('InternalError')
      state.error = error.code
      response = renderError(req, id, error)
    }
    if (cors && req.headers.origin !== undefined && req.method !== 'OPTIONS') await addCorsHeaders(req, state, response)
    return observability.observer.answered(exchange, response)
  }

  /** `GET /-/cids/<cid>`: the versions holding the CID in buckets the (S3) caller may list, as JSON. */
  async function lookUpCid (received: S3Request, state: RequestState, cidText: string): Promise<S3Response> {
    state.operation = 'FindByCid'
    if (received.method !== 'GET' && received.method !== 'HEAD') throw new S3Error('MethodNotAllowed')
    const query = new URLSearchParams(received.query)
    const { req, authorizer } = await authenticated(withTextHeaders(received), query, state)
    let cid: string
    try {
      cid = decodeURIComponent(cidText)
    } catch {
      cid = cidText
    }
    return json(200, await findByCid({ metadata, authorizer, signal: req.signal }, cid, query))
  }

  /** `GET /-/search?bucket=<bucket>&<filters>`: a bucket's current objects meeting the filters, for callers who may list it. */
  async function search (received: S3Request, state: RequestState): Promise<S3Response> {
    state.operation = 'SearchObjects'
    if (received.method !== 'GET' && received.method !== 'HEAD') throw new S3Error('MethodNotAllowed')
    const query = new URLSearchParams(received.query)
    const { req, authorizer } = await authenticated(withTextHeaders(received), query, state)
    const bucket = query.get('bucket') ?? ''
    if (bucket === '') throw new S3Error('InvalidArgument', 'bucket is required', { ArgumentName: 'bucket' })
    state.bucket = bucket
    if (await authorizer.bucket(bucket) === undefined) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket })
    await authorizer.require('s3:ListBucket', bucket, undefined)
    return json(200, await searchBucket(metadata, bucket, query, req.signal))
  }

  /** `/-/snapshots/...`: bucket snapshots for S3 callers (see handleSnapshots). */
  async function snapshots (received: S3Request, state: RequestState, rest: string): Promise<S3Response> {
    state.operation = 'Snapshots'
    const { req, principal, authorizer } = await authenticated(withTextHeaders(received), new URLSearchParams(received.query), state)
    return await handleSnapshots({ metadata, blockstore, content, now, newId, encryptByDefault: encryption.encryptByDefault, ipns: snapshotNames, signal: req.signal }, req, rest, { principal, authorizer })
  }

  function jsonErrorResponse (req: S3Request, id: string, err: S3Error): S3Response {
    const response = json(err.status, { error: err.code, message: err.message, ...err.detail, requestId: id })
    Object.assign(response.headers, err.headers)
    if (req.method === 'HEAD') delete response.body
    return response
  }

  function errorResponse (req: S3Request, id: string, err: S3Error): S3Response {
    const headers: Record<string, string> = { 'x-amz-request-id': id, 'x-amz-id-2': id, ...err.headers }
    if (req.method === 'HEAD' || err.status === 304) {
      return { status: err.status, headers }
    }
    const resource = req.path.slice(req.basePath.length) || '/'
    const body = renderXml('Error', {
      Code: err.code,
      Message: err.message,
      ...err.detail,
      Resource: resource,
      RequestId: id,
      HostId: id,
    }, { namespace: false })
    return {
      status: err.status,
      headers: { ...headers, 'content-type': 'application/xml', 'content-length': String(body.byteLength) },
      body,
    }
  }

  return {
    region,
    async handle (incoming: S3Request): Promise<S3Response> {
      return await observed(incoming, dispatch, errorResponse, true)
    },
    admin: {
      async handle (req) {
        const path = (req.path.slice(req.basePath.length) || '/').replace(/\/+$/, '') || '/'
        const cid = /^\/cids\/([^/]+)$/.exec(path)?.[1]
        if (cid !== undefined) return await observed(req, async (received, _id, state) => await lookUpCid(received, state, cid), jsonErrorResponse, false)
        if (path === '/search') return await observed(req, async (received, _id, state) => await search(received, state), jsonErrorResponse, false)
        const snapshot = /^\/snapshots\/(.+)$/.exec(path)?.[1]
        if (snapshot !== undefined) return await observed(req, async (received, _id, state) => await snapshots(received, state, snapshot), jsonErrorResponse, false)
        try {
          return await ipnsRecords?.route(req, path) ?? await federation.adminRoute(req, path) ?? await archiveView(req, path) ?? await observability.admin(req)
        } catch (err) {
          logger.error({ err, path }, 'an admin request failed')
          const body = Buffer.from(JSON.stringify({ error: 'InternalError' }) + '\n')
          return { status: toS3Error(err)?.status ?? 500, headers: { 'content-type': 'application/json', 'content-length': String(body.byteLength) }, body }
        }
      },
    },
    metrics: observability.metrics?.registry,
    async ready () { return await observability.readiness.report() },
    async gc (options: GatewayGcOptions = {}): Promise<GatewayGcReport> {
      if (closed) throw new Error('The gateway is closed')
      const pins = await reconcile(options.signal)
      if (!isSweepable(blockstore)) return { pins }
      let blocks
      try {
        blocks = await collectGarbage(blockstore, {
          roots: () => metadata.referencedCids({ signal: options.signal }),
          protect: content,
          gracePeriodMs: options.gracePeriodMs,
          dryRun: options.dryRun,
          signal: options.signal,
        })
      } catch (error) {
        if (!isAbortError(error)) observability.gcFinished(undefined, error)
        throw error
      }
      if (options.dryRun !== true) observability.gcFinished(blocks)
      return { pins, blocks }
    },
    drain (): void {
      observability.readiness.drain()
    },
    async close (): Promise<void> {
      if (closed) return
      closed = true
      observability.readiness.drain()
      await startup
      await federation.stop()
      await metadata.close()
      await init.archive?.close?.()
      const closable = blockstore as { close?: () => Promise<void> | void }
      if (typeof closable.close === 'function') await closable.close()
    },
  }
}
