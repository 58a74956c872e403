#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { CID_PROFILES, isCidProfileName } from '../src/content/profiles.js'
import { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, startServer } from './server.js'
import type { RunningServer, ServerOptions } from './server.js'

const USAGE = `Usage: s3-ipfs-gateway serve [options]

Serves the Amazon S3 REST API over node:http, keeping object bytes as IPFS (UnixFS) blocks.

Options (each overrides its environment variable):
  --port N          S3IPFS_PORT         port to listen on (default ${DEFAULT_PORT})
  --host H          S3IPFS_HOST         interface to listen on (default ${DEFAULT_HOST})
  --data-dir D      S3IPFS_DATA_DIR     blocks, meta.db and credentials.json (default ${DEFAULT_DATA_DIR})
  --region R        S3IPFS_REGION       region to sign for (default us-east-1)
  --cid-profile P   S3IPFS_CID_PROFILE  ${CID_PROFILES.join(' | ')} (default ${CID_PROFILES[0]})
  -h, --help                            show this help
  -v, --version                         show the version

Credentials: S3IPFS_ACCESS_KEY and S3IPFS_SECRET_KEY. When unset, a key pair is generated on the
first start, saved in <data-dir>/credentials.json (mode 0600) and reused afterwards.
`

class UsageError extends Error {
  override name = 'UsageError'
}

function version (): string {
  // package.json sits one level above both bin/cli.ts and dist/cli.js
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** Flags over environment over defaults; undefined leaves the default to startServer. */
function resolveOptions (argv: string[], env: NodeJS.ProcessEnv): ServerOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      region: { type: 'string' },
      'cid-profile': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  })
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v)

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
  }
}

function banner (running: RunningServer, options: ServerOptions): string {
  const { accessKeyId, secretAccessKey } = running.credentials
  return [
    `s3-ipfs-gateway ${version()} listening on ${running.url}`,
    `  data directory:  ${options.dataDir ?? DEFAULT_DATA_DIR}`,
    `  region:          ${running.gateway.region}`,
    `  access key:      ${accessKeyId}`,
    `  secret key:      ${secretAccessKey}`,
    '',
    `  AWS_ACCESS_KEY_ID=${accessKeyId} AWS_SECRET_ACCESS_KEY=${secretAccessKey} AWS_REGION=${running.gateway.region} aws --endpoint-url ${running.url} s3 ls`,
    '',
  ].join('\n')
}

async function serve (argv: string[]): Promise<void> {
  const options = resolveOptions(argv, process.env)
  const running = await startServer(options)
  process.stdout.write(banner(running, options))

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
}

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === '-h' || command === '--help' || command === 'help' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE)
    return 0
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(version() + '\n')
    return 0
  }
  if (command !== 'serve') {
    process.stderr.write(command === undefined ? USAGE : `Unknown command "${command}"\n\n${USAGE}`)
    return 2
  }
  try {
    await serve(rest)
  } catch (err) {
    const e = err as Error & { code?: string }
    if (e.name === 'UsageError' || e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      process.stderr.write(`${e.message}\n\n${USAGE}`)
      return 2
    }
    if (e.code === 'EADDRINUSE') {
      process.stderr.write(`${e.message}: another process is listening there; pick one with --port or S3IPFS_PORT\n`)
      return 1
    }
    process.stderr.write(`${e.stack ?? String(e)}\n`)
    return 1
  }
  return -1
}

const code = await main(process.argv.slice(2))
if (code >= 0) process.exitCode = code
