import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * js-ipfs 0.66.1, a real server of Kubo's `/api/v0` RPC, installed as a test fixture in
 * test/fixtures/js-ipfs (see IPFS-NOTES.md; `npm test` installs it first). Each test file starts
 * its own daemons on fixed loopback ports below 32768 (the ephemeral range collides): give every
 * file its own `basePort` (a daemon takes basePort..basePort+3; when one of those is taken, the
 * next block of 100 up is used).
 *
 * Ports in use: 15010 kubo-blockstore, 15020 s3-api-kubo, 15030 kubo-gateway, 15040 kubo-suites,
 * 15050 the benchmark, 15060 readiness, 15070 tls-dependencies.
 */
const FIXTURE = fileURLToPath(new URL('../fixtures/js-ipfs', import.meta.url))
const CLI = join(FIXTURE, 'node_modules/ipfs/src/cli.js')
const POLYFILL = join(FIXTURE, 'polyfill.mjs')
const EXIT_WITH_PARENT = join(FIXTURE, 'exit-with-parent.mjs')

/** Why the fixture cannot run, or undefined when it can. */
export function jsIpfsProblem (): string | undefined {
  if (!existsSync(CLI)) return 'the js-ipfs test fixture is not installed (run `node test/fixtures/js-ipfs/ensure.mjs`)'
  return undefined
}

export interface JsIpfsDaemon {
  /** The RPC API base, e.g. http://127.0.0.1:15011 */
  readonly apiUrl: string
  readonly repo: string
  /** Starts the daemon again on the same repo (after stop or kill). */
  start(): Promise<void>
  /** SIGTERM, and wait for the exit. */
  stop(): Promise<void>
  /** Stops the daemon and removes its repo. */
  close(): Promise<void>
}

const running = new Set<ChildProcess>()
process.on('exit', () => { for (const proc of running) proc.kill('SIGKILL') })

function env (repo: string, daemon = false): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _omit, ...rest } = process.env
  const imports = daemon ? `--import ${POLYFILL} --import ${EXIT_WITH_PARENT}` : `--import ${POLYFILL}`
  return { ...rest, IPFS_PATH: repo, NODE_OPTIONS: imports, DEBUG: '' }
}

async function portFree (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => { resolve(false) })
    server.listen(port, '127.0.0.1', () => { server.close(() => { resolve(true) }) })
  })
}

/** `basePort`, or the first of basePort + 100, + 200, ... whose four ports are all free. */
async function freeBase (basePort: number): Promise<number> {
  for (let base = basePort; base < basePort + 1000; base += 100) {
    let free = true
    for (let port = base; port < base + 4 && free; port++) free = await portFree(port)
    if (free) return base
  }
  throw new Error(`no four free ports at ${basePort} + k·100 (stale js-ipfs daemons?)`)
}

async function run (args: string[], repo: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env: env(repo), stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    proc.stdout.on('data', (d: Buffer) => { output += d.toString() })
    proc.stderr.on('data', (d: Buffer) => { output += d.toString() })
    proc.on('error', reject)
    proc.on('close', (code) => { code === 0 ? resolve() : reject(new Error(`jsipfs ${args.join(' ')} exited ${code}: ${output}`)) })
  })
}

/** Initialises a fresh repo (test profile: no bootstrap, no mdns) and starts an offline daemon on it. */
export async function startJsIpfs (basePort: number): Promise<JsIpfsDaemon> {
  basePort = await freeBase(basePort)
  const repo = await mkdtemp(join(tmpdir(), 's3ipfs-jsipfs-'))
  await run(['init', '--profile', 'test'], repo)
  const configPath = join(repo, 'config')
  const config = JSON.parse(await readFile(configPath, 'utf8'))
  config.Addresses.API = `/ip4/127.0.0.1/tcp/${basePort + 1}`
  config.Addresses.Gateway = `/ip4/127.0.0.1/tcp/${basePort + 2}`
  config.Addresses.RPC = `/ip4/127.0.0.1/tcp/${basePort + 3}`
  config.Addresses.Swarm = [`/ip4/127.0.0.1/tcp/${basePort}`]
  await writeFile(configPath, JSON.stringify(config, null, 2))

  let proc: ChildProcess | undefined
  const daemon: JsIpfsDaemon = {
    apiUrl: `http://127.0.0.1:${basePort + 1}`,
    repo,
    async start () {
      if (proc !== undefined) throw new Error('js-ipfs daemon already running')
      const child = spawn(process.execPath, [CLI, 'daemon', '--enable-preload=false', '--offline'], { env: env(repo, true), stdio: ['ignore', 'pipe', 'pipe'] })
      proc = child
      running.add(child)
      let output = ''
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`js-ipfs daemon did not start in 60 s: ${output}`)) }, 60_000)
        const onData = (d: Buffer): void => {
          output += d.toString()
          if (output.includes('Daemon is ready')) { clearTimeout(timer); resolve() }
        }
        child.stdout?.on('data', onData)
        child.stderr?.on('data', onData)
        child.on('close', (code) => {
          running.delete(child)
          if (proc === child) proc = undefined
          clearTimeout(timer)
          reject(new Error(`js-ipfs daemon exited ${code}: ${output}`))
        })
      })
    },
    async stop () {
      const child = proc
      if (child === undefined) return
      const closed = new Promise<void>((resolve) => { child.once('close', () => { resolve() }) })
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await closed
      clearTimeout(timer)
    },
    async close () {
      await daemon.stop()
      await rm(repo, { recursive: true, force: true })
    },
  }
  await daemon.start()
  return daemon
}
