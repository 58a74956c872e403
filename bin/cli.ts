#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { CID_PROFILES, isCidProfileName } from '../src/content/profiles.js'
import { LOG_LEVELS, type LogLevel } from '../src/observability/logger.js'
import { createGateway } from '../src/gateway.js'
import type { GatewayGcReport } from '../src/types.js'
import { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, openStores, startServer } from './server.js'
import type { RunningServer, ServerOptions } from './server.js'
import { GcMetricsFile } from './gc-metrics.js'
import { DURATION_UNITS, nonEmpty, parseDuration, UsageError } from './args.js'
import { federationOptions } from './federation-options.js'

const FALSE_WORDS = ['0', 'false', 'off', 'no']
const BOOLEAN_WORDS = [...FALSE_WORDS, '1', 'true', 'on', 'yes']

/** The library's default (GatewayGcOptions.gracePeriodMs). */
const DEFAULT_GRACE_PERIOD = '15m'

const SERVE_USAGE = `Usage: s3-ipfs-gateway serve [options]

Serves the Amazon S3 REST API over node:http, keeping object bytes as IPFS (UnixFS) blocks.

Options (each overrides its environment variable):
  --port N          S3IPFS_PORT         port to listen on (default ${DEFAULT_PORT})
  --host H          S3IPFS_HOST         interface to listen on (default ${DEFAULT_HOST})
  --data-dir D      S3IPFS_DATA_DIR     blocks, meta.db and credentials.json (default ${DEFAULT_DATA_DIR})
  --region R        S3IPFS_REGION       region to sign for (default us-east-1)
  --cid-profile P   S3IPFS_CID_PROFILE  ${CID_PROFILES.join(' | ')} (default ${CID_PROFILES[0]})
  --metadata URL    S3IPFS_METADATA_URL postgres://user@host:5432/db[?schema=name]: metadata in PostgreSQL
                                        (shared by several gateway processes) instead of <data-dir>/meta.db
  --redis URL       S3IPFS_REDIS_URL    redis://host:6379: a block cache shared by gateway processes
  --ipfs-api URL    S3IPFS_IPFS_API     http://127.0.0.1:5001: keep content on that IPFS node (Kubo RPC
                                        API; pinned while referenced) instead of <data-dir>/blocks.
                                        S3IPFS_IPFS_API_AUTH: an Authorization header value for it
  --ipfs-listen MA  S3IPFS_IPFS_LISTEN  e.g. /ip4/0.0.0.0/tcp/4001: also run an IPFS node there, serving
                                        the stored blocks to peers over bitswap (repeatable or comma-
                                        separated; needs the optional peers of s3-ipfs-gateway/helia)
  --ipfs-key FILE   S3IPFS_IPFS_KEY     that node's private key, made on the first start, so its peer id
                                        stays the same (default <data-dir>/ipfs.key; with --metadata
                                        none, a new peer id each start: give each process its own file)
  --users FILE      S3IPFS_USERS        a JSON users file: more users with access keys and optional
                                        identity policies (re-read when it changes)
  --encrypt         S3IPFS_ENCRYPT=1    store every new object encrypted (SSE-S3)
  --audit-log FILE  S3IPFS_AUDIT_LOG    append a JSON line per request to FILE
  --tls-cert FILE   S3IPFS_TLS_CERT     serve HTTPS with this certificate chain (PEM); needs --tls-key.
  --tls-key FILE    S3IPFS_TLS_KEY      Both files are re-read when they change (renewals need no
                                        restart); SSE-C then works without --allow-insecure-sse-c
  --allow-insecure-sse-c                accept SSE-C keys over plain HTTP (TLS ends at a proxy)
  --no-cid-metadata S3IPFS_CID_METADATA=false  return each version's CID only in x-ipfs-path, not
                                        also as x-amz-meta-cid (for S3-identical user metadata)
  --ipfs-gateway M  S3IPFS_IPFS_GATEWAY authorized | open: who GET /ipfs/<cid>[/<path>] on the S3 port
                                        serves. authorized (default): CIDs of object versions the
                                        caller may read (SigV4, presigned, or public); open: every
                                        block held here, to anyone
  --no-signature-v2                     refuse AWS Signature Version 2 (\`AWS key:signature\` headers,
                                        AWSAccessKeyId/Signature URLs and forms) with 400 InvalidRequest,
                                        as Amazon S3 does; S3IPFS_SIGNATURE_V2=false. Default: accepted
  --admin-listen H:P S3IPFS_ADMIN_LISTEN also serve /-/healthy, /-/ready, /-/metrics and /-/dashboard on
                                        this address (e.g. 0.0.0.0:9091); they are on the S3 port too
  --metrics-token T S3IPFS_METRICS_TOKEN /-/metrics requires Authorization: Bearer T
  --log-level L     S3IPFS_LOG_LEVEL    ${LOG_LEVELS.join(' | ')} (default info: a JSON line per
                                        request on stderr)
  --pinning-services FILE  S3IPFS_PINNING_SERVICES  a JSON list of remote pinning services
                                        [{ "name", "endpoint", "token" }] that keep replicas of every
                                        object version (IPFS Pinning Service API)
  --replicas MIN[:MAX] S3IPFS_REPLICAS  copies to keep on those services (default 1)
  --pins-token T    S3IPFS_PINS_TOKEN   serve the Pinning Service API at /-/pins to holders of T (other
                                        gateways replicate here; \`ipfs pin remote service add\`)
  --admin-token T   S3IPFS_ADMIN_TOKEN  bearer token for admin changes (a bucket's replica policy)
  --no-workers      S3IPFS_WORKERS=0    run no background jobs in this process (others sharing the
                                        metadata run them). S3IPFS_JOB_LEASE: how long a claimed
                                        job is this process's before another may take it over
                                        (default 60s; a crashed process's jobs wait that long)
  --scrub-rate R    S3IPFS_SCRUB_RATE   scrub: re-hash every stored block against its CID at R bytes/s
                                        (e.g. 32M), repairing from replicas; a pass every
                                        S3IPFS_SCRUB_INTERVAL (default 24h). Default: off
  --archive FILE    S3IPFS_ARCHIVE      a JSON file naming the archive target of the GLACIER_IR, GLACIER
                                        and DEEP_ARCHIVE storage classes (lifecycle transitions,
                                        RestoreObject): { "type": "s3", "endpoint", "bucket", "region",
                                        "accessKeyId", "secretAccessKey" }, { "type": "storacha",
                                        "key", "proof" } or { "type": "pinning-service", "endpoint",
                                        "token" } (needs --ipfs-listen)
  S3IPFS_LIFECYCLE_DAY_SECONDS          the length of a lifecycle "day" in seconds (default 86400): rules'
                                        Days count in it, and each bucket's lifecycle pass runs once per
                                        day. Shorten it to see rules act in tests and staging
  -h, --help                            show this help
  -v, --version                         show the version

Credentials: S3IPFS_ACCESS_KEY and S3IPFS_SECRET_KEY. When unset, a key pair is generated on the
first start, saved in <data-dir>/credentials.json (mode 0600) and reused afterwards.

Encryption: SSE-S3 objects' keys are wrapped by S3IPFS_MASTER_KEY (32 bytes, base64 or hex). When
unset, one is generated on the first start and kept in <data-dir>/master.key (mode 0600); with
--metadata (several processes share the objects) it must be set for SSE-S3 to work. Losing it loses
every SSE-S3 object.
`

const GC_USAGE = `Usage: s3-ipfs-gateway gc [options]

Deletes the blocks in a data directory that no object version or multipart part references any
more (left by overwrites, deletes and failed uploads), and files of interrupted writes.

Safe while \`serve\` runs on the same directory: SQLite is shared in WAL mode, and a block the
server writes again while gc deletes it is kept. But gc cannot see the server's uploads in flight:
their blocks are protected only by the grace period, so it must exceed the longest upload (a single
PUT from its first byte to its end; multipart parts count once each is stored). Use 0 only while
no upload is in flight.

Options:
  --data-dir D          S3IPFS_DATA_DIR  the directory serve uses (default ${DEFAULT_DATA_DIR})
  --metadata URL        S3IPFS_METADATA_URL  the PostgreSQL metadata serve uses, if it uses one
  --ipfs-api URL        S3IPFS_IPFS_API  the IPFS node serve keeps content on, if it uses one: gc then
                        only reconciles the node's pins with the references (the node's own
                        \`ipfs repo gc\` frees the unpinned blocks)
  --grace-period T      keep unreferenced blocks written within T: milliseconds, or a number
                        with ms, s, m, h or d, e.g. 30s, 15m, 1h (default ${DEFAULT_GRACE_PERIOD})
  --dry-run             count what would be deleted; delete nothing
  --json                print the report as JSON
  --metrics-file F      write this run's metrics (s3ipfs_gc_*, pins, reconciles) to F for node_exporter's
                        textfile collector; counters go on from the previous file's values
  -h, --help            show this help

Exit status: 0 done; 1 when blocks of referenced objects are missing or corrupt (data loss; the
sweep is skipped when they may hide live blocks), or on any other failure; 2 on a usage error.
SIGINT/SIGTERM stop gc once the deletes in progress have settled.
`

const USAGE = `Usage: s3-ipfs-gateway serve [options]
       s3-ipfs-gateway gc [options]

Commands:
  serve   serve the Amazon S3 REST API, keeping object bytes as IPFS (UnixFS) blocks
  gc      delete blocks nothing references any more (safe while serve runs)

  -h, --help      show this help; \`s3-ipfs-gateway <command> --help\` shows a command's options
  -v, --version   show the version
`

const COMMAND_USAGE = new Map([['serve', SERVE_USAGE], ['gc', GC_USAGE]])

function version (): string {
  // package.json sits one level above both bin/cli.ts and dist/cli.js
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** Flags over environment over defaults; undefined leaves the default to startServer. */
function resolveServeOptions (argv: string[], env: NodeJS.ProcessEnv): ServerOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      region: { type: 'string' },
      'cid-profile': { type: 'string' },
      metadata: { type: 'string' },
      redis: { type: 'string' },
      'ipfs-api': { type: 'string' },
      'ipfs-listen': { type: 'string', multiple: true },
      'ipfs-key': { type: 'string' },
      users: { type: 'string' },
      encrypt: { type: 'boolean' },
      'audit-log': { type: 'string' },
      'allow-insecure-sse-c': { type: 'boolean' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'no-cid-metadata': { type: 'boolean' },
      'ipfs-gateway': { type: 'string' },
      'no-signature-v2': { type: 'boolean' },
      'admin-listen': { type: 'string' },
      'metrics-token': { type: 'string' },
      'log-level': { type: 'string' },
      'pinning-services': { type: 'string' },
      replicas: { type: 'string' },
      'pins-token': { type: 'string' },
      'admin-token': { type: 'string' },
      'no-workers': { type: 'boolean' },
      'scrub-rate': { type: 'string' },
      archive: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  })
  const logLevel = values['log-level'] ?? nonEmpty(env.S3IPFS_LOG_LEVEL) ?? 'info'
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UsageError(`Unknown log level "${logLevel}"; expected one of ${LOG_LEVELS.join(', ')}`)
  const adminListenText = values['admin-listen'] ?? nonEmpty(env.S3IPFS_ADMIN_LISTEN)
  const ipfsListen = (values['ipfs-listen'] ?? [env.S3IPFS_IPFS_LISTEN ?? '']).flatMap(v => v.split(',')).map(v => v.trim()).filter(v => v !== '')
  const portText = values.port ?? nonEmpty(env.S3IPFS_PORT)
  let port: number | undefined
  if (portText !== undefined) {
    port = Number(portText)
    if (!/^\d+$/.test(portText) || port > 65535) throw new UsageError(`Invalid port "${portText}"`)
  }
  const cidProfile = values['cid-profile'] ?? nonEmpty(env.S3IPFS_CID_PROFILE)
  if (cidProfile !== undefined && !isCidProfileName(cidProfile)) {
    throw new UsageError(`Unknown CID profile "${cidProfile}"; expected one of ${CID_PROFILES.join(', ')}`)
  }
  const signatureV2Env = nonEmpty(env.S3IPFS_SIGNATURE_V2)
  if (signatureV2Env !== undefined && !BOOLEAN_WORDS.includes(signatureV2Env.toLowerCase())) {
    throw new UsageError(`Invalid S3IPFS_SIGNATURE_V2 "${signatureV2Env}"; expected true or false`)
  }
  const accessKeyId = nonEmpty(env.S3IPFS_ACCESS_KEY)
  const secretAccessKey = nonEmpty(env.S3IPFS_SECRET_KEY)
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new UsageError('Set both S3IPFS_ACCESS_KEY and S3IPFS_SECRET_KEY, or neither')
  }
  return {
    port,
    host: values.host ?? nonEmpty(env.S3IPFS_HOST),
    dataDir: values['data-dir'] ?? nonEmpty(env.S3IPFS_DATA_DIR),
    region: values.region ?? nonEmpty(env.S3IPFS_REGION),
    cidProfile,
    accessKeyId,
    secretAccessKey,
    metadataUrl: values.metadata ?? nonEmpty(env.S3IPFS_METADATA_URL),
    redisUrl: values.redis ?? nonEmpty(env.S3IPFS_REDIS_URL),
    ...ipfsApiOptions(values['ipfs-api'], env),
    ipfsListen: ipfsListen.length > 0 ? ipfsListen : undefined,
    ipfsKeyFile: values['ipfs-key'] ?? nonEmpty(env.S3IPFS_IPFS_KEY),
    usersFile: values.users ?? nonEmpty(env.S3IPFS_USERS),
    masterKey: nonEmpty(env.S3IPFS_MASTER_KEY),
    encrypt: values.encrypt ?? (env.S3IPFS_ENCRYPT === '1' || env.S3IPFS_ENCRYPT === 'true'),
    auditLog: values['audit-log'] ?? nonEmpty(env.S3IPFS_AUDIT_LOG),
    allowInsecureSseC: values['allow-insecure-sse-c'] ?? false,
    tls: tlsFiles(values['tls-cert'] ?? nonEmpty(env.S3IPFS_TLS_CERT), values['tls-key'] ?? nonEmpty(env.S3IPFS_TLS_KEY)),
    ipfsGateway: ipfsGatewayMode(values['ipfs-gateway'] ?? nonEmpty(env.S3IPFS_IPFS_GATEWAY)),
    cidMetadata: values['no-cid-metadata'] === true ? false : !FALSE_WORDS.includes((env.S3IPFS_CID_METADATA ?? '').toLowerCase()),
    lifecycleDaySeconds: lifecycleDaySeconds(env),
    signatureV2: values['no-signature-v2'] === true ? false : signatureV2Env === undefined ? undefined : !FALSE_WORDS.includes(signatureV2Env.toLowerCase()),
    adminListen: adminListenText === undefined ? undefined : parseListen(adminListenText),
    metricsToken: values['metrics-token'] ?? nonEmpty(env.S3IPFS_METRICS_TOKEN),
    logLevel: logLevel as LogLevel,
    ...federationOptions(values, env),
  }
}


/** S3IPFS_LIFECYCLE_DAY_SECONDS: a whole number of seconds, at least 1. */
function lifecycleDaySeconds (env: NodeJS.ProcessEnv): number | undefined {
  const text = nonEmpty(env.S3IPFS_LIFECYCLE_DAY_SECONDS)
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`Invalid S3IPFS_LIFECYCLE_DAY_SECONDS "${text}"; expected a whole number of seconds, at least 1`)
  return Number(text)
}

/** `--tls-cert` and `--tls-key` (or their variables): both or neither. */
function tlsFiles (certFile: string | undefined, keyFile: string | undefined): ServerOptions['tls'] {
  if (certFile === undefined && keyFile === undefined) return undefined
  if (keyFile === undefined) throw new UsageError('--tls-cert (S3IPFS_TLS_CERT) needs --tls-key (S3IPFS_TLS_KEY) too')
  if (certFile === undefined) throw new UsageError('--tls-key (S3IPFS_TLS_KEY) needs --tls-cert (S3IPFS_TLS_CERT) too')
  return { certFile: resolve(certFile), keyFile: resolve(keyFile) }
}

/** `HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces' loopback default: 127.0.0.1). */
function parseListen (text: string): { host: string, port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text)
  const port = m === null ? NaN : Number(m[3])
  if (m === null || port > 65535) throw new UsageError(`Invalid admin address "${text}"; expected HOST:PORT, e.g. 127.0.0.1:9091`)
  return { host: m[1] ?? (m[2] === '' ? DEFAULT_HOST : m[2]), port }
}

/** `--ipfs-api` / S3IPFS_IPFS_API, with S3IPFS_IPFS_API_AUTH as its Authorization header. */
function ipfsApiOptions (flag: string | undefined, env: NodeJS.ProcessEnv): Pick<ServerOptions, 'ipfsApi' | 'ipfsApiHeaders'> {
  const ipfsApi = flag ?? nonEmpty(env.S3IPFS_IPFS_API)
  if (ipfsApi === undefined) return {}
  if (!/^https?:\/\/[^/]/.test(ipfsApi)) throw new UsageError(`Invalid IPFS API URL "${ipfsApi}"; expected e.g. http://127.0.0.1:5001`)
  const auth = nonEmpty(env.S3IPFS_IPFS_API_AUTH)
  return { ipfsApi, ipfsApiHeaders: auth === undefined ? undefined : { authorization: auth } }
}

function banner (running: RunningServer, options: ServerOptions): string {
  const { accessKeyId, secretAccessKey } = running.credentials
  return [
    `s3-ipfs-gateway ${version()} listening on ${running.url}`,
    `  data directory:  ${options.dataDir ?? DEFAULT_DATA_DIR}`,
    ...(options.ipfsApi === undefined ? [] : [`  ipfs node:       ${options.ipfsApi} (Kubo RPC API)`]),
    ...(options.usersFile === undefined ? [] : [`  users file:      ${options.usersFile}`]),
    ...(options.tls === undefined ? [] : [`  tls:             ${options.tls.certFile} (re-read when it or the key changes)`]),
    `  encryption:      ${options.encrypt === true ? 'every new object (SSE-S3)' : 'per request or bucket (SSE-S3, SSE-C)'}`,
    ...(options.auditLog === undefined ? [] : [`  audit log:       ${options.auditLog}`]),
    `  admin:           ${running.url.replace(/\/+$/, '').replace(/(https?:\/\/[^/]+).*/, '$1')}/-/ (healthy, ready, metrics, dashboard)`,
    ...(running.adminUrl === undefined ? [] : [`  admin listener:  ${running.adminUrl}/-/`]),
    `  region:          ${running.gateway.region}`,
    `  access key:      ${accessKeyId}`,
    `  secret key:      ${secretAccessKey}`,
    ...(running.ipfs === undefined ? [] : [
      `  ipfs peer id:    ${running.ipfs.peerId}`,
      `  ipfs key:        ${running.ipfsKeyFile ?? 'none (a new peer id on every start)'}`,
      ...running.ipfs.multiaddrs.map(a => `  ipfs address:    ${a}`),
    ]),
    ...(options.pinningServices === undefined ? [] : [`  replicas:        ${options.replicas ?? '1'} on ${options.pinningServices.map((s) => s.name).join(', ')}`]),
    ...(options.pinsToken === undefined ? [] : [`  pinning service: ${running.url.replace(/\/+$/, '').replace(/(https?:\/\/[^/]+).*/, '$1')}/- (Pinning Service API; bearer token set)`]),
    '',
    `  AWS_ACCESS_KEY_ID=${accessKeyId} AWS_SECRET_ACCESS_KEY=${secretAccessKey} AWS_REGION=${running.gateway.region} aws --endpoint-url ${running.url} s3 ls`,
    '',
  ].join('\n')
}

async function serve (argv: string[]): Promise<void> {
  const options = resolveServeOptions(argv, process.env)
  const running = await startServer(options)

  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`)
      process.exit(1)
    }
    stopping = true
    process.stderr.write(`${signal}: finishing in-flight requests...\n`)
    running.close().then(
      () => { process.exit(0) },
      (err: unknown) => {
        process.stderr.write(`Shutdown failed: ${(err as Error).stack ?? String(err)}\n`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  // The banner last: whoever waits for it (a supervisor, a test) may signal at once, and a signal
  // that came before the handlers were installed would kill the process without a shutdown.
  process.stdout.write(banner(running, options))
}

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

async function gc (argv: string[]): Promise<number> {
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

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(COMMAND_USAGE.get(rest[0]) ?? USAGE)
    return 0
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(version() + '\n')
    return 0
  }
  const usage = COMMAND_USAGE.get(command)
  if (usage === undefined) {
    process.stderr.write(command === undefined ? USAGE : `Unknown command "${command}"\n\n${USAGE}`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(usage)
    return 0
  }
  try {
    if (command === 'gc') return await gc(rest)
    await serve(rest)
    return -1
  } catch (err) {
    const e = err as Error & { code?: string }
    if (e.name === 'UsageError' || e.code === 'ERR_IPFS_LISTEN_ADDRESS' || e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      process.stderr.write(`${e.message}\n\n${usage}`)
      return 2
    }
    if (e.code === 'ERR_TLS_FILES') {
      process.stderr.write(`${e.message}\n`)
      return 2
    }
    if (e.code === 'EADDRINUSE') {
      process.stderr.write(`${e.message}: another process is listening there; pick one with --port or S3IPFS_PORT\n`)
      return 1
    }
    if (e.code === 'ERR_NO_DATA_DIR' || e.code === 'ERR_IPFS_LISTEN' || e.code === 'ERR_IPFS_KEY' || e.code === 'ERR_IPFS_NODE_PACKAGES' || e.code === 'ERR_OPTIONAL_PEER_MISSING' || e.name === 'AbortError') {
      process.stderr.write(`${e.message}\n`)
      return 1
    }
    process.stderr.write(`${e.stack ?? String(e)}\n`)
    return 1
  }
}

const code = await main(process.argv.slice(2))
if (code >= 0) process.exitCode = code

/** `--ipfs-gateway` / S3IPFS_IPFS_GATEWAY. */
function ipfsGatewayMode (text: string | undefined): 'open' | 'authorized' | undefined {
  if (text === undefined) return undefined
  if (text !== 'open' && text !== 'authorized') throw new UsageError(`--ipfs-gateway must be open or authorized, not ${JSON.stringify(text)}`)
  return text
}
