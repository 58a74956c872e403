/** Compaction of a PackBlockstore: packs that are mostly garbage are rewritten, empty ones deleted. */
import * as fs from 'node:fs/promises'
import { join } from 'node:path'
import { fsyncPath, isCode } from './fs-files.js'
import { ABANDONED_MS, fileHeader, packName, recordHeader, FILE_HEADER_SIZE } from './pack-format.js'
import { closeFd, fdatasync, fstat, openFd, readAt, writeAllAt } from './pack-files.js'
import type { PackIndex } from './pack-index.js'

export interface CompactionReport {
  /** Packs rewritten with their live blocks only. */
  rewritten: number
  /** Packs deleted (no live block left, or rewritten). */
  deleted: number
  /** Disk space given back, in bytes. */
  freedBytes: number
}

export interface CompactionContext {
  index: PackIndex
  packsDir: string
  compactBelow: number
  /** Whether this process may still append to the pack or index blocks in it. */
  ownPack: (id: number) => boolean
  /** Register a new (unsealed) pack and return its id. */
  newPack: () => number
  /** Index the verified records of an abandoned pack before it is taken. */
  recover: (id: number, fd: number, size: number, from: number) => Promise<void>
  /** Forget cached descriptors of a deleted pack. */
  dropReader: (id: number) => void
  signal?: AbortSignal
}

const COPY_PAGE = 512

/**
 * For every pack no live writer uses: delete it when no index row points into it; rewrite its live
 * blocks into a new pack when they fill less than `compactBelow` of it (a torn tail and blocks
 * deleted by gc are the garbage). A rewrite moves each row only if it still points at the old
 * place (a row deleted meanwhile stays deleted), commits, fsyncs the index, and only then unlinks
 * the old file. Killed at any point, the old pack or the new one holds every live block.
 */
export async function compactPacks (ctx: CompactionContext): Promise<CompactionReport> {
  const { index } = ctx
  const report: CompactionReport = { rewritten: 0, deleted: 0, freedBytes: 0 }
  const live = new Map<number, { count: number, bytes: number }>()
  for (const row of index.sql.live.all()) live.set(row.pack, { count: row.count, bytes: row.bytes })
  for (const pack of index.sql.packs.all()) {
    ctx.signal?.throwIfAborted()
    if (ctx.ownPack(pack.id)) continue
    const file = join(ctx.packsDir, packName(pack.id))
    let stat
    try {
      stat = await fs.stat(file)
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err
      // A row without a file: a pack another process is creating, or one whose unlink outlived its row.
      continue
    }
    if (pack.sealed === 0) {
      if (Date.now() - stat.mtimeMs < ABANDONED_MS) continue // another process may be appending
      const fd = await openFd(file, 'r')
      try {
        await ctx.recover(pack.id, fd, stat.size, pack.verified)
      } finally {
        await closeFd(fd)
      }
      index.sql.seal.run(pack.id)
      const again = index.sql.live.all().find(r => r.pack === pack.id)
      if (again !== undefined) live.set(pack.id, { count: again.count, bytes: again.bytes })
    }
    const used = live.get(pack.id)
    if (used === undefined || used.count === 0) {
      await drop(ctx, pack.id, file)
      report.deleted++
      report.freedBytes += stat.size
      continue
    }
    const payload = Math.max(1, stat.size - FILE_HEADER_SIZE)
    if (used.bytes / payload >= ctx.compactBelow) continue
    const written = await rewrite(ctx, pack.id, file)
    report.rewritten++
    report.deleted++
    report.freedBytes += Math.max(0, stat.size - written)
  }
  return report
}

async function drop (ctx: CompactionContext, id: number, file: string): Promise<void> {
  // The row goes first, durably; a crash before the unlink leaves a stray file (listStrays).
  ctx.index.transaction(() => {
    if (ctx.index.sql.rowsInPack.get(id)?.n === 0) ctx.index.sql.dropPack.run(id)
  })
  if (ctx.index.sql.pack.get(id) !== undefined) return // a block was indexed into it meanwhile
  await ctx.index.sync()
  ctx.dropReader(id)
  await fs.rm(file, { force: true })
}

/** Copy the live blocks of pack `id` to a new pack, move their rows, delete the old pack. Resolves to the new pack's size. */
async function rewrite (ctx: CompactionContext, id: number, file: string): Promise<number> {
  const { index } = ctx
  const target = ctx.newPack()
  const targetFile = join(ctx.packsDir, packName(target))
  const out = await openFd(targetFile, 'wx+')
  const src = await openFd(file, 'r')
  const moves: Array<{ mh: Buffer, from: number, to: number }> = []
  let end = FILE_HEADER_SIZE
  try {
    await writeAllAt(out, [fileHeader()], 0)
    let after = -1
    for (;;) {
      ctx.signal?.throwIfAborted()
      const rows = index.sql.rowsOfFrom.all(id, after, COPY_PAGE)
      for (const row of rows) {
        const data = Buffer.allocUnsafe(row.length)
        const got = await readAt(src, data, row.length, row.offset)
        if (got < row.length) throw new Error(`Pack ${packName(id)} is shorter than its index says`)
        const header = recordHeader(row.mh, row.length)
        await writeAllAt(out, [header, data], end)
        moves.push({ mh: row.mh, from: row.offset, to: end + header.byteLength })
        end += header.byteLength + row.length
      }
      if (rows.length < COPY_PAGE) break
      after = rows[rows.length - 1].offset
    }
    await fdatasync(out)
    await fsyncPath(ctx.packsDir, true)
  } catch (err) {
    await closeFd(out).catch(() => {})
    await closeFd(src).catch(() => {})
    // The copy is not referenced by any row: remove it with its (unsealed, empty) pack row.
    index.transaction(() => { index.sql.dropPack.run(target) })
    await fs.rm(targetFile, { force: true })
    throw err
  }
  await closeFd(src)
  const size = (await fstat(out)).size
  await closeFd(out)
  index.transaction(() => {
    for (const m of moves) index.sql.move.run(target, m.to, m.mh, id, m.from)
    index.sql.seal.run(target)
    // Rows that did not move (indexed into the old pack after the copy began) keep it alive.
    if (index.sql.rowsInPack.get(id)?.n === 0) index.sql.dropPack.run(id)
  })
  if (index.sql.pack.get(id) !== undefined) return size
  await index.sync()
  ctx.dropReader(id)
  await fs.rm(file, { force: true })
  return size
}
