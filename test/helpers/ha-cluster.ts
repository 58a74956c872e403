// The high-availability topology of docs/DEPLOYMENT.md on one machine: several `serve` processes
// sharing one PostgreSQL schema, one data directory and one Redis block cache, behind HAProxy
// running deploy/haproxy/haproxy.cfg (only its addresses changed). Used by the rehearsal test and
// by the benchmark that measures the throughput gap; nothing here depends on the test runner.
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import pg from 'pg'
import { killProcess, REPO_ROOT, startProcess } from './process.js'
import type { Child, Exit } from './process.js'

export const HAPROXY_CONFIG = join(REPO_ROOT, 'deploy', 'haproxy', 'haproxy.cfg')

export interface HaClusterInit {
  /** A fresh directory: the shared data directory (blocks) and HAProxy's configuration go here. */
  dir: string
  /** PostgreSQL database URL; a schema of its own is made and dropped. */
  postgresUrl: string
  redisUrl: string
  /** Gateway processes, as many as the configuration has `server` lines (default 3). */
  gateways?: number
  /** Each gateway's --shutdown-delay. */
  shutdownDelay: string
  credentials: { accessKeyId: string, secretAccessKey: string }
  /** How long a start or an exit may take, ms (default 60 s). */
  timeoutMs?: number
}

export type ServerState = 'UP' | 'DOWN' | string

/** Free TCP ports on 127.0.0.1 (asked of the kernel, then released). */
async function freePorts (n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, async () => await new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { resolve(s) })
  })))
  const ports = servers.map(s => (s.address() as { port: number }).port)
  await Promise.all(servers.map(async s => await new Promise(resolve => s.close(resolve))))
  return ports
}

/**
 * The shipped configuration with its listen addresses and its `server` lines pointed at loopback
 * ports; everything else (timeouts, retries, health checks) as shipped. Throws when the file no
 * longer has the shape this relies on.
 */
export function localHaproxyConfig (shipped: string, frontendPort: number, statsPort: number, gatewayPorts: number[]): string {
  let servers = 0
  const out = shipped.split('\n').map((line) => {
    if (/^\s*bind :9000\s*$/.test(line)) return `  bind 127.0.0.1:${frontendPort}`
    if (/^\s*bind :8404\s*$/.test(line)) return `  bind 127.0.0.1:${statsPort}`
    const server = /^(\s*server (\S+)) \S+:9090(.*)$/.exec(line)
    if (server === null) return line
    if (servers >= gatewayPorts.length) throw new Error(`${HAPROXY_CONFIG} has more server lines than the ${gatewayPorts.length} gateways`)
    return `${server[1]} 127.0.0.1:${gatewayPorts[servers++]}${server[3]}`
  }).join('\n')
  if (servers !== gatewayPorts.length || !out.includes(`bind 127.0.0.1:${frontendPort}`) || !out.includes(`bind 127.0.0.1:${statsPort}`)) {
    throw new Error(`${HAPROXY_CONFIG} no longer has the shape the rehearsal rewrites (bind :9000, bind :8404, ${gatewayPorts.length} "server NAME HOST:9090" lines)`)
  }
  return out
}

export class HaCluster {
  readonly endpoint: string
  readonly names: string[]
  private readonly children: Array<Child | undefined>
  private haproxy: Child | undefined
  private readonly schema: string

  private constructor (
    private readonly init: HaClusterInit,
    private readonly ports: number[],
    private readonly frontendPort: number,
    private readonly statsPort: number,
  ) {
    this.endpoint = `http://127.0.0.1:${frontendPort}`
    this.names = ports.map((_p, i) => `gateway-${i + 1}`)
    this.children = ports.map(() => undefined)
    this.schema = `ha_${randomBytes(6).toString('hex')}`
  }

  /** Starts the gateways (all at once, as a deployment does), then HAProxy, and waits until HAProxy has every gateway up. */
  static async start (init: HaClusterInit): Promise<HaCluster> {
    const n = init.gateways ?? 3
    const [frontendPort, statsPort, ...ports] = await freePorts(n + 2)
    const cluster = new HaCluster(init, ports, frontendPort, statsPort)
    try {
      await Promise.all(ports.map(async (_p, i) => { await cluster.startGateway(i) }))
      const config = join(init.dir, 'haproxy.cfg')
      await writeFile(config, localHaproxyConfig(await readFile(HAPROXY_CONFIG, 'utf8'), frontendPort, statsPort, ports))
      cluster.haproxy = startProcess('haproxy', ['-db', '-f', config], { cwd: init.dir, timeouts: { start: cluster.timeout, exit: cluster.timeout } })
      await Promise.all(cluster.names.map(async (name) => { await cluster.waitFor(name, 'UP') }))
    } catch (err) {
      await cluster.stop()
      throw err
    }
    return cluster
  }

  private get timeout (): number { return this.init.timeoutMs ?? 60_000 }

  /** `serve` number `i` on its fixed port (a restart comes back where HAProxy expects it). */
  async startGateway (i: number): Promise<void> {
    const child = startProcess(process.execPath, [
      '--import', 'tsx', 'bin/cli.ts', 'serve',
      '--host', '127.0.0.1', '--port', String(this.ports[i]),
      '--data-dir', join(this.init.dir, 'data'),
      '--metadata', `${this.init.postgresUrl}?schema=${this.schema}`,
      '--redis', this.init.redisUrl,
      '--shutdown-delay', this.init.shutdownDelay,
      '--log-level', 'warn',
    ], {
      cwd: REPO_ROOT,
      dropEnv: /^S3IPFS_/,
      env: {
        S3IPFS_ACCESS_KEY: this.init.credentials.accessKeyId,
        S3IPFS_SECRET_KEY: this.init.credentials.secretAccessKey,
        // Shared metadata: every process needs the same master key for SSE-S3.
        S3IPFS_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
      },
      timeouts: { start: this.timeout, exit: this.timeout },
    })
    this.children[i] = child
    await child.waitFor('stdout', /aws --endpoint-url \S+/)
  }

  /** SIGKILL: the process dies with whatever it had in flight. */
  async kill (i: number): Promise<Exit> {
    const child = this.gateway(i)
    child.proc.kill('SIGKILL')
    return await child.exited()
  }

  /** SIGTERM: the graceful shutdown. Resolves with the exit once the process is gone. */
  async terminate (i: number): Promise<{ exit: Exit, stderr: string }> {
    const child = this.gateway(i)
    child.proc.kill('SIGTERM')
    const exit = await child.exited()
    return { exit, stderr: child.stderr() }
  }

  /** Gateway `i`'s own endpoint, around the balancer. */
  directEndpoint (i: number): string {
    return `http://127.0.0.1:${this.ports[i]}`
  }

  gateway (i: number): Child {
    const child = this.children[i]
    if (child === undefined) throw new Error(`${this.names[i]} is not running`)
    return child
  }

  /** Each server's state as HAProxy's statistics page shows it ('UP', 'DOWN', 'UP 1/2', ...). */
  async states (): Promise<Record<string, ServerState>> {
    const res = await fetch(`http://127.0.0.1:${this.statsPort}/stats;csv`)
    if (!res.ok) throw new Error(`HAProxy statistics: HTTP ${res.status}`)
    const [header, ...rows] = (await res.text()).trim().split('\n')
    const columns = header.replace(/^# /, '').split(',')
    const at = (name: string): number => columns.indexOf(name)
    const states: Record<string, ServerState> = {}
    for (const row of rows) {
      const cells = row.split(',')
      if (cells[at('pxname')] === 'gateways' && this.names.includes(cells[at('svname')])) states[cells[at('svname')]] = cells[at('status')]
    }
    return states
  }

  /** Polls HAProxy's statistics until `name` is in `state` (exactly: 'UP', not 'UP 1/2'). */
  async waitFor (name: string, state: 'UP' | 'DOWN', ms = this.timeout): Promise<void> {
    const until = Date.now() + ms
    let last: ServerState | undefined
    for (;;) {
      try {
        last = (await this.states())[name]
        if (last === state) return
      } catch (err) {
        // HAProxy is still starting
        last = String(err)
      }
      if (Date.now() > until) throw new Error(`HAProxy did not see ${name} ${state} within ${ms} ms (last: ${last})\n${this.output()}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  /** Every process's output, for a failure message. */
  output (): string {
    return [
      ...this.children.map((c, i) => c === undefined ? '' : `--- ${this.names[i]}\n${c.output()}`),
      this.haproxy === undefined ? '' : `--- haproxy\n${this.haproxy.output()}`,
    ].filter(s => s !== '').join('\n')
  }

  /** Kills everything and drops the PostgreSQL schema. */
  async stop (): Promise<void> {
    for (const child of [...this.children, this.haproxy]) {
      if (child === undefined) continue
      killProcess(child.proc)
      await child.exited().catch(() => {})
    }
    const client = new pg.Client({ connectionString: this.init.postgresUrl })
    try {
      await client.connect()
      await client.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`)
    } finally {
      await client.end().catch(() => {})
    }
  }
}
