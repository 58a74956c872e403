import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { CID_PROFILES, isCidProfileName } from '../src/content/profiles.js'
import { LOG_LEVELS, type LogLevel } from '../src/observability/logger.js'
import { nonEmpty, parseDuration, UsageError } from './args.js'
import { federationOptions } from './federation-options.js'
import { DEFAULT_HOST, type ServerOptions } from './server.js'

const FALSE_WORDS = ['0', 'false', 'off', 'no']
const BOOLEAN_WORDS = [...FALSE_WORDS, '1', 'true', 'on', 'yes']

/** Flags over environment over defaults; undefined leaves the default to startServer. */
export function resolveServeOptions (argv: string[], env: NodeJS.ProcessEnv): ServerOptions {
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
      'shutdown-delay': { type: 'string' },
      'shutdown-timeout': { type: 'string' },
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
    shutdownDelay: duration('--shutdown-delay', values['shutdown-delay'] ?? nonEmpty(env.S3IPFS_SHUTDOWN_DELAY)),
    shutdownTimeout: duration('--shutdown-timeout', values['shutdown-timeout'] ?? nonEmpty(env.S3IPFS_SHUTDOWN_TIMEOUT)),
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
export function ipfsApiOptions (flag: string | undefined, env: NodeJS.ProcessEnv): Pick<ServerOptions, 'ipfsApi' | 'ipfsApiHeaders'> {
  const ipfsApi = flag ?? nonEmpty(env.S3IPFS_IPFS_API)
  if (ipfsApi === undefined) return {}
  if (!/^https?:\/\/[^/]/.test(ipfsApi)) throw new UsageError(`Invalid IPFS API URL "${ipfsApi}"; expected e.g. http://127.0.0.1:5001`)
  const auth = nonEmpty(env.S3IPFS_IPFS_API_AUTH)
  return { ipfsApi, ipfsApiHeaders: auth === undefined ? undefined : { authorization: auth } }
}

/** `--ipfs-gateway` / S3IPFS_IPFS_GATEWAY. */
function ipfsGatewayMode (text: string | undefined): 'open' | 'authorized' | undefined {
  if (text === undefined) return undefined
  if (text !== 'open' && text !== 'authorized') throw new UsageError(`--ipfs-gateway must be open or authorized, not ${JSON.stringify(text)}`)
  return text
}

/** A duration flag (`--shutdown-delay 5s`): milliseconds, or a number with ms, s, m, h or d. */
function duration (flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  try {
    return parseDuration(text)
  } catch {
    throw new UsageError(`Invalid ${flag} "${text}"; expected milliseconds, or a number with ms, s, m, h or d, e.g. 5s`)
  }
}
