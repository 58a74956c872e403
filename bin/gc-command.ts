import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createGateway } from '../src/gateway.js'
import type { GatewayGcReport } from '../src/types.js'
import { DURATION_UNITS, nonEmpty, parseDuration } from './args.js'
import { GcMetricsFile } from './gc-metrics.js'
import { ipfsApiOptions } from './serve-options.js'
import { DEFAULT_DATA_DIR } from './server.js'
import { openStores } from './stores.js'
import { DEFAULT_GRACE_PERIOD } from './usage.js'

interface GcCommandOptions {
  dataDir: string
  metadataUrl?: string
  ipfsApi?: string
  ipfsApiHeaders?: Record<string, string>
  gracePeriodMs: number
  dryRun: boolean
  json: boolean
  metricsFile?: string
}

function resolveGcOptions (argv: string[], env: NodeJS.ProcessEnv): GcCommandOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      'grace-period': { type: 'string' },
      metadata: { type: 'string' },
      'ipfs-api': { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      'metrics-file': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  })
  return {
    dataDir: resolve(values['data-dir'] ?? nonEmpty(env.S3IPFS_DATA_DIR) ?? DEFAULT_DATA_DIR),
    metadataUrl: values.metadata ?? nonEmpty(env.S3IPFS_METADATA_URL),
    ...ipfsApiOptions(values['ipfs-api'], env),
    gracePeriodMs: parseDuration(values['grace-period'] ?? DEFAULT_GRACE_PERIOD),
    dryRun: values['dry-run'] === true,
    json: values.json === true,
    metricsFile: values['metrics-file'] === undefined ? undefined : resolve(values['metrics-file']),
  }
}

function formatDuration (ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms > 0 && ms % DURATION_UNITS[unit] === 0) return `${ms / DURATION_UNITS[unit]}${unit}`
  }
  return ms === 0 ? '0' : `${ms}ms`
}

function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]} (${n} bytes)`
}

function gcSummary (report: GatewayGcReport, options: GcCommandOptions): string {
  const lines = [`s3-ipfs-gateway gc of ${options.dataDir} (grace period ${formatDuration(options.gracePeriodMs)}${options.dryRun ? ', dry run' : ''})`]
  const row = (label: string, value: string): void => { lines.push(`  ${(label + ':').padEnd(18)} ${value}`) }
  if (report.pins !== undefined) row('pins reconciled', `${report.pins.pinned} pinned, ${report.pins.unpinned} unpinned`)
  const b = report.blocks
  if (b !== undefined) {
    row('referenced roots', String(b.roots))
    row('blocks scanned', String(b.scanned))
    row('blocks marked', `${b.marked} (reachable from referenced objects)`)
    if (options.dryRun) {
      row('would delete', `${b.candidates} blocks (nothing deleted: dry run)`)
    } else if (!b.swept) {
      row('blocks deleted', `0 of ${b.candidates} unreferenced: sweep skipped, the mark is incomplete (see stderr)`)
    } else {
      row('blocks deleted', String(b.deleted))
      row('bytes freed', formatBytes(b.freedBytes))
    }
    row('kept as recent', `${b.keptRecent} (unreferenced, written within the grace period)`)
    if (!options.dryRun) row('strays deleted', `${b.straysDeleted} (${formatBytes(b.strayBytes)})`)
    if (!options.dryRun && b.packsCompacted > 0) row('packs compacted', `${b.packsCompacted} (${formatBytes(b.compactedBytes)} of disk given back)`)
    row('took', `${b.durationMs} ms`)
  }
  return lines.join('\n') + '\n'
}

/** The loud part: referenced blocks that are gone or unreadable. Empty when there are none. */
function gcDamage (report: GatewayGcReport, options: GcCommandOptions): string {
  const b = report.blocks
  if (b === undefined || (b.missing.length === 0 && b.corrupt.length === 0)) return ''
  const SHOWN = 50
  const list = (cids: string[]): string[] => [
    ...cids.slice(0, SHOWN).map(c => `  ${c}`),
    ...(cids.length > SHOWN ? [`  ... and ${cids.length - SHOWN} more (--json lists all)`] : []),
  ]
  const lines: string[] = []
  if (b.missing.length > 0) {
    lines.push(`gc: DATA LOSS: ${b.missing.length} block(s) of referenced objects are missing from the blockstore in ${resolve(options.dataDir)}:`, ...list(b.missing))
  }
  if (b.corrupt.length > 0) {
    lines.push(`gc: DATA LOSS: ${b.corrupt.length} referenced dag-pb block(s) do not decode:`, ...list(b.corrupt))
  }
  lines.push(options.dryRun || b.swept
    ? 'gc: objects using these blocks cannot be read in full. Restore them (e.g. from a backup or an IPFS node holding these CIDs).'
    : 'gc: nothing was deleted: blocks under the unreadable nodes could not be marked. Restore them (e.g. from a backup or an IPFS node holding these CIDs), then run gc again.')
  return lines.join('\n') + '\n'
}

/** `s3-ipfs-gateway gc`: its exit status. */
export async function gc (argv: string[]): Promise<number> {
  const options = resolveGcOptions(argv, process.env)
  const gateway = createGateway({
    ...await openStores(options.dataDir, { existing: true, metadataUrl: options.metadataUrl, ipfsApi: options.ipfsApi, ipfsApiHeaders: options.ipfsApiHeaders }),
    metrics: { processMetrics: false },
  })
  const metricsFile = options.metricsFile === undefined || gateway.metrics === undefined ? undefined : new GcMetricsFile(options.metricsFile, gateway.metrics)
  await metricsFile?.carryOver()
  const controller = new AbortController()
  const stop = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      process.stderr.write(`${signal} again: exiting now\n`)
      process.exit(1)
    }
    process.stderr.write(`${signal}: stopping once the deletes in progress have settled...\n`)
    controller.abort(Object.assign(new Error(`gc stopped by ${signal}; blocks deleted so far stay deleted`), { name: 'AbortError' }))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  let report: GatewayGcReport
  try {
    report = await gateway.gc({ gracePeriodMs: options.gracePeriodMs, dryRun: options.dryRun, signal: controller.signal })
  } finally {
    await gateway.close()
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    if (!options.dryRun) await metricsFile?.write()
  }
  process.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : gcSummary(report, options))
  if (report.blocks === undefined && options.ipfsApi !== undefined && report.pins !== undefined) {
    process.stderr.write(`gc: pins on ${options.ipfsApi} now match the references; run \`ipfs repo gc\` on that node to free unpinned blocks\n`)
    return 0
  }
  if (report.blocks === undefined) {
    process.stderr.write('gc: the blockstore cannot be listed, so no blocks were collected\n')
    return 1
  }
  const damage = gcDamage(report, options)
  process.stderr.write(damage)
  return damage === '' ? 0 : 1
}
