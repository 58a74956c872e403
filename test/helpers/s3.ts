import { AsyncLocalStorage } from 'node:async_hooks'
import { createCipheriv, createHash } from 'node:crypto'
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3'
import type { CID } from 'multiformats/cid'
import { DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY } from '../../src/auth/credentials.js'
import { ContentStore, type ContentStoreInit } from '../../src/content/content-store.js'
import type { CidProfileName } from '../../src/content/profiles.js'

export const credentials = { accessKeyId: DEFAULT_ACCESS_KEY_ID, secretAccessKey: DEFAULT_SECRET_ACCESS_KEY }

/** An S3 client with the SDK's default settings (CRC32 checksums, aws-chunked trailers), path style. */
export function s3Client (endpoint: string, options: { region?: string } = {}): S3Client {
  return new S3Client({
    endpoint,
    region: options.region ?? 'us-east-1',
    forcePathStyle: true,
    credentials,
    maxAttempts: 1,
  })
}

/**
 * Records the raw response headers of every request the client sends, so tests can see headers the
 * SDK does not model (x-ipfs-path, x-amz-meta-cid on PUT).
 */
export function captureHeaders (client: S3Client): { last: () => Record<string, string> } {
  let shared: Record<string, string> = {}
  const remember = (headers: Record<string, string>): void => {
    const scope = headerScope.getStore()
    if (scope !== undefined) scope.last = headers
    else shared = headers
  }
  client.middlewareStack.add((next) => async (args) => {
    const result = await next(args)
    remember((result.response as { headers?: Record<string, string> }).headers ?? {})
    return result
  }, { step: 'deserialize', name: 'captureHeaders' })
  client.middlewareStack.add((next) => async (args) => {
    try {
      return await next(args)
    } catch (err) {
      const response = (err as { $response?: { headers?: Record<string, string> } }).$response
      if (response?.headers !== undefined) remember(response.headers)
      throw err
    }
  }, { step: 'deserialize', name: 'captureErrorHeaders', priority: 'high' })
  return { last: () => headerScope.getStore()?.last ?? shared }
}

/**
 * Run a test body in its own header scope: `captureHeaders(...).last()` then reports the last
 * response of that test's own requests, even while other tests share the client concurrently.
 */
export const headerScope = new AsyncLocalStorage<{ last?: Record<string, string> }>()

/** The error an SDK call rejected with, reduced to what S3 said. */
export async function s3Error (promise: Promise<unknown>): Promise<{ code: string, status: number | undefined }> {
  try {
    await promise
  } catch (err) {
    const e = err as S3ServiceException
    return { code: e.name, status: e.$metadata?.httpStatusCode }
  }
  throw new Error('expected the request to fail')
}

/** Kubo's deterministic test data: ChaCha20 keystream, key = sha256(seed), zero nonce. */
export function deterministicBytes (seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest()
  return createCipheriv('chacha20', key, Buffer.alloc(16)).update(Buffer.alloc(size))
}

export function md5Hex (data: Uint8Array | string): string {
  return createHash('md5').update(data).digest('hex')
}

export function sha256Hex (data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}

/**
 * The CID `ipfs add` gives these bytes under a profile: the importer run over them, its blocks
 * discarded (it is the same code path a single PUT takes).
 */
export async function ipfsAddCid (bytes: Uint8Array, profile: CidProfileName = 'unixfs-v1-2025'): Promise<string> {
  const discard = { put: async (cid: CID) => cid, get: () => { throw new Error('blocks are discarded') } }
  const store = new ContentStore({ blockstore: discard as unknown as ContentStoreInit['blockstore'], profile })
  const pieces = function * (): Generator<Uint8Array> {
    for (let i = 0; i < bytes.length; i += 1 << 20) yield bytes.subarray(i, i + (1 << 20))
  }
  return (await store.add(pieces())).cid.toString()
}
