import { CID } from 'multiformats/cid'
import type { Gauge } from 'prom-client'
import type { AbortOptions } from '../types.js'

/** One thing the gateway needs (or can do without) and how to ask whether it answers. */
export interface DependencyCheck {
  /** 'metadata', 'blockstore', 'cache'. */
  name: string
  /** What it is: 'sqlite', 'postgres', 'fs', 'kubo', 'redis', ... */
  backend: string
  /** Whether the gateway is unready without it (the block cache is optional: reads go around it). */
  required: boolean
  check: (options: Required<AbortOptions>) => Promise<void>
}

export interface CheckResult {
  name: string
  backend: string
  required: boolean
  status: 'up' | 'down'
  latencyMs: number
  /** Why it is down, without addresses' credentials. */
  error?: string
}

export interface ReadinessReport {
  /**
   * ready: all up; degraded: only optional dependencies down; unready: a required one is down;
   * draining: the gateway is shutting down (`Gateway.drain()`), whatever its dependencies say.
   * `/ready` answers 503 for unready and draining.
   */
  status: 'ready' | 'degraded' | 'unready' | 'draining'
  checks: CheckResult[]
}

export interface ReadinessInit {
  /** Each check's time limit (default 2 s): a dependency slower than that counts as down. */
  timeoutMs?: number
  /** A report younger than this is reused (default 1 s), so probes and scrapes cannot flood a dependency. */
  maxAgeMs?: number
  up?: Gauge<'dependency'>
  latency?: Gauge<'dependency'>
}

/** A block that no store holds unless asked to: `has` on it is a cheap round trip. */
const PROBE_CID = CID.parse('bafkqaaa')

interface Pingable { ping?: (options?: AbortOptions) => Promise<void> }

/** A dependency checked by its own `ping`, or, for stores without one, by `fallback` (a cheap read). */
function pingCheck (name: string, backend: string, required: boolean, store: Pingable, fallback: (options: Required<AbortOptions>) => Promise<unknown>): DependencyCheck {
  const ping = store.ping
  return { name, backend, required, check: ping === undefined ? async (options) => { await fallback(options) } : async (options) => { await ping.call(store, options) } }
}

/** A metadata store: its `ping`, or a lookup of a bucket that cannot exist. */
export function metadataCheck (store: Pingable & { getBucket: (name: string, o?: AbortOptions) => Promise<unknown> }, backend: string): DependencyCheck {
  return pingCheck('metadata', backend, true, store, async (options) => await store.getBucket('-readiness-probe', options))
}

/** A blockstore: its `ping`, or `has` of a block no one stores. */
export function blockstoreCheck (store: Pingable & { has: (cid: CID, o?: AbortOptions) => boolean | Promise<boolean> }, backend: string): DependencyCheck {
  return pingCheck('blockstore', backend, true, store, async (options) => await store.has(PROBE_CID, options))
}

/** A shared block cache, optional: reads go around it while it is down. */
export function cacheCheck (cache: Required<Pingable>, backend: string): DependencyCheck {
  return pingCheck('cache', backend, false, cache, async () => {})
}

/** Asks each dependency in parallel, each under a timeout; keeps `s3ipfs_dependency_up` current. */
export class Readiness {
  private readonly timeoutMs: number
  private readonly maxAgeMs: number
  private last: { at: number, report: ReadinessReport } | undefined
  private running: Promise<ReadinessReport> | undefined
  private draining = false

  constructor (readonly checks: DependencyCheck[], private readonly init: ReadinessInit = {}) {
    this.timeoutMs = init.timeoutMs ?? 2000
    this.maxAgeMs = init.maxAgeMs ?? 1000
  }

  async report (): Promise<ReadinessReport> {
    const report = this.last !== undefined && performance.now() - this.last.at < this.maxAgeMs
      ? this.last.report
      : await (this.running ??= this.run().finally(() => { this.running = undefined }))
    return this.draining ? { ...report, status: 'draining' } : report
  }

  /** From now on every report says 'draining' (irreversible: a gateway drains once, then closes). */
  drain (): void {
    this.draining = true
  }

  get isDraining (): boolean {
    return this.draining
  }

  private async run (): Promise<ReadinessReport> {
    const checks = await Promise.all(this.checks.map(async (dependency) => await this.one(dependency)))
    const down = checks.filter(c => c.status === 'down')
    const report: ReadinessReport = {
      status: down.some(c => c.required) ? 'unready' : down.length > 0 ? 'degraded' : 'ready',
      checks,
    }
    this.last = { at: performance.now(), report }
    return report
  }

  private async one (dependency: DependencyCheck): Promise<CheckResult> {
    const start = performance.now()
    const controller = new AbortController()
    let timer: NodeJS.Timeout | undefined
    let error: string | undefined
    try {
      await Promise.race([
        dependency.check({ signal: controller.signal }),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => { reject(new Error(`no answer within ${this.timeoutMs} ms`)) }, this.timeoutMs)
        }),
      ])
    } catch (err) {
      error = describe(err)
      controller.abort()
    } finally {
      clearTimeout(timer)
    }
    const latencyMs = Math.round((performance.now() - start) * 1000) / 1000
    this.init.up?.set({ dependency: dependency.name }, error === undefined ? 1 : 0)
    this.init.latency?.set({ dependency: dependency.name }, latencyMs / 1000)
    const { name, backend, required } = dependency
    return error === undefined
      ? { name, backend, required, status: 'up', latencyMs }
      : { name, backend, required, status: 'down', latencyMs, error }
  }
}

/** An error's code and message, with any `user:password@` in URLs taken out. */
function describe (err: unknown): string {
  const e = err as { code?: unknown, message?: unknown, errors?: unknown[] }
  // AggregateError (a refused connection tried on IPv4 and IPv6) has an empty message.
  const message = typeof e?.message === 'string' && e.message !== ''
    ? e.message
    : Array.isArray(e?.errors) && e.errors.length > 0 ? String((e.errors[0] as { message?: unknown }).message ?? e.errors[0]) : String(err)
  const text = (typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ` : '') + message
  return text.replace(/\/\/[^/@\s]*@/g, '//').slice(0, 300)
}
