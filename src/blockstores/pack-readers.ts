/** Read descriptors of pack files, shared by concurrent reads and closed once no read uses them. */
import { closeFd, openFd } from './pack-files.js'

export interface PackReader {
  fd: number
  refs: number
  opened: number
  retired: boolean
}

/** Cached descriptors are reopened after this long, so that packs compacted by another process stop holding disk space. */
const REOPEN_MS = 30_000
const MAX_READERS = 64

/** An LRU of open packs (at most 64); `take` and `release` pair around each read. */
export class PackReaders {
  private readonly open = new Map<number, PackReader>()

  constructor (private readonly file: (id: number) => string) {}

  async take (pack: number): Promise<PackReader> {
    const cached = this.open.get(pack)
    if (cached !== undefined) {
      if (Date.now() - cached.opened < REOPEN_MS) {
        cached.refs++
        // Most recently used last.
        this.open.delete(pack)
        this.open.set(pack, cached)
        return cached
      }
      this.drop(pack)
    }
    const fd = await openFd(this.file(pack), 'r')
    const raced = this.open.get(pack)
    if (raced !== undefined) {
      await closeFd(fd).catch(() => {})
      raced.refs++
      return raced
    }
    const reader: PackReader = { fd, refs: 1, opened: Date.now(), retired: false }
    this.open.set(pack, reader)
    if (this.open.size > MAX_READERS) this.drop(this.open.keys().next().value as number)
    return reader
  }

  release (reader: PackReader): void {
    reader.refs--
    if (reader.retired && reader.refs === 0) closeFd(reader.fd).catch(() => {})
  }

  /** Forget a pack's descriptor (its file is deleted); closed once no read uses it. */
  drop (pack: number): void {
    const reader = this.open.get(pack)
    if (reader === undefined) return
    this.open.delete(pack)
    reader.retired = true
    if (reader.refs === 0) closeFd(reader.fd).catch(() => {})
  }

  dropAll (): void {
    for (const id of [...this.open.keys()]) this.drop(id)
  }
}
