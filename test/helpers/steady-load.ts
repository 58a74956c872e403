// A steady mix of PUT, GET and LIST from several concurrent S3 clients (the AWS SDK with its
// default retries), recording every request: when it started and ended, how it ended, how many
// attempts the SDK made. Every acknowledged PUT is remembered with its MD5, and every GET of one
// is checked byte for byte. Used by the high-availability rehearsal and its benchmark.
import { createHash, randomBytes } from 'node:crypto'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'

export interface Request {
  kind: 'put' | 'get' | 'list'
  key?: string
  /** performance.now() at the start and the end */
  start: number
  end: number
  ok: boolean
  error?: string
  /** The SDK's attempts (1 when it did not retry). */
  attempts: number
}

export interface SteadyLoadInit {
  endpoint: string
  credentials: { accessKeyId: string, secretAccessKey: string }
  bucket: string
  /** Concurrent clients (default 4). */
  workers?: number
  /** Sizes PUT bodies cycle through (default 1 KiB, 16 KiB, 200 KiB). */
  sizes?: number[]
}

const md5 = (data: Uint8Array): string => createHash('md5').update(data).digest('hex')

export class SteadyLoad {
  readonly requests: Request[] = []
  /** Key → MD5 of every PUT the gateway acknowledged. */
  readonly acknowledged = new Map<string, string>()
  /** Every failed attempt, retried or not: why the SDK retried. */
  readonly attemptErrors: Array<{ at: number, error: string }> = []
  private running = false
  private loops: Array<Promise<void>> = []
  private readonly clients: S3Client[] = []

  constructor (private readonly init: SteadyLoadInit) {}

  start (): void {
    this.running = true
    const workers = this.init.workers ?? 4
    for (let w = 0; w < workers; w++) {
      const s3 = new S3Client({ endpoint: this.init.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: this.init.credentials })
      // Inside the retry loop: sees each attempt's failure.
      s3.middlewareStack.add((next) => async (args) => {
        try {
          return await next(args)
        } catch (err) {
          const e = err as { name?: string, message?: string, $metadata?: { httpStatusCode?: number } }
          this.attemptErrors.push({ at: performance.now(), error: `${e.name ?? 'Error'} ${e.$metadata?.httpStatusCode ?? ''}: ${e.message ?? String(err)}` })
          throw err
        }
      }, { step: 'deserialize', name: 'recordAttemptErrors' })
      this.clients.push(s3)
      this.loops.push(this.loop(s3, w))
    }
  }

  async stop (): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
    for (const s3 of this.clients) s3.destroy()
  }

  /** Requests that failed (after the SDK's retries). */
  failed (): Request[] {
    return this.requests.filter(r => !r.ok)
  }

  /** Completed requests per second in windows of `ms`, from the first request's start. */
  throughput (ms = 500): Array<{ at: number, perSecond: number }> {
    if (this.requests.length === 0) return []
    const t0 = Math.min(...this.requests.map(r => r.start))
    const t1 = Math.max(...this.requests.map(r => r.end))
    const windows = Array.from({ length: Math.ceil((t1 - t0) / ms) }, (_v, i) => ({ at: t0 + i * ms, perSecond: 0 }))
    for (const r of this.requests) {
      if (!r.ok) continue
      const w = windows[Math.min(windows.length - 1, Math.floor((r.end - t0) / ms))]
      w.perSecond += 1000 / ms
    }
    return windows
  }

  private async loop (s3: S3Client, worker: number): Promise<void> {
    const sizes = this.init.sizes ?? [1024, 16 * 1024, 200 * 1024]
    for (let i = 0; this.running; i++) {
      const key = `w${worker}/${String(i).padStart(6, '0')}`
      const body = randomBytes(sizes[i % sizes.length])
      const sum = md5(body)
      await this.record('put', key, async () => {
        const out = await s3.send(new PutObjectCommand({ Bucket: this.init.bucket, Key: key, Body: body }))
        if (out.ETag !== `"${sum}"`) throw new Error(`PUT ${key}: ETag ${out.ETag}, expected "${sum}"`)
        this.acknowledged.set(key, sum)
        return out.$metadata.attempts ?? 1
      })
      if (!this.running) break
      // A key acknowledged earlier, by this worker or another: reads cross gateways.
      const keys = [...this.acknowledged.keys()]
      const readKey = keys[(i * 7919 + worker) % keys.length]
      if (readKey !== undefined) {
        await this.record('get', readKey, async () => {
          const out = await s3.send(new GetObjectCommand({ Bucket: this.init.bucket, Key: readKey }))
          const bytes = await out.Body?.transformToByteArray() ?? new Uint8Array()
          if (md5(bytes) !== this.acknowledged.get(readKey)) throw new Error(`GET ${readKey}: ${bytes.length} bytes that are not the ones acknowledged`)
          return out.$metadata.attempts ?? 1
        })
      }
      if (i % 4 === 3 && this.running) {
        await this.record('list', `w${worker}/`, async () => {
          const out = await s3.send(new ListObjectsV2Command({ Bucket: this.init.bucket, Prefix: `w${worker}/`, StartAfter: `w${worker}/${String(Math.max(0, i - 20)).padStart(6, '0')}` }))
          // Read-after-write across gateways: this worker's last acknowledged key is listed.
          if (this.acknowledged.has(key) && out.Contents?.some(c => c.Key === key) !== true) throw new Error(`LIST w${worker}/: ${key}, acknowledged, is missing`)
          return out.$metadata.attempts ?? 1
        })
      }
    }
  }

  private async record (kind: Request['kind'], key: string, run: () => Promise<number>): Promise<void> {
    const start = performance.now()
    try {
      const attempts = await run()
      this.requests.push({ kind, key, start, end: performance.now(), ok: true, attempts })
    } catch (err) {
      const e = err as { name?: string, message?: string, $metadata?: { attempts?: number, httpStatusCode?: number } }
      this.requests.push({
        kind,
        key,
        start,
        end: performance.now(),
        ok: false,
        error: `${e.name ?? 'Error'} ${e.$metadata?.httpStatusCode ?? ''}: ${e.message ?? String(err)}`,
        attempts: e.$metadata?.attempts ?? 1,
      })
    }
  }
}
