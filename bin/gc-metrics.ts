import { readFile, rename, writeFile } from 'node:fs/promises'
import type { Counter, Gauge, Registry } from 'prom-client'

/** The families a gc run reports, as counters that go on across runs (and one gauge that is kept until replaced). */
const COUNTERS = ['gc_runs_total', 'gc_freed_bytes_total', 'reconcile_runs_total', 'pin_operations_total']
const KEPT_GAUGES = ['gc_last_success_timestamp_seconds', 'gc_missing_blocks']
const REPORTED = [...COUNTERS, ...KEPT_GAUGES, 'pins']

/**
 * Metrics of `gc` runs for node_exporter's textfile collector. Each run is a new process, so the
 * counters start from the previous file's values and the last success time is kept from it until a
 * run succeeds: `increase()` and "no success for two days" alerts then work as for a server.
 */
export class GcMetricsFile {
  constructor (private readonly path: string, private readonly registry: Registry, private readonly prefix = 's3ipfs_') {}

  /** Starts this run's metrics from the previous file's (a missing or unreadable file starts from zero). */
  async carryOver (): Promise<void> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch {
      return
    }
    for (const line of text.split('\n')) {
      const m = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line)
      if (m === null) continue
      const name = m[1].slice(this.prefix.length)
      const value = Number(m[3])
      if (!m[1].startsWith(this.prefix) || !Number.isFinite(value)) continue
      const labels = parseLabels(m[2] ?? '')
      const metric = this.registry.getSingleMetric(m[1])
      if (metric === undefined) continue
      if (COUNTERS.includes(name) && value > 0) (metric as Counter<string>).inc(labels, value)
      else if (KEPT_GAUGES.includes(name) && value > 0) (metric as Gauge<string>).set(labels, value)
    }
  }

  /** Writes the gc families atomically (a temp file renamed over the old one). */
  async write (): Promise<void> {
    const parts: string[] = []
    for (const name of REPORTED) {
      const metric = this.registry.getSingleMetric(this.prefix + name)
      if (metric !== undefined) parts.push(await this.registry.getSingleMetricAsString(this.prefix + name))
    }
    const temp = `${this.path}.${process.pid}.tmp`
    await writeFile(temp, parts.join('\n') + '\n')
    await rename(temp, this.path)
  }
}

function parseLabels (text: string): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]] = m[2].replace(/\\(.)/g, (_all, c: string) => c === 'n' ? '\n' : c)
  return labels
}
