/**
 * The ha section of `npm run bench`: the throughput gap of the high-availability rehearsal
 * (test/ha-rehearsal.test.ts) — three `serve` processes on one PostgreSQL schema, one data directory
 * and Redis behind HAProxy running deploy/haproxy/haproxy.cfg, under a steady PUT/GET/LIST load
 * (the AWS SDK, 4 clients, default retries) while gateway-1 is SIGKILLed, then restarted, and
 * gateway-2 is stopped with SIGTERM (--shutdown-delay 3s).
 *
 * Reported, each phase against the baseline before the first event in the same run: completed
 * requests per second, the worst 500 ms window, how long throughput stayed under half the
 * baseline, how long HAProxy took to see each change, and the requests that failed or needed an
 * SDK retry. The peer is the cluster's own undisturbed throughput, so the ratios say what each
 * event costs, whatever the machine's speed.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { HaCluster } from '../test/helpers/ha-cluster.js'
import { SteadyLoad } from '../test/helpers/steady-load.js'
import { fmtNum, fmtRatio, printTable, sleep } from './util.js'

export interface HaSizes {
  /** How long each phase runs, ms. */
  phaseMs: number
  clients: number
}

export interface HaPhase {
  name: string
  start: number
  end: number
  /** completed requests per second over the phase */
  perSecond: number
  /** the worst 500 ms window's rate */
  worst: number
  /** ms under half the baseline rate */
  belowHalfMs: number
  failed: number
  retried: number
  /** how long HAProxy took to see the change, ms */
  detectedMs?: number
}

export interface HaResults { phases: HaPhase[], requests: number, notes: string[] }

const CREDENTIALS = { accessKeyId: 'BENCHHAREHEARSAL0000', secretAccessKey: 'bench-ha-rehearsal-secret-0000000000000000' }
const WINDOW_MS = 500

export async function sectionHa (sizes: HaSizes, pgUrl: string, log: (s: string) => void): Promise<HaResults> {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-bench-ha-'))
  const cluster = await HaCluster.start({ dir, postgresUrl: pgUrl, redisUrl: 'redis://127.0.0.1:6379', shutdownDelay: '3s', credentials: CREDENTIALS })
  const load = new SteadyLoad({ endpoint: cluster.endpoint, credentials: CREDENTIALS, bucket: 'bench-ha', workers: sizes.clients })
  const marks: Array<{ name: string, at: number, detectedMs?: number }> = []
  try {
    const s3 = new S3Client({ endpoint: cluster.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: CREDENTIALS })
    await s3.send(new CreateBucketCommand({ Bucket: 'bench-ha' }))
    s3.destroy()
    load.start()
    await sleep(3000) // warm-up (JIT, connection pools), not counted
    marks.push({ name: 'baseline', at: performance.now() })
    await sleep(sizes.phaseMs)

    // Each event: what is done, then the state HAProxy must reach; the phase runs on after it.
    const event = async (name: string, server: string, state: 'UP' | 'DOWN', act: () => Promise<unknown>): Promise<void> => {
      log(`ha: ${name}`)
      const at = performance.now()
      const acted = act()
      acted.catch(() => {}) // awaited below; a failure of waitFor first must not leave it unhandled
      await cluster.waitFor(server, state)
      marks.push({ name, at, detectedMs: performance.now() - at })
      await acted
      await sleep(sizes.phaseMs)
    }
    await event('SIGKILL gateway-1', 'gateway-1', 'DOWN', async () => await cluster.kill(0))
    await event('restart gateway-1', 'gateway-1', 'UP', async () => { await cluster.startGateway(0) })
    await event('SIGTERM gateway-2', 'gateway-2', 'DOWN', async () => await cluster.terminate(1))
    marks.push({ name: 'end', at: performance.now() })
    await load.stop()
  } finally {
    await load.stop().catch(() => {})
    await cluster.stop()
    await rm(dir, { recursive: true, force: true })
  }

  const windows = load.throughput(WINDOW_MS)
  const phases: HaPhase[] = []
  for (let i = 0; i + 1 < marks.length; i++) {
    const { name, at: start, detectedMs } = marks[i]
    const end = marks[i + 1].at
    const inPhase = windows.filter(w => w.at >= start && w.at + WINDOW_MS <= end)
    const requests = load.requests.filter(r => r.end >= start && r.end < end)
    const baseline = phases[0]?.perSecond
    const rate = requests.filter(r => r.ok).length / ((end - start) / 1000)
    phases.push({
      name,
      start,
      end,
      perSecond: rate,
      worst: Math.min(...inPhase.map(w => w.perSecond)),
      belowHalfMs: inPhase.filter(w => w.perSecond < (baseline ?? rate) / 2).length * WINDOW_MS,
      failed: requests.filter(r => !r.ok).length,
      retried: requests.filter(r => r.ok && r.attempts > 1).length,
      detectedMs,
    })
  }
  return { phases, requests: load.requests.length, notes: [] }
}

export function printHaTable (results: HaResults): void {
  const baseline = results.phases[0]?.perSecond ?? NaN
  console.log(`\nHA rehearsal behind HAProxy (3 gateways, PostgreSQL + Redis; ${results.requests} requests; windows of ${WINDOW_MS} ms)`)
  printTable(['phase', 'req/s', '×baseline', 'worst window req/s', 'worst ×baseline', 'ms < ½ baseline', 'HAProxy saw it (ms)', 'failed', 'retried'],
    results.phases.map(p => [
      p.name, fmtNum(p.perSecond), fmtRatio(p.perSecond / baseline), fmtNum(p.worst), fmtRatio(p.worst / baseline),
      String(p.belowHalfMs), p.detectedMs === undefined ? '—' : fmtNum(p.detectedMs), String(p.failed), String(p.retried),
    ]))
}

export function haVerdicts (results: HaResults | undefined, verdict: (name: string, ok: boolean | undefined, detail: string) => void): void {
  if (results === undefined || results.phases.length === 0) { verdict('HA: no failed request', undefined, 'not measured'); return }
  const failed = results.phases.reduce((n, p) => n + p.failed, 0)
  const killed = results.phases.find(p => p.name.startsWith('SIGKILL'))
  verdict('HA: no failed request across SIGKILL, restart and SIGTERM', failed === 0, `${failed} failed of ${results.requests}` +
    (killed === undefined ? '' : `; ${killed.retried} retried by the SDK after the SIGKILL`))
  const term = results.phases.find(p => p.name.startsWith('SIGTERM'))
  if (term !== undefined) verdict('HA: a graceful stop costs no retry', term.retried === 0 && term.failed === 0, `${term.retried} retried, ${term.failed} failed after SIGTERM`)
}
