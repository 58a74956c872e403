import { readFileSync } from 'node:fs'
import { gc } from './gc-command.js'
import { resolveServeOptions } from './serve-options.js'
import { DEFAULT_DATA_DIR, startServer } from './server.js'
import type { RunningServer, ServerOptions } from './server.js'
import { COMMAND_USAGE, USAGE } from './usage.js'

function version (): string {
  // package.json sits one level above both bin/ and dist/ (where this is bundled)
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
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
    const delay = options.shutdownDelay ?? 0
    process.stderr.write(delay > 0
      ? `${signal}: unready now; serving ${delay} ms more, then finishing in-flight requests...\n`
      : `${signal}: unready now; finishing in-flight requests...\n`)
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

/** Runs one command line (without node and the script); the exit code, or -1 while serving. */
export async function main (argv: string[]): Promise<number> {
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

