/**
 * Starting (and stopping) each server under test as a child process on 127.0.0.1, each with a
 * fresh temp data dir, so its memory is measured apart from the client's.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export type TargetName = 'ours' | 's3rver' | 'limit'

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))

export interface Target {
  name: TargetName
  endpoint: string
  port: number
  pid: number
  accessKeyId: string
  secretAccessKey: string
  dataDir: string | undefined
  /** current and peak resident set (MB, 10^6 bytes) read from /proc/<pid>/status */
  memory (): { rssMB: number, hwmMB: number }
  /** resets the kernel's peak-RSS counter (VmHWM); false if the kernel refused */
  resetPeak (): boolean
  /** last lines the child printed */
  logTail (): string
  alive (): boolean
  stop (): Promise<void>
}

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
const cleanups = new Set<() => void>()

/**
 * Adds a synchronous step to cleanupSync, run after the children are killed (e.g. dropping a
 * PostgreSQL schema through a child process); returns a function that removes it again.
 */
export function onCleanupSync (fn: () => void): () => void {
  cleanups.add(fn)
  return () => { cleanups.delete(fn) }
}

/** Synchronous last-resort cleanup (process 'exit', signals). */
export function cleanupSync (): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try { process.kill(c.pid, 'SIGKILL') } catch { /* gone */ }
    }
  }
  children.clear()
  for (const fn of cleanups) {
    try { fn() } catch { /* ignore */ }
  }
  cleanups.clear()
  for (const d of tempDirs) {
    try { rmSync(d, { recursive: true, force: true }) } catch { /* ignore */ }
  }
  tempDirs.clear()
}

export function makeTempDir (label: string): string {
  const d = mkdtempSync(join(tmpdir(), `s3ipfs-bench-${label}-`))
  tempDirs.add(d)
  return d
}

export function removeTempDir (d: string): void {
  try { rmSync(d, { recursive: true, force: true }) } catch { /* ignore */ }
  tempDirs.delete(d)
}

export async function freePort (): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a !== null ? a.port : 0
      s.close(() => res(port))
    })
  })
}

function canConnect (port: number): Promise<boolean> {
  return new Promise(res => {
    const sock = net.connect({ host: '127.0.0.1', port })
    const done = (ok: boolean): void => { sock.destroy(); res(ok) }
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
    sock.setTimeout(1000, () => done(false))
  })
}

function readStatusKB (pid: number, field: string): number {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(s)
    return m === null ? NaN : Number(m[1])
  } catch {
    return NaN
  }
}

interface SpawnSpec {
  name: TargetName
  args: string[]
  env?: Record<string, string>
  port: number
  dataDir: string | undefined
  /** false: the caller owns dataDir (shared by several targets), stop() leaves it */
  ownsDataDir?: boolean
  accessKeyId: string
  secretAccessKey: string
  startTimeoutMs?: number
  /** the child's stderr goes to this file (created or appended to) instead of a pipe to the bench */
  stderrFile?: string
}

/** The last `bytes` bytes of a file ('' when it cannot be read). */
function fileTail (path: string, bytes: number): string {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const size = fstatSync(fd).size
    const len = Math.min(size, bytes)
    const buf = Buffer.alloc(len)
    readSync(fd, buf, 0, len, size - len)
    return buf.toString('utf8')
  } catch {
    return ''
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

async function spawnTarget (spec: SpawnSpec): Promise<Target> {
  // the file is the child's own fd 2: what it writes there never passes through this process
  const stderrFd = spec.stderrFile === undefined ? undefined : openSync(spec.stderrFile, 'a')
  let child: ChildProcess
  try {
    child = spawn(process.execPath, spec.args, {
      cwd: ROOT,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', stderrFd ?? 'pipe'],
    })
  } finally {
    if (stderrFd !== undefined) closeSync(stderrFd)
  }
  children.add(child)
  let log = ''
  const keep = (b: Buffer): void => { log = (log + b.toString('utf8')).slice(-4000) }
  child.stdout!.on('data', keep)
  child.stderr?.on('data', keep)
  const tail = (): string => spec.stderrFile === undefined ? log : `${log}${fileTail(spec.stderrFile, 4000)}`
  const exited = new Promise<void>(res => child.once('exit', () => { children.delete(child); res() }))
  const isAlive = (): boolean => child.exitCode === null && child.signalCode === null

  const deadline = Date.now() + (spec.startTimeoutMs ?? 30_000)
  let up = false
  while (Date.now() < deadline && isAlive()) {
    if (await canConnect(spec.port)) { up = true; break }
    await new Promise(r => setTimeout(r, 100))
  }
  if (!up) {
    if (isAlive()) { child.kill('SIGKILL'); await exited }
    throw new Error(`${spec.name} did not start on port ${spec.port} (exit ${child.exitCode ?? child.signalCode ?? 'timeout'}):\n${tail().trim().split('\n').slice(-15).join('\n')}`)
  }
  const pid = child.pid!
  return {
    name: spec.name,
    endpoint: `http://127.0.0.1:${spec.port}`,
    port: spec.port,
    pid,
    accessKeyId: spec.accessKeyId,
    secretAccessKey: spec.secretAccessKey,
    dataDir: spec.dataDir,
    memory: () => ({ rssMB: readStatusKB(pid, 'VmRSS') * 1024 / 1e6, hwmMB: readStatusKB(pid, 'VmHWM') * 1024 / 1e6 }),
    resetPeak: () => {
      try { writeFileSync(`/proc/${pid}/clear_refs`, '5'); return true } catch { return false }
    },
    logTail: tail,
    alive: isAlive,
    stop: async () => {
      if (isAlive()) {
        child.kill('SIGTERM')
        const t = setTimeout(() => { if (isAlive()) child.kill('SIGKILL') }, 3000)
        await exited
        clearTimeout(t)
      }
      if (spec.dataDir !== undefined && spec.ownsDataDir !== false) removeTempDir(spec.dataDir)
    },
  }
}

export const OURS_KEYS = { accessKeyId: 'BENCHACCESSKEY000001', secretAccessKey: 'bench-secret-key-not-for-production-0001' }

export interface StartOptions {
  region?: string
  cidProfile?: string
  /** run bin/cli.ts through tsx instead of the built dist/cli.js */
  fromSource?: boolean
  /** serve this data dir (owned by the caller, kept on stop) instead of a fresh temp dir */
  dataDir?: string
  /** `--metadata URL`: metadata in PostgreSQL instead of SQLite in the data dir */
  metadataUrl?: string
  /** node options before the script, e.g. ['--cpu-prof', '--cpu-prof-dir', DIR] */
  nodeArgs?: string[]
}

/** Builds dist/ with tsup, as a published package ships it. */
export async function buildDist (): Promise<void> {
  const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'tsup', 'dist', 'cli-default.js')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  const [code] = await once(child, 'exit') as [number | null]
  if (code !== 0) throw new Error(`tsup failed with exit code ${String(code)}`)
}

/** Our standalone server: node dist/cli.js serve --port P --data-dir D (or tsx bin/cli.ts) */
export async function startOurs (opts: StartOptions = {}): Promise<Target> {
  const port = await freePort()
  const dataDir = opts.dataDir ?? makeTempDir('ours')
  const entry = opts.fromSource === true ? ['--import', 'tsx', join(ROOT, 'bin', 'cli.ts')] : [join(ROOT, 'dist', 'cli.js')]
  const args = [...(opts.nodeArgs ?? []), ...entry, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir]
  if (opts.region !== undefined) args.push('--region', opts.region)
  if (opts.cidProfile !== undefined) args.push('--cid-profile', opts.cidProfile)
  if (opts.metadataUrl !== undefined) args.push('--metadata', opts.metadataUrl)
  return spawnTarget({
    name: 'ours',
    args,
    env: { S3IPFS_ACCESS_KEY: OURS_KEYS.accessKeyId, S3IPFS_SECRET_KEY: OURS_KEYS.secretAccessKey },
    port,
    dataDir,
    ownsDataDir: opts.dataDir === undefined,
    ...OURS_KEYS,
  })
}

export interface GatewayServerOptions {
  /** owned by the caller and kept on stop: the section restarts gateways on the same metadata */
  dataDir: string
  region?: string
  /** content on this Kubo RPC node instead of `<dataDir>/blocks` */
  ipfsApi?: string
  /** the MemoryBlockCache in front of the node, bytes (default serve's 64 MiB) */
  cacheBytes?: number
  /** `createGateway({ metrics })` (default: startServer's, on) */
  metrics?: boolean
  /** startServer's `logLevel` (default: its 'warn', no request lines) */
  logLevel?: string
  /** the child's stderr — where its JSON log lines go — to this file instead of a pipe to the bench */
  stderrFile?: string
  /** node options before the script, e.g. ['--cpu-prof', '--cpu-prof-dir', DIR] */
  nodeArgs?: string[]
  /** run the script bundled as dist/ is (buildGatewayServer) with plain node, instead of through tsx */
  bundled?: boolean
}


const bundles = new Map<string, Promise<string>>()

/**
 * A bench script bundled the way tsup bundles dist/ (esbuild: ESM, node20, dependencies left as
 * imports, no keepNames), once per run and name, into a temp dir laid out as the package is —
 * dist/<name>.mjs beside symlinks to the repo's package.json and node_modules — so that it runs on
 * plain node as `serve` from dist/ does: without tsx's loader, whose transform keeps function names
 * by wrapping every function expression created at run time in a helper call. `source` is an
 * entry file or the script's text (resolved from bench/). Returns the script's path. (The temp dir
 * goes with the others at exit; removing it never follows the symlinks.)
 */
export async function bundleForPlainNode (name: string, source: { entry: string } | { contents: string }): Promise<string> {
  let bundle = bundles.get(name)
  if (bundle === undefined) {
    bundle = (async () => {
      const dir = makeTempDir(name)
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
      symlinkSync(join(ROOT, 'package.json'), join(dir, 'package.json'))
      mkdirSync(join(dir, 'dist'))
      const outfile = join(dir, 'dist', `${name}.mjs`)
      const { build } = await import('esbuild')
      await build({
        ...('entry' in source
          ? { entryPoints: [source.entry] }
          : { stdin: { contents: source.contents, resolveDir: join(ROOT, 'bench'), sourcefile: `${name}.ts`, loader: 'ts' as const } }),
        outfile,
        bundle: true,
        packages: 'external',
        platform: 'node',
        format: 'esm',
        target: 'node20',
        logLevel: 'error',
      })
      return outfile
    })()
    bundles.set(name, bundle)
  }
  return await bundle
}

/** bench/gateway-server.ts, bundled for plain node (bundleForPlainNode). */
export async function buildGatewayServer (): Promise<string> {
  return await bundleForPlainNode('gateway-server', { entry: join(ROOT, 'bench', 'gateway-server.ts') })
}

/**
 * bench/gateway-server.ts: `startServer` (what `serve` runs) from source through tsx (or bundled as
 * dist/ is, with `bundled`), with a block cache of a chosen size in front of an IPFS node, and
 * metrics and the log level chosen. Its log ends with `cache-metrics <json>` once stopped.
 */
export async function startGatewayServer (opts: GatewayServerOptions): Promise<Target> {
  const port = await freePort()
  const script = opts.bundled === true ? [await buildGatewayServer()] : ['--import', 'tsx', join(ROOT, 'bench', 'gateway-server.ts')]
  const args = [...opts.nodeArgs ?? [], ...script, '--host', '127.0.0.1', '--port', String(port), '--data-dir', opts.dataDir]
  if (opts.region !== undefined) args.push('--region', opts.region)
  if (opts.ipfsApi !== undefined) args.push('--ipfs-api', opts.ipfsApi)
  if (opts.cacheBytes !== undefined) args.push('--cache-bytes', String(opts.cacheBytes))
  if (opts.metrics !== undefined) args.push('--metrics', opts.metrics ? 'on' : 'off')
  if (opts.logLevel !== undefined) args.push('--log-level', opts.logLevel)
  return spawnTarget({
    name: 'ours',
    args,
    env: { S3IPFS_ACCESS_KEY: OURS_KEYS.accessKeyId, S3IPFS_SECRET_KEY: OURS_KEYS.secretAccessKey },
    port,
    dataDir: opts.dataDir,
    ownsDataDir: false,
    stderrFile: opts.stderrFile,
    ...OURS_KEYS,
  })
}

/** s3rver 3.7.1 (with the legacy OpenSSL provider, or multi-page listings fail with HTTP 500). */
export async function startS3rver (): Promise<Target> {
  const port = await freePort()
  const dataDir = makeTempDir('s3rver')
  return spawnTarget({
    name: 's3rver',
    args: ['--openssl-legacy-provider', join(ROOT, 'node_modules', 's3rver', 'bin', 's3rver.js'),
      '-d', dataDir, '-a', '127.0.0.1', '-p', String(port), '--silent'],
    port,
    dataDir,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
  })
}

/** The null handler (bench/null-server.ts). */
export async function startLimit (): Promise<Target> {
  const port = await freePort()
  return spawnTarget({
    name: 'limit',
    args: ['--import', 'tsx', join(ROOT, 'bench', 'null-server.ts'), '--port', String(port), '--host', '127.0.0.1'],
    port,
    dataDir: undefined,
    accessKeyId: 'NULL',
    secretAccessKey: 'NULL',
  })
}

export async function startTarget (name: TargetName, opts: StartOptions = {}): Promise<Target> {
  if (name === 'ours') return startOurs(opts)
  if (name === 's3rver') return startS3rver()
  return startLimit()
}
