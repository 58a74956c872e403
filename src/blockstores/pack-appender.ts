import { writeAllAt, writeAllAtNow } from './pack-files.js'

/**
 * The appends of one pack file: one write at a time, and the records queued behind it written
 * together, as one call.
 *
 * Concurrent writes to one file do not run in parallel: ext4 takes the inode's lock for every
 * buffered write, and a thread waiting for it spins while the holder copies its megabyte into the
 * page cache. With a multipart upload's four parts in flight, more than half of the thread pool's
 * CPU went there (`rwsem_spin_on_owner`), on a machine of two cores (bench/WRITE-PATH.md, round six).
 *
 * Records are appended in the order their offsets were handed out, so those queued behind a write
 * lie end to end, and the next write covers them all. A small record with nothing in flight is
 * written on the calling thread (a page-cache write costs less than a thread-pool round trip).
 */
export class PackAppender {
  private writing = false
  private closed = false
  private queue: Append[] = []
  /** Writes made: on the calling thread, and on the thread pool (for tests). */
  readonly writes = { now: 0, pooled: 0 }

  constructor (private readonly fd: number, private readonly syncMax: number) {}

  /** Write `buffers` (`size` bytes in all) at `position`: the end of the previous append. */
  append (buffers: Uint8Array[], position: number, size: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('Pack is sealed: no append after its final sync'))
    if (!this.writing && size <= this.syncMax) {
      this.writes.now++
      return writeAllAtNow(this.fd, buffers, position)
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ buffers, position, size, resolve, reject })
      if (!this.writing) this.next()
    })
  }

  /**
   * No append after this: every later one rejects without writing. Called before the pack's final
   * sync, once every append made so far has settled, so that a late record can neither miss that
   * sync nor be written through a file descriptor closed after it (and perhaps reused).
   */
  close (): void {
    this.closed = true
  }

  private next (): void {
    const batch = this.take()
    if (batch.length === 0) return
    this.writing = true
    this.writes.pooled++
    writeAllAt(this.fd, batch.flatMap(a => a.buffers), batch[0].position).then(
      () => { for (const a of batch) a.resolve() },
      (err: unknown) => { for (const a of batch) a.reject(err) },
    ).finally(() => {
      this.writing = false
      this.next()
    })
  }

  /** The queued appends the next write covers: contiguous, within MAX_BUFFERS and MAX_BYTES. */
  private take (): Append[] {
    let count = 0
    let buffers = 0
    let bytes = 0
    for (const a of this.queue) {
      const previous = count > 0 ? this.queue[count - 1] : undefined
      if (previous !== undefined && previous.position + previous.size !== a.position) break
      if (count > 0 && (buffers + a.buffers.length > MAX_BUFFERS || bytes + a.size > MAX_BYTES)) break
      count++
      buffers += a.buffers.length
      bytes += a.size
    }
    return this.queue.splice(0, count)
  }
}

interface Append {
  buffers: Uint8Array[]
  position: number
  size: number
  resolve: () => void
  reject: (err: unknown) => void
}

/** Buffers per write: Linux's IOV_MAX. */
const MAX_BUFFERS = 1024
/** Bytes per write, so that one write does not hold the records after it for long. */
const MAX_BYTES = 16 * 1024 * 1024
