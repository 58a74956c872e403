/**
 * The gateways of the kubo and observability sections (bench/kubo.ts, bench/observability.ts):
 * `startServer` from bin/server.ts, which is what `serve` runs, with what `serve` has no option
 * for: the size of the block cache in front of an IPFS node, and turning metrics off.
 *
 * Run as a child: node --import tsx bench/gateway-server.ts --port P --data-dir D [--host H] [--region R]
 *                   [--ipfs-api URL [--cache-bytes N]] [--metrics on|off] [--log-level L]
 *
 * Without --ipfs-api: FsBlockstore + SQLite in D, as `serve --data-dir D`. With it: the blocks on
 * that node behind a CachedBlockstore, as `serve --ipfs-api URL` (its default 64 MiB MemoryBlockCache),
 * or with a MemoryBlockCache of N bytes. Credentials from S3IPFS_ACCESS_KEY / S3IPFS_SECRET_KEY.
 * --metrics is `createGateway({ metrics })` (default on); --log-level is startServer's `logLevel`
 * (default 'warn': no request lines; 'info': one JSON line per request on stderr, through pino).
 * On SIGTERM or SIGINT it prints `cache-metrics <json>` (the CachedBlockstore's counters, `null`
 * without one) and closes.
 */
import { kuboStore, startServer } from '../bin/server.js'
import { CachedBlockstore, MemoryBlockCache } from '../src/blockstores/cached.js'
import { LOG_LEVELS, type LogLevel } from '../src/observability/logger.js'

function arg (name: string): string | undefined {
  const i = process.argv.indexOf(name)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : undefined
}

const ipfsApi = arg('--ipfs-api')
const cacheBytes = arg('--cache-bytes')
const metrics = arg('--metrics')
if (metrics !== undefined && metrics !== 'on' && metrics !== 'off') throw new Error(`--metrics on|off, not "${metrics}"`)
const logLevel = arg('--log-level')
if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new Error(`--log-level ${LOG_LEVELS.join('|')}, not "${logLevel}"`)
const cached = ipfsApi === undefined
  ? undefined
  : new CachedBlockstore(kuboStore(ipfsApi), cacheBytes === undefined ? {} : { cache: new MemoryBlockCache({ maxBytes: Number(cacheBytes) }) })

const running = await startServer({
  port: Number(arg('--port') ?? 0),
  host: arg('--host') ?? '127.0.0.1',
  dataDir: arg('--data-dir'),
  region: arg('--region'),
  accessKeyId: process.env.S3IPFS_ACCESS_KEY,
  secretAccessKey: process.env.S3IPFS_SECRET_KEY,
  blockstore: cached,
  logLevel: logLevel as LogLevel | undefined,
  gateway: metrics === undefined ? undefined : { metrics: metrics === 'on' },
})

let closing = false
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (closing) return
    closing = true
    // stdout is a pipe to the bench: written synchronously on Linux, before the exit
    process.stdout.write(`cache-metrics ${JSON.stringify(cached?.metrics ?? null)}\n`)
    running.close().then(() => process.exit(0), () => process.exit(1))
  })
}
