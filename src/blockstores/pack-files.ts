/** Positioned file I/O for pack files, on raw descriptors (one libuv request per call, no FileHandle). */
import * as fsCallback from 'node:fs'
import { promisify } from 'node:util'

export const openFd = promisify(fsCallback.open) as (path: string, flags: string) => Promise<number>
export const closeFd = promisify(fsCallback.close)
export const fdatasync = promisify(fsCallback.fdatasync)
export const fstat = promisify(fsCallback.fstat) as (fd: number) => Promise<fsCallback.Stats>

/** Write every byte of `buffers` at `position`, with as few calls as the kernel allows. */
export function writeAllAt (fd: number, buffers: Uint8Array[], position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const next = (list: Uint8Array[], at: number): void => {
      fsCallback.writev(fd, list, at, (err, written) => {
        if (err !== null) {
          reject(err)
          return
        }
        const left = unwritten(list, written)
        if (left.length === 0) resolve()
        else next(left, at + written)
      })
    }
    next(buffers, position)
  })
}

/**
 * As `writeAllAt`, but on the calling thread (small records: a page-cache write costs less than a
 * thread-pool round trip). Resolves, or rejects, on the next microtask.
 */
export async function writeAllAtNow (fd: number, buffers: Uint8Array[], position: number): Promise<void> {
  for (let list = buffers, at = position; list.length > 0;) {
    const written = fsCallback.writevSync(fd, list, at)
    at += written
    list = unwritten(list, written)
  }
}

/** What is left of `list` after its first `written` bytes. */
function unwritten (list: Uint8Array[], written: number): Uint8Array[] {
  let rest = written
  const left: Uint8Array[] = []
  for (const b of list) {
    if (rest >= b.byteLength) {
      rest -= b.byteLength
      continue
    }
    left.push(rest > 0 ? b.subarray(rest) : b)
    rest = 0
  }
  return left
}

/** Read `length` bytes at `position` into `buffer` from its start; resolves to the bytes read (short at EOF). */
export function readAt (fd: number, buffer: Uint8Array, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let total = 0
    const next = (): void => {
      fsCallback.read(fd, buffer, total, length - total, position + total, (err, bytesRead) => {
        if (err !== null) {
          reject(err)
          return
        }
        total += bytesRead
        if (bytesRead === 0 || total >= length) resolve(total)
        else next()
      })
    }
    next()
  })
}

/**
 * Blocks up to this size are read on the calling thread: handing a 4 KiB read to libuv's thread
 * pool cost the event loop more than the read from the page cache (bench/WRITE-PATH.md, round
 * ten). One not cached blocks the caller for a disk read, as SQLite's reads do.
 */
export const SYNC_READ_MAX = 64 * 1024

/** As `readAt`, on the calling thread for reads up to SYNC_READ_MAX bytes. */
export async function readBlockAt (fd: number, buffer: Uint8Array, length: number, position: number): Promise<number> {
  if (length > SYNC_READ_MAX) return await readAt(fd, buffer, length, position)
  let total = 0
  while (total < length) {
    const bytesRead = fsCallback.readSync(fd, buffer, total, length - total, position + total)
    if (bytesRead === 0) break
    total += bytesRead
  }
  return total
}
