/** File-level I/O of FsBlockstore: presence checks, lazy reads, fsync, bounded concurrency. */
import * as fsCallback from 'node:fs'
import * as fs from 'node:fs/promises'
import { NotFoundError } from 'interface-store'
import type { CID } from 'multiformats/cid'
import type { AbortOptions } from '../types.js'

/** Set the file's times to now; false when it does not exist. */
export async function touch (file: string): Promise<boolean> {
  const now = new Date()
  try {
    await fs.utimes(file, now, now)
    return true
  } catch (err) {
    if (isCode(err, 'ENOENT')) return false
    // Not ours to touch (another user's file in a shared directory): present, but not refreshed.
    if (isCode(err, 'EPERM') || isCode(err, 'EACCES')) return await exists(file)
    throw err
  }
}

export async function exists (file: string): Promise<boolean> {
  try {
    await fs.access(file)
    return true
  } catch (err) {
    if (isCode(err, 'ENOENT')) return false
    throw err
  }
}

export async function statOrUndefined (file: string): Promise<fsCallback.Stats | undefined> {
  try {
    return await fs.stat(file)
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined
    throw err
  }
}

export async function * readLazily (file: string, cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
  options?.signal?.throwIfAborted()
  try {
    yield await fs.readFile(file, { signal: options?.signal })
  } catch (err) {
    if (isCode(err, 'ENOENT')) throw new NotFoundError(`Block ${cid} not found`)
    throw err
  }
}

/**
 * open, read until EOF, `buffer` is full or `stopAt` bytes are in, close: with callbacks and one
 * promise, not a FileHandle and a promise per call (this runs once per block of every GET, and
 * the garbage of the promise API is most of what a pooled GET allocates).
 */
export function readFileInto (file: string, buffer: Uint8Array, stopAt: number, signal: AbortSignal | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    fsCallback.open(file, 'r', (err, fd) => {
      if (err !== null) {
        reject(err)
        return
      }
      let total = 0
      const finish = (failure: unknown): void => {
        fsCallback.close(fd, (closeErr) => {
          if (failure !== undefined) reject(failure)
          else if (closeErr !== null) reject(closeErr)
          else resolve(total)
        })
      }
      const next = (): void => {
        if (signal?.aborted === true) {
          finish(signal.reason)
          return
        }
        fsCallback.read(fd, buffer, total, buffer.byteLength - total, total, (readErr, bytesRead) => {
          if (readErr !== null) {
            finish(readErr)
            return
          }
          total += bytesRead
          if (bytesRead === 0 || total >= stopAt) finish(undefined)
          else next()
        })
      }
      next()
    })
  })
}

export function * once (block: Uint8Array): Generator<Uint8Array> {
  yield block
}

export async function fsyncPath (path: string, isDir: boolean): Promise<void> {
  const handle = await fs.open(path, 'r')
  try {
    await handle.sync()
  } catch (err) {
    // Some platforms (Windows, some network filesystems) refuse fsync on a directory.
    if (!(isDir && (isCode(err, 'EISDIR') || isCode(err, 'EPERM') || isCode(err, 'EINVAL')))) throw err
  } finally {
    await handle.close()
  }
}

export async function eachLimit<T> (items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]()
  let failed = false
  const worker = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done && !failed; next = iterator.next()) {
      try {
        await fn(next.value)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }
  const workers = Array.from({ length: Math.max(1, limit) }, worker)
  const results = await Promise.allSettled(workers)
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (rejected !== undefined) throw rejected.reason
}

export function isCode (err: unknown, code: string): boolean {
  return (err as { code?: unknown } | null)?.code === code
}
