import type { Blockstore } from 'interface-blockstore'
import { isAbortError } from '../errors.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import type { Counter } from 'prom-client'
import type { FastCounter, FastHistogram } from './fast-metrics.js'
import { observeIteration } from './iteration.js'

type Labels = 'backend' | 'operation'

const BLOCKSTORES: Record<string, string> = { FsBlockstore: 'fs', PackBlockstore: 'pack', MemoryBlockstore: 'memory', KuboBlockstore: 'kubo', CachedBlockstore: 'cached' }
const METADATA_STORES: Record<string, string> = { MemoryMetadataStore: 'memory', SqliteMetadataStore: 'sqlite', PostgresMetadataStore: 'postgres' }

/** The metrics label of a store, from its class (or its own `metricsBackend`). */
function backendName (store: object, known: Record<string, string>): string {
  const own = (store as { metricsBackend?: unknown }).metricsBackend
  if (typeof own === 'string') return own
  return known[store.constructor?.name] ?? 'custom'
}

/** fs, memory, kubo, cached or custom. */
export function blockstoreBackend (store: object): string {
  return backendName(store, BLOCKSTORES)
}

/** memory, sqlite, postgres or custom. */
export function metadataBackend (store: object): string {
  return backendName(store, METADATA_STORES)
}

interface Timing {
  duration: FastHistogram<Labels>
  errors: FastCounter<Labels>
  backend: string
}

/** A conditional write whose condition did not hold: the store answered, as asked; nothing failed. */
function isRefusal (error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_CONDITION_FAILED'
}

/** One method's metrics, bound to its labels once (prom-client hashes labels on every unbound call). */
interface Bound {
  observe: (seconds: number) => void
  failed: (error: unknown) => void
}

function bind (timing: Timing, operation: string): Bound {
  const labels = { backend: timing.backend, operation }
  const duration = timing.duration.labels(labels)
  const errors = timing.errors.labels(labels)
  return {
    observe: (seconds) => { duration.observe(seconds) },
    failed: (error) => { if (!isAbortError(error) && !isRefusal(error)) errors.inc() },
  }
}

/** A promise-returning method, timed. */
function timedMethod (bound: Bound, method: (...args: unknown[]) => unknown, self: object): (...args: unknown[]) => Promise<unknown> {
  return async (...args) => {
    const start = performance.now()
    try {
      return await method.apply(self, args)
    } catch (error) {
      bound.failed(error)
      throw error
    } finally {
      bound.observe((performance.now() - start) / 1000)
    }
  }
}

/** Times an iteration from the call to its end (a block get is over when its bytes are read). */
function timedIteration<T> (bound: Bound, source: AsyncIterable<T> | Iterable<T>): AsyncIterableIterator<T> {
  const start = performance.now()
  return observeIteration(source, undefined, (end) => {
    if (typeof end === 'object') bound.failed(end.failure)
    bound.observe((performance.now() - start) / 1000)
  })
}

/**
 * The same blockstore with its calls timed: get, put, has, delete, and pin / unpin where the store
 * pins (counted as pin operations). Every other property (flush, listBlocks, pinned, ...) is the
 * store's own, so capability checks see what the store has.
 */
export function instrumentBlockstore<B extends Blockstore> (store: B, metrics: {
  duration: FastHistogram<Labels>
  errors: FastCounter<Labels>
  pinOperations: Counter<'operation' | 'result'>
  pinFailed: (operation: 'pin' | 'unpin') => void
  pinned: (operation: 'pin' | 'unpin') => void
}): B {
  const timing: Timing = { duration: metrics.duration, errors: metrics.errors, backend: blockstoreBackend(store) }
  const wrapped = new Map<PropertyKey, unknown>()
  const target = store as unknown as Record<PropertyKey, (...args: unknown[]) => unknown>
  const wrap = (name: string): unknown => {
    const method = target[name]
    switch (name) {
      case 'get': {
        const bound = bind(timing, 'get')
        return (...args: unknown[]) => timedIteration(bound, method.apply(store, args) as AsyncIterable<Uint8Array>)
      }
      case 'put': case 'has': case 'delete':
        return timedMethod(bind(timing, name), method, store)
      case 'pin': case 'unpin':
        return async (...args: unknown[]) => {
          try {
            await (method.apply(store, args) as Promise<void>)
          } catch (error) {
            if (!isAbortError(error)) {
              metrics.pinOperations.inc({ operation: name, result: 'error' })
              metrics.pinFailed(name)
            }
            throw error
          }
          metrics.pinOperations.inc({ operation: name, result: 'ok' })
          metrics.pinned(name)
        }
      default:
        return method.bind(store)
    }
  }
  return new Proxy(store, {
    get (_target, name) {
      if (typeof name !== 'string' || typeof target[name] !== 'function') return Reflect.get(store, name)
      let method = wrapped.get(name)
      if (method === undefined) {
        method = isFrozenOwn(store, name) ? RAW : wrap(name)
        wrapped.set(name, method)
      }
      return method === RAW ? Reflect.get(store, name) : method
    },
  })
}

const RAW = Symbol('not wrapped')

/** A proxy must return a read-only, non-configurable own property as it is (CachedBlockstore's pass-throughs). */
function isFrozenOwn (object: object, name: string): boolean {
  const descriptor = Object.getOwnPropertyDescriptor(object, name)
  return descriptor !== undefined && descriptor.configurable === false && descriptor.writable === false
}

/** The same metadata store with every promise-returning method timed by name. */
export function instrumentMetadata (store: MetadataStore, metrics: { duration: FastHistogram<Labels>, errors: FastCounter<Labels> }, backendOf: object = store): MetadataStore {
  const timing: Timing = { duration: metrics.duration, errors: metrics.errors, backend: metadataBackend(backendOf) }
  const wrapped = new Map<string, unknown>()
  const target = store as unknown as Record<string, (...args: unknown[]) => unknown>
  return new Proxy(store, {
    get (_target, name) {
      if (typeof name !== 'string' || typeof target[name] !== 'function') return Reflect.get(store, name)
      let method = wrapped.get(name)
      if (method === undefined && isFrozenOwn(store, name)) wrapped.set(name, method = RAW)
      if (method === RAW) return Reflect.get(store, name)
      if (method === undefined) {
        const own = target[name]
        // referencedCids streams (the whole set, for gc and reconcile): not a call to time.
        method = name === 'referencedCids' || name === 'close'
            ? own.bind(store)
            : timedMethod(bind(timing, name), own, store)
        wrapped.set(name, method)
      }
      return method
    },
  })
}
