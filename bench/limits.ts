/**
 * In-process limits, measured in the same run as the servers: hashing (the PUT path's floor) and
 * the disk. Nothing is dropped from the page cache (that needs root); the read figure is whatever
 * the cache makes it, and is reported as such.
 */
import { createHash } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { makeSlice, SLICE } from './pattern.js'

export interface HashFigures { md5: number, sha256: number, both: number }

/** MB/s (10^6 B) over `size` bytes fed in 1 MiB slices from a pre-generated ring of 16 slices. */
export function measureHashing (size: number): HashFigures {
  const ring: Buffer[] = []
  for (let i = 0; i < 16; i++) ring.push(makeSlice(7, i))
  const slices = Math.max(1, Math.floor(size / SLICE))
  const run = (algos: string[], n = slices): number => {
    const hs = algos.map(a => createHash(a))
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      const s = ring[i % ring.length]
      for (const h of hs) h.update(s)
    }
    for (const h of hs) h.digest()
    return (n * SLICE / 1e6) / ((performance.now() - t0) / 1000)
  }
  run(['md5', 'sha256'], 16) // warm-up
  return { md5: run(['md5']), sha256: run(['sha256']), both: run(['md5', 'sha256']) }
}

export interface DiskFigures { writeFsync: number, read: number }

/** Writes `size` bytes in 1 MiB writes + one fsync, then reads them back; MB/s each. */
export async function measureDisk (dir: string, size: number): Promise<DiskFigures> {
  const file = join(dir, 'disk-probe.bin')
  const ring: Buffer[] = []
  for (let i = 0; i < 16; i++) ring.push(makeSlice(11, i))
  const slices = Math.max(1, Math.floor(size / SLICE))
  try {
    const fh = await open(file, 'w')
    const t0 = performance.now()
    try {
      for (let i = 0; i < slices; i++) await fh.write(ring[i % ring.length])
      await fh.sync()
    } finally {
      await fh.close()
    }
    const writeFsync = (slices * SLICE / 1e6) / ((performance.now() - t0) / 1000)
    const rh = await open(file, 'r')
    const buf = Buffer.allocUnsafe(SLICE)
    const t1 = performance.now()
    let total = 0
    try {
      for (let i = 0; i < slices; i++) {
        const { bytesRead } = await rh.read(buf, 0, SLICE, null)
        if (bytesRead === 0) break
        total += bytesRead
      }
    } finally {
      await rh.close()
    }
    const read = (total / 1e6) / ((performance.now() - t1) / 1000)
    return { writeFsync, read }
  } finally {
    await rm(file, { force: true })
  }
}

/**
 * Targets of the multipart sections (bench/multipart.ts), set before they were first measured.
 *
 * - `multipartVsSinglePut`: a 1 GiB multipart upload (8 MiB parts, 4 in flight, Create + parts +
 *   Complete as the client waits for them) must reach at least this fraction of the same client's
 *   one-stream PUT of 1 GiB to the same server, measured in the same run with the two interleaved
 *   (medians). 1: splitting an upload must not cost throughput; with 4 parts in flight the server
 *   can overlap one part's hashing with another's disk writes on the second core.
 * - `completeManyPartsMs`: CompleteMultipartUpload of 1,000 parts × 8 MiB (8.4 GB, the parts made
 *   by whole-object UploadPartCopy) must answer within this many ms. It bounds the per-part cost
 *   (< 1 ms a part) and, at 8.4 GB, rules out reading or hashing the bytes (that would need
 *   > 8 GB/s). A per-part comparison with the 10-part Complete cannot show this: both parts and
 *   bytes grow 100× between the two, so a Complete that read every byte would scale "per part" too;
 *   the section also times 10 parts of 16× the bytes to show the bytes' share directly.
 */
export const MULTIPART_TARGETS = {
  multipartVsSinglePut: 1,
  completeManyPartsMs: 1000,
} as const

/**
 * Targets of the versions section (bench/versions.ts), set before it was first measured.
 *
 * - `deepVsShallow`: HEAD and GET of a key's latest version, a ListObjectsV2 page of the prefix
 *   that holds it, and a ListObjectVersions page starting in the middle of its versions must each
 *   answer within this many times the same request for a key with one version (in the same
 *   versioning-enabled bucket, with as many neighbouring keys, interleaved in the same run,
 *   medians), when the key has 10,000 versions. 1.5, as for the listing pages at 100k vs 10k keys:
 *   each request must be a seek, not a scan of the old versions, and 1.5× leaves room for a
 *   B-tree one level deeper and for the noise of sub-millisecond latencies on a shared machine.
 */
export const VERSIONS_TARGETS = {
  deepVsShallow: 1.5,
} as const

/**
 * Targets of the testing section (bench/testing.ts), set before it was first measured.
 *
 * One unit test's S3, timed whole: set up (gateway or server, and an AWS SDK client), PutObject of
 * 4 KiB, GetObject with the body read, close. Medians, the three ways interleaved in the same run,
 * against s3rver 3.7.1 started per test (new S3rver on port 0, a temp directory, the bucket
 * configured at start, closed and the directory removed after).
 *
 * - `inProcessVsS3rver`: the test gateway on inProcessHandler must take at most this fraction of
 *   s3rver's time. 1/2: it opens no socket, no directory and no file, so whatever it still costs is
 *   the SDK's own signing and checksums plus our request handling; if that were not well under an
 *   HTTP server with a file store, the in-process handler would not be worth offering.
 * - `serverVsS3rver`: the same gateway through startTestServer must take at most this many times
 *   s3rver's time. 1: both listen on a loopback port and the SDK speaks HTTP to both; ours keeps
 *   everything in memory where s3rver writes files, so it must not be slower.
 */
export const TESTING_TARGETS = {
  inProcessVsS3rver: 0.5,
  serverVsS3rver: 1,
} as const

/**
 * Targets of the metadata section (bench/metadata.ts), set before it was first measured.
 *
 * The standalone server (`node dist/cli.js serve`) with its metadata in SQLite (`<data-dir>/meta.db`)
 * or in PostgreSQL (`--metadata postgres://…?schema=…`), as one process and as three processes that
 * share the schema (or meta.db) and one data directory, the load spread across them.
 *
 * - `listPageMs`: the first ListObjectsV2 page (max-keys 1000) and a page from the middle
 *   (start-after) of a bucket of 100,000 keys must answer within this many ms on PostgreSQL, one
 *   process and three, as the list section asks of SQLite. One range scan of a covering index
 *   either way; the extra cost is 1,000 rows over a local socket, well under a millisecond.
 * - `pgVsSqlite`: one process on PostgreSQL must reach at least this fraction of one process on
 *   SQLite for 4 KiB PUT, GET and HEAD (ops/s @32). A query to another process costs CPU on both
 *   sides of the socket that SQLite's in-process lookup does not, and here both share the cores
 *   with the client; losing more than half would mean more than a round trip or two per request.
 * - `threeVsOneGet`: three processes on PostgreSQL must serve at least this many times one
 *   process's 4 KiB GETs @32. The reason to share metadata is to add processes. Note that on a
 *   machine of fewer than about four cores the client, PostgreSQL and three servers compete for the
 *   same cores, so the section prints the CPU each took: read a miss there next to those figures.
 */
export const METADATA_TARGETS = {
  listPageMs: 10,
  pgVsSqlite: 0.5,
  threeVsOneGet: 1.5,
} as const
