/**
 * Who took the CPU while a benchmark phase ran, read from /proc (Linux): the machine as a whole,
 * the servers under test, the client (this process) and PostgreSQL when it runs on this machine.
 * On a shared machine the rest ("other processes") is what the figures were measured against.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { cpus } from 'node:os'
import { fmtNum } from './util.js'

/** CPU, in cores (CPU-seconds per second), while a phase ran. */
export interface CpuShare { machine: number, servers: number, client: number, postgres: number, seconds: number }

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
export const CLK_TCK = ((): number => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  const n = Number(r.stdout?.trim())
  return Number.isFinite(n) && n > 0 ? n : 100
})()

/** utime + stime of a process in clock ticks, and when it started (ticks after boot); undefined when it is gone. */
function procStat (pid: number): { ticks: number, start: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the fields after the command name (which may hold spaces), starting with field 3 (state)
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return { ticks: Number(f[11]) + Number(f[12]), start: Number(f[19]) }
  } catch {
    return undefined
  }
}

/** utime + stime of a process (all its threads), in ticks; NaN when it cannot be read. */
export function cpuTicks (pid: number): number {
  return procStat(pid)?.ticks ?? NaN
}

/** The local ports of the TCP connections `pids` hold to `port` (a server's connections to PostgreSQL). */
function clientPorts (pids: number[], port: number): Set<number> {
  const inodes = new Set<string>()
  for (const pid of pids) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
          if (m !== null) inodes.add(m[1])
        } catch { /* closed meanwhile */ }
      }
    } catch { /* gone */ }
  }
  const ports = new Set<number>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try { text = readFileSync(table, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10 || !inodes.has(f[9])) continue
      const local = parseInt(f[1].split(':')[1], 16)
      const remote = parseInt(f[2].split(':')[1], 16)
      if (remote === port) ports.add(local)
    }
  }
  return ports
}

/**
 * A PostgreSQL process on this machine: a backend names its client's port in its title
 * (`… 127.0.0.1(44330) idle`); undefined for the processes that serve no client, -1 for a
 * Unix-socket client.
 */
interface PgProc { ticks: number, start: number, clientPort: number | undefined }

function postgresProcs (): Map<number, PgProc> {
  const out = new Map<number, PgProc>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'postgres') continue
      const st = procStat(Number(d))
      if (st === undefined) continue
      const title = readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ')
      const m = /\((\d+)\)/.exec(title)
      // a backend of a Unix-socket client says [local]: never one of ours (the servers connect by TCP)
      out.set(Number(d), { ...st, clientPort: m !== null ? Number(m[1]) : title.includes('[local]') ? -1 : undefined })
    } catch { /* gone */ }
  }
  return out
}

/** Counters at one moment; two of them make a CpuShare. */
export interface CpuSample {
  at: number
  busy: number
  servers: Array<number | undefined>
  client: number
  postgres: Map<number, PgProc>
  /** local ports of the servers' connections to PostgreSQL */
  ports: Set<number>
}

/** Reads the counters for the server processes `servers` and PostgreSQL listening on `pgPort`. */
export function cpuSample (servers: number[], pgPort: number): CpuSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number)
  const idle = line[3] + line[4]
  const busy = line.reduce((a, b) => a + b, 0) - idle
  const u = process.cpuUsage()
  return {
    at: performance.now(),
    busy,
    servers: servers.map(p => procStat(p)?.ticks),
    client: (u.user + u.system) / 1e6,
    postgres: postgresProcs(),
    ports: clientPorts(servers, pgPort),
  }
}

/**
 * CPU between two samples. PostgreSQL counts the backends serving these servers (connected at
 * either end; one started in between counts from its start) and the processes that serve no client
 * (WAL writer, checkpointer, …, shared with any other user of the cluster); other users' backends
 * fall into "other".
 */
export function cpuBetween (a: CpuSample, b: CpuSample): CpuShare {
  const seconds = (b.at - a.at) / 1000
  let servers = 0
  for (let i = 0; i < a.servers.length; i++) {
    const d = (b.servers[i] ?? NaN) - (a.servers[i] ?? NaN)
    if (Number.isFinite(d)) servers += d
  }
  let postgres = 0
  for (const [pid, p1] of b.postgres) {
    const p0 = a.postgres.get(pid)
    const ours = p1.clientPort === undefined || a.ports.has(p1.clientPort) || b.ports.has(p1.clientPort)
    if (!ours) continue
    postgres += p1.ticks - (p0 !== undefined && p0.start === p1.start ? p0.ticks : 0)
  }
  return {
    seconds,
    machine: (b.busy - a.busy) / CLK_TCK / seconds,
    servers: servers / CLK_TCK / seconds,
    client: (b.client - a.client) / seconds,
    postgres: postgres / CLK_TCK / seconds,
  }
}

/** Sums CPU shares weighted by their durations. */
export function addCpu (into: CpuShare | undefined, x: CpuShare): CpuShare {
  if (into === undefined) return x
  const s = into.seconds + x.seconds
  const w = (k: keyof CpuShare): number => (into[k] * into.seconds + x[k] * x.seconds) / s
  return { seconds: s, machine: w('machine'), servers: w('servers'), client: w('client'), postgres: w('postgres') }
}

/** `machine 1.98 of 2 cores busy: servers 0.69, client 0.33, PostgreSQL 0.00, other processes 0.95` */
export function fmtCpu (c: CpuShare | undefined): string {
  if (c === undefined) return '—'
  return `machine ${fmtNum(c.machine)} of ${cpus().length} cores busy: servers ${fmtNum(c.servers)}, client ${fmtNum(c.client)}, ` +
    `PostgreSQL ${fmtNum(c.postgres)}, other processes ${fmtNum(Math.max(0, c.machine - c.servers - c.client - c.postgres))}`
}
