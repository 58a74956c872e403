import type { Registry } from 'prom-client'

/**
 * Histograms and counters for the per-request path, registered in a prom-client Registry like its
 * own metrics. prom-client validates and hashes the labels on every observation, bound children
 * included; these do that once per label set (`labels()`), so an observation is a few array
 * writes. Exposition happens at scrape time, in prom-client's format.
 */

interface MetricValue {
  labels: Record<string, string | number>
  value: number
  metricName?: string
}

abstract class FastMetric<L extends string, S> {
  readonly aggregator = 'sum'
  protected readonly series = new Map<string, { labels: Record<L, string>, state: S }>()

  constructor (readonly name: string, readonly help: string, readonly labelNames: readonly L[], registry: Registry) {
    registry.registerMetric(this as never)
  }

  abstract readonly type: 'counter' | 'histogram'
  protected abstract create (): S
  protected abstract values (labels: Record<L, string>, state: S): MetricValue[]

  protected stateOf (labels: Record<L, string>): S {
    let key = ''
    for (const name of this.labelNames) {
      const value = labels[name]
      if (typeof value !== 'string') throw new TypeError(`${this.name}: label "${name}" is missing`)
      key += value + '\u0000'
    }
    let entry = this.series.get(key)
    if (entry === undefined) {
      entry = { labels: { ...labels }, state: this.create() }
      this.series.set(key, entry)
    }
    return entry.state
  }

  async get (): Promise<{ name: string, help: string, type: string, values: MetricValue[], aggregator: string }> {
    const values: MetricValue[] = []
    for (const { labels, state } of this.series.values()) values.push(...this.values(labels, state))
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset (): void {
    this.series.clear()
  }
}

interface HistogramState { counts: Float64Array, sum: number, count: number }

export class FastHistogram<L extends string> extends FastMetric<L, HistogramState> {
  readonly type = 'histogram'
  private readonly bounds: Float64Array

  constructor (name: string, help: string, labelNames: readonly L[], buckets: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry)
    this.bounds = Float64Array.from([...buckets].sort((a, b) => a - b))
  }

  protected create (): HistogramState {
    return { counts: new Float64Array(this.bounds.length), sum: 0, count: 0 }
  }

  /** One label set's observer: look it up once, observe often. */
  labels (labels: Record<L, string>): { observe: (value: number) => void } {
    const state = this.stateOf(labels)
    const bounds = this.bounds
    return {
      observe: (value) => {
        if (!Number.isFinite(value)) return
        state.sum += value
        state.count++
        for (let i = 0; i < bounds.length; i++) {
          if (value <= bounds[i]) {
            state.counts[i]++
            return
          }
        }
      },
    }
  }

  observe (labels: Record<L, string>, value: number): void {
    this.labels(labels).observe(value)
  }

  protected values (labels: Record<L, string>, state: HistogramState): MetricValue[] {
    const out: MetricValue[] = []
    let cumulative = 0
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += state.counts[i]
      out.push({ labels: { ...labels, le: this.bounds[i] }, value: cumulative, metricName: `${this.name}_bucket` })
    }
    out.push(
      { labels: { ...labels, le: '+Inf' }, value: state.count, metricName: `${this.name}_bucket` },
      { labels, value: state.sum, metricName: `${this.name}_sum` },
      { labels, value: state.count, metricName: `${this.name}_count` },
    )
    return out
  }
}

export class FastCounter<L extends string> extends FastMetric<L, { value: number }> {
  readonly type = 'counter'

  protected create (): { value: number } {
    return { value: 0 }
  }

  /** One label set's counter: look it up once, count often. */
  labels (labels: Record<L, string>): { inc: (by?: number) => void } {
    const state = this.stateOf(labels)
    return {
      inc: (by = 1) => {
        if (by > 0) state.value += by
      },
    }
  }

  inc (labels: Record<L, string>, by = 1): void {
    this.labels(labels).inc(by)
  }

  protected values (labels: Record<L, string>, state: { value: number }): MetricValue[] {
    return [{ labels, value: state.value }]
  }
}
