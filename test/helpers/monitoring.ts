import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect } from 'node:net'
import type { Server, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ExecutionContext } from 'ava'
import type { CheckResult } from '../../src/observability/readiness.js'

// Helpers for the tests that take dependencies away from a running gateway (readiness) and that
// watch it with a real Prometheus and Alertmanager (monitoring-e2e). Importing this module declares
// no AVA hook, so a test file may await its service probes before registering anything.

/** An executable of that name on PATH, or undefined. */
export function which (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name)
  }
  return undefined
}

async function bindable (port: number): Promise<number | undefined> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => { resolve(undefined) })
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port
      server.close(() => { resolve(bound) })
    })
  })
}

/** A loopback port the OS just handed out (bound to 0, then closed), for a process that binds it once. */
export async function freePort (): Promise<number> {
  const port = await bindable(0)
  if (port === undefined) throw new Error('cannot bind 127.0.0.1:0')
  return port
}

/**
 * A free loopback port below the ephemeral range (32768+), for a listener that goes away and must
 * come back on the same port: in the ephemeral range, another test's outgoing connection could
 * take the port in between. Ports 15000-16999 are left to the js-ipfs daemons.
 */
export async function stablePort (): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000)
    if (await bindable(candidate) !== undefined) return candidate
  }
  throw new Error('no free port in 20000-31999')
}

/** A fresh temp directory, removed in teardown (after anything registered later has stopped). */
export async function tempDir (t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true, maxRetries: 3 }) })
  return dir
}

/**
 * Polls `probe` until `done` accepts its value, for at most `timeoutMs`; fails with the last value
 * seen (or the last error). Only eventual conditions: no assertion on how long it took.
 */
export async function eventually<T> (what: string, probe: () => Promise<T>, done: (value: T) => boolean,
  { timeoutMs = 90_000, intervalMs = 250 }: { timeoutMs?: number, intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: { value: T } | { error: unknown } | undefined
  for (;;) {
    try {
      const value = await probe()
      last = { value }
      if (done(value)) return value
    } catch (error) {
      last = { error }
    }
    if (Date.now() >= deadline) break
    await sleep(intervalMs)
  }
  const seen = last === undefined ? 'nothing' : 'value' in last ? JSON.stringify(last.value) : String((last.error as Error)?.stack ?? last.error)
  throw new Error(`${what}: not within ${timeoutMs / 1000} s; last seen: ${seen}`.slice(0, 4000))
}

// --- the gateway's admin endpoints ----------------------------------------------------------------

export type { CheckResult }

export interface Readiness {
  code: number
  /** The raw body, to search for secrets. */
  text: string
  status: 'ready' | 'degraded' | 'unready'
  checks: CheckResult[]
  check: (name: string) => CheckResult | undefined
}

/** GET `<base>/-/ready`, parsed. */
export async function ready (base: string): Promise<Readiness> {
  const response = await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(20_000) })
  const text = await response.text()
  const body = JSON.parse(text) as { status: Readiness['status'], checks: CheckResult[] }
  return { code: response.status, text, status: body.status, checks: body.checks, check: (name) => body.checks.find(c => c.name === name) }
}

/** GET `<base>/-/healthy`: status code and body. */
export async function healthy (base: string): Promise<{ code: number, body: unknown }> {
  const response = await fetch(`${base}/-/healthy`, { signal: AbortSignal.timeout(20_000) })
  return { code: response.status, body: await response.json() }
}

/** GET `<base>/-/metrics` with an optional bearer token: status code and text. */
export async function metrics (base: string, token?: string): Promise<{ code: number, text: string, headers: Headers }> {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` }
  const response = await fetch(`${base}/-/metrics`, { headers, signal: AbortSignal.timeout(20_000) })
  return { code: response.status, text: await response.text(), headers: response.headers }
}

/** The value of `s3ipfs_dependency_up{dependency="<name>"}` in a Prometheus text exposition. */
export function dependencyUp (exposition: string, dependency: string): number | undefined {
  const re = new RegExp(`^s3ipfs_dependency_up\\{[^}]*dependency="${dependency}"[^}]*\\}\\s+(\\S+)`, 'm')
  const m = re.exec(exposition)
  return m === null ? undefined : Number(m[1])
}

/** `/-/ready`, `/-/metrics` and `/-/healthy` at one moment, for eventual conditions over all three. */
export interface AdminView {
  ready: Readiness
  up: (dependency: string) => number | undefined
  metricsCode: number
  healthyCode: number
}

export async function adminView (base: string, token?: string): Promise<AdminView> {
  const [r, m, h] = await Promise.all([ready(base), metrics(base, token), healthy(base)])
  return { ready: r, up: (d) => dependencyUp(m.text, d), metricsCode: m.code, healthyCode: h.code }
}

/** A compact description of an AdminView for failure messages. */
export function describeView (view: AdminView): string {
  return `${view.ready.code} ${view.ready.text.trim()} | up: ${['metadata', 'blockstore', 'cache'].map(d => `${d}=${view.up(d)}`).join(' ')}`
}

// --- child processes ------------------------------------------------------------------------------

const running = new Set<ChildProcess>()
process.on('exit', () => { for (const proc of running) proc.kill('SIGKILL') })

export interface Service {
  proc: ChildProcess
  output: () => string
  /** Resolves once `re` appears in stdout or stderr; rejects when the process exits first or after `ms`. */
  waitFor: (re: RegExp, ms?: number) => Promise<void>
  /** SIGKILL (a crash, not a shutdown), and wait for the exit. */
  kill: () => Promise<void>
  /** SIGTERM, SIGKILL after `graceMs`, and wait for the exit. */
  stop: (graceMs?: number) => Promise<void>
}

/** Spawns a service binary with its output captured (as another user with `uid`/`gid`, when root); stopped in the test's teardown whatever happens. */
export function spawnService (t: ExecutionContext, command: string, args: string[], options: { cwd?: string, env?: NodeJS.ProcessEnv, uid?: number, gid?: number } = {}): Service {
  const proc = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, uid: options.uid, gid: options.gid, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(proc)
  let output = ''
  const listeners = new Set<() => void>()
  const exited = new Promise<void>((resolve) => {
    proc.once('close', () => { running.delete(proc); for (const l of listeners) l(); resolve() })
  })
  proc.once('error', (err) => { output += `\nspawn error: ${err.message}` })
  for (const stream of [proc.stdout, proc.stderr]) {
    stream?.setEncoding('utf8').on('data', (s: string) => {
      output += s
      if (output.length > 200_000) output = output.slice(-100_000)
      for (const l of listeners) l()
    })
  }
  const alive = (): boolean => proc.exitCode === null && proc.signalCode === null
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (!alive()) { await exited; return }
    proc.kill('SIGTERM')
    const timer = setTimeout(() => { proc.kill('SIGKILL') }, graceMs)
    await exited
    clearTimeout(timer)
  }
  const service: Service = {
    proc,
    output: () => output,
    waitFor: async (re, ms = 60_000) => {
      await new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (re.test(output)) { done(); resolve() } else if (!alive()) { done(); reject(new Error(`${command} exited before printing ${re}:\n${output}`)) }
        }
        const timer = setTimeout(() => { done(); reject(new Error(`${command} did not print ${re} within ${ms / 1000} s:\n${output}`)) }, ms)
        const done = (): void => { clearTimeout(timer); listeners.delete(check) }
        listeners.add(check)
        check()
      })
    },
    kill: async () => {
      if (alive()) proc.kill('SIGKILL')
      await exited
    },
    stop,
  }
  t.teardown(async () => { await stop(5000) })
  return service
}

/** Waits until GET `url` answers 200 (a service's readiness endpoint), or the process exits. */
export async function waitHttpOk (service: Service, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (service.proc.exitCode !== null || service.proc.signalCode !== null) throw new Error(`exited before ${url} answered:\n${service.output()}`)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
      await response.arrayBuffer()
      if (response.ok) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000} s:\n${service.output()}`)
    await sleep(200)
  }
}

// --- Redis ----------------------------------------------------------------------------------------

export interface OwnRedis {
  port: number
  url: string
  /** SIGKILL: Redis goes away as in a crash. */
  kill: () => Promise<void>
  /** A new redis-server on the same port (empty: nothing is saved). */
  start: () => Promise<void>
}

/** A redis-server of the test's own (no persistence) on a stable port; the shared one on 6379 is never touched. */
export async function ownRedis (t: ExecutionContext, redisServer: string): Promise<OwnRedis> {
  const port = await stablePort()
  let current: Service | undefined
  const start = async (): Promise<void> => {
    if (current !== undefined && current.proc.exitCode === null && current.proc.signalCode === null) throw new Error('redis-server already running')
    const service = spawnService(t, redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
    current = service
    const deadline = Date.now() + 30_000
    while (!await redisPong(port)) {
      if (service.proc.exitCode !== null || service.proc.signalCode !== null) throw new Error(`redis-server exited:\n${service.output()}`)
      if (Date.now() > deadline) throw new Error(`redis-server did not answer PING within 30 s:\n${service.output()}`)
      await sleep(100)
    }
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: async () => { await current?.kill() },
    start,
  }
}

/** Whether a Redis server on 127.0.0.1:`port` answers PING. */
export async function redisPong (port: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.setTimeout(2000)
    socket.once('connect', () => { socket.write('PING\r\n') })
    socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')) })
    socket.once('error', () => { resolve(false) })
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
  })
}

// --- a TCP proxy in front of PostgreSQL -----------------------------------------------------------

export interface TcpProxy {
  port: number
  /** Stops listening and cuts every proxied connection: to the gateway, the database is gone. */
  down: () => Promise<void>
  /** Listens on the same port again. */
  up: () => Promise<void>
  close: () => Promise<void>
}

/** A TCP proxy on 127.0.0.1:`port` (default: a stable free one) to `target`; starts listening unless `listening` is false. */
export async function tcpProxy (target: { host: string, port: number }, options: { port?: number, listening?: boolean } = {}): Promise<TcpProxy> {
  const port = options.port ?? await stablePort()
  const sockets = new Set<Socket>()
  let server: Server | undefined
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.once('close', () => { sockets.delete(socket) })
  }
  const up = async (): Promise<void> => {
    if (server !== undefined) return
    const s = createServer((client) => {
      const upstream = connect(target.port, target.host)
      track(client)
      track(upstream)
      client.on('error', () => { upstream.destroy() })
      upstream.on('error', () => { client.destroy() })
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject)
      s.listen(port, '127.0.0.1', () => { s.off('error', reject); resolve() })
    })
    server = s
  }
  const down = async (): Promise<void> => {
    const s = server
    server = undefined
    const closed = s === undefined ? Promise.resolve() : new Promise<void>((resolve) => { s.close(() => { resolve() }) })
    for (const socket of sockets) socket.destroy()
    await closed
  }
  if (options.listening !== false) await up()
  return { port, up, down, close: down }
}
