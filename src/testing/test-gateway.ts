import { MemoryBlockstore } from '../blockstores/memory.js'
import { DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY } from '../auth/credentials.js'
import type { CidProfileName } from '../content/profiles.js'
import { S3Error } from '../errors.js'
import { createGateway } from '../gateway.js'
import { MemoryMetadataStore } from '../metadata/memory.js'
import type { Gateway, GatewayGcOptions, GatewayGcReport, OperationInfo, S3Request, S3Response } from '../types.js'

/** The key pair every test gateway accepts (also the library's default). Not frozen: the AWS SDK annotates credential objects. */
export const TEST_CREDENTIALS = { accessKeyId: DEFAULT_ACCESS_KEY_ID, secretAccessKey: DEFAULT_SECRET_ACCESS_KEY }
export const TEST_REGION = 'us-east-1'

export interface TestGatewayOptions {
  /** Buckets that exist from the start (and again after `reset()`). */
  buckets?: string[]
  /**
   * Dates the gateway records (LastModified, Initiated): a fixed date, or a clock. Request
   * signatures are still checked against the real time, so SDK clients keep working.
   */
  clock?: Date | (() => Date)
  /**
   * Deterministic upload ids and version ids: `true` numbers them (`upload-000001`,
   * `version-000001`, ...), a function supplies them. Default: random ids, as in production.
   */
  deterministicIds?: boolean | ((kind: 'upload' | 'version') => string)
  cidProfile?: CidProfileName
  /** Region the gateway signs for (default us-east-1). */
  region?: string
}

/** A fault to inject: the next `times` matching requests fail with an S3 error, or wait first. */
export interface Fault {
  /** The S3 action to match ('PutObject', 'GetObject', ...); every operation when omitted. */
  operation?: string
  bucket?: string
  key?: string
  /** Fail with this S3 error code ('SlowDown', 'InternalError', 'NoSuchKey', ...), at S3's status. */
  error?: string
  /** Optional message for the error. */
  message?: string
  /** Delay the request by this many ms (then fail with `error` if given, else run it). */
  latencyMs?: number
  /** How many matching requests this applies to (default 1; Infinity for all). */
  times?: number
}

export interface StoredObjectInfo {
  bucket: string
  key: string
  versionId: string
  isLatest: boolean
  deleteMarker: boolean
  size: number
  /** Quoted, as the SDK returns ETags ('' for delete markers). */
  etag: string
  /** The IPFS CID of the version's bytes ('' for delete markers). */
  cid: string
  lastModified: Date
}

export interface TestGateway extends Gateway {
  /** The in-memory stores behind it, for assertions beyond the helpers below. */
  readonly metadata: MemoryMetadataStore
  readonly blockstore: MemoryBlockstore
  /** Every version (delete markers included) in a bucket, or in every bucket, keys in S3 order. */
  objects(bucket?: string): Promise<StoredObjectInfo[]>
  /** Empties the gateway (objects, versions, uploads, buckets, blocks, faults), then re-creates `buckets`. */
  reset(): Promise<void>
  /** Makes matching requests fail or wait (see Fault). Returns a function that removes the fault. */
  injectFault(fault: Fault): () => void
  /** Removes every injected fault. */
  clearFaults(): void
}

interface ActiveFault extends Fault { remaining: number }

function matches (fault: Fault, op: OperationInfo): boolean {
  return (fault.operation === undefined || fault.operation === op.operation) &&
    (fault.bucket === undefined || fault.bucket === op.bucket) &&
    (fault.key === undefined || fault.key === op.key)
}

/**
 * A gateway for unit tests of code that uses S3: all in memory, the well-known TEST_CREDENTIALS,
 * optional fixed clock and ids, pre-created buckets, inspection, reset and fault injection. It is
 * the production gateway (same signature, checksum and XML handling), not a mock.
 */
export function createTestGateway (options: TestGatewayOptions = {}): TestGateway {
  const metadata = new MemoryMetadataStore()
  const blockstore = new MemoryBlockstore()
  const faults: ActiveFault[] = []
  const clock = options.clock instanceof Date ? (() => new Date((options.clock as Date).getTime())) : options.clock
  let counter = 0
  const ids = options.deterministicIds === true
    ? (kind: 'upload' | 'version') => `${kind}-${String(++counter).padStart(6, '0')}`
    : typeof options.deterministicIds === 'function' ? options.deterministicIds : undefined
  const region = options.region ?? TEST_REGION

  const gateway = createGateway({
    metadata,
    blockstore,
    region,
    cidProfile: options.cidProfile,
    now: clock,
    signatureClock: () => new Date(),
    newId: ids,
    beforeOperation: async (op) => {
      const fault = faults.find(f => f.remaining > 0 && matches(f, op))
      if (fault === undefined) return
      fault.remaining--
      if (fault.latencyMs !== undefined) await new Promise(resolve => setTimeout(resolve, fault.latencyMs))
      if (fault.error !== undefined) throw new S3Error(fault.error, fault.message)
    },
  })

  const createBuckets = async (): Promise<void> => {
    for (const name of options.buckets ?? []) {
      await metadata.createBucket({
        name, owner: TEST_CREDENTIALS.accessKeyId, created: new Date(), region, versioning: 'Unversioned', cidProfile: options.cidProfile ?? 'unixfs-v1-2025',
      })
    }
  }
  let ready = createBuckets()

  const objects = async (bucket?: string): Promise<StoredObjectInfo[]> => {
    await ready
    const names = bucket === undefined ? (await metadata.listBuckets()).map(b => b.name) : [bucket]
    const out: StoredObjectInfo[] = []
    for (const name of names) {
      let after: { key: string, versionId?: string } | undefined
      for (;;) {
        const page = await metadata.listVersions(name, { after, limit: 1000 })
        for (const v of page) {
          const full = await metadata.getObject(name, v.key, v.versionId)
          out.push({
            bucket: name, key: v.key, versionId: v.versionId, isLatest: v.isLatest === true, deleteMarker: v.deleteMarker,
            size: v.size, etag: v.deleteMarker ? '' : `"${v.etag}"`, cid: full?.cid ?? '', lastModified: v.lastModified,
          })
        }
        if (page.length < 1000) break
        const last = page[page.length - 1]
        after = { key: last.key, versionId: last.versionId }
      }
    }
    return out
  }

  const reset = async (): Promise<void> => {
    await ready
    faults.length = 0
    for (const bucket of await metadata.listBuckets()) {
      for (const v of await objects(bucket.name)) await metadata.deleteObject(bucket.name, v.key, v.versionId)
      for (;;) {
        const uploads = await metadata.listUploads(bucket.name, { limit: 1000 })
        for (const u of uploads) await metadata.abortUpload(bucket.name, u.key, u.uploadId)
        if (uploads.length < 1000) break
      }
      await metadata.deleteBucket(bucket.name)
    }
    await gateway.gc({ gracePeriodMs: 0 })
    counter = 0
    ready = createBuckets()
    await ready
  }

  return {
    region: gateway.region,
    metadata,
    blockstore,
    async handle (req: S3Request): Promise<S3Response> {
      await ready
      return await gateway.handle(req)
    },
    async gc (gcOptions?: GatewayGcOptions): Promise<GatewayGcReport> { return await gateway.gc(gcOptions) },
    admin: gateway.admin,
    metrics: gateway.metrics,
    async ready () { return await gateway.ready() },
    drain () { gateway.drain() },
    async close (): Promise<void> { await gateway.close() },
    objects,
    reset,
    injectFault (fault: Fault) {
      const active: ActiveFault = { ...fault, remaining: fault.times ?? 1 }
      faults.push(active)
      return () => { const i = faults.indexOf(active); if (i >= 0) faults.splice(i, 1) }
    },
    clearFaults () { faults.length = 0 },
  }
}
