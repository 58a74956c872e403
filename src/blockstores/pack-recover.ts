/** Crash recovery of a PackBlockstore: what an unsealed pack holds, checked against the index. */
import { isCode } from './fs-files.js'
import { ABANDONED_MS, recordAt, scanPack } from './pack-format.js'
import { closeFd, fdatasync, fstat, openFd } from './pack-files.js'
import type { PackIndex, PackRow } from './pack-index.js'

/** A row without a file this old is a pack whose creation was lost (a creation takes milliseconds). */
const LOST_PACK_MS = 60_000
const PAGE = 1000

/**
 * After a crash or power failure, a pack not sealed may have records the index lacks (rows not
 * yet on disk) and rows whose record is not (data not yet on disk). Index the first, drop the
 * second, and seal the pack when no writer can be using it any more.
 */
export async function checkUnsealed (index: PackIndex, { id, created, verified }: PackRow, file: string): Promise<void> {
  let fd: number
  try {
    fd = await openFd(file, 'r')
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw err
    // Another process creating it right now has made the row first; an old row lost its file.
    if (Date.now() - created > LOST_PACK_MS) {
      index.transaction(() => {
        index.sql.deletePackRows.run(id)
        index.sql.dropPack.run(id)
      })
    }
    return
  }
  try {
    const stat = await fstat(fd)
    await recoverPack(index, id, fd, stat.size, verified)
    if (Date.now() - stat.mtimeMs > ABANDONED_MS) index.sql.seal.run(id)
  } finally {
    await closeFd(fd)
  }
}

/**
 * Index the complete, verified records of a pack from `from` on (after syncing them); drop rows
 * there whose record is not on disk. Records before `from` were indexed when they were synced
 * (and rows deleted since stay deleted).
 */
export async function recoverPack (index: PackIndex, id: number, fd: number, size: number, from: number): Promise<void> {
  const scan = await scanPack(fd, size, from)
  await fdatasync(fd).catch(() => {}) // what the scan accepted is made durable before it is indexed
  const stat = await fstat(fd)
  const valid = new Set(scan.records.map(r => r.offset))
  index.recover(scan.records.map(r => ({ mh: r.multihash, pack: id, offset: r.offset, length: r.length, written: stat.mtimeMs })))
  // Rows past the scan's end may belong to a writer appending right now: check each one's own record.
  let after = from - 1
  for (;;) {
    const rows = index.sql.rowsOfFrom.all(id, after, PAGE)
    for (const row of rows) {
      if (valid.has(row.offset)) continue
      if (row.offset >= scan.end && await recordAt(fd, row.mh, row.offset, row.length)) continue
      index.sql.deleteAt.run(row.mh, id, row.offset)
    }
    if (rows.length < PAGE) break
    after = rows[rows.length - 1].offset
  }
}
