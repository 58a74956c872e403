import { createHash, type Hash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { HashedLeaf } from '../content/leaves.js'
import { BATCH_SIZE, giveBuffer, returned, takeBuffer } from './batch-buffers.js'

/**
 * Streaming digests (MD5 for the ETag, optionally SHA-256 of the same bytes) computed off the main
 * thread, so that they overlap the importer's SHA-256 and the block writes on the other core.
 *
 * The bytes fed to `update` are copied into 1 MiB batch buffers; a full batch is transferred (not
 * copied) to a long-lived worker shared with other requests, which hashes it and hands the buffer
 * back for reuse. A stream stays on one worker (its hash state lives there); a new stream goes to
 * the least busy one, and another worker is started while all are busy, up to one per core the
 * event loop leaves free (at most 4). At most `MAX_IN_FLIGHT` batches per stream are queued (fewer
 * when many streams share the workers, SHARED_IN_FLIGHT):
 * `update` returns a promise to wait on when that many are outstanding, so memory stays flat
 * whatever the body size. Batch buffers are pooled (batch-buffers.ts).
 *
 * A body that ends before its first batch is full never reaches the worker: it is hashed in-thread
 * at `digest()` (a round trip costs more than hashing under 1 MiB). `createStreamDigest` with a
 * `sizeHint` below the batch size skips the batch buffer altogether and hashes synchronously.
 *
 * If a worker dies, digests in flight there reject, a warning is logged once, and every later
 * stream hashes in-thread.
 */
export interface StreamDigest {
  /**
   * Feed the next bytes. The caller may reuse `piece` as soon as this returns. Returns a promise
   * when too many bytes are queued for the worker: wait for it before feeding more.
   */
  update: (piece: Uint8Array) => Promise<void> | undefined
  /** Lower-case hex digests, one per algorithm in the order asked for. Call once, after the last update. */
  digest: () => Promise<string[]>
  /** Discard the stream (the body failed or was abandoned). Safe to call at any time, repeatedly. */
  abort: () => void
}

export type DigestAlgorithm = 'md5' | 'sha256'

export { BATCH_SIZE, batchBufferStats } from './batch-buffers.js'
/** Batches one stream may have queued at the worker. */
const MAX_IN_FLIGHT = 3
/**
 * Batches queued at the workers, shared by every stream (each may have at least one, at most
 * MAX_IN_FLIGHT): a worker hashes one at a time, faster than a body arrives, so a longer queue
 * only holds memory. Eight bodies at once with three each held 24 MiB (bench/WRITE-PATH.md, round
 * six); four multipart parts still get three each.
 */
const SHARED_IN_FLIGHT = 12
/** Streams registered with a worker now. */
let workerStreams = 0

function inFlightLimit (): number {
  return Math.max(1, Math.min(MAX_IN_FLIGHT, Math.floor(SHARED_IN_FLIGHT / Math.max(1, workerStreams))))
}

export interface StreamDigestOptions {
  /** Expected body size, when known: under one batch, hashing stays in-thread. */
  sizeHint?: number
  /** Force in-thread hashing (tests, or hosts that forbid worker threads). */
  inThread?: boolean
  /**
   * Hand every batch on as a raw leaf (HashedLeaf: the batch's bytes and their SHA-256, also
   * computed by the worker) instead of recycling its buffer; the last, shorter batch too, before
   * `digest()` resolves. The receiver owns each leaf's buffer until it calls `release`. In-thread
   * hashing (a dead worker) hands leaves on the same way.
   */
  onLeaf?: (leaf: HashedLeaf) => void
}

export function createStreamDigest (algorithms: readonly DigestAlgorithm[], options: StreamDigestOptions = {}): StreamDigest {
  if (options.onLeaf !== undefined) return new WorkerDigest(algorithms, options.onLeaf, options.inThread === true || workerDisabled)
  if (options.inThread === true || (options.sizeHint !== undefined && options.sizeHint < BATCH_SIZE) || workerDisabled) {
    return inThreadDigest(algorithms)
  }
  return new WorkerDigest(algorithms)
}

function inThreadDigest (algorithms: readonly DigestAlgorithm[]): StreamDigest {
  const hashes: Hash[] = algorithms.map(a => createHash(a))
  let done = false
  return {
    update (piece) {
      if (done) throw new Error('digest stream already finished')
      for (const h of hashes) h.update(piece)
      return undefined
    },
    async digest () {
      if (done) throw new Error('digest stream already finished')
      done = true
      return hashes.map(h => h.digest('hex'))
    },
    abort () { done = true }
  }
}

// ---------------------------------------------------------------------------------------------
// The worker. Plain JS run with `eval: true`, so that it needs no file of its own and works the
// same from TypeScript sources (tsx) and from the bundled dist/. Dynamic import() works whether
// the eval'd code runs as CommonJS or as an ES module; messages posted before it resolves wait
// in the port's queue until the listener is attached.
//
// Messages in:  { t: 'data', id, buf: ArrayBuffer, len, leaf? }   hash buf[0, len); buf is sent back
//               { t: 'end', id, algs, buf?, len, leaf? }          final bytes (optional), then digest
//               { t: 'abort', id }
// The first message of a stream carries `algs`. Messages out: { t: 'ack', id, buf, len, leaf? } after
// data, { t: 'digest', id, hex: string[], buf?, len?, leaf? } after end, { t: 'error', id, message } on
// a bad request. With `leaf: true` the reply carries the SHA-256 of the batch alone (and, for 'end',
// its buffer back).
const WORKER_SOURCE = `
Promise.all([import('node:worker_threads'), import('node:crypto')]).then(([wt, crypto]) => {
  const port = wt.parentPort
  const streams = new Map()
  const open = (m) => {
    let hs = streams.get(m.id)
    if (hs === undefined) {
      hs = m.algs.map((a) => crypto.createHash(a))
      streams.set(m.id, hs)
    }
    return hs
  }
  port.on('message', (m) => {
    try {
      if (m.t === 'data') {
        const hs = open(m)
        const view = new Uint8Array(m.buf, 0, m.len)
        for (const h of hs) h.update(view)
        const leaf = m.leaf === true ? crypto.createHash('sha256').update(view).digest() : undefined
        port.postMessage({ t: 'ack', id: m.id, buf: m.buf, len: m.len, leaf }, [m.buf])
      } else if (m.t === 'end') {
        const hs = open(m)
        streams.delete(m.id)
        let leaf
        if (m.buf !== undefined) {
          const view = new Uint8Array(m.buf, 0, m.len)
          for (const h of hs) h.update(view)
          if (m.leaf === true) leaf = crypto.createHash('sha256').update(view).digest()
        }
        const hex = hs.map((h) => h.digest('hex'))
        if (leaf !== undefined) port.postMessage({ t: 'digest', id: m.id, hex, buf: m.buf, len: m.len, leaf }, [m.buf])
        else port.postMessage({ t: 'digest', id: m.id, hex })
      } else if (m.t === 'abort') {
        streams.delete(m.id)
      }
    } catch (err) {
      streams.delete(m.id)
      port.postMessage({ t: 'error', id: m.id, message: String(err && err.message || err), lost: m.buf !== undefined })
    }
  })
})
`

type WorkerReply =
  | { t: 'ack', id: number, buf: ArrayBuffer, len: number, leaf?: Uint8Array }
  | { t: 'digest', id: number, hex: string[], buf?: ArrayBuffer, len?: number, leaf?: Uint8Array }
  | { t: 'error', id: number, message: string, lost?: boolean }

let workerDisabled = false
let warned = false
/**
 * Workers to run at most: one hashes MD5 and SHA-256 at about 450 MB/s on this project's machines,
 * and the event loop needs a core of its own.
 */
let workerLimit = Math.max(1, Math.min(4, availableParallelism() - 1))
const workers: HashWorker[] = []
class HashWorker {
  private readonly worker: Worker
  private readonly streams = new Map<number, WorkerDigest>()
  private nextId = 1
  private dead = false
  /** Batch buffers sent here and not back yet. */
  private holding = 0

  constructor () {
    // execArgv: [] keeps the parent's loader flags (tsx, --input-type) out of the worker.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], name: 's3-ipfs-gateway digest' })
    this.worker.unref()
    this.worker.on('message', (m: WorkerReply) => {
      if ((m.t === 'ack' || m.t === 'digest') && m.buf !== undefined) this.holding--
      if (m.t === 'error' && m.lost === true) {
        this.holding--
        returned() // transferred with the failed message, and kept there
      }
      const stream = this.streams.get(m.id)
      if (stream !== undefined) stream.onReply(m)
      else this.orphan(m)
    })
    this.worker.on('error', (err) => { this.die(err) })
    this.worker.on('exit', (code) => { this.die(new Error(`digest worker exited with code ${code}`)) })
  }

  register (stream: WorkerDigest): number {
    const id = this.nextId++
    // Keep the process alive only while some stream waits on the worker.
    if (this.streams.size === 0) this.worker.ref()
    this.streams.set(id, stream)
    workerStreams++
    return id
  }

  unregister (id: number): void {
    if (!this.streams.delete(id)) return
    workerStreams--
    if (this.streams.size === 0 && !this.dead) this.worker.unref()
  }

  post (message: Record<string, unknown>, transfer?: ArrayBuffer[]): void {
    if (this.dead) throw new Error('digest worker is not running')
    this.worker.postMessage(message, transfer)
    if (message.buf !== undefined) this.holding++
  }

  get alive (): boolean { return !this.dead }

  /** Streams using this worker. */
  get load (): number { return this.streams.size }

  /** For tests: end the thread as if it had crashed. */
  async crash (): Promise<void> {
    await this.worker.terminate()
  }

  /** A reply for a stream already aborted: recycle its buffer. */
  private orphan (m: WorkerReply): void {
    if (m.t === 'ack' || (m.t === 'digest' && m.buf !== undefined)) giveBuffer(m.buf as ArrayBuffer)
  }

  private die (err: Error): void {
    if (this.dead) return
    this.dead = true
    const at = workers.indexOf(this)
    if (at >= 0) workers.splice(at, 1)
    workerDisabled = true
    if (!warned) {
      warned = true
      // No logger reaches this shared worker: a process warning goes to stderr and to any 'warning' listener.
      process.emitWarning(`the digest worker thread failed; hashing request bodies on the main thread from now on: ${(err as Error)?.stack ?? String(err)}`, { code: 'S3IPFS_DIGEST_WORKER' })
    }
    const streams = [...this.streams.values()]
    workerStreams -= this.streams.size
    this.streams.clear()
    for (const s of streams) s.fail(err)
    // Batches sent here never come back.
    for (; this.holding > 0; this.holding--) returned()
    void this.worker.terminate().catch(() => {})
  }
}

/** The least busy worker, or a new one while every one is busy and fewer than the limit run. */
function sharedWorker (): HashWorker {
  let least: HashWorker | undefined
  for (const worker of workers) if (least === undefined || worker.load < least.load) least = worker
  if (least !== undefined && (least.load === 0 || workers.length >= workerLimit)) return least
  const started = new HashWorker()
  workers.push(started)
  return started
}

class WorkerDigest implements StreamDigest {
  private batch: Uint8Array | undefined
  private filled = 0
  private worker: HashWorker | undefined
  private id = 0
  private inFlight = 0
  private waiter: { resolve: () => void, reject: (err: unknown) => void } | undefined
  private final: { resolve: (hex: string[]) => void, reject: (err: unknown) => void } | undefined
  private failure: Error | undefined
  private finished = false
  private completed = false
  /** Hashes kept here instead of in the worker (leaf mode without a worker). */
  private local: Hash[] | undefined

  constructor (private readonly algorithms: readonly DigestAlgorithm[], private readonly onLeaf?: (leaf: HashedLeaf) => void, inThread = false) {
    if (inThread) this.local = algorithms.map(a => createHash(a))
  }

  update (piece: Uint8Array): Promise<void> | undefined {
    if (this.finished) throw new Error('digest stream already finished')
    if (this.failure !== undefined) throw this.failure
    let offset = 0
    while (offset < piece.byteLength) {
      this.batch ??= new Uint8Array(takeBuffer())
      const n = Math.min(piece.byteLength - offset, BATCH_SIZE - this.filled)
      this.batch.set(n === piece.byteLength ? piece : piece.subarray(offset, offset + n), this.filled)
      this.filled += n
      offset += n
      if (this.filled === BATCH_SIZE) this.send()
    }
    if (this.inFlight < inFlightLimit()) return undefined
    const wait = new Promise<void>((resolve, reject) => { this.waiter = { resolve, reject } })
    // The caller may await it only later (after handing the bytes on): a failure meanwhile must
    // not count as an unhandled rejection. The caller still sees it when it awaits.
    wait.catch(() => {})
    return wait
  }

  async digest (): Promise<string[]> {
    if (this.finished) throw new Error('digest stream already finished')
    this.finished = true
    if (this.failure !== undefined) throw this.failure
    if (this.worker === undefined) {
      // Never reached the worker (a small body, or no worker): hashed here.
      const view = this.batch?.subarray(0, this.filled) ?? new Uint8Array(0)
      const hashes = this.local ?? this.algorithms.map(a => createHash(a))
      for (const h of hashes) h.update(view)
      const hex = hashes.map(h => h.digest('hex'))
      if (this.onLeaf !== undefined && this.batch !== undefined && this.filled > 0) {
        const len = this.filled
        this.handOn(this.detachBatch(), len) // the leaf's now
      }
      this.release()
      this.completed = true
      return hex
    }
    const result = new Promise<string[]>((resolve, reject) => { this.final = { resolve, reject } })
    const message: Record<string, unknown> = { t: 'end', id: this.id, algs: this.algorithms, leaf: this.onLeaf !== undefined }
    if (this.batch !== undefined && this.filled > 0) {
      message.len = this.filled
      const buf = this.detachBatch()
      message.buf = buf
      this.worker.post(message, [buf])
    } else {
      this.worker.post(message)
    }
    return result
  }

  abort (): void {
    if (this.completed) return
    if (this.worker !== undefined && this.failure === undefined && this.final === undefined) {
      try { this.worker.post({ t: 'abort', id: this.id }) } catch { /* dead: nothing to free there */ }
    }
    this.finished = true
    this.fail(new Error('digest stream aborted'))
  }

  onReply (m: WorkerReply): void {
    if (m.t === 'ack') {
      if (this.onLeaf !== undefined && m.leaf !== undefined) this.onLeaf(leafOf(m.buf, m.len, m.leaf))
      else giveBuffer(m.buf)
      this.inFlight--
      const waiter = this.waiter
      this.waiter = undefined
      waiter?.resolve()
    } else if (m.t === 'digest') {
      if (m.buf !== undefined) {
        if (this.onLeaf !== undefined && m.leaf !== undefined) this.onLeaf(leafOf(m.buf, m.len ?? 0, m.leaf))
        else giveBuffer(m.buf)
      }
      const final = this.final
      this.release()
      this.completed = true
      final?.resolve(m.hex)
    } else {
      this.fail(new Error(`digest worker: ${m.message}`))
    }
  }

  fail (err: Error): void {
    if (this.failure !== undefined) return
    this.failure = err
    const { waiter, final } = this
    this.release()
    waiter?.reject(err)
    final?.reject(err)
  }

  /** The batch being filled, no longer this stream's to fill. */
  private detachBatch (): ArrayBuffer {
    const buf = (this.batch as Uint8Array).buffer as ArrayBuffer
    this.batch = undefined
    this.filled = 0
    return buf
  }

  private send (): void {
    const buf = this.detachBatch()
    if (this.worker === undefined && this.local === undefined && workerDisabled) this.local = this.algorithms.map(a => createHash(a))
    if (this.local !== undefined) {
      const view = new Uint8Array(buf, 0, BATCH_SIZE)
      for (const h of this.local) h.update(view)
      this.handOn(buf, BATCH_SIZE)
      return
    }
    if (this.worker === undefined) {
      this.worker = sharedWorker()
      this.id = this.worker.register(this)
    }
    this.inFlight++
    this.worker.post({ t: 'data', id: this.id, algs: this.algorithms, buf, len: BATCH_SIZE, leaf: this.onLeaf !== undefined }, [buf])
  }

  /** Leaf mode, hashing here: hand the batch on with its SHA-256 (or recycle it without a receiver). */
  private handOn (buf: ArrayBuffer, len: number): void {
    if (this.onLeaf === undefined) {
      giveBuffer(buf)
      return
    }
    const bytes = new Uint8Array(buf, 0, len)
    this.onLeaf(leafOf(buf, len, createHash('sha256').update(bytes).digest()))
  }

  private release (): void {
    if (this.batch !== undefined) giveBuffer(this.detachBatch())
    this.waiter = undefined
    this.final = undefined
    this.worker?.unregister(this.id)
  }
}

/** A leaf's buffer goes back to the pool only when its receiver says nothing holds the bytes any more. */
function leafOf (buf: ArrayBuffer, len: number, sha256: Uint8Array): HashedLeaf {
  let released = false
  return {
    bytes: new Uint8Array(buf, 0, len),
    sha256: new Uint8Array(sha256),
    release: (reusable?: boolean) => {
      if (released) return
      released = true
      if (reusable === true) giveBuffer(buf)
      else returned()
    }
  }
}

/** For tests: whether hashing has fallen back to the main thread after a worker failure. */
export function digestWorkerDisabled (): boolean {
  return workerDisabled
}

/** For tests: terminate every digest worker as if it had crashed. */
export async function crashDigestWorkerForTest (): Promise<void> {
  await Promise.all(workers.map(async (worker) => { await worker.crash() }))
}

/** For tests: how many digest workers may run (default: the cores the event loop leaves, at most 4). */
export function setDigestWorkerLimitForTest (limit: number): void {
  workerLimit = limit
}

/** For tests: the digest workers running now. */
export function digestWorkersRunning (): number {
  return workers.length
}
